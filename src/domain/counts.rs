//! Exact case counts that do not grow with the tenant. Triggers keep
//! `case_counts` (see its migration): delta rows per (status, priority,
//! assignee), written in the same transaction as each change. A count sums the
//! rows of the groups a filter selects, so it costs the number of groups and of
//! not yet folded deltas, never the number of cases; `fold` merges a tenant's
//! deltas into one row per group.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::queue::{CaseFilter, by_group};
use crate::db::Conn;
use crate::db::schema::case_counts;
use crate::error::AppResult;
use crate::with_conn;

/// One write in this many folds its tenant's deltas: the rows a count sums
/// stay near one per group plus a few dozen deltas, and writers rarely meet
/// in a fold.
const FOLD_ONE_WRITE_IN: u32 = 32;

/// Whether `filter` selects whole groups, so [`count`] can answer it. Other
/// criteria (creator, due dates, overdue, incident, search) need the cases.
pub fn answers(filter: &CaseFilter) -> bool {
    let CaseFilter {
        status_ids: _,
        status_categories: _,
        priorities: _,
        assignee_ids: _,
        unassigned: _,
        created_by_ids,
        due_before,
        due_after,
        overdue,
        incident_id,
        search,
    } = filter;
    created_by_ids.is_empty()
        && due_before.is_none()
        && due_after.is_none()
        && overdue.is_none()
        && incident_id.is_none()
        && search.is_none()
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

/// How many of the tenant's cases `filter` matches; `None` when the filter is
/// not one [`answers`] covers.
pub async fn count(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter) -> AppResult<Option<i64>> {
    if !answers(filter) {
        return Ok(None);
    }
    let sum: Option<i64> = with_conn!(conn, c => summed_groups!(tenant, filter).get_result(c).await)?;
    Ok(Some(sum.unwrap_or(0)))
}

/// Folds the tenant's deltas now and then (see [`FOLD_ONE_WRITE_IN`]). Call
/// after a write that changed a case's group, in its transaction.
pub async fn fold_now_and_then(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    if rand::random_ratio(1, FOLD_ONE_WRITE_IN) { fold(conn, tenant).await } else { Ok(()) }
}

/// Replaces the tenant's deltas by one row per group that still has cases.
pub async fn fold(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    // Only groups with more than one row are rewritten: a fold leaves as few
    // dead rows behind as there were deltas, not one per group.
    // PostgreSQL: one statement. Concurrent folds each delete (and re-add)
    // only the rows they locked; deltas committed meanwhile stay as they are.
    const POSTGRES: &str = "WITH split AS (SELECT status_id, priority, assignee_id FROM case_counts \
         WHERE tenant_id = $1 GROUP BY status_id, priority, assignee_id HAVING COUNT(*) > 1), \
         gone AS (DELETE FROM case_counts c USING split s WHERE c.tenant_id = $1 \
         AND c.status_id = s.status_id AND c.priority = s.priority AND c.assignee_id IS NOT DISTINCT FROM s.assignee_id \
         RETURNING c.status_id, c.priority, c.assignee_id, c.n) \
         INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n) \
         SELECT $1, status_id, priority, assignee_id, SUM(n)::INTEGER FROM gone \
         GROUP BY status_id, priority, assignee_id HAVING SUM(n) <> 0";
    // SQLite: writers take turns (write transactions begin IMMEDIATE), so the
    // rows summed (up to the newest) are the rows deleted.
    const SQLITE: [&str; 2] = [
        "INSERT INTO case_counts (tenant_id, status_id, priority, assignee_id, n) \
         SELECT tenant_id, status_id, priority, assignee_id, SUM(n) FROM case_counts WHERE tenant_id = ? AND id <= ? \
         GROUP BY status_id, priority, assignee_id HAVING COUNT(*) > 1 AND SUM(n) <> 0",
        "DELETE FROM case_counts AS c WHERE c.tenant_id = ? AND c.id <= ? AND EXISTS (SELECT 1 FROM case_counts d \
         WHERE d.tenant_id = c.tenant_id AND d.id <= ? AND d.id <> c.id AND d.status_id = c.status_id \
         AND d.priority = c.priority AND d.assignee_id IS c.assignee_id)",
    ];
    use diesel::sql_types::{BigInt, Text};
    match &mut conn.link {
        crate::db::Link::Postgres(c) => {
            diesel::sql_query(POSTGRES).bind::<Text, _>(tenant).execute(c).await?;
        }
        crate::db::Link::Sqlite(c) => {
            let of_tenant = case_counts::table.filter(case_counts::tenant_id.eq(tenant));
            let newest: Option<i64> = of_tenant.select(diesel::dsl::max(case_counts::id)).get_result(c).await?;
            let Some(newest) = newest else { return Ok(()) };
            diesel::sql_query(SQLITE[0]).bind::<Text, _>(tenant).bind::<BigInt, _>(newest).execute(c).await?;
            let delete = diesel::sql_query(SQLITE[1]).bind::<Text, _>(tenant).bind::<BigInt, _>(newest);
            delete.bind::<BigInt, _>(newest).execute(c).await?;
        }
    }
    Ok(())
}
