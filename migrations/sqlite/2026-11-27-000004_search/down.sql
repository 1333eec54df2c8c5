ALTER TABLE cases ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE cases SET search_text = lower(title || coalesce(char(10) || description, ''));
DROP TABLE search_fts;
DROP TABLE search_entries;
