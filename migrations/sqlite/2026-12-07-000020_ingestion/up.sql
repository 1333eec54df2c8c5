-- API keys: connectors authenticate as themselves. Only the SHA-256 of the
-- secret is kept (the secret is 256 random bits, so no slow hash is needed).
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    name          TEXT NOT NULL,
    -- hex SHA-256 of the whole secret, which is looked up by it
    secret_hash   TEXT NOT NULL UNIQUE,
    -- the secret's first characters, so people recognise a key in a list
    secret_hint   TEXT NOT NULL,
    -- JSON array of Permission values, a subset of the creator's
    permissions   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    expires_at    TIMESTAMP,
    revoked_at    TIMESTAMP,
    revoked_by    TEXT
);
CREATE INDEX api_keys_of_tenant ON api_keys (tenant_id, id);

-- Incidents that arrive from a source (a detection system's connector) are
-- upserted by (tenant, source, the source's id); hand-made incidents keep
-- `external_id` and its own uniqueness.
ALTER TABLE incidents ADD COLUMN source TEXT;
ALTER TABLE incidents ADD COLUMN source_id TEXT;
-- the source's own lastUpdatedAt of what is stored: older updates are ignored
ALTER TABLE incidents ADD COLUMN source_updated_at TIMESTAMP;
-- hex SHA-256 of the ingested incident as checked: an identical one writes nothing
ALTER TABLE incidents ADD COLUMN content_hash TEXT;
ALTER TABLE incidents ADD COLUMN web_url TEXT;
ALTER TABLE incidents ADD COLUMN classification TEXT;
ALTER TABLE incidents ADD COLUMN determination TEXT;
ALTER TABLE incidents ADD COLUMN assigned_to TEXT;
-- JSON array of the source's tags
ALTER TABLE incidents ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE incidents ADD COLUMN first_activity_at TIMESTAMP;
ALTER TABLE incidents ADD COLUMN last_activity_at TIMESTAMP;
-- the source's id of the incident this one was merged into (Microsoft's redirectIncidentId)
ALTER TABLE incidents ADD COLUMN redirected_to TEXT;
ALTER TABLE incidents ADD COLUMN alert_count INTEGER NOT NULL DEFAULT 0;
-- whether closing a case writes its verdict back to this incident (and a
-- webhook tells the source's connector)
ALTER TABLE incidents ADD COLUMN sync_back BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX incidents_source_unique ON incidents (tenant_id, source, source_id);
CREATE INDEX incidents_by_source ON incidents (tenant_id, source, id);

-- An incident's alerts, as its source last sent them.
CREATE TABLE incident_alerts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id          TEXT NOT NULL,
    incident_id        BIGINT NOT NULL REFERENCES incidents (id),
    position           INTEGER NOT NULL,
    external_id        TEXT NOT NULL,
    title              TEXT NOT NULL,
    severity           TEXT NOT NULL,
    category           TEXT,
    detection_source   TEXT,
    first_activity_at  TIMESTAMP,
    last_activity_at   TIMESTAMP,
    -- JSON arrays: ATT&CK technique ids (known and not), evidence items as
    -- given with what each became, and the problems ingestion reported
    techniques         TEXT NOT NULL,
    evidence           TEXT NOT NULL,
    problems           TEXT NOT NULL,
    -- JSON object: the rest of the alert as the source sent it
    raw                TEXT NOT NULL
);
CREATE INDEX incident_alerts_of_incident ON incident_alerts (tenant_id, incident_id, position);

-- The indicators an incident's evidence names, in the canonical form of
-- observables: the pivot finds cases and incidents by the same key.
CREATE TABLE incident_observables (
    tenant_id         TEXT NOT NULL,
    incident_id       BIGINT NOT NULL REFERENCES incidents (id),
    kind              TEXT NOT NULL,
    normalized_value  TEXT NOT NULL,
    value             TEXT NOT NULL,
    PRIMARY KEY (tenant_id, incident_id, kind, normalized_value)
);
CREATE INDEX incident_observables_by_value ON incident_observables (tenant_id, kind, normalized_value, incident_id);

-- Every ingestion that created or changed an incident, in commit order per
-- tenant: the incidentIngested subscription replays it after a cursor.
CREATE TABLE incident_ingestions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL,
    incident_id  BIGINT NOT NULL REFERENCES incidents (id),
    outcome      TEXT NOT NULL CHECK (outcome IN ('CREATED', 'UPDATED')),
    actor_id     TEXT NOT NULL,
    at           TIMESTAMP NOT NULL
);
CREATE INDEX incident_ingestions_of_tenant ON incident_ingestions (tenant_id, id);

-- What the triage view orders incidents by besides their number: severity as
-- a rank (INFORMATIONAL 0 to HIGH 3), and when the latest activity an alert
-- saw happened (for an incident without alert times: when its source last
-- changed it, or when it was recorded by hand).
ALTER TABLE incidents ADD COLUMN severity_rank INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN activity_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE incidents SET
    severity_rank = CASE severity WHEN 'LOW' THEN 1 WHEN 'MEDIUM' THEN 2 WHEN 'HIGH' THEN 3 ELSE 0 END,
    activity_at = created_at;
CREATE INDEX incidents_by_severity ON incidents (tenant_id, severity_rank, id);
CREATE INDEX incidents_by_activity ON incidents (tenant_id, activity_at, id);
