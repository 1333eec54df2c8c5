DROP TABLE search_fts;
CREATE VIRTUAL TABLE search_fts USING fts5 (
    scope, title_terms, title_words, body_terms, body_words,
    content = 'search_entries', content_rowid = 'id', tokenize = "ascii tokenchars '#'"
);
INSERT INTO search_fts (search_fts) VALUES ('rebuild');
