-- Each case's status, priority, assignee and creator beside its search
-- vector in `case_search`, so that a search with any of the queue's common
-- criteria ("open cases that mention psexec") counts from the text index's
-- matches alone instead of looking each match's case up (figures:
-- docs/performance.md). The columns are named and typed as in `cases`, so
-- the queue's group criteria apply to either table alike. Refilled rather
-- than updated in place: the rows come out packed to the fill factor,
-- without a dead version each.
DROP INDEX case_search_vector;
CREATE TEMPORARY TABLE case_search_before ON COMMIT DROP AS SELECT tenant_id, case_id, vector FROM case_search;
TRUNCATE case_search;
ALTER TABLE case_search
    ADD COLUMN status_id BIGINT NOT NULL,
    ADD COLUMN priority INTEGER NOT NULL,
    ADD COLUMN assignee_id TEXT,
    ADD COLUMN created_by TEXT NOT NULL;
-- Room on each page for a changed case's new row version: its indexes hold
-- none of these columns, so the update stays on the page (HOT) and writes no
-- index entry, where a new page would index its whole vector again.
ALTER TABLE case_search SET (fillfactor = 85);
INSERT INTO case_search (tenant_id, case_id, vector, status_id, priority, assignee_id, created_by)
    SELECT s.tenant_id, s.case_id, s.vector, c.status_id, c.priority, c.assignee_id, c.created_by
    FROM case_search_before AS s
    JOIN cases AS c ON c.tenant_id = s.tenant_id AND c.id = s.case_id;
CREATE INDEX case_search_vector ON case_search USING GIN (vector) WITH (gin_pending_list_limit = 64);

-- A case's entry written after its case copies the case's criteria; a case
-- written after its entry copies the entry (below); a case's change of any
-- criterion is copied over.
CREATE OR REPLACE FUNCTION casebook_case_search_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'CASE' THEN
        DELETE FROM case_search WHERE tenant_id = OLD.tenant_id AND case_id = OLD.entity_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'CASE' THEN
        INSERT INTO case_search (tenant_id, case_id, vector, status_id, priority, assignee_id, created_by)
            SELECT NEW.tenant_id, NEW.entity_id, NEW.vector, c.status_id, c.priority, c.assignee_id, c.created_by
            FROM cases AS c WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.entity_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION casebook_case_search_criteria() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_search (tenant_id, case_id, vector, status_id, priority, assignee_id, created_by)
            SELECT e.tenant_id, e.entity_id, e.vector, NEW.status_id, NEW.priority, NEW.assignee_id, NEW.created_by
            FROM search_entries AS e
            WHERE e.tenant_id = NEW.tenant_id AND e.kind = 'CASE' AND e.entity_id = NEW.id;
    ELSE
        UPDATE case_search
            SET status_id = NEW.status_id, priority = NEW.priority,
                assignee_id = NEW.assignee_id, created_by = NEW.created_by
            WHERE tenant_id = NEW.tenant_id AND case_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER cases_search_criteria AFTER INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION casebook_case_search_criteria();
CREATE TRIGGER cases_search_criteria_changed AFTER UPDATE OF status_id, priority, assignee_id, created_by ON cases
    FOR EACH ROW WHEN (OLD.status_id IS DISTINCT FROM NEW.status_id OR OLD.priority IS DISTINCT FROM NEW.priority
        OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id OR OLD.created_by IS DISTINCT FROM NEW.created_by)
    EXECUTE FUNCTION casebook_case_search_criteria();
