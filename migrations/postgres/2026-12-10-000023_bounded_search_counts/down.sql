DROP FUNCTION casebook_case_match_count(tsquery, bigint);
