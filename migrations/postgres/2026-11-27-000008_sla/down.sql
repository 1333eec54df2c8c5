DROP TABLE sla_policies;
ALTER TABLE cases DROP COLUMN paused_seconds;
ALTER TABLE cases DROP COLUMN paused_since;
ALTER TABLE cases DROP COLUMN closed_at;
ALTER TABLE cases DROP COLUMN acknowledged_at;
ALTER TABLE statuses DROP COLUMN pauses_sla;
