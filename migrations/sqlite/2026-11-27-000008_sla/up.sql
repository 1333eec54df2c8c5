-- SLA clocks: when a case was acknowledged and closed, and the time it spent
-- in statuses that pause the clock; the tenant's policies per priority.

ALTER TABLE statuses ADD COLUMN pauses_sla BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE cases ADD COLUMN acknowledged_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN closed_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN paused_since TIMESTAMP;
ALTER TABLE cases ADD COLUMN paused_seconds BIGINT NOT NULL DEFAULT 0;

-- Cases from before: assigned or out of a NEW status counts as acknowledged,
-- a CLOSED status as closed, both at the case's last change.
UPDATE cases SET acknowledged_at = updated_at
    WHERE assignee_id IS NOT NULL OR status_id IN (SELECT id FROM statuses WHERE category <> 'NEW');
UPDATE cases SET closed_at = updated_at WHERE status_id IN (SELECT id FROM statuses WHERE category = 'CLOSED');

CREATE TABLE sla_policies (
    tenant_id                   TEXT NOT NULL REFERENCES tenants (id),
    -- the priority rank it applies to (1 VERY_LOW .. 5 CRITICAL); 0: every other case
    priority                    INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 5),
    acknowledge_within_seconds  BIGINT,
    resolve_within_seconds      BIGINT,
    at_risk_percent             INTEGER NOT NULL DEFAULT 80 CHECK (at_risk_percent BETWEEN 1 AND 99),
    updated_at                  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, priority)
);
