DROP TABLE status_transitions;
DROP TABLE workflow_settings;
ALTER TABLE cases DROP COLUMN closing_comment;
ALTER TABLE cases DROP COLUMN determination;
ALTER TABLE cases DROP COLUMN classification;
