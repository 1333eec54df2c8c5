DROP INDEX cases_by_assignee_updated;
DROP INDEX cases_by_due_nulls_last;
DROP TRIGGER cases_due_recounted;
DROP TRIGGER cases_due_counted_delete;
DROP TRIGGER cases_due_counted_insert;
DROP TABLE case_due_counts;
DROP TRIGGER cases_recounted;
DROP TRIGGER cases_counted_delete;
DROP TRIGGER cases_counted_insert;
DROP TABLE case_counts;

-- As before: 2026-11-27-000003_case_counts and 2026-11-27-000005_due_counts.
CREATE TABLE case_counts (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    status_id     BIGINT NOT NULL,
    priority      INTEGER NOT NULL,
    assignee_id   TEXT,
    -- a delta (+1, -1) or a folded group's count; INTEGER so SUM is a BIGINT on both
    n             INTEGER NOT NULL
);
CREATE INDEX case_counts_by_tenant ON case_counts (tenant_id, status_id, priority);

INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
    SELECT tenant_id, status_id, priority, assignee_id, COUNT(*) FROM cases
    GROUP BY tenant_id, status_id, priority, assignee_id;

CREATE TRIGGER cases_counted_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, 1);
END;
CREATE TRIGGER cases_counted_delete AFTER DELETE ON cases
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, -1);
END;
CREATE TRIGGER cases_recounted AFTER UPDATE OF status_id, priority, assignee_id ON cases
    WHEN OLD.status_id IS NOT NEW.status_id
      OR OLD.priority IS NOT NEW.priority
      OR OLD.assignee_id IS NOT NEW.assignee_id
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, -1);
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n)
        VALUES (NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, 1);
END;
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
