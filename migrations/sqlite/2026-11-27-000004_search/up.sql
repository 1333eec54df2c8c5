-- Full-text search over cases (title, description), tasks (title,
-- description) and comments (body). The application tokenizes the text (one
-- tokenizer for both databases, src/domain/search/text.rs) and writes each
-- field's stems ("terms") and lower-cased words, one token per space. FTS5's
-- `ascii` tokenizer splits them on those spaces only (every non-ASCII
-- character is part of a token), so it indexes exactly those tokens; the
-- triggers keep the index in step with the entries. The scope token ('#kind#'
-- and the tenant in hex; '#' is a token character here and in no typed word)
-- lets the index alone find and count one tenant's cases, tasks or comments.
CREATE TABLE search_entries (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    kind         TEXT NOT NULL CHECK (kind IN ('CASE', 'TASK', 'COMMENT')),
    -- the case number, task id or activity id
    entity_id    BIGINT NOT NULL,
    case_id      BIGINT NOT NULL,
    title_terms  TEXT NOT NULL,
    title_words  TEXT NOT NULL,
    body_terms   TEXT NOT NULL,
    body_words   TEXT NOT NULL,
    scope        TEXT NOT NULL GENERATED ALWAYS AS ('#' || lower(kind) || '#' || lower(hex(tenant_id))) VIRTUAL,
    UNIQUE (tenant_id, kind, entity_id)
);
CREATE VIRTUAL TABLE search_fts USING fts5 (
    scope, title_terms, title_words, body_terms, body_words,
    content = 'search_entries', content_rowid = 'id', tokenize = "ascii tokenchars '#'"
);
CREATE TRIGGER search_entries_indexed AFTER INSERT ON search_entries BEGIN
    INSERT INTO search_fts (rowid, scope, title_terms, title_words, body_terms, body_words)
        VALUES (NEW.id, NEW.scope, NEW.title_terms, NEW.title_words, NEW.body_terms, NEW.body_words);
END;
CREATE TRIGGER search_entries_unindexed AFTER DELETE ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, scope, title_terms, title_words, body_terms, body_words)
        VALUES ('delete', OLD.id, OLD.scope, OLD.title_terms, OLD.title_words, OLD.body_terms, OLD.body_words);
END;
CREATE TRIGGER search_entries_reindexed AFTER UPDATE ON search_entries BEGIN
    INSERT INTO search_fts (search_fts, rowid, scope, title_terms, title_words, body_terms, body_words)
        VALUES ('delete', OLD.id, OLD.scope, OLD.title_terms, OLD.title_words, OLD.body_terms, OLD.body_words);
    INSERT INTO search_fts (rowid, scope, title_terms, title_words, body_terms, body_words)
        VALUES (NEW.id, NEW.scope, NEW.title_terms, NEW.title_words, NEW.body_terms, NEW.body_words);
END;

-- Matching is on the entries now; the substring column is gone.
ALTER TABLE cases DROP COLUMN search_text;
