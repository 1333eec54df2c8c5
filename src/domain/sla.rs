//! SLA policies and clocks. A policy per priority (and a default) gives the
//! time to acknowledge a case (from its creation to its first move out of a
//! NEW status or its first assignment) and to resolve it (to a CLOSED
//! status). Time a case spends in a status that pauses the SLA does not count
//! toward resolving it (acknowledging happens before any such wait). A case's
//! SLA is computed from its stored timestamps and its policy whenever it is
//! read, so deadlines are data and survive restarts.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageSettings};
use crate::db::Conn;
use crate::db::schema::sla_policies;
use crate::domain::case::Case;
use crate::domain::now;
use crate::domain::status::{Status, StatusCategory};
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

/// A case's clock: what its SLA is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub created_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub paused_since: Option<NaiveDateTime>,
    /// Paused time before `paused_since`.
    pub paused_seconds: i64,
}

impl Clock {
    /// The clock of a case opened at `now` in `status`: acknowledged already
    /// when assigned or not in a NEW status, closed when opened closed,
    /// paused when its status pauses the SLA.
    pub fn opened(now: NaiveDateTime, status: &Status, assigned: bool) -> Clock {
        let since_now = |yes: bool| yes.then_some(now);
        Clock {
            created_at: now,
            acknowledged_at: since_now(assigned || status.category != StatusCategory::New),
            closed_at: since_now(status.category == StatusCategory::Closed),
            paused_since: since_now(status.pauses_sla),
            paused_seconds: 0,
        }
    }

    /// The clock after a change that leaves the case in `to` (from `from`),
    /// assigned or not: acknowledged by the first move out of a NEW status
    /// or the first assignment; closed on entering a CLOSED status (and no
    /// longer when reopened); paused while in a status that pauses the SLA.
    pub fn moved(mut self, from: &Status, to: &Status, assigned: bool, now: NaiveDateTime) -> Clock {
        if self.acknowledged_at.is_none() && (assigned || to.category != StatusCategory::New) {
            self.acknowledged_at = Some(now);
        }
        if from.id == to.id {
            return self;
        }
        self.closed_at = match (from.category, to.category) {
            (StatusCategory::Closed, StatusCategory::Closed) => self.closed_at,
            (_, StatusCategory::Closed) => Some(now),
            _ => None,
        };
        if let Some(since) = self.paused_since.take() {
            self.paused_seconds += (now - since).num_seconds().max(0);
        }
        if to.pauses_sla {
            self.paused_since = Some(now);
        }
        self
    }

    pub fn of(case: &Case) -> Clock {
        Clock {
            created_at: case.created_at,
            acknowledged_at: case.acknowledged_at,
            closed_at: case.closed_at,
            paused_since: case.paused_since,
            paused_seconds: case.paused_seconds,
        }
    }
}

/// A case's SLA at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    pub acknowledge_by: Option<NaiveDateTime>,
    pub resolve_by: Option<NaiveDateTime>,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub state: SlaState,
    pub paused_since: Option<NaiveDateTime>,
    /// The first deadline missed.
    pub breached_at: Option<NaiveDateTime>,
}

/// The policy for a priority: its own, else the default.
pub fn policy_for(policies: &[Policy], priority: Option<CasePriority>) -> Option<&Policy> {
    policies
        .iter()
        .find(|p| p.priority.is_some() && p.priority == priority)
        .or_else(|| policies.iter().find(|p| p.priority.is_none()))
}

/// The SLA of a case with this clock under `policy`, at `now`.
pub fn evaluate(policy: Option<&Policy>, clock: &Clock, now: NaiveDateTime) -> Sla {
    let none = Sla {
        acknowledge_by: None,
        resolve_by: None,
        acknowledged_at: clock.acknowledged_at,
        state: SlaState::None,
        paused_since: clock.paused_since,
        breached_at: None,
    };
    let Some(policy) = policy.filter(|p| p.acknowledge_within.is_some() || p.resolve_within.is_some()) else {
        return none;
    };
    let end = clock.closed_at.unwrap_or(now);
    let paused_now = clock.paused_since.map_or(0, |since| (end - since).num_seconds().max(0));
    let acknowledge_by = policy.acknowledge_within.map(|w| clock.created_at + Duration::seconds(w));
    // Paused time moves the resolve deadline; a deadline passed before the
    // pause began stays passed.
    let resolve_by_before_pause =
        policy.resolve_within.map(|w| clock.created_at + Duration::seconds(w + clock.paused_seconds));
    let resolve_by = resolve_by_before_pause.map(|by| by + Duration::seconds(paused_now));

    let mut missed = Vec::new();
    if let Some(by) = acknowledge_by {
        let acknowledged = clock.acknowledged_at.or(clock.closed_at);
        if acknowledged.map_or(now > by, |at| at > by) {
            missed.push(by);
        }
    }
    if let (Some(before_pause), Some(by)) = (resolve_by_before_pause, resolve_by) {
        match clock.paused_since {
            Some(since) if since > before_pause => missed.push(before_pause),
            _ if end > by => missed.push(by),
            _ => {}
        }
    }
    let breached_at = missed.into_iter().min();
    let state = if breached_at.is_some() {
        SlaState::Breached
    } else if clock.closed_at.is_some() {
        SlaState::Met
    } else if clock.paused_since.is_some() {
        SlaState::Paused
    } else if at_risk(policy, clock, acknowledge_by, resolve_by, now) {
        SlaState::AtRisk
    } else {
        SlaState::OnTrack
    };
    Sla { acknowledge_by, resolve_by, breached_at, state, ..none }
}

/// Whether an open clock has used the policy's at-risk share of its window.
fn at_risk(
    policy: &Policy,
    clock: &Clock,
    acknowledge_by: Option<NaiveDateTime>,
    resolve_by: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> bool {
    let used = |window: i64, deadline: NaiveDateTime| {
        let left = (deadline - now).num_seconds();
        (window - left) * 100 >= window * i64::from(policy.at_risk_percent)
    };
    let acknowledging = clock.acknowledged_at.is_none();
    let ack =
        matches!((policy.acknowledge_within, acknowledge_by), (Some(w), Some(by)) if acknowledging && used(w, by));
    let resolve = matches!((policy.resolve_within, resolve_by), (Some(w), Some(by)) if used(w, by));
    ack || resolve
}

/// Priority rank, windows in seconds, at-risk percent, last change.
type PolicyRow = (i32, Option<i64>, Option<i64>, i32, NaiveDateTime);

/// The tenant's policies, the default first, then by priority.
pub async fn policies(conn: &mut Conn<'_>, tenant: &str) -> AppResult<Vec<Policy>> {
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
    Ok(rows
        .into_iter()
        .map(|(rank, acknowledge_within, resolve_within, at_risk_percent, updated_at)| Policy {
            priority: CasePriority::from_rank(rank),
            acknowledge_within,
            resolve_within,
            at_risk_percent,
            updated_at,
        })
        .collect())
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
/// now on, since their SLA is computed when read.
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
    policies(conn, tenant).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default().naive_utc() + Duration::minutes(minutes)
    }

    /// Acknowledge within an hour, resolve within ten hours, at risk at 80%.
    fn policy() -> Policy {
        Policy {
            priority: None,
            acknowledge_within: Some(3600),
            resolve_within: Some(36_000),
            at_risk_percent: 80,
            updated_at: at(0),
        }
    }

    fn clock() -> Clock {
        Clock { created_at: at(0), acknowledged_at: None, closed_at: None, paused_since: None, paused_seconds: 0 }
    }

    fn state(clock: Clock, minutes: i64) -> SlaState {
        evaluate(Some(&policy()), &clock, at(minutes)).state
    }

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

    #[test]
    fn the_acknowledge_clock_runs_until_acknowledged() {
        assert_eq!(state(clock(), 10), SlaState::OnTrack);
        assert_eq!(state(clock(), 48), SlaState::AtRisk, "80% of the hour used");
        let late = evaluate(Some(&policy()), &clock(), at(61));
        assert_eq!((late.state, late.breached_at), (SlaState::Breached, Some(at(60))));
        let acknowledged = Clock { acknowledged_at: Some(at(30)), ..clock() };
        assert_eq!(state(acknowledged, 61), SlaState::OnTrack, "acknowledged in time");
        let acknowledged_late = Clock { acknowledged_at: Some(at(70)), ..clock() };
        assert_eq!(state(acknowledged_late, 100), SlaState::Breached, "a late acknowledgement stays a breach");
    }

    #[test]
    fn the_resolve_clock_pauses_and_is_met_or_breached_at_closing() {
        let acknowledged = Clock { acknowledged_at: Some(at(5)), ..clock() };
        assert_eq!(state(acknowledged, 8 * 60 + 1), SlaState::AtRisk);
        let paused = Clock { paused_since: Some(at(60)), ..acknowledged };
        let sla = evaluate(Some(&policy()), &paused, at(11 * 60));
        assert_eq!(sla.state, SlaState::Paused);
        assert_eq!(sla.resolve_by, Some(at(10 * 60 + 10 * 60)), "ten hours of pause move the deadline by ten hours");
        let resumed = Clock { paused_since: None, paused_seconds: 2 * 3600, ..acknowledged };
        assert_eq!(evaluate(Some(&policy()), &resumed, at(11 * 60)).resolve_by, Some(at(12 * 60)));
        assert_eq!(state(resumed, 11 * 60), SlaState::AtRisk);
        assert_eq!(state(resumed, 12 * 60 + 1), SlaState::Breached);
        let met = Clock { closed_at: Some(at(9 * 60)), ..acknowledged };
        assert_eq!(state(met, 20 * 60), SlaState::Met, "closed in time stays met");
        let closed_late = Clock { closed_at: Some(at(11 * 60)), ..acknowledged };
        let sla = evaluate(Some(&policy()), &closed_late, at(20 * 60));
        assert_eq!((sla.state, sla.breached_at), (SlaState::Breached, Some(at(10 * 60))));
        let breached_then_paused = Clock { paused_since: Some(at(11 * 60)), ..acknowledged };
        assert_eq!(state(breached_then_paused, 12 * 60), SlaState::Breached, "a pause does not undo a breach");
    }

    fn status(id: i64, category: StatusCategory, pauses_sla: bool) -> Status {
        Status {
            id: crate::domain::status::StatusId(id),
            name: format!("status {id}"),
            category,
            position: id as i32,
            is_default: false,
            archived: false,
            created_at: at(0),
            updated_at: at(0),
            pauses_sla,
        }
    }

    #[test]
    fn moves_acknowledge_close_reopen_and_pause_the_clock() {
        let (new, open) = (status(1, StatusCategory::New, false), status(2, StatusCategory::Open, false));
        let (waiting, closed) = (status(3, StatusCategory::Open, true), status(4, StatusCategory::Closed, false));
        let opened = Clock::opened(at(0), &new, false);
        assert_eq!((opened.acknowledged_at, opened.closed_at, opened.paused_since), (None, None, None));
        assert_eq!(Clock::opened(at(0), &new, true).acknowledged_at, Some(at(0)), "assigned at once");
        let renamed = opened.moved(&new, &new, false, at(5));
        assert_eq!(renamed.acknowledged_at, None, "a change that neither assigns nor moves out of NEW");
        let working = opened.moved(&new, &open, false, at(10));
        assert_eq!(working.acknowledged_at, Some(at(10)));
        let paused = working.moved(&open, &waiting, false, at(20));
        assert_eq!(paused.paused_since, Some(at(20)));
        let resumed = paused.moved(&waiting, &open, false, at(80));
        assert_eq!((resumed.paused_since, resumed.paused_seconds), (None, 3600));
        let done = resumed.moved(&open, &closed, false, at(90));
        assert_eq!((done.closed_at, done.acknowledged_at), (Some(at(90)), Some(at(10))));
        assert_eq!(done.moved(&closed, &open, false, at(95)).closed_at, None, "reopening runs the clock again");
        let closed_from_pause = paused.moved(&waiting, &closed, false, at(50));
        assert_eq!((closed_from_pause.paused_seconds, closed_from_pause.paused_since), (1800, None));
    }

    #[test]
    fn policies_fall_back_to_the_default_and_none_means_none() {
        let high = Policy { priority: Some(CasePriority::High), resolve_within: Some(60), ..policy() };
        let policies = [policy(), high.clone()];
        assert_eq!(policy_for(&policies, Some(CasePriority::High)), Some(&high));
        assert_eq!(policy_for(&policies, Some(CasePriority::Low)).map(|p| p.priority), Some(None));
        assert_eq!(policy_for(&policies[1..], None), None);
        assert_eq!(evaluate(None, &clock(), at(1000)).state, SlaState::None);
    }
}
