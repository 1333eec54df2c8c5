//! Cases: the unit of an investigation. This module is the case row (read,
//! locked, touched); opening and editing a case, with the rules that span
//! its workflow, SLA and template, is `case_edit`.
//!
//! Ids are per-tenant numbers from 1000, taken from the tenant's counter row
//! inside the creating transaction, so concurrent creates queue on that row
//! and get consecutive ids. Every change locks the case row first (a no-op
//! update, which works the same on both backends), then bumps `version` and
//! the case's activity sequence, and writes its audit in the same transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::Principal;
use crate::db::schema::{cases, tenants};
use crate::db::{Conn, reused};
use crate::domain::facts::{AutomationTrigger, Triggered};
use crate::domain::now;
use crate::domain::values::{CasePriority, Phase};
use crate::domain::verdict::{Classification, Determination};
use crate::error::{AppError, AppResult};
use crate::with_conn;

pub use crate::domain::values::CaseId;

pub use crate::domain::tenant::FIRST_CASE_ID;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cases, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Case {
    pub tenant_id: String,
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    /// Rank: see [`CasePriority::from_rank`].
    pub priority: i32,
    pub status_id: i64,
    pub assignee_id: Option<String>,
    pub due_on: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub activity_seq: i64,
    /// Set only while the case is closed (see `workflow`).
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub closing_comment: Option<String>,
    /// The SLA clock (see `sla`): first move out of NEW or first assignment.
    pub acknowledged_at: Option<NaiveDateTime>,
    /// When it entered its CLOSED status; cleared when reopened.
    pub closed_at: Option<NaiveDateTime>,
    /// Since when it has been in a status that pauses the SLA.
    pub paused_since: Option<NaiveDateTime>,
    /// Paused time before `paused_since`.
    pub paused_seconds: i64,
    /// The stored SLA schedule: see `sla::Schedule`.
    pub sla_phase: Phase,
    pub sla_acknowledge_by: Option<NaiveDateTime>,
    pub sla_resolve_by: Option<NaiveDateTime>,
    pub sla_at_risk_at: Option<NaiveDateTime>,
    pub sla_breach_at: Option<NaiveDateTime>,
    pub sla_notice_at: Option<NaiveDateTime>,
    pub sla_events_from: Option<NaiveDateTime>,
    /// The case a merge closed this one into.
    pub merged_into: Option<i64>,
}

impl Case {
    pub fn case_id(&self) -> CaseId {
        CaseId(self.id)
    }
    pub fn parsed_priority(&self) -> Option<CasePriority> {
        CasePriority::from_rank(self.priority)
    }
}

/// How a schedule is stored on its case.
#[derive(Debug, Clone, PartialEq, Eq, AsChangeset, Insertable, Queryable, Selectable)]
#[diesel(table_name = cases, treat_none_as_null = true, treat_none_as_default_value = false)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct StoredSchedule {
    pub sla_phase: Phase,
    pub sla_acknowledge_by: Option<NaiveDateTime>,
    pub sla_resolve_by: Option<NaiveDateTime>,
    pub sla_at_risk_at: Option<NaiveDateTime>,
    pub sla_breach_at: Option<NaiveDateTime>,
    pub sla_notice_at: Option<NaiveDateTime>,
}

/// A whole case row, for bulk loading (the demo data set).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = cases, treat_none_as_default_value = false)]
pub struct CaseRow {
    pub tenant_id: String,
    pub id: i64,
    pub title: String,
    pub title_key: String,
    pub description: Option<String>,
    pub priority: i32,
    pub status_id: i64,
    pub assignee_id: Option<String>,
    pub due_on: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub activity_seq: i64,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub closing_comment: Option<String>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub paused_since: Option<NaiveDateTime>,
    pub paused_seconds: i64,
    #[diesel(embed)]
    pub sla: StoredSchedule,
    pub sla_events_from: Option<NaiveDateTime>,
}

/// Inserts prepared case rows in one statement (bulk loading only: no audit).
pub async fn insert_rows(conn: &mut Conn<'_>, rows: &[CaseRow]) -> AppResult<()> {
    crate::bulk_insert!(conn, cases::table, rows)?;
    Ok(())
}

/// Takes `count` consecutive case ids from the tenant's counter; returns the first.
pub async fn reserve_ids(conn: &mut Conn<'_>, tenant: &str, count: i64) -> AppResult<i64> {
    let query = diesel::update(tenants::table.find(tenant))
        .set(tenants::next_case_id.eq(tenants::next_case_id + count))
        .returning(tenants::next_case_id);
    let next: i64 = with_conn!(conn, c => reused(query).get_result(c).await)?;
    Ok(next - count)
}

/// Records that `actor` changed a case in a way rules watch.
pub fn trigger(
    conn: &mut Conn<'_>,
    actor: &Principal,
    case_id: CaseId,
    triggers: Vec<AutomationTrigger>,
) -> AppResult<()> {
    if triggers.is_empty() {
        return Ok(());
    }
    conn.record(Triggered { actor: actor.clone(), case_id, triggers })
}

/// Locks the case row for the rest of the transaction and reads it; a case
/// the tenant does not have is `NOT_FOUND`.
pub async fn lock_existing(conn: &mut Conn<'_>, tenant: &str, id: CaseId) -> AppResult<Case> {
    lock(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("case", id))
}

/// Locks the case row for the rest of the transaction and reads it.
pub async fn lock(conn: &mut Conn<'_>, tenant: &str, id: CaseId) -> AppResult<Option<Case>> {
    let target = cases::table.find((tenant, id.0));
    let case = with_conn!(conn, c => {
        reused(diesel::update(target).set(cases::version.eq(cases::version)).returning(Case::as_returning()))
            .get_result(c)
            .await
            .optional()
    })?;
    Ok(case)
}

/// What a change by `actor` sets on its case: the version bumped, who and
/// when, and `events` activity sequence numbers reserved.
pub type Touched<'a> = (
    diesel::dsl::Eq<cases::version, diesel::dsl::Add<cases::version, i32>>,
    diesel::dsl::Eq<cases::updated_by, &'a String>,
    diesel::dsl::Eq<cases::updated_at, NaiveDateTime>,
    diesel::dsl::Eq<cases::activity_seq, diesel::dsl::Add<cases::activity_seq, i64>>,
);

/// The columns [`touch`] sets, for an update that writes its change and its
/// touch in one statement.
pub fn touched(actor: &Principal, events: i64) -> Touched<'_> {
    (
        cases::version.eq(cases::version + 1),
        cases::updated_by.eq(&actor.user_id),
        cases::updated_at.eq(now()),
        cases::activity_seq.eq(cases::activity_seq + events),
    )
}

/// Records a change of the case (or of its tasks or links) by `actor`: bumps
/// the version, stamps who and when, and reserves `events` activity sequence
/// numbers. Returns the case and the first reserved number.
pub async fn touch(conn: &mut Conn<'_>, actor: &Principal, id: CaseId, events: i64) -> AppResult<(Case, i64)> {
    let target = cases::table.find((actor.tenant.as_str(), id.0));
    let values = touched(actor, events);
    let case = with_conn!(conn, c => {
        reused(diesel::update(target).set(values).returning(Case::as_returning())).get_result(c).await.optional()
    })?
    .ok_or_else(|| AppError::not_found("case", id))?;
    let first = case.activity_seq - events + 1;
    Ok((case, first))
}

/// Records that a merge closed the case into `target` (the caller holds
/// both locks and touches the case).
pub async fn set_merged_into(conn: &mut Conn<'_>, tenant: &str, id: CaseId, target: CaseId) -> AppResult<()> {
    let row = cases::table.find((tenant, id.0));
    with_conn!(conn, c => diesel::update(row).set(cases::merged_into.eq(target.0)).execute(c).await)?;
    Ok(())
}

/// Reserves `events` activity sequence numbers without counting as a change
/// (comments). Returns the first, or `None` when the case does not exist.
pub async fn reserve_activity(conn: &mut Conn<'_>, tenant: &str, id: CaseId, events: i64) -> AppResult<Option<i64>> {
    let target = cases::table.find((tenant, id.0));
    let seq: Option<i64> = with_conn!(conn, c => {
        reused(diesel::update(target).set(cases::activity_seq.eq(cases::activity_seq + events)).returning(cases::activity_seq))
            .get_result(c)
            .await
            .optional()
    })?;
    Ok(seq.map(|last| last - events + 1))
}

/// The tenant's cases with these ids; unknown ids are skipped.
pub async fn find_many(conn: &mut Conn<'_>, tenant: &str, ids: &[CaseId]) -> AppResult<Vec<Case>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let cases = with_conn!(conn, c => {
        cases::table
            .filter(cases::tenant_id.eq(tenant))
            .filter(cases::id.eq_any(&ids))
            .select(Case::as_select())
            .load(c)
            .await
    })?;
    Ok(cases)
}
