DROP FUNCTION casebook_newest_entry_matches(tsquery, bigint, bigint);
