-- The cases' own search vectors, kept apart from the tasks' and comments'
-- in rows of about a hundred bytes, so that counting or sorting a search
-- that matches thousands of cases visits few heap pages. A bitmap scan
-- visits the heap page of every match even for count(*) (PostgreSQL 15),
-- and with the vector inline a case's row is about 750 bytes: "mimikatz"
-- (13,000 of 100,000 cases) took 7,400 pages and 15 ms, out of line 1,200
-- pages and 7 ms. PostgreSQL moves values out of line only from rows of
-- over 2 kB (a fixed threshold; toast_tuple_target lowers the size it
-- shrinks them to, not the threshold), hence `toast_trigger`: 2 kB of spaces
-- that compress to a few bytes, so every row is shrunk to 128 bytes with its
-- vector out of line. Only a phrase or a title match reads the vector back.
-- Kept by a trigger from the cases' entries in `search_entries`, in the
-- same transaction.
CREATE TABLE case_search (
    tenant_id     TEXT NOT NULL,
    case_id       BIGINT NOT NULL,
    vector        tsvector NOT NULL,
    toast_trigger TEXT NOT NULL DEFAULT repeat(' ', 2048),
    PRIMARY KEY (tenant_id, case_id)
) WITH (toast_tuple_target = 128);
ALTER TABLE case_search ALTER COLUMN vector SET STORAGE EXTERNAL;
ALTER TABLE case_search ALTER COLUMN toast_trigger SET STORAGE MAIN;

INSERT INTO case_search (tenant_id, case_id, vector)
    SELECT tenant_id, entity_id, vector FROM search_entries WHERE kind = 'CASE';
-- A GIN index collects new entries in a pending list that every search
-- reads through, up to 4 MB by default: after the demo's 2,000 cases, all of
-- them (15 ms a search instead of 2); at 100,000, 2,300 cases' worth. 64 kB
-- keeps it to a few pages; the list is merged in batches as before, so a
-- bulk insert costs what it did. The entries' index, which the top-level
-- search and phrases read, the same.
CREATE INDEX case_search_vector ON case_search USING GIN (vector) WITH (gin_pending_list_limit = 64);
ALTER INDEX search_entries_vector SET (gin_pending_list_limit = 64);

-- The numbers of the cases whose row matches, found through the index: a
-- small table's plan would read every row instead, and each vector back
-- from out of line (4.5 ms at 2,000 cases, against 0.3 through the index).
CREATE FUNCTION casebook_case_matches(query tsquery) RETURNS SETOF BIGINT
LANGUAGE sql STABLE PARALLEL SAFE SET enable_seqscan = off AS $$
    SELECT case_id FROM case_search WHERE vector @@ query
$$;

CREATE FUNCTION casebook_case_search_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'CASE' THEN
        DELETE FROM case_search WHERE tenant_id = OLD.tenant_id AND case_id = OLD.entity_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'CASE' THEN
        INSERT INTO case_search (tenant_id, case_id, vector) VALUES (NEW.tenant_id, NEW.entity_id, NEW.vector);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER search_entries_case_search AFTER INSERT OR DELETE ON search_entries
    FOR EACH ROW EXECUTE FUNCTION casebook_case_search_kept();
-- An upsert that leaves the text as it was changes nothing here (an entry's
-- tenant, kind and entity never change: only its text is updated).
CREATE TRIGGER search_entries_case_search_changed AFTER UPDATE ON search_entries
    FOR EACH ROW WHEN (OLD.vector IS DISTINCT FROM NEW.vector)
    EXECUTE FUNCTION casebook_case_search_kept();
