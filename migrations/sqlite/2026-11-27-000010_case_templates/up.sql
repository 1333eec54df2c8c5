-- Case templates: what a playbook's cases start with. The lists are small
-- and always read whole with their template, so they are JSON text.
CREATE TABLE case_templates (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    name          TEXT NOT NULL,
    -- lower-cased name: names are unique per tenant ignoring case
    name_key      TEXT NOT NULL,
    title_prefix  TEXT,
    description   TEXT,
    -- priority rank (1 VERY_LOW .. 5 CRITICAL); NULL: none
    priority      INTEGER,
    -- JSON arrays: tag names, ATT&CK technique ids, tasks
    tags          TEXT NOT NULL,
    techniques    TEXT NOT NULL,
    tasks         TEXT NOT NULL,
    archived      BOOLEAN NOT NULL DEFAULT FALSE,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    CONSTRAINT case_templates_name_unique UNIQUE (tenant_id, name_key)
);
