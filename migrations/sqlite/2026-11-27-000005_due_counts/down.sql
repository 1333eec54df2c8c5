DROP TRIGGER cases_due_recounted;
DROP TRIGGER cases_due_counted_delete;
DROP TRIGGER cases_due_counted_insert;
DROP TABLE case_due_counts;
