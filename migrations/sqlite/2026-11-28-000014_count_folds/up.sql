-- Where each tenant's last fold of a counts table stopped (the newest delta
-- row it saw): the next fold reads only the groups with rows since then.
CREATE TABLE count_folds (
    tenant_id      TEXT NOT NULL,
    -- the counts table: case_counts or case_due_counts
    counts         TEXT NOT NULL,
    folded_through BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, counts)
);
