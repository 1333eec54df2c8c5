//! Exact case counts that do not grow with the tenant. Triggers keep
//! `case_counts` (see its migrations): delta rows per group (status, priority,
//! assignee, creator), written in the same transaction as each change. A count
//! sums the rows of the groups a filter selects, so it costs the number of
//! groups and of not yet folded deltas, never the number of cases; `fold`
//! merges a tenant's deltas into one row per group. `case_due_counts` does the
//! same per group and due day, for `overdue` and due-date ranges alongside any
//! group criteria: the days wholly inside the range are summed, the cases due
//! on its first and last day looked at one by one. The fold also files the
//! days before yesterday under one day ([`FOLDED_DAY`]), so a range that starts
//! from yesterday on (or has no start) reads about one row per group and day
//! ahead; one that starts earlier counts its cases instead.

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::filter::{CaseFilter, by_group, closed_statuses};
use crate::db::Conn;
use crate::db::schema::{case_counts, case_due_counts, cases};
use crate::error::AppResult;
use crate::with_conn;

/// One write in this many folds its tenant's deltas: the rows a count sums
/// stay near one per group plus a few dozen deltas, and writers rarely meet
/// in a fold.
const FOLD_ONE_WRITE_IN: u32 = 32;

/// The due day the fold files older days under: before every real day.
const FOLDED_DAY: &str = "0000-00-00";

/// Days the fold leaves unfiled before today: two, so that a replica whose
/// clock runs up to a day ahead never files a day another replica still
/// counts day by day (counts sum day rows only from yesterday on).
const UNFILED_DAYS: u64 = 2;

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Due between two times, each bound excluded (`dueAfter`, `dueBefore`).
#[derive(Debug, Clone, Copy, Default)]
struct DueRange {
    after: Option<NaiveDateTime>,
    before: Option<NaiveDateTime>,
}

impl DueRange {
    fn is_unbounded(&self) -> bool {
        self.after.is_none() && self.before.is_none()
    }

    /// Whether the day rows answer it: neither bound before yesterday.
    fn summable(&self, today: NaiveDate) -> bool {
        let earliest = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        [self.after, self.before].iter().flatten().all(|t| t.date() >= earliest)
    }

    /// The range, ending at `time` if that is earlier.
    fn ending_by(self, time: NaiveDateTime) -> DueRange {
        DueRange { before: Some(self.before.map_or(time, |b| b.min(time))), ..self }
    }
}

/// How many of the tenant's cases `filter` matches; `None` when the counters
/// do not answer it: incident, observable, tags, techniques, SLA states or a
/// search among its criteria, or a due range that starts, or an overdue
/// range that ends, before yesterday.
pub async fn count(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter) -> AppResult<Option<i64>> {
    let criteria = filter.criteria();
    let now = filter.moment();
    let range = DueRange { after: filter.due_after, before: filter.due_before };
    // Overdue (or not) counts up to the filter's moment: its range ends
    // there. Judged by the fold's own clock: the folded row holds every day
    // the fold filed by today, and a range ending earlier ends inside it.
    let counted = if filter.overdue.is_some() { range.ending_by(now) } else { range };
    if criteria.sets || criteria.others || criteria.search || !counted.summable(super::now().date()) {
        return Ok(None);
    }
    let count = match filter.overdue {
        None => in_range(conn, tenant, filter, range).await?,
        Some(true) => overdue(conn, tenant, filter, range, now).await?,
        // The filter's cases in the range, less those of them overdue.
        Some(false) => in_range(conn, tenant, filter, range).await? - overdue(conn, tenant, filter, range, now).await?,
    };
    Ok(Some(count))
}

/// The filter's cases due in `range` (all of them, due or not, when unbounded).
async fn in_range(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter, range: DueRange) -> AppResult<i64> {
    if range.is_unbounded() {
        groups(conn, tenant, filter).await
    } else {
        due(conn, tenant, filter, Statuses::Any, range).await
    }
}

async fn groups(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter) -> AppResult<i64> {
    let sum: Option<i64> = with_conn!(conn, c => {
        let query = case_counts::table
            .filter(case_counts::tenant_id.eq(tenant))
            .select(diesel::dsl::sum(case_counts::n))
            .into_boxed();
        by_group!(query, case_counts, tenant, filter).get_result(c).await
    })?;
    Ok(sum.unwrap_or(0))
}

/// The filter's cases due in `range` before now in a status that is not
/// CLOSED (the queue's `overdue`).
async fn overdue(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
    range: DueRange,
    now: NaiveDateTime,
) -> AppResult<i64> {
    due(conn, tenant, filter, Statuses::NotClosed, range.ending_by(now)).await
}

/// Which of the filter's cases a due count takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Statuses {
    Any,
    NotClosed,
}

/// The filter's cases (of `statuses`) due in `range`, which has at least one
/// bound: the day counters of the days wholly inside it, and the cases due
/// on its first and last day.
async fn due(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
    statuses: Statuses,
    range: DueRange,
) -> AppResult<i64> {
    let DueRange { after, before } = range;
    if let (Some(after), Some(before)) = (after, before)
        && after >= before
    {
        return Ok(0);
    }
    let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN);
    // (after, from, before): the cases due after `after`, from `from`, before `before`.
    type Edge = (Option<NaiveDateTime>, Option<NaiveDateTime>, Option<NaiveDateTime>);
    let mut edges: Vec<Edge> = Vec::new();
    let mut days = None;
    match (after, before) {
        (Some(after), Some(before)) if after.date() == before.date() => edges.push((Some(after), None, Some(before))),
        _ => {
            if let Some(after) = after {
                edges.push((Some(after), None, after.date().succ_opt().map(midnight)));
            }
            if let Some(before) = before {
                edges.push((None, Some(midnight(before.date())), Some(before)));
            }
            days = Some((after.map(|a| day(a.date())), before.map(|b| day(b.date()))));
        }
    }
    let mut total = 0;
    if let Some((first, last)) = days {
        let sum: Option<i64> = with_conn!(conn, c => {
            let mut query = case_due_counts::table
                .filter(case_due_counts::tenant_id.eq(tenant))
                .select(diesel::dsl::sum(case_due_counts::n))
                .into_boxed();
            query = by_group!(query, case_due_counts, tenant, filter);
            if statuses == Statuses::NotClosed {
                query = query.filter(case_due_counts::status_id.ne_all(closed_statuses!(tenant)));
            }
            if let Some(first) = &first {
                query = query.filter(case_due_counts::due_day.gt(first.clone()));
            }
            if let Some(last) = &last {
                query = query.filter(case_due_counts::due_day.lt(last.clone()));
            }
            query.get_result(c).await
        })?;
        total += sum.unwrap_or(0);
    }
    for (after, from, before) in edges {
        let edge: i64 = with_conn!(conn, c => {
            let mut query = cases::table.filter(cases::tenant_id.eq(tenant)).into_boxed();
            query = by_group!(query, cases, tenant, filter);
            if statuses == Statuses::NotClosed {
                query = query.filter(cases::status_id.ne_all(closed_statuses!(tenant)));
            }
            if let Some(after) = after {
                query = query.filter(cases::due_on.gt(after));
            }
            if let Some(from) = from {
                query = query.filter(cases::due_on.ge(from));
            }
            if let Some(before) = before {
                query = query.filter(cases::due_on.lt(before));
            }
            query.count().get_result(c).await
        })?;
        total += edge;
    }
    Ok(total)
}

/// Folds the tenant's deltas now and then (see [`FOLD_ONE_WRITE_IN`]). Call
/// after a write that changed a case's group, in its transaction.
pub async fn fold_now_and_then(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    if rand::random_ratio(1, FOLD_ONE_WRITE_IN) { fold(conn, tenant).await } else { Ok(()) }
}

/// A table of delta rows and the columns that make its groups (`true`: nullable).
struct Deltas {
    table: &'static str,
    groups: &'static [(&'static str, bool)],
    /// The due-day column, whose older days the fold files under [`FOLDED_DAY`].
    day: Option<&'static str>,
}

const DELTA_TABLES: [Deltas; 2] = [
    Deltas {
        table: "case_counts",
        groups: &[("status_id", false), ("priority", false), ("assignee_id", true), ("created_by", false)],
        day: None,
    },
    Deltas {
        table: "case_due_counts",
        groups: &[
            ("status_id", false),
            ("priority", false),
            ("assignee_id", true),
            ("created_by", false),
            ("due_day", false),
        ],
        day: Some("due_day"),
    },
];

impl Deltas {
    fn columns(&self, prefix: &str) -> String {
        self.groups.iter().map(|(c, _)| format!("{prefix}{c}")).collect::<Vec<_>>().join(", ")
    }

    /// The group columns but the due day.
    fn dayless_columns(&self) -> String {
        let day = self.day.unwrap_or_default();
        self.groups.iter().filter(|(c, _)| *c != day).map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// `a.col = b.col AND ...`, nulls equal where a column may be null.
    fn same_group(&self, a: &str, b: &str, null_equal: &str) -> String {
        let each = self.groups.iter().map(|(c, nullable)| {
            if *nullable { format!("{a}.{c} {null_equal} {b}.{c}") } else { format!("{a}.{c} = {b}.{c}") }
        });
        each.collect::<Vec<_>>().join(" AND ")
    }
}

#[derive(QueryableByName)]
struct Newest {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    newest: Option<i64>,
}

/// Replaces the tenant's deltas by one row per group that still has cases,
/// the due days more than [`UNFILED_DAYS`] back filed under [`FOLDED_DAY`].
/// Only the groups with rows newer than the last fold's newest (kept in
/// `count_folds`) are read: a fold costs the deltas since the last one, not
/// the tenant's groups times its days. A delta committed after a later one
/// was folded stays a row of its own, still summed, until its group changes
/// again.
pub async fn fold(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    use diesel::sql_types::{BigInt, Text};
    let today = super::now().date();
    let unfiled = day(today.checked_sub_days(Days::new(UNFILED_DAYS)).unwrap_or(today));
    if let crate::db::Link::Postgres(c) = &mut conn.link {
        // One fold per tenant at a time; a write that finds one running
        // leaves the folding to it rather than wait.
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        let lock = "SELECT pg_try_advisory_xact_lock(hashtextextended('casebook fold ' || $1, 0)) AS locked";
        let locked: Locked = diesel::sql_query(lock).bind::<Text, _>(tenant).get_result(c).await?;
        if !locked.locked {
            return Ok(());
        }
    }
    for deltas in &DELTA_TABLES {
        let (table, columns) = (deltas.table, deltas.columns(""));
        let pg = conn.is_postgres();
        // The first, second and third value bound to each statement.
        let mut placeholders = crate::db::Placeholders::new(pg);
        let [p1, p2, p3] = [placeholders.bind(), placeholders.bind(), placeholders.bind()];
        let null_equal = if pg { "IS NOT DISTINCT FROM" } else { "IS" };
        // Old days re-dated under FOLDED_DAY, as new rows: the fold below
        // then merges them with the group's filed row.
        if let Some(day) = deltas.day {
            let others = deltas.dayless_columns();
            let (moved, filed) = (
                format!("{day} < {p2} AND {day} <> '{FOLDED_DAY}'"),
                format!("SELECT {p1}, {others}, '{FOLDED_DAY}', SUM(n)"),
            );
            let statements = if pg {
                vec![format!(
                    "WITH moved AS (DELETE FROM {table} WHERE tenant_id = $1 AND {moved} RETURNING {others}, n) \
                     INSERT INTO {table} (tenant_id, {others}, {day}, n) {filed}::INTEGER FROM moved \
                     GROUP BY {others} HAVING SUM(n) <> 0"
                )]
            } else {
                vec![
                    format!(
                        "INSERT INTO {table} (tenant_id, {others}, {day}, n) {filed} FROM {table} \
                         WHERE tenant_id = ?1 AND {moved} GROUP BY {others} HAVING SUM(n) <> 0"
                    ),
                    format!("DELETE FROM {table} WHERE tenant_id = ?1 AND {moved}"),
                ]
            };
            for statement in statements {
                with_conn!(conn, c => {
                    diesel::sql_query(statement).bind::<Text, _>(tenant).bind::<Text, _>(&unfiled).execute(c).await
                })?;
            }
        }
        let folded_through =
            format!("SELECT folded_through AS newest FROM count_folds WHERE tenant_id = {p1} AND counts = {p2}");
        let newest = format!("SELECT max(id) AS newest FROM {table} WHERE tenant_id = {p1}");
        let (from, to): (Option<Newest>, Newest) = with_conn!(conn, c => {
            let from = diesel::sql_query(folded_through).bind::<Text, _>(tenant).bind::<Text, _>(table);
            let from = from.get_result(c).await.optional()?;
            let to = diesel::sql_query(newest).bind::<Text, _>(tenant).get_result(c).await?;
            Ok::<_, diesel::result::Error>((from, to))
        })?;
        let from = from.and_then(|f| f.newest).unwrap_or(0);
        let Some(to) = to.newest.filter(|to| *to > from) else { continue };
        // The groups with rows since the last fold, and every row of theirs.
        let touched = format!(
            "SELECT t.id, {t_columns}, t.n, COUNT(*) OVER (PARTITION BY {t_columns}) AS rows_in_group \
             FROM (SELECT DISTINCT {columns} FROM {table} WHERE tenant_id = {p1} AND id > {p2} AND id <= {p3}) f \
             JOIN {table} t ON t.tenant_id = {p1} AND t.id <= {p3} AND {same}",
            t_columns = deltas.columns("t."),
            same = deltas.same_group("t", "f", null_equal),
        );
        let statements = if pg {
            // One statement. Deltas committed meanwhile stay as they are.
            vec![format!(
                "WITH split AS ({touched}), gone AS (DELETE FROM {table} c USING split s \
                 WHERE c.id = s.id AND s.rows_in_group > 1 RETURNING {c_columns}, c.n) \
                 INSERT INTO {table} (tenant_id, {columns}, n) SELECT $1, {columns}, SUM(n)::INTEGER FROM gone \
                 GROUP BY {columns} HAVING SUM(n) <> 0",
                c_columns = deltas.columns("c."),
            )]
        } else {
            // Writers take turns (write transactions begin IMMEDIATE): the rows
            // summed are the rows deleted. The sums' new ids are past `to`.
            vec![
                format!(
                    "INSERT INTO {table} (tenant_id, {columns}, n) SELECT ?1, {columns}, SUM(n) FROM ({touched}) \
                     WHERE rows_in_group > 1 GROUP BY {columns} HAVING SUM(n) <> 0"
                ),
                format!("DELETE FROM {table} WHERE id IN (SELECT id FROM ({touched}) WHERE rows_in_group > 1)"),
            ]
        };
        for statement in statements {
            with_conn!(conn, c => {
                diesel::sql_query(statement)
                    .bind::<Text, _>(tenant)
                    .bind::<BigInt, _>(from)
                    .bind::<BigInt, _>(to)
                    .execute(c)
                    .await
            })?;
        }
        let record = format!(
            "INSERT INTO count_folds (tenant_id, counts, folded_through) VALUES ({p1}, {p2}, {p3}) \
             ON CONFLICT (tenant_id, counts) DO UPDATE SET folded_through = {greatest}(count_folds.folded_through, \
             excluded.folded_through)",
            greatest = if pg { "GREATEST" } else { "max" },
        );
        with_conn!(conn, c => {
            diesel::sql_query(record).bind::<Text, _>(tenant).bind::<Text, _>(table).bind::<BigInt, _>(to).execute(c).await
        })?;
    }
    Ok(())
}
