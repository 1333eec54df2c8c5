-- How many cases each tenant has per group (status, priority, assignee), so
-- that a queue count costs the number of groups, not of cases. Kept as delta
-- rows by triggers in the same transaction as each change (+1 for the case's
-- new group, -1 for its old one); the application folds a tenant's rows now
-- and then. The same shape as on PostgreSQL, where writers run concurrently.
CREATE TABLE case_counts (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    status_id     BIGINT NOT NULL,
    priority      INTEGER NOT NULL,
    assignee_id   TEXT,
    -- a delta (+1, -1) or a folded group's count; INTEGER so SUM is a BIGINT on both
    n             INTEGER NOT NULL
);
CREATE INDEX case_counts_by_tenant ON case_counts (tenant_id, status_id, priority);

INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
    SELECT tenant_id, status_id, priority, assignee_id, COUNT(*) FROM cases
    GROUP BY tenant_id, status_id, priority, assignee_id;

CREATE TRIGGER cases_counted_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, 1);
END;
CREATE TRIGGER cases_counted_delete AFTER DELETE ON cases
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, -1);
END;
CREATE TRIGGER cases_recounted AFTER UPDATE OF status_id, priority, assignee_id ON cases
    WHEN OLD.status_id IS NOT NEW.status_id
      OR OLD.priority IS NOT NEW.priority
      OR OLD.assignee_id IS NOT NEW.assignee_id
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, -1);
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, 1);
END;
