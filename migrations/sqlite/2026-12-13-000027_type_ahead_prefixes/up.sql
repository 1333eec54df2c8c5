-- Prefix indexes for type-ahead: the last word of a search also matches as a
-- prefix, and without an index of that prefix's length FTS5 reads and merges
-- the whole list of every token that begins so before it can answer (a common
-- token such as a host's domain makes that most of the index). With one, the
-- prefix is a single list, read lazily like a whole word's, so a count that
-- stops at its bound and a phrase anchored on a rarer word skip the rest.
-- FTS5 uses a prefix index only for prefixes of exactly its length, so there
-- is one for each length from 1 to 8 characters; longer prefixes begin few
-- tokens. What this costs writes and space: docs/performance.md.
DROP TABLE search_fts;
CREATE VIRTUAL TABLE search_fts USING fts5 (
    scope, title_terms, title_words, body_terms, body_words,
    content = 'search_entries', content_rowid = 'id', tokenize = "ascii tokenchars '#'",
    prefix = '1 2 3 4 5 6 7 8'
);
INSERT INTO search_fts (search_fts) VALUES ('rebuild');
