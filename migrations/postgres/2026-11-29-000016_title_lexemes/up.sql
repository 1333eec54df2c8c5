-- A title's tokens also as lexemes of their own, at the same positions: its
-- terms after '^', its words after '~' (no typed token holds punctuation).
-- A search of the title (what ranks a match first) then names lexemes
-- instead of weights, and the GIN index decides it alone: with weights it
-- read every candidate back (17,478 entries and 48 ms at 100,000 cases to
-- find that no title holds "mimikatz"). Titles are short: the vectors grow
-- by a few lexemes each.
CREATE OR REPLACE FUNCTION casebook_search_vector(
    scope TEXT, title_terms TEXT, title_words TEXT, body_terms TEXT, body_words TEXT
) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (casebook_quote_lexeme(scope) || ' ' || coalesce(string_agg(
        casebook_quote_lexeme(mark || token) || ':' || least(position, 16383) || weight, ' '
    ), ''))::tsvector
    FROM (
        SELECT '' AS mark, token, n AS position, 'A' AS weight
            FROM unnest(string_to_array(title_terms, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '', token, n + cardinality(string_to_array(title_terms, ' ')) + 1, 'C'
            FROM unnest(string_to_array(title_words, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '^', token, n, 'A'
            FROM unnest(string_to_array(title_terms, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '~', token, n + cardinality(string_to_array(title_terms, ' ')) + 1, 'C'
            FROM unnest(string_to_array(title_words, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '', token, n + 2 * cardinality(string_to_array(title_terms, ' ')) + 2, 'D'
            FROM unnest(string_to_array(body_terms, ' ')) WITH ORDINALITY AS t(token, n)
        UNION ALL SELECT '', token, n + 2 * cardinality(string_to_array(title_terms, ' '))
                + cardinality(string_to_array(body_terms, ' ')) + 3, 'D'
            FROM unnest(string_to_array(body_words, ' ')) WITH ORDINALITY AS t(token, n)
    ) AS tokens
    WHERE token <> ''
$$;

-- Every stored vector again (a generated column is computed when its row is
-- written): the column is dropped and added back, which rewrites the table
-- once, without dead rows; its index, the trigger that reads it, and the
-- cases' narrow copies follow. About a minute at 100,000 cases.
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
