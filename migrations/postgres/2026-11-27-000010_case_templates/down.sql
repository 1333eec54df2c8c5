DROP TABLE case_templates;
