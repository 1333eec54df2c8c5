-- Who holds a delivery's lease: a worker records an attempt only while its
-- lease is still its own (another replica may have taken an expired one).
ALTER TABLE webhook_deliveries ADD COLUMN lease_token TEXT;
-- Deliveries in flight (leased), counted per endpoint and per tenant when
-- deliveries are claimed.
CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (webhook_id, tenant_id)
    WHERE status = 'PENDING' AND locked_until IS NOT NULL;
-- An endpoint that keeps failing is left alone until then (its circuit is
-- open), then tried with one delivery at a time until one succeeds.
ALTER TABLE webhooks ADD COLUMN circuit_open_until TIMESTAMP;
-- After a rotation, the previous secret still signs (beside the new one)
-- until then. Both secrets are sealed (see domain::webhook::sealed).
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at TIMESTAMP;
