-- The vectors without grams (see up.sql), rewritten alike.
CREATE OR REPLACE FUNCTION casebook_search_vector(
    scope TEXT, title_terms TEXT, title_words TEXT, body_terms TEXT, body_words TEXT
) RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    tt TEXT[] := string_to_array(title_terms, ' ');
    tw TEXT[] := string_to_array(title_words, ' ');
    bt TEXT[] := string_to_array(body_terms, ' ');
    bw TEXT[] := string_to_array(body_words, ' ');
    ntt INT := cardinality(tt);
    nbt INT := cardinality(bt);
BEGIN
    RETURN (SELECT (casebook_quote_lexeme(scope) || ' ' || coalesce(string_agg(
        casebook_quote_lexeme(mark || token) || ':' || least(position, 16383) || weight, ' '
    ), ''))::tsvector
    FROM (
        SELECT '' AS mark, token, n AS position, 'A' AS weight FROM unnest(tt) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '', token, n + ntt + 1, 'C' FROM unnest(tw) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '^', token, n, 'A' FROM unnest(tt) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '~', token, n + ntt + 1, 'C' FROM unnest(tw) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '', token, n + 2 * ntt + 2, 'D' FROM unnest(bt) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '', token, n + 2 * ntt + nbt + 3, 'D' FROM unnest(bw) WITH ORDINALITY AS t(token, n)
    ) AS tokens
    WHERE token <> '');
END
$$;

-- Every stored vector again (a generated column keeps what its function
-- returned when the row was written), and the cases' narrow rows from them.
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

DROP FUNCTION casebook_grams(TEXT, TEXT);
DROP FUNCTION casebook_gram_chars();
