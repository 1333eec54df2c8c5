DROP TRIGGER search_entries_case_search_changed ON search_entries;
DROP TRIGGER search_entries_case_search ON search_entries;
DROP FUNCTION casebook_case_search_kept();
DROP FUNCTION casebook_case_matches(tsquery);
DROP TABLE case_search;
ALTER INDEX search_entries_vector RESET (gin_pending_list_limit);
