-- Each case's SLA schedule, stored so the queue can filter on SLA state and
-- order by the resolve deadline through indexes, and the evaluator can find
-- the cases with an SLA event due. Kept by every change of the case or of
-- the tenant's policies (see domain/sla.rs).

-- NONE, RUNNING, PAUSED, MET or BREACHED: the state regardless of the time.
ALTER TABLE cases ADD COLUMN sla_phase TEXT NOT NULL DEFAULT 'NONE';
ALTER TABLE cases ADD COLUMN sla_acknowledge_by TIMESTAMP;
-- the resolve deadline before the current pause (a pause moves it on)
ALTER TABLE cases ADD COLUMN sla_resolve_by TIMESTAMP;
-- RUNNING: from when the case is at risk
ALTER TABLE cases ADD COLUMN sla_at_risk_at TIMESTAMP;
-- RUNNING or PAUSED: the deadline it breaches at unless met; BREACHED: the one it missed
ALTER TABLE cases ADD COLUMN sla_breach_at TIMESTAMP;
-- the first moment an SLA event may be due for the evaluator
ALTER TABLE cases ADD COLUMN sla_notice_at TIMESTAMP;
-- SLA events from this moment on are announced (earlier ones were past when
-- a policy change or an upgrade recomputed the schedule)
ALTER TABLE cases ADD COLUMN sla_events_from TIMESTAMP;

-- the queue by resolve deadline, cases without one last (ascending)
CREATE INDEX cases_sla_resolve_by ON cases (tenant_id, (sla_resolve_by IS NULL), sla_resolve_by, id);
CREATE INDEX cases_sla_phase ON cases (tenant_id, sla_phase, sla_breach_at);
CREATE INDEX cases_sla_notice_at ON cases (sla_notice_at) WHERE sla_notice_at IS NOT NULL;

-- SLA events written, one per case, kind and deadline: the evaluator of any
-- replica inserts here first and writes the event only when the row is new.
CREATE TABLE sla_notices (
    tenant_id   TEXT NOT NULL,
    case_id     BIGINT NOT NULL,
    -- SLA_AT_RISK or SLA_BREACHED
    kind        TEXT NOT NULL,
    -- ACKNOWLEDGE or RESOLVE
    deadline    TEXT NOT NULL,
    due_by      TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, case_id, kind, deadline, due_by),
    FOREIGN KEY (tenant_id, case_id) REFERENCES cases (tenant_id, id)
);
