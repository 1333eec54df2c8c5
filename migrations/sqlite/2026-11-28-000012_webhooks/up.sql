-- Webhooks: endpoints that hear about the tenant's changes, signed per the
-- Standard Webhooks specification with a secret only the server reads.
CREATE TABLE webhooks (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    url                  TEXT NOT NULL,
    description          TEXT,
    -- JSON array of WebhookEventType values; ALL takes every type
    event_types          TEXT NOT NULL,
    enabled              BOOLEAN NOT NULL DEFAULT TRUE,
    secret               TEXT NOT NULL,
    -- failed attempts since the last success
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_at          TIMESTAMP,
    disabled_reason      TEXT,
    created_by           TEXT NOT NULL,
    created_at           TIMESTAMP NOT NULL,
    updated_by           TEXT NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_of_tenant ON webhooks (tenant_id, id);

-- The outbox: one row per event per webhook, written in the transaction of
-- the change; delivery workers claim due rows.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       TEXT NOT NULL,
    webhook_id      BIGINT NOT NULL REFERENCES webhooks (id),
    -- deliveries of one case to one webhook go in order (NULL: no case)
    case_id         BIGINT,
    -- the webhook-id header: the same on every attempt and redelivery
    message_id      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- PENDING, DELIVERED, FAILED
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- a worker's claim: nobody else sends it before then
    locked_until    TIMESTAMP,
    last_attempt_at TIMESTAMP,
    response_status INTEGER,
    duration_ms     INTEGER,
    response_body   TEXT,
    error           TEXT,
    created_at      TIMESTAMP NOT NULL,
    delivered_at    TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_pending_of_case ON webhook_deliveries (webhook_id, case_id, id) WHERE status = 'PENDING';
CREATE INDEX webhook_deliveries_of_webhook ON webhook_deliveries (webhook_id, id);
-- pruning past retention
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (created_at);
