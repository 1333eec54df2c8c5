//! Exact case counts that do not grow with the tenant. Triggers keep
//! `case_counts` (see its migration): delta rows per (status, priority,
//! assignee), written in the same transaction as each change. A count sums the
//! rows of the groups a filter selects, so it costs the number of groups and of
//! not yet folded deltas, never the number of cases; `fold` merges a tenant's
//! deltas into one row per group. `case_due_counts` does the same per (status,
//! due day) for `overdue`, alone or with statuses and status categories: the
//! days before today are summed, today's cases looked at one by one.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::queue::{CaseFilter, by_group};
use crate::db::Conn;
use crate::db::schema::{case_counts, case_due_counts, cases};
use crate::domain::status::{self, StatusCategory};
use crate::error::AppResult;
use crate::with_conn;

/// One write in this many folds its tenant's deltas: the rows a count sums
/// stay near one per group plus a few dozen deltas, and writers rarely meet
/// in a fold.
const FOLD_ONE_WRITE_IN: u32 = 32;

/// Which shortcut answers a filter's count.
enum Shortcut {
    /// Whole (status, priority, assignee) groups.
    Groups,
    /// Overdue (`true`) or not overdue (`false`), alone or with statuses and
    /// status categories (the due-day counters' groups).
    Overdue(bool),
}

/// The shortcut for `filter`, if any. Other criteria (creator, due dates,
/// incident, search, overdue with priorities or assignees) need the cases.
fn shortcut(filter: &CaseFilter) -> Option<Shortcut> {
    let criteria = filter.criteria();
    let statuses_only = filter.priorities.is_empty() && filter.assignee_ids.is_empty() && filter.unassigned.is_none();
    match (criteria.others || criteria.search, criteria.groups, criteria.overdue) {
        (false, _, None) => Some(Shortcut::Groups),
        (false, groups, Some(overdue)) if !groups || statuses_only => Some(Shortcut::Overdue(overdue)),
        _ => None,
    }
}

/// The sum of the delta rows of the groups `filter` selects, for the backend of the
/// connection it runs on (a boxed query is typed by its backend).
macro_rules! summed_groups {
    ($tenant:expr, $filter:expr) => {{
        let tenant: &str = $tenant;
        let query = case_counts::table
            .filter(case_counts::tenant_id.eq(tenant))
            .select(diesel::dsl::sum(case_counts::n))
            .into_boxed();
        by_group!(query, case_counts, tenant, $filter)
    }};
}

/// How many of the tenant's cases `filter` matches; `None` when no shortcut
/// answers it (see [`shortcut`]).
pub async fn count(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter) -> AppResult<Option<i64>> {
    let count = match shortcut(filter) {
        None => return Ok(None),
        Some(Shortcut::Groups) => groups(conn, tenant, filter).await?,
        Some(Shortcut::Overdue(true)) => overdue(conn, tenant, filter).await?,
        // The filter's groups, less those of them overdue.
        Some(Shortcut::Overdue(false)) => groups(conn, tenant, filter).await? - overdue(conn, tenant, filter).await?,
    };
    Ok(Some(count))
}

async fn groups(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter) -> AppResult<i64> {
    let sum: Option<i64> = with_conn!(conn, c => summed_groups!(tenant, filter).get_result(c).await)?;
    Ok(sum.unwrap_or(0))
}

/// Cases due before now in a status that is not CLOSED (the queue's
/// `overdue`) and that the filter's statuses and categories select: the day
/// counters before today, plus today's cases due already.
async fn overdue(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter) -> AppResult<i64> {
    let counted: Vec<i64> = status::list(conn, tenant, true)
        .await?
        .into_iter()
        .filter(|s| s.category != StatusCategory::Closed)
        .filter(|s| filter.status_ids.is_empty() || filter.status_ids.contains(&s.id))
        .filter(|s| filter.status_categories.is_empty() || filter.status_categories.contains(&s.category))
        .map(|s| s.id.0)
        .collect();
    if counted.is_empty() {
        return Ok(0);
    }
    let now = super::now();
    let today = now.date();
    let (day, midnight) = (today.format("%Y-%m-%d").to_string(), today.and_time(chrono::NaiveTime::MIN));
    let (before_today, due_today): (Option<i64>, i64) = with_conn!(conn, c => {
        let before_today = case_due_counts::table
            .filter(case_due_counts::tenant_id.eq(tenant))
            .filter(case_due_counts::due_day.lt(&day))
            .filter(case_due_counts::status_id.eq_any(&counted))
            .select(diesel::dsl::sum(case_due_counts::n))
            .get_result(c)
            .await?;
        let due_today = cases::table
            .filter(cases::tenant_id.eq(tenant))
            .filter(cases::due_on.ge(midnight))
            .filter(cases::due_on.lt(now))
            .filter(cases::status_id.eq_any(&counted))
            .count()
            .get_result(c)
            .await?;
        Ok::<_, diesel::result::Error>((before_today, due_today))
    })?;
    Ok(before_today.unwrap_or(0) + due_today)
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
}

const DELTA_TABLES: [Deltas; 2] = [
    Deltas { table: "case_counts", groups: &[("status_id", false), ("priority", false), ("assignee_id", true)] },
    Deltas { table: "case_due_counts", groups: &[("status_id", false), ("due_day", false)] },
];

impl Deltas {
    fn columns(&self, prefix: &str) -> String {
        self.groups.iter().map(|(c, _)| format!("{prefix}{c}")).collect::<Vec<_>>().join(", ")
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

/// Replaces the tenant's deltas by one row per group that still has cases.
pub async fn fold(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    use diesel::sql_types::{BigInt, Text};
    for deltas in &DELTA_TABLES {
        let (table, columns) = (deltas.table, deltas.columns(""));
        // Only groups with more than one row are rewritten: a fold leaves as
        // few dead rows behind as there were deltas, not one per group.
        match &mut conn.link {
            crate::db::Link::Postgres(c) => {
                // One statement. Concurrent folds each delete (and re-add) only
                // the rows they locked; deltas committed meanwhile stay as they are.
                let fold = format!(
                    "WITH split AS (SELECT {columns} FROM {table} WHERE tenant_id = $1 GROUP BY {columns} \
                     HAVING COUNT(*) > 1), \
                     gone AS (DELETE FROM {table} c USING split s WHERE c.tenant_id = $1 AND {same} \
                     RETURNING {returned}, c.n) \
                     INSERT INTO {table} (tenant_id, {columns}, n) SELECT $1, {columns}, SUM(n)::INTEGER FROM gone \
                     GROUP BY {columns} HAVING SUM(n) <> 0",
                    same = deltas.same_group("c", "s", "IS NOT DISTINCT FROM"),
                    returned = deltas.columns("c."),
                );
                diesel::sql_query(fold).bind::<Text, _>(tenant).execute(c).await?;
            }
            crate::db::Link::Sqlite(c) => {
                // Writers take turns (write transactions begin IMMEDIATE), so the
                // rows summed (up to the newest) are the rows deleted.
                let newest = format!("SELECT max(id) AS newest FROM {table} WHERE tenant_id = ?");
                let newest: Newest = diesel::sql_query(newest).bind::<Text, _>(tenant).get_result(c).await?;
                let Some(newest) = newest.newest else { continue };
                let sum = format!(
                    "INSERT INTO {table} (tenant_id, {columns}, n) SELECT tenant_id, {columns}, SUM(n) FROM {table} \
                     WHERE tenant_id = ? AND id <= ? GROUP BY {columns} HAVING COUNT(*) > 1 AND SUM(n) <> 0"
                );
                diesel::sql_query(sum).bind::<Text, _>(tenant).bind::<BigInt, _>(newest).execute(c).await?;
                let delete = format!(
                    "DELETE FROM {table} AS c WHERE c.tenant_id = ? AND c.id <= ? AND EXISTS (SELECT 1 FROM {table} d \
                     WHERE d.tenant_id = c.tenant_id AND d.id <= ? AND d.id <> c.id AND {same})",
                    same = deltas.same_group("d", "c", "IS"),
                );
                let delete = diesel::sql_query(delete).bind::<Text, _>(tenant).bind::<BigInt, _>(newest);
                delete.bind::<BigInt, _>(newest).execute(c).await?;
            }
        }
    }
    Ok(())
}
