-- Workflow: how a closed case is classified, the tenant's closing rules, and
-- the moves each status allows.

ALTER TABLE cases ADD COLUMN classification TEXT
    CHECK (classification IN ('UNDETERMINED', 'TRUE_POSITIVE', 'BENIGN_POSITIVE', 'FALSE_POSITIVE'));
ALTER TABLE cases ADD COLUMN determination TEXT;
ALTER TABLE cases ADD COLUMN closing_comment TEXT;

-- One row per tenant that changed the defaults (no row: the defaults).
CREATE TABLE workflow_settings (
    tenant_id               TEXT PRIMARY KEY REFERENCES tenants (id),
    require_classification  BOOLEAN NOT NULL DEFAULT TRUE,
    require_finished_tasks  BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at              TIMESTAMP NOT NULL
);

-- The statuses a case may move to from each status; none listed: any.
CREATE TABLE status_transitions (
    tenant_id       TEXT NOT NULL,
    from_status_id  BIGINT NOT NULL REFERENCES statuses (id),
    to_status_id    BIGINT NOT NULL REFERENCES statuses (id),
    PRIMARY KEY (tenant_id, from_status_id, to_status_id)
);
