-- Automation rules: a trigger, conditions (JSON, all must hold) and ordered
-- actions (JSON), run in the transaction of the change that triggers them.
CREATE TABLE automation_rules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    -- rules run by position, then id
    position    INTEGER NOT NULL DEFAULT 0,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at  TIMESTAMP,
    -- CASE_CREATED, CASE_UPDATED, STATUS_CHANGED, ...
    "trigger"   TEXT NOT NULL,
    conditions  TEXT NOT NULL,
    actions     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX automation_rules_by_trigger ON automation_rules (tenant_id, "trigger", position, id);
