-- Evidence on cases: observables (indicators in one canonical form per type,
-- so the pivot to other cases is an index lookup), tags, ATT&CK techniques.

CREATE TABLE observables (
    id                INTEGER PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    case_id           BIGINT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('IP_ADDRESS', 'DOMAIN', 'URL', 'EMAIL_ADDRESS',
                          'FILE_HASH_MD5', 'FILE_HASH_SHA1', 'FILE_HASH_SHA256', 'FILE_NAME', 'HOSTNAME',
                          'USER_ACCOUNT', 'PROCESS', 'REGISTRY_KEY', 'CVE', 'OTHER')),
    -- as given (trimmed)
    value             TEXT NOT NULL,
    -- the type's canonical form (src/domain/observable/normalize.rs)
    normalized_value  TEXT NOT NULL,
    is_ioc            BOOLEAN NOT NULL DEFAULT FALSE,
    tlp               TEXT NOT NULL CHECK (tlp IN ('CLEAR', 'GREEN', 'AMBER', 'AMBER_STRICT', 'RED')),
    description       TEXT,
    -- lower-cased value and description, for word search
    search_text       TEXT NOT NULL,
    added_by          TEXT NOT NULL,
    added_at          TIMESTAMP NOT NULL,
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id),
    FOREIGN KEY (tenant_id, added_by) REFERENCES users (tenant_id, id),
    CONSTRAINT observables_unique_per_case UNIQUE (tenant_id, case_id, kind, normalized_value)
);
-- the pivot: every case that saw an indicator
CREATE INDEX observables_by_value ON observables (tenant_id, kind, normalized_value, case_id);
CREATE INDEX observables_by_tenant ON observables (tenant_id, id);

-- audit events about one observable name it (no foreign key: a removed one's audit stays)
ALTER TABLE activity ADD COLUMN observable_id BIGINT;

-- Free labels, unique per tenant ignoring case; the first spelling is kept.
CREATE TABLE tags (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    CONSTRAINT tags_name_unique UNIQUE (tenant_id, name_key)
);

CREATE TABLE case_tags (
    tenant_id   TEXT NOT NULL,
    case_id     BIGINT NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id),
    added_by    TEXT NOT NULL,
    added_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, case_id, tag_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
CREATE INDEX case_tags_by_tag ON case_tags (tenant_id, tag_id, case_id);

-- Techniques of the shipped ATT&CK catalogue (src/domain/attack), by id.
CREATE TABLE case_techniques (
    tenant_id     TEXT NOT NULL,
    case_id       BIGINT NOT NULL,
    technique_id  TEXT NOT NULL,
    added_by      TEXT NOT NULL,
    added_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, case_id, technique_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
CREATE INDEX case_techniques_by_technique ON case_techniques (tenant_id, technique_id, case_id);
