DROP TRIGGER cases_due_recounted ON cases;
DROP TRIGGER cases_due_counted ON cases;
DROP FUNCTION count_case_due_change();
DROP TABLE case_due_counts;
