//! The SLA events' bookkeeping: which were written (`sla_notices`), the
//! monitor's claim of due cases and its events, and recomputing stored
//! schedules when policies change.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Clock, Deadline, Notice, NoticeKind, Schedule, notices, policies, policy_for};
use crate::auth::Principal;
use crate::db::schema::{cases, sla_notices};
use crate::db::{Conn, Link};
use crate::domain::activity::{AuditAction, FieldChange, NewAudit, record_audits};
use crate::domain::case::StoredSchedule;
use crate::domain::facts::{AutomationTrigger, Triggered};
use crate::domain::now;
use crate::domain::values::CaseId;
use crate::domain::values::{CasePriority, time_label};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// A row of `sla_notices`: an SLA event written (or set aside as past).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sla_notices)]
struct NoticeRow {
    pub tenant_id: String,
    pub case_id: i64,
    pub kind: &'static str,
    pub deadline: &'static str,
    pub due_by: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

impl NoticeRow {
    fn new(tenant: &str, case_id: CaseId, notice: &Notice, now: NaiveDateTime) -> NoticeRow {
        NoticeRow {
            tenant_id: tenant.to_owned(),
            case_id: case_id.0,
            kind: notice.kind.as_str(),
            deadline: notice.deadline.as_str(),
            due_by: notice.due_by,
            created_at: now,
        }
    }
}

/// Records notices as written; those recorded already are left alone.
/// Returns whether each was new, in order.
async fn record_notices(conn: &mut Conn<'_>, rows: &[NoticeRow]) -> AppResult<Vec<bool>> {
    let mut fresh = Vec::with_capacity(rows.len());
    for row in rows {
        let inserted = with_conn!(conn, c => {
            diesel::insert_into(sla_notices::table).values(row.clone()).on_conflict_do_nothing().execute(c).await
        })?;
        fresh.push(inserted == 1);
    }
    Ok(fresh)
}

/// What rescheduling reads of a case: no text, only its clock and schedule.
#[derive(Queryable, Selectable)]
#[diesel(table_name = cases, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct ScheduledCase {
    id: i64,
    priority: i32,
    #[diesel(embed)]
    clock: Clock,
    #[diesel(embed)]
    stored: StoredSchedule,
}

/// Cases rescheduled per statement batch.
const RESCHEDULE_BATCH: i64 = 2_000;

/// Recomputes the stored schedules of the tenant's open cases under its
/// current policies (after a policy changed). What is past already is not
/// announced (the cases' `events_from` moves to now). Returns how many
/// cases changed.
pub async fn reschedule_open(conn: &mut Conn<'_>, tenant: &str) -> AppResult<usize> {
    reschedule(conn, tenant, false).await
}

/// Recomputes the stored schedules of the tenant's cases, closed ones too
/// (once, when upgrading to stored schedules).
pub async fn reschedule_all(conn: &mut Conn<'_>, tenant: &str) -> AppResult<usize> {
    reschedule(conn, tenant, true).await
}

async fn reschedule(conn: &mut Conn<'_>, tenant: &str, closed_too: bool) -> AppResult<usize> {
    let policies = policies(conn, tenant).await?;
    let now = now();
    let mut changed = 0;
    let mut after = i64::MIN;
    loop {
        let batch: Vec<ScheduledCase> = with_conn!(conn, c => {
            let mut query = cases::table.filter(cases::tenant_id.eq(tenant)).into_boxed();
            if !closed_too {
                query = query.filter(cases::closed_at.is_null());
            }
            query
                .filter(cases::id.gt(after))
                .order(cases::id.asc())
                .limit(RESCHEDULE_BATCH)
                .select(ScheduledCase::as_select())
                .load(c)
                .await
        })?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        let mut rows = Vec::new();
        for case in &batch {
            let clock = Clock { events_from: Some(now), ..case.clock };
            let schedule = Schedule::of(policy_for(&policies, CasePriority::from_rank(case.priority)), &clock);
            // Unchanged deadlines keep their events owed (a policy change
            // for other priorities changes nothing here).
            if schedule.without_notice() != Schedule::stored_as(&case.stored).without_notice() {
                rows.push((case.id, schedule, clock.events_from));
            }
        }
        changed += rows.len();
        write_schedules(conn, tenant, rows).await?;
    }
    Ok(changed)
}

/// Stores many cases' schedules: on PostgreSQL one statement from arrays; on
/// SQLite one prepared update per case, all in one call on its thread.
async fn write_schedules(
    conn: &mut Conn<'_>,
    tenant: &str,
    rows: Vec<(i64, Schedule, Option<NaiveDateTime>)>,
) -> AppResult<()> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
    if rows.is_empty() {
        return Ok(());
    }
    match &mut conn.link {
        Link::Postgres(c) => {
            let c: &mut diesel_async::AsyncPgConnection = c;
            let column =
                |f: fn(&Schedule) -> Option<NaiveDateTime>| rows.iter().map(|(_, s, _)| f(s)).collect::<Vec<_>>();
            diesel::sql_query(
                "UPDATE cases SET sla_phase = v.phase, sla_acknowledge_by = v.acknowledge_by, \
                 sla_resolve_by = v.resolve_by, sla_at_risk_at = v.at_risk_at, sla_breach_at = v.breach_at, \
                 sla_notice_at = v.notice_at, sla_events_from = v.events_from \
                 FROM unnest($2, $3, $4, $5, $6, $7, $8, $9) \
                   AS v(id, phase, acknowledge_by, resolve_by, at_risk_at, breach_at, notice_at, events_from) \
                 WHERE cases.tenant_id = $1 AND cases.id = v.id",
            )
            .bind::<Text, _>(tenant)
            .bind::<Array<BigInt>, _>(rows.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(rows.iter().map(|(_, s, _)| s.phase.as_str()).collect::<Vec<_>>())
            .bind::<Array<Nullable<Timestamp>>, _>(column(|s| s.acknowledge_by))
            .bind::<Array<Nullable<Timestamp>>, _>(column(|s| s.resolve_by))
            .bind::<Array<Nullable<Timestamp>>, _>(column(|s| s.at_risk_at))
            .bind::<Array<Nullable<Timestamp>>, _>(column(|s| s.breach_at))
            .bind::<Array<Nullable<Timestamp>>, _>(column(|s| s.notice_at))
            .bind::<Array<Nullable<Timestamp>>, _>(rows.iter().map(|(_, _, from)| *from).collect::<Vec<_>>())
            .execute(c)
            .await?;
        }
        Link::Sqlite(c) => {
            let tenant = tenant.to_owned();
            c.spawn_blocking(move |c| {
                for (id, schedule, events_from) in rows {
                    let update = diesel::update(cases::table.find((&tenant, id)))
                        .set((schedule.stored(), cases::sla_events_from.eq(events_from)));
                    diesel::RunQueryDsl::execute(update, c)?;
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}

/// The evaluator acts in each tenant as this user ("SLA monitor").
pub const MONITOR_ID: &str = "system:sla"; // see auth::SYSTEM_SUBJECT_PREFIX

fn monitor(tenant: &str) -> Principal {
    Principal {
        user_id: MONITOR_ID.to_owned(),
        tenant: tenant.to_owned(),
        display_name: Some("SLA monitor".to_owned()),
        email: None,
        permissions: Default::default(),
        expires_at: 0,
    }
}

/// Claims a case with an SLA event due at `now` for the rest of the
/// transaction: on PostgreSQL its row is locked and skipped by every other
/// replica's claim (`FOR UPDATE SKIP LOCKED`); SQLite has one writer.
/// ([`announce_due`] moves the case's moment past `now`, so one run claims
/// each case once.)
pub async fn claim_due(conn: &mut Conn<'_>, now: NaiveDateTime) -> AppResult<Option<(String, CaseId)>> {
    let due = cases::table
        .filter(cases::sla_notice_at.le(now))
        .order(cases::sla_notice_at.asc())
        .select((cases::tenant_id, cases::id))
        .limit(1);
    let claimed: Option<(String, i64)> = match &mut conn.link {
        crate::db::Link::Postgres(c) => {
            let c: &mut diesel_async::AsyncPgConnection = c;
            due.for_update().skip_locked().get_result(c).await.optional()?
        }
        crate::db::Link::Sqlite(c) => {
            let c: &mut crate::db::SqliteConn = c;
            due.get_result(c).await.optional()?
        }
    };
    Ok(claimed.map(|(tenant, id)| (tenant, CaseId(id))))
}

/// Writes the SLA events of a claimed case that are due at `now` and not yet
/// written, as audit events by the SLA monitor, each once per case, kind and
/// deadline however many replicas try (`sla_notices` keeps which were
/// written); an at-risk event whose breach is due too is set aside. Moves the
/// case's next notice moment on. Returns how many events were written.
pub async fn announce_due(conn: &mut Conn<'_>, tenant: &str, id: CaseId, now: NaiveDateTime) -> AppResult<usize> {
    let Some(case) = crate::domain::case::lock(conn, tenant, id).await? else { return Ok(0) };
    let policies = policies(conn, tenant).await?;
    let clock = Clock::of(&case);
    let notices = notices(policy_for(&policies, case.parsed_priority()), &clock);
    let (due, later): (Vec<Notice>, Vec<Notice>) = notices.into_iter().partition(|n| n.is_due(now));
    let rows: Vec<NoticeRow> = due.iter().map(|n| NoticeRow::new(tenant, id, n, now)).collect();
    let fresh = record_notices(conn, &rows).await?;
    let overtaken = |n: &Notice| {
        n.kind == NoticeKind::AtRisk
            && due.iter().any(|b| b.kind == NoticeKind::Breached && b.deadline == n.deadline && b.due_by == n.due_by)
    };
    let audits: Vec<NewAudit> = due
        .iter()
        .zip(fresh)
        .filter(|(n, fresh)| *fresh && !overtaken(n))
        .map(|(n, _)| {
            let action = match n.kind {
                NoticeKind::AtRisk => AuditAction::SlaAtRisk,
                NoticeKind::Breached => AuditAction::SlaBreached,
            };
            let field = match n.deadline {
                Deadline::Acknowledge => "acknowledgeBy",
                Deadline::Resolve => "resolveBy",
            };
            NewAudit::new(action, vec![FieldChange::new(field, None, Some(time_label(n.due_by)))])
        })
        .collect();
    let notice_at = later.iter().map(|n| n.at).min();
    let target = cases::table.find((tenant, id.0));
    with_conn!(conn, c => diesel::update(target).set(cases::sla_notice_at.eq(notice_at)).execute(c).await)?;
    if audits.is_empty() {
        return Ok(0);
    }
    let written = audits.len();
    let actor = monitor(tenant);
    crate::domain::user::record_seen(conn, &actor).await?;
    let seq = crate::domain::case::reserve_activity(conn, tenant, id, written as i64)
        .await?
        .ok_or_else(|| AppError::not_found("case", id))?;
    let triggers: Vec<AutomationTrigger> = audits
        .iter()
        .map(|a| {
            if a.action == AuditAction::SlaAtRisk {
                AutomationTrigger::SlaAtRisk
            } else {
                AutomationTrigger::SlaBreached
            }
        })
        .collect();
    record_audits(conn, &actor, id, seq, audits).await?;
    conn.record(Triggered { actor, case_id: id, triggers })?;
    Ok(written)
}

/// Puts off a case's SLA events for a while (after writing them failed, so
/// one case cannot hold up the others).
pub async fn postpone(conn: &mut Conn<'_>, tenant: &str, id: CaseId, until: NaiveDateTime) -> AppResult<()> {
    let target = cases::table.find((tenant, id.0));
    with_conn!(conn, c => diesel::update(target).set(cases::sla_notice_at.eq(until)).execute(c).await)?;
    Ok(())
}
