-- How many of the cases' narrow rows (case_search) match, stopping at
-- `rows`: a text search's totalCount is exact up to a bound. Planned
-- without sequential scans for the reason casebook_case_matches is; a
-- scalar, so the limit stops the scan inside the function (a set-returning
-- function with SET is materialized whole before an outer LIMIT applies).
CREATE FUNCTION casebook_case_match_count(query tsquery, rows bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE SET enable_seqscan = off AS $$
    SELECT count(*) FROM (SELECT 1 FROM case_search WHERE vector @@ query LIMIT rows) AS m
$$;
