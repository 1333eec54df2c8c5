-- Full-text search over cases (title, description), tasks (title,
-- description) and comments (body). The application tokenizes the text (one
-- tokenizer for both databases, src/domain/search/text.rs) and writes each
-- field's stems ("terms") and lower-cased words, one token per space; the
-- database keeps the vector from them. A match anywhere needs no weights, so
-- the GIN index answers it without reading the rows back; weights mark the
-- title (A terms, C words) for relevance, which does read them. Sections are
-- one position apart, so a phrase never runs from one into the next. The
-- scope lexeme ('#kind#' and the tenant in hex) lets the index alone find
-- and count one tenant's cases, tasks or comments: no typed word has a '#'.
CREATE FUNCTION casebook_quote_lexeme(token TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '''' || replace(replace(token, '\', '\\'), '''', '''''') || ''''
$$;

CREATE FUNCTION casebook_search_scope(kind TEXT, tenant_id TEXT)
RETURNS TEXT LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '#' || lower(kind) || '#' || encode(convert_to(tenant_id, 'UTF8'), 'hex')
$$;

CREATE FUNCTION casebook_search_vector(
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

CREATE TABLE search_entries (
    id           BIGSERIAL PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    kind         TEXT NOT NULL CHECK (kind IN ('CASE', 'TASK', 'COMMENT')),
    -- the case number, task id or activity id
    entity_id    BIGINT NOT NULL,
    case_id      BIGINT NOT NULL,
    title_terms  TEXT NOT NULL,
    title_words  TEXT NOT NULL,
    body_terms   TEXT NOT NULL,
    body_words   TEXT NOT NULL,
    vector       tsvector NOT NULL GENERATED ALWAYS AS (casebook_search_vector(
        casebook_search_scope(kind, tenant_id), title_terms, title_words, body_terms, body_words
    )) STORED,
    UNIQUE (tenant_id, kind, entity_id)
);
CREATE INDEX search_entries_vector ON search_entries USING GIN (vector);

-- Matching is on the entries now; the substring column is gone.
ALTER TABLE cases DROP COLUMN search_text;
