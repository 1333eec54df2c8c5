-- The vectors without the title's own lexemes (see up.sql), rewritten alike.
CREATE OR REPLACE FUNCTION casebook_search_vector(
    scope TEXT, title_terms TEXT, title_words TEXT, body_terms TEXT, body_words TEXT
) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (casebook_quote_lexeme(scope) || ' ' || coalesce(string_agg(
        casebook_quote_lexeme(token) || ':' || least(position, 16383) || weight, ' '
    ), ''))::tsvector
    FROM (
        SELECT token, n AS position, 'A' AS weight
            FROM unnest(string_to_array(title_terms, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT token, n + cardinality(string_to_array(title_terms, ' ')) + 1, 'C'
            FROM unnest(string_to_array(title_words, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT token, n + 2 * cardinality(string_to_array(title_terms, ' ')) + 2, 'D'
            FROM unnest(string_to_array(body_terms, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT token, n + 2 * cardinality(string_to_array(title_terms, ' '))
                + cardinality(string_to_array(body_terms, ' ')) + 3, 'D'
            FROM unnest(string_to_array(body_words, ' ')) WITH ORDINALITY AS t(token, n)
    ) AS tokens
    WHERE token <> ''
$$;

DROP TRIGGER search_entries_case_search_changed ON search_entries;
ALTER TABLE search_entries DROP COLUMN vector;
ALTER TABLE search_entries ADD COLUMN vector tsvector NOT NULL GENERATED ALWAYS AS (casebook_search_vector(
    casebook_search_scope(kind, tenant_id), title_terms, title_words, body_terms, body_words
)) STORED;
CREATE INDEX search_entries_vector ON search_entries USING GIN (vector) WITH (gin_pending_list_limit = 64);
CREATE TRIGGER search_entries_case_search_changed AFTER UPDATE ON search_entries
    FOR EACH ROW WHEN (OLD.vector IS DISTINCT FROM NEW.vector)
    EXECUTE FUNCTION casebook_case_search_kept();
DROP INDEX case_search_vector;
TRUNCATE case_search;
INSERT INTO case_search (tenant_id, case_id, vector)
    SELECT tenant_id, entity_id, vector FROM search_entries WHERE kind = 'CASE';
CREATE INDEX case_search_vector ON case_search USING GIN (vector) WITH (gin_pending_list_limit = 64);
