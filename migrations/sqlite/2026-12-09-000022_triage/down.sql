DROP TABLE case_relations;
ALTER TABLE workflow_settings DROP COLUMN duplicate_determination;
ALTER TABLE workflow_settings DROP COLUMN duplicate_classification;
ALTER TABLE workflow_settings DROP COLUMN require_closed_children;
ALTER TABLE cases DROP COLUMN merged_into;
ALTER TABLE activity DROP COLUMN operation_id;
