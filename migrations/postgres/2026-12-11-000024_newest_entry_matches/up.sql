-- The numbers of the `n` newest entries below `below` that match, through
-- the text index alone: the part of a top-level search page that its walk
-- of the newest entries did not reach (src/domain/search/mod.rs,
-- `rank_page`). Given an order and a limit, the planner walks the entries'
-- key instead whenever it guesses the match common; a rare prefix
-- (`zzqxj`, guessed at 2,841 of 1,000,000 entries) then read every entry
-- to find none, 1.5 s. Bitmap scans only: the text index finds the
-- matches, the sort keeps the newest.
CREATE FUNCTION casebook_newest_entry_matches(query tsquery, below bigint, n bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE PARALLEL SAFE SET enable_seqscan = off SET enable_indexscan = off AS $$
    SELECT id FROM search_entries WHERE vector @@ query AND id < below ORDER BY id DESC LIMIT n
$$;
