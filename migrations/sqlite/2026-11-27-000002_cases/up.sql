-- Cases, their tasks, incidents and links, and the append-only activity log.

CREATE TABLE cases (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    -- per tenant, from 1000, handed out by tenants.next_case_id
    id            BIGINT NOT NULL,
    title         TEXT NOT NULL,
    -- lower-cased title: the queue's title order, ignoring case
    title_key     TEXT NOT NULL,
    description   TEXT,
    -- 0 none, 1 VERY_LOW .. 5 CRITICAL: never null, so it orders and indexes plainly
    priority      INTEGER NOT NULL DEFAULT 0,
    status_id     BIGINT NOT NULL REFERENCES statuses (id),
    assignee_id   TEXT,
    due_on        TIMESTAMP,
    -- lower-cased title and description, for word search the same on both backends
    search_text   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    -- sequence number of the case's newest activity entry
    activity_seq  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, updated_by) REFERENCES users (tenant_id, id)
);
CREATE INDEX cases_by_updated ON cases (tenant_id, updated_at, id);
CREATE INDEX cases_by_created ON cases (tenant_id, created_at, id);
CREATE INDEX cases_by_priority ON cases (tenant_id, priority, id);
CREATE INDEX cases_by_due ON cases (tenant_id, due_on, id);
CREATE INDEX cases_by_status ON cases (tenant_id, status_id, id);
CREATE INDEX cases_by_assignee ON cases (tenant_id, assignee_id, id);
CREATE INDEX cases_by_creator ON cases (tenant_id, created_by, id);
CREATE INDEX cases_by_title ON cases (tenant_id, title_key, id);

CREATE TABLE tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    case_id       BIGINT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('NEW', 'IN_PROGRESS', 'FAILED', 'PARTIALLY_COMPLETED', 'SKIPPED', 'COMPLETED')),
    priority      INTEGER NOT NULL DEFAULT 0,
    owner_id      TEXT,
    due_on        TIMESTAMP,
    closing_notes TEXT,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX tasks_by_case ON tasks (tenant_id, case_id, id);

CREATE TABLE incidents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    external_id   TEXT,
    title         TEXT NOT NULL,
    search_text   TEXT NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH')),
    status        TEXT NOT NULL CHECK (status IN ('ACTIVE', 'IN_PROGRESS', 'RESOLVED')),
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    CONSTRAINT incidents_external_id_unique UNIQUE (tenant_id, external_id)
);
CREATE INDEX incidents_by_tenant ON incidents (tenant_id, id);

CREATE TABLE case_incidents (
    tenant_id     TEXT NOT NULL,
    case_id       BIGINT NOT NULL,
    incident_id   BIGINT NOT NULL REFERENCES incidents (id),
    linked_by     TEXT NOT NULL,
    linked_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, case_id, incident_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
CREATE INDEX case_incidents_by_incident ON case_incidents (tenant_id, incident_id, case_id);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE activity (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    case_id       BIGINT NOT NULL,
    -- per case, taken under the case's row lock, so it commits in order
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('COMMENT', 'AUDIT')),
    actor_id      TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    body          TEXT,
    action        TEXT,
    -- JSON array of {field, oldValue, newValue}
    changes       TEXT,
    -- no foreign key: a deleted task's audit stays
    task_id       BIGINT,
    incident_id   BIGINT,
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    CONSTRAINT activity_case_seq_unique UNIQUE (tenant_id, case_id, seq)
);
CREATE INDEX activity_by_case_kind ON activity (tenant_id, case_id, kind, seq);
