ALTER TABLE cases ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE cases SET search_text = lower(title || coalesce(E'\n' || description, ''));
DROP TABLE search_entries;
DROP FUNCTION casebook_search_vector(TEXT, TEXT, TEXT, TEXT, TEXT);
DROP FUNCTION casebook_search_scope(TEXT, TEXT);
DROP FUNCTION casebook_quote_lexeme(TEXT);
