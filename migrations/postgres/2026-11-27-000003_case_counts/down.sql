DROP TRIGGER cases_recounted ON cases;
DROP TRIGGER cases_counted ON cases;
DROP FUNCTION count_case_change();
DROP TABLE case_counts;
