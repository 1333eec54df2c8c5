//! SLA policies and clocks. A policy per priority (and a default) gives the
//! time to acknowledge a case (from its creation to its first move out of a
//! NEW status or its first assignment) and to resolve it (to a CLOSED
//! status). Time a case spends in a status that pauses the SLA does not count
//! toward resolving it (acknowledging happens before any such wait). Each
//! case stores its clock and its schedule (deadlines, and the moments it
//! turns at risk and breached), recomputed when the case or its policy
//! changes: deadlines are data, the queue filters and orders on them, and
//! the SLA monitor finds what is due after any restart.
//!
//! `schedule` holds the clock rules (pure: time is a parameter), `monitor`
//! the SLA events' bookkeeping and the recomputation of stored schedules.

mod monitor;
mod schedule;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

pub use crate::domain::case::StoredSchedule;
pub use monitor::{MONITOR_ID, announce_due, claim_due, postpone, reschedule_all, reschedule_open};
pub use schedule::{Clock, Deadline, Notice, NoticeKind, Phase, Schedule, Sla, evaluate, notices};

use crate::auth::{Granted, ManageSettings};
use crate::db::Conn;
use crate::db::schema::sla_policies;
use crate::domain::now;
use crate::domain::values::{CasePriority, text_enum};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The longest window a policy may give: a year.
const MAX_WINDOW_SECONDS: i64 = 366 * 24 * 3600;
/// At risk from this share of a window used, unless the policy says otherwise.
pub const DEFAULT_AT_RISK_PERCENT: i32 = 80;

text_enum! {
    /// Where a case stands against its SLA.
    pub enum SlaState {
        /// Within its deadlines, below the at-risk share.
        OnTrack => "ON_TRACK",
        /// Past the at-risk share of a deadline's window.
        AtRisk => "AT_RISK",
        /// A deadline passed before it was met.
        Breached => "BREACHED",
        /// Closed with every deadline met.
        Met => "MET",
        /// In a status that pauses the SLA.
        Paused => "PAUSED",
        /// No policy applies.
        None => "NONE",
    }
}

/// A tenant's SLA policy for one priority (`None`: every other case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub priority: Option<CasePriority>,
    pub acknowledge_within: Option<i64>,
    pub resolve_within: Option<i64>,
    pub at_risk_percent: i32,
    pub updated_at: NaiveDateTime,
}

/// Parses an ISO 8601 duration (`PT4H`, `P2D`, `P1W`, `P1DT12H`) into seconds:
/// more than zero, at most a year; years and months are refused (their
/// length varies).
pub fn parse_duration(field: &str, text: &str) -> AppResult<i64> {
    let refuse =
        |why: &str| AppError::bad_input(field, format!("{why}: an ISO 8601 duration such as PT4H, P2D or P1W"));
    let parsed = iso8601::duration(text.trim()).map_err(|_| refuse("is not a duration"))?;
    let seconds = match parsed {
        iso8601::Duration::Weeks(weeks) => i64::from(weeks) * 7 * 24 * 3600,
        iso8601::Duration::YMDHMS { year, month, day, hour, minute, second, millisecond } => {
            if year != 0 || month != 0 {
                return Err(refuse("years and months vary in length; give days or weeks"));
            }
            if millisecond != 0 {
                return Err(refuse("whole seconds only"));
            }
            ((i64::from(day) * 24 + i64::from(hour)) * 60 + i64::from(minute)) * 60 + i64::from(second)
        }
    };
    if seconds <= 0 || seconds > MAX_WINDOW_SECONDS {
        return Err(refuse("must be more than zero and at most a year"));
    }
    Ok(seconds)
}

/// Seconds as the ISO 8601 duration clients read back: `P1DT2H30M`, `PT45S`.
pub fn format_duration(seconds: i64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes, secs) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut text = String::from("P");
    if days > 0 {
        text.push_str(&format!("{days}D"));
    }
    if rest > 0 || days == 0 {
        text.push('T');
        for (value, unit) in [(hours, 'H'), (minutes, 'M'), (secs, 'S')] {
            if value > 0 {
                text.push_str(&format!("{value}{unit}"));
            }
        }
        if rest == 0 {
            text.push_str("0S");
        }
    }
    text
}

/// The policy for a priority: its own, else the default.
pub fn policy_for(policies: &[Policy], priority: Option<CasePriority>) -> Option<&Policy> {
    policies
        .iter()
        .find(|p| p.priority.is_some() && p.priority == priority)
        .or_else(|| policies.iter().find(|p| p.priority.is_none()))
}

/// The schedule of a case with this clock and priority under the tenant's
/// current policies (one statement).
pub async fn schedule_of(
    conn: &mut Conn<'_>,
    tenant: &str,
    priority: Option<CasePriority>,
    clock: &Clock,
) -> AppResult<Schedule> {
    let policies = policies(conn, tenant).await?;
    Ok(Schedule::of(policy_for(&policies, priority), clock))
}

/// The tenants with SLA policies.
pub async fn tenants_with_policies(conn: &mut Conn<'_>) -> AppResult<Vec<String>> {
    let query = sla_policies::table.select(sla_policies::tenant_id).distinct();
    Ok(with_conn!(conn, c => query.load(c).await)?)
}

/// Priority rank, windows in seconds, at-risk percent, last change.
type PolicyRow = (i32, Option<i64>, Option<i64>, i32, NaiveDateTime);

/// The tenant's policies, the default first, then by priority (remembered
/// inside a bulk change or merge: see `Conn::remember`).
pub async fn policies(conn: &mut Conn<'_>, tenant: &str) -> AppResult<Vec<Policy>> {
    let key = ("sla policies", tenant.to_owned());
    if let Some(policies) = conn.recall(&key) {
        return Ok(policies);
    }
    let rows: Vec<PolicyRow> = with_conn!(conn, c => {
        sla_policies::table
            .filter(sla_policies::tenant_id.eq(tenant))
            .order(sla_policies::priority.asc())
            .select((
                sla_policies::priority,
                sla_policies::acknowledge_within_seconds,
                sla_policies::resolve_within_seconds,
                sla_policies::at_risk_percent,
                sla_policies::updated_at,
            ))
            .load(c)
            .await
    })?;
    let policies: Vec<Policy> = rows
        .into_iter()
        .map(|(rank, acknowledge_within, resolve_within, at_risk_percent, updated_at)| Policy {
            priority: CasePriority::from_rank(rank),
            acknowledge_within,
            resolve_within,
            at_risk_percent,
            updated_at,
        })
        .collect();
    conn.remember(key, &policies);
    Ok(policies)
}

/// A policy to set, its windows as ISO 8601 durations.
#[derive(Debug)]
pub struct PolicyInput {
    pub priority: Option<CasePriority>,
    pub acknowledge_within: Option<String>,
    pub resolve_within: Option<String>,
    pub at_risk_percent: Option<i32>,
}

/// Sets (replaces) the policy of a priority; it applies to open cases from
/// now on (their schedules are recomputed; closed cases keep their outcome).
pub async fn set_policy(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    input: PolicyInput,
) -> AppResult<Policy> {
    let acknowledge_within =
        input.acknowledge_within.as_deref().map(|t| parse_duration("acknowledgeWithin", t)).transpose()?;
    let resolve_within = input.resolve_within.as_deref().map(|t| parse_duration("resolveWithin", t)).transpose()?;
    if acknowledge_within.is_none() && resolve_within.is_none() {
        return Err(AppError::bad_input(
            "resolveWithin",
            "a policy gives acknowledgeWithin, resolveWithin or both (removeSlaPolicy removes one)",
        ));
    }
    let at_risk_percent = input.at_risk_percent.unwrap_or(DEFAULT_AT_RISK_PERCENT);
    if !(1..=99).contains(&at_risk_percent) {
        return Err(AppError::bad_input("atRiskPercent", "must be from 1 to 99"));
    }
    let policy =
        Policy { priority: input.priority, acknowledge_within, resolve_within, at_risk_percent, updated_at: now() };
    let tenant = actor.tenant();
    let values = (
        sla_policies::tenant_id.eq(tenant),
        sla_policies::priority.eq(CasePriority::rank(policy.priority)),
        sla_policies::acknowledge_within_seconds.eq(policy.acknowledge_within),
        sla_policies::resolve_within_seconds.eq(policy.resolve_within),
        sla_policies::at_risk_percent.eq(policy.at_risk_percent),
        sla_policies::updated_at.eq(policy.updated_at),
    );
    with_conn!(conn, c => {
        diesel::insert_into(sla_policies::table)
            .values(values)
            .on_conflict((sla_policies::tenant_id, sla_policies::priority))
            .do_update()
            .set((
                sla_policies::acknowledge_within_seconds.eq(policy.acknowledge_within),
                sla_policies::resolve_within_seconds.eq(policy.resolve_within),
                sla_policies::at_risk_percent.eq(policy.at_risk_percent),
                sla_policies::updated_at.eq(policy.updated_at),
            ))
            .execute(c)
            .await
    })?;
    reschedule_open(conn, tenant).await?;
    Ok(policy)
}

/// Removes the policy of a priority (`None`: the default); removing one that
/// does not exist changes nothing.
pub async fn remove_policy(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    priority: Option<CasePriority>,
) -> AppResult<Vec<Policy>> {
    let tenant = actor.tenant();
    let target = sla_policies::table
        .filter(sla_policies::tenant_id.eq(tenant))
        .filter(sla_policies::priority.eq(CasePriority::rank(priority)));
    with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    reschedule_open(conn, tenant).await?;
    policies(conn, tenant).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601_without_years_or_months() {
        assert_eq!(parse_duration("f", "PT4H").ok(), Some(4 * 3600));
        assert_eq!(parse_duration("f", "P1DT12H").ok(), Some(36 * 3600));
        assert_eq!(parse_duration("f", "P2W").ok(), Some(14 * 86_400));
        for bad in ["4h", "P1M", "P1Y", "PT0S", "P400D", "", "PT1.5S"] {
            assert!(parse_duration("f", bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(36 * 3600 + 90), "P1DT12H1M30S");
        assert_eq!(format_duration(86_400), "P1D");
        assert_eq!(format_duration(45), "PT45S");
    }
}
