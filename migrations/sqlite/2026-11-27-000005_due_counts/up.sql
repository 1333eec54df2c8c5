-- How many cases each tenant has per status and due day (UTC), so that an
-- overdue count sums the days before today and looks at today's cases only,
-- whatever the tenant's size. Delta rows like case_counts: +1 for the case's
-- new (status, day), -1 for its old one, folded by the application.
CREATE TABLE case_due_counts (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    status_id     BIGINT NOT NULL,
    -- YYYY-MM-DD of due_on
    due_day       TEXT NOT NULL,
    n             INTEGER NOT NULL
);
CREATE INDEX case_due_counts_by_tenant ON case_due_counts (tenant_id, due_day);

INSERT INTO case_due_counts (tenant_id, status_id, due_day, n)
    SELECT tenant_id, status_id, date(due_on), COUNT(*) FROM cases
    WHERE due_on IS NOT NULL
    GROUP BY tenant_id, status_id, date(due_on);

CREATE TRIGGER cases_due_counted_insert AFTER INSERT ON cases WHEN NEW.due_on IS NOT NULL
BEGIN
    INSERT INTO case_due_counts (tenant_id, status_id, due_day, n)
        VALUES (NEW.tenant_id, NEW.status_id, date(NEW.due_on), 1);
END;
CREATE TRIGGER cases_due_counted_delete AFTER DELETE ON cases WHEN OLD.due_on IS NOT NULL
BEGIN
    INSERT INTO case_due_counts (tenant_id, status_id, due_day, n)
        VALUES (OLD.tenant_id, OLD.status_id, date(OLD.due_on), -1);
END;
CREATE TRIGGER cases_due_recounted AFTER UPDATE OF status_id, due_on ON cases
    WHEN OLD.status_id IS NOT NEW.status_id OR date(OLD.due_on) IS NOT date(NEW.due_on)
BEGIN
    INSERT INTO case_due_counts (tenant_id, status_id, due_day, n)
        SELECT OLD.tenant_id, OLD.status_id, date(OLD.due_on), -1 WHERE OLD.due_on IS NOT NULL;
    INSERT INTO case_due_counts (tenant_id, status_id, due_day, n)
        SELECT NEW.tenant_id, NEW.status_id, date(NEW.due_on), 1 WHERE NEW.due_on IS NOT NULL;
END;
