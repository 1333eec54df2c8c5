-- Attachments: files on cases and tasks. The bytes live in an object store
-- (a directory or an S3-compatible bucket), once per tenant and SHA-256.

-- One stored content per tenant and hash; attachments share it. A blob row
-- exists exactly while attachments refer to it: removing the last one
-- deletes the row and queues its object in `stored_objects` in the same
-- transaction.
CREATE TABLE attachment_blobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    sha256        TEXT NOT NULL,
    sha1          TEXT NOT NULL,
    md5           TEXT NOT NULL,
    -- CRC-32 of the bytes: the malware zip's header needs it before the bytes
    crc32         BIGINT NOT NULL,
    size          BIGINT NOT NULL,
    -- sniffed from the bytes, never taken from the client
    content_type  TEXT NOT NULL,
    storage_key   TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX attachment_blobs_by_hash ON attachment_blobs (tenant_id, sha256);

CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    case_id       BIGINT NOT NULL,
    task_id       BIGINT,
    blob_id       BIGINT NOT NULL REFERENCES attachment_blobs (id),
    file_name     TEXT NOT NULL,
    description   TEXT,
    is_malware    BOOLEAN NOT NULL,
    added_by      TEXT NOT NULL,
    added_at      TIMESTAMP NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
CREATE INDEX attachments_of_case ON attachments (tenant_id, case_id, id);
CREATE INDEX attachments_of_task ON attachments (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX attachments_of_blob ON attachments (blob_id);

-- Objects in the store that no blob owns: an upload under way (STAGING,
-- written before its first byte) or content to delete (DELETE). The sweeper
-- claims rows on the database's clock, deletes the object, then the row, so
-- a crash anywhere leaves a row that is retried: no orphan bytes, and no
-- blob row pointing at missing bytes.
CREATE TABLE stored_objects (
    storage_key   TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    state         TEXT NOT NULL,
    since         TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP
);
CREATE INDEX stored_objects_due ON stored_objects (state, since);

-- Who fetched which file when (downloads and signed links).
CREATE TABLE attachment_downloads (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    attachment_id  BIGINT NOT NULL,
    case_id        BIGINT NOT NULL,
    downloaded_by  TEXT NOT NULL,
    downloaded_at  TIMESTAMP NOT NULL,
    -- API (an authenticated request) or LINK (a signed link)
    via            TEXT NOT NULL,
    -- the Range asked for, if any
    byte_range     TEXT
);
CREATE INDEX attachment_downloads_of ON attachment_downloads (attachment_id, id);
