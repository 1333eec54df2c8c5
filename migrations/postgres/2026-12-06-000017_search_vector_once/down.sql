-- The SQL function as migration 16 wrote it.
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
