-- Counters that answer more of the queue's filters: case_counts groups by
-- creator too, and case_due_counts by the whole group (status, priority,
-- assignee, creator) and due day, so overdue and due-date ranges count from
-- counters alongside any group criteria. The fold (src/domain/counts.rs)
-- merges the days before yesterday into one row per group under the day
-- '0000-00-00': a count sums days before today, or after a day from
-- yesterday on, so the rows it reads stay near one per group and day ahead.
DROP TRIGGER cases_counted_insert;
DROP TRIGGER cases_counted_delete;
DROP TRIGGER cases_recounted;
DROP TABLE case_counts;
CREATE TABLE case_counts (
    -- never reused: a fold reads only ids past the last one it saw
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    status_id     BIGINT NOT NULL,
    priority      INTEGER NOT NULL,
    assignee_id   TEXT,
    created_by    TEXT NOT NULL,
    -- a delta (+1, -1) or a folded group's count; INTEGER so SUM is a BIGINT on both
    n             INTEGER NOT NULL
);
CREATE INDEX case_counts_by_tenant ON case_counts (tenant_id, status_id, priority);
INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, created_by, n)
    SELECT tenant_id, status_id, priority, assignee_id, created_by, COUNT(*) FROM cases
    GROUP BY tenant_id, status_id, priority, assignee_id, created_by;

CREATE TRIGGER cases_counted_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, created_by, n)
        VALUES (NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, NEW.created_by, 1);
END;
CREATE TRIGGER cases_counted_delete AFTER DELETE ON cases
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, created_by, n)
        VALUES (OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, OLD.created_by, -1);
END;
CREATE TRIGGER cases_recounted AFTER UPDATE OF status_id, priority, assignee_id, created_by ON cases
    WHEN OLD.status_id IS NOT NEW.status_id
      OR OLD.priority IS NOT NEW.priority
      OR OLD.assignee_id IS NOT NEW.assignee_id
      OR OLD.created_by IS NOT NEW.created_by
BEGIN
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, created_by, n)
        VALUES (OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, OLD.created_by, -1);
    INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, created_by, n)
        VALUES (NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, NEW.created_by, 1);
END;

DROP TRIGGER cases_due_counted_insert;
DROP TRIGGER cases_due_counted_delete;
DROP TRIGGER cases_due_recounted;
DROP TABLE case_due_counts;
CREATE TABLE case_due_counts (
    -- never reused: a fold reads only ids past the last one it saw
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,
    status_id     BIGINT NOT NULL,
    priority      INTEGER NOT NULL,
    assignee_id   TEXT,
    created_by    TEXT NOT NULL,
    -- YYYY-MM-DD of due_on (UTC), or '0000-00-00' for days folded together
    due_day       TEXT NOT NULL,
    n             INTEGER NOT NULL
);
CREATE INDEX case_due_counts_by_tenant ON case_due_counts (tenant_id, due_day);
INSERT INTO case_due_counts (tenant_id, status_id, priority, assignee_id, created_by, due_day, n)
    SELECT tenant_id, status_id, priority, assignee_id, created_by, date(due_on), COUNT(*) FROM cases
    WHERE due_on IS NOT NULL
    GROUP BY tenant_id, status_id, priority, assignee_id, created_by, date(due_on);

CREATE TRIGGER cases_due_counted_insert AFTER INSERT ON cases WHEN NEW.due_on IS NOT NULL
BEGIN
    INSERT INTO case_due_counts (tenant_id, status_id, priority, assignee_id, created_by, due_day, n)
        VALUES (NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, NEW.created_by, date(NEW.due_on), 1);
END;
CREATE TRIGGER cases_due_counted_delete AFTER DELETE ON cases WHEN OLD.due_on IS NOT NULL
BEGIN
    INSERT INTO case_due_counts (tenant_id, status_id, priority, assignee_id, created_by, due_day, n)
        VALUES (OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, OLD.created_by, date(OLD.due_on), -1);
END;
CREATE TRIGGER cases_due_recounted AFTER UPDATE OF status_id, priority, assignee_id, created_by, due_on ON cases
    WHEN OLD.status_id IS NOT NEW.status_id
      OR OLD.priority IS NOT NEW.priority
      OR OLD.assignee_id IS NOT NEW.assignee_id
      OR OLD.created_by IS NOT NEW.created_by
      OR date(OLD.due_on) IS NOT date(NEW.due_on)
BEGIN
    INSERT INTO case_due_counts (tenant_id, status_id, priority, assignee_id, created_by, due_day, n)
        SELECT OLD.tenant_id, OLD.status_id, OLD.priority, OLD.assignee_id, OLD.created_by, date(OLD.due_on), -1
        WHERE OLD.due_on IS NOT NULL;
    INSERT INTO case_due_counts (tenant_id, status_id, priority, assignee_id, created_by, due_day, n)
        SELECT NEW.tenant_id, NEW.status_id, NEW.priority, NEW.assignee_id, NEW.created_by, date(NEW.due_on), 1
        WHERE NEW.due_on IS NOT NULL;
END;

-- The queue by due date puts cases without one last (first descending).
CREATE INDEX cases_by_due_nulls_last ON cases (tenant_id, due_on IS NULL, due_on, id);

-- One assignee's queue by last change ("my cases"), alone or with another
-- criterion, walks that assignee's cases in order instead of the tenant's.
CREATE INDEX cases_by_assignee_updated ON cases (tenant_id, assignee_id, updated_at, id);

-- Statistics for the new indexes: beside other indexes' statistics SQLite
-- would take an index without any for very selective.
ANALYZE cases;
