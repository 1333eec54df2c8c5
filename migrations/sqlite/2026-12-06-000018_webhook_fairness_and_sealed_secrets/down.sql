ALTER TABLE webhooks DROP COLUMN previous_secret_expires_at;
ALTER TABLE webhooks DROP COLUMN previous_secret;
ALTER TABLE webhooks DROP COLUMN circuit_open_until;
DROP INDEX webhook_deliveries_in_flight;
ALTER TABLE webhook_deliveries DROP COLUMN lease_token;
