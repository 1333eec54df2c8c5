DROP TRIGGER cases_recounted;
DROP TRIGGER cases_counted_delete;
DROP TRIGGER cases_counted_insert;
DROP TABLE case_counts;
