DROP TRIGGER cases_search_criteria_changed ON cases;
DROP TRIGGER cases_search_criteria ON cases;
DROP FUNCTION casebook_case_search_criteria();
CREATE OR REPLACE FUNCTION casebook_case_search_kept() RETURNS trigger LANGUAGE plpgsql AS $$
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
ALTER TABLE case_search RESET (fillfactor);
ALTER TABLE case_search DROP COLUMN status_id, DROP COLUMN priority, DROP COLUMN assignee_id, DROP COLUMN created_by;
