-- Tenants appear on first sight of one of their users; the counter hands out case ids.
CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    next_case_id BIGINT NOT NULL DEFAULT 1000,
    created_at   TIMESTAMP NOT NULL
);

CREATE TABLE users (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    id           TEXT NOT NULL,
    display_name TEXT,
    email        TEXT,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE statuses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    -- lower-cased name: names are unique per tenant ignoring case
    name_key   TEXT NOT NULL,
    category   TEXT NOT NULL CHECK (category IN ('NEW', 'OPEN', 'CLOSED')),
    position   INTEGER NOT NULL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    archived   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT statuses_name_unique UNIQUE (tenant_id, name_key)
);
-- at most one default per tenant; the domain keeps it at exactly one
CREATE UNIQUE INDEX statuses_one_default ON statuses (tenant_id) WHERE is_default;
CREATE INDEX statuses_tenant_position ON statuses (tenant_id, position, id);
