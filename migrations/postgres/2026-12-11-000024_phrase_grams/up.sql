-- Adjacent tokens as lexemes of their own ("grams"): a phrase of two or
-- three tokens (`"scheduled task"`, `10.3.17`, `evil-corp.example`) is then
-- one lexeme that the index alone decides, instead of a match on every
-- token whose positions PostgreSQL reads back from each candidate's row
-- (at 100,000 cases, 22 ms of rechecks for "scheduled task", 60 for a
-- phrase with 10,000 matches). A gram is `>` and its tokens joined by
-- spaces, after the mark of a title's own lexemes (`^`, `~`; see
-- `title_lexemes`): no typed token holds either. Pairs and triples of each
-- field's terms and of its words, from its first `casebook_gram_chars()`
-- characters (a title whole, a typical description), so that an entry's
-- vector stays far below PostgreSQL's 1 MB limit; an entry with more text
-- has the lexeme `#partial`, and a phrase there is matched by its tokens'
-- positions, as before (src/domain/search/query.rs).
CREATE FUNCTION casebook_gram_chars() RETURNS INT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 4096';

-- The grams of one field (its tokens joined by spaces) as tsvector text,
-- and `#partial` when the field is longer than what it grams.
-- PL/pgSQL keeps its plan for the session; an SQL function that is not
-- inlined is planned again at every call (0.8 ms an entry instead of 0.1).
CREATE FUNCTION casebook_grams(mark TEXT, field TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (SELECT concat_ws(' ', string_agg(concat_ws(' ',
        casebook_quote_lexeme(mark || '>' || token || ' ' || next),
        casebook_quote_lexeme(mark || '>' || token || ' ' || next || ' ' || third)
    ), ' '), CASE WHEN length(field) > casebook_gram_chars() THEN '''#partial''' END)
    FROM (
        SELECT token, lead(token) OVER w AS next, lead(token, 2) OVER w AS third
        FROM unnest(string_to_array(CASE WHEN length(field) > casebook_gram_chars()
            -- whole tokens only: up to the last space within the budget
            THEN substring(left(field, casebook_gram_chars() + 1) FROM '^(.*) ') ELSE field END, ' '))
            WITH ORDINALITY AS t(token, n)
        WINDOW w AS (ORDER BY n)
    ) AS grams
    WHERE next IS NOT NULL);
END
$$;

-- The vector of migration 17, with the grams of each field.
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
    RETURN (SELECT (concat_ws(' ', casebook_quote_lexeme(scope), string_agg(
        casebook_quote_lexeme(mark || token) || ':' || least(position, 16383) || weight, ' '
    ), casebook_grams('', title_terms), casebook_grams('', title_words), casebook_grams('^', title_terms),
        casebook_grams('~', title_words), casebook_grams('', body_terms), casebook_grams('', body_words)))::tsvector
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
