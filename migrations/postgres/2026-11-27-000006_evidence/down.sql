DROP TABLE case_techniques;
DROP TABLE case_tags;
DROP TABLE tags;
ALTER TABLE activity DROP COLUMN observable_id;
DROP TABLE observables;
