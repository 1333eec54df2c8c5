//! A case's SLA clock and schedule: the rules, with time a parameter.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::{Policy, SlaState};
use crate::db::schema::cases;
use crate::domain::case::{Case, StoredSchedule};
use crate::domain::status::{Status, StatusCategory};
pub use crate::domain::values::Phase;
use crate::domain::values::text_enum;

/// A case's clock: what its SLA is computed from.
#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = cases, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Clock {
    pub created_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub paused_since: Option<NaiveDateTime>,
    /// Paused time before `paused_since`.
    pub paused_seconds: i64,
    /// SLA events from this moment on are announced; earlier ones were past
    /// already when a policy change, an upgrade or the demo's history gave
    /// the case its schedule, and stay unannounced.
    #[diesel(column_name = sla_events_from)]
    pub events_from: Option<NaiveDateTime>,
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
            events_from: None,
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
            events_from: case.sla_events_from,
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

text_enum! {
    /// Which deadline of an SLA.
    pub enum Deadline {
        /// The time to acknowledge.
        Acknowledge => "ACKNOWLEDGE",
        /// The time to resolve.
        Resolve => "RESOLVE",
    }
}

text_enum! {
    /// An SLA event the evaluator writes (its audit action has the same name).
    pub enum NoticeKind {
        /// The at-risk share of a deadline's window was used.
        AtRisk => "SLA_AT_RISK",
        /// A deadline passed unmet.
        Breached => "SLA_BREACHED",
    }
}

/// An SLA event of a case: due from `at`, about the deadline `due_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub deadline: Deadline,
    pub due_by: NaiveDateTime,
    pub at: NaiveDateTime,
}

/// How one deadline of a case stands.
#[derive(Debug, Clone, Copy)]
enum Track {
    /// Met in time, or not counting now (paused).
    Quiet,
    /// Passed unmet at this moment.
    Missed(NaiveDateTime),
    /// Still to meet by this moment, with this window.
    Pending { window: i64, by: NaiveDateTime },
}

/// The acknowledge and resolve deadlines of a clock under a policy.
fn tracks(policy: &Policy, clock: &Clock) -> [(Deadline, Track); 2] {
    let acknowledge = match policy.acknowledge_within {
        None => Track::Quiet,
        Some(window) => {
            let by = clock.created_at + Duration::seconds(window);
            match clock.acknowledged_at.or(clock.closed_at) {
                Some(at) if at > by => Track::Missed(by),
                Some(_) => Track::Quiet,
                None => Track::Pending { window, by },
            }
        }
    };
    let resolve = match policy.resolve_within {
        None => Track::Quiet,
        Some(window) => {
            let by = clock.created_at + Duration::seconds(window + clock.paused_seconds);
            match (clock.paused_since, clock.closed_at) {
                // A deadline passed before the pause began stays passed.
                (Some(since), _) if since > by => Track::Missed(by),
                (since, Some(closed)) => {
                    let paused = since.map_or(0, |since| (closed - since).num_seconds().max(0));
                    let by = by + Duration::seconds(paused);
                    if closed > by { Track::Missed(by) } else { Track::Quiet }
                }
                // Paused: the deadline moves on with the pause.
                (Some(_), None) => Track::Quiet,
                (None, None) => Track::Pending { window, by },
            }
        }
    };
    [(Deadline::Acknowledge, acknowledge), (Deadline::Resolve, resolve)]
}

/// From when a deadline's window counts as at risk.
fn at_risk_from(policy: &Policy, window: i64, by: NaiveDateTime) -> NaiveDateTime {
    by - Duration::seconds(window * i64::from(100 - policy.at_risk_percent) / 100)
}

fn has_windows(policy: Option<&Policy>) -> Option<&Policy> {
    policy.filter(|p| p.acknowledge_within.is_some() || p.resolve_within.is_some())
}

/// A case's SLA as stored: its deadlines and the moments its state changes
/// unless the case changes first. It does not depend on the time, so it is
/// computed when the case or its policy changes and read from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub phase: Phase,
    pub acknowledge_by: Option<NaiveDateTime>,
    /// The resolve deadline before the current pause (a pause moves it on).
    pub resolve_by: Option<NaiveDateTime>,
    /// Running: from when it is at risk.
    pub at_risk_at: Option<NaiveDateTime>,
    /// Running or paused: the deadline it breaches at unless met;
    /// breached: the first deadline it missed.
    pub breach_at: Option<NaiveDateTime>,
    /// The first of its SLA events' moments (see [`notices`]).
    pub notice_at: Option<NaiveDateTime>,
}

impl Schedule {
    pub const NONE: Schedule = Schedule {
        phase: Phase::None,
        acknowledge_by: None,
        resolve_by: None,
        at_risk_at: None,
        breach_at: None,
        notice_at: None,
    };

    /// The schedule of a clock under its policy.
    pub fn of(policy: Option<&Policy>, clock: &Clock) -> Schedule {
        let Some(policy) = has_windows(policy) else { return Schedule::NONE };
        let tracks = tracks(policy, clock);
        let missed = tracks.iter().filter_map(|(_, t)| if let Track::Missed(at) = t { Some(*at) } else { None }).min();
        let pending = || {
            tracks
                .iter()
                .filter_map(|(_, t)| if let Track::Pending { window, by } = t { Some((*window, *by)) } else { None })
        };
        let (phase, breach_at, at_risk_at) = match missed {
            Some(at) => (Phase::Breached, Some(at), None),
            None if clock.closed_at.is_some() => (Phase::Met, None, None),
            None if clock.paused_since.is_some() => (Phase::Paused, pending().map(|(_, by)| by).min(), None),
            None => (
                Phase::Running,
                pending().map(|(_, by)| by).min(),
                pending().map(|(window, by)| at_risk_from(policy, window, by)).min(),
            ),
        };
        Schedule {
            phase,
            acknowledge_by: policy.acknowledge_within.map(|w| clock.created_at + Duration::seconds(w)),
            resolve_by: policy.resolve_within.map(|w| clock.created_at + Duration::seconds(w + clock.paused_seconds)),
            at_risk_at,
            breach_at,
            notice_at: notices(Some(policy), clock).iter().map(|n| n.at).min(),
        }
    }

    /// The SLA at `now` of a case with this schedule and clock.
    pub fn at(&self, clock: &Clock, now: NaiveDateTime) -> Sla {
        // A deadline unmet when it comes is breached.
        let passed = |moment: Option<NaiveDateTime>| moment.is_some_and(|m| now >= m);
        let state = match self.phase {
            Phase::None => SlaState::None,
            Phase::Met => SlaState::Met,
            Phase::Breached => SlaState::Breached,
            Phase::Running | Phase::Paused if passed(self.breach_at) => SlaState::Breached,
            Phase::Paused => SlaState::Paused,
            Phase::Running if self.at_risk_at.is_some_and(|at| now >= at) => SlaState::AtRisk,
            Phase::Running => SlaState::OnTrack,
        };
        let end = clock.closed_at.unwrap_or(now);
        let paused_now = clock.paused_since.map_or(0, |since| (end - since).num_seconds().max(0));
        Sla {
            acknowledge_by: self.acknowledge_by,
            resolve_by: self.resolve_by.map(|by| by + Duration::seconds(paused_now)),
            acknowledged_at: clock.acknowledged_at,
            state,
            paused_since: clock.paused_since,
            breached_at: if state == SlaState::Breached { self.breach_at } else { None },
        }
    }
}

/// The SLA of a case with this clock under `policy`, at `now`.
pub fn evaluate(policy: Option<&Policy>, clock: &Clock, now: NaiveDateTime) -> Sla {
    Schedule::of(policy, clock).at(clock, now)
}

/// The SLA events of an open case with this clock, whether due yet or not:
/// for each deadline still to meet, at risk (while the clock runs) and
/// breached; for a deadline missed, breached. A closed case has none (its
/// outcome is on the case; watchers heard of any breach while it was open).
/// None from before the clock's `events_from`.
pub fn notices(policy: Option<&Policy>, clock: &Clock) -> Vec<Notice> {
    let Some(policy) = has_windows(policy) else { return Vec::new() };
    if clock.closed_at.is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (deadline, track) in tracks(policy, clock) {
        match track {
            Track::Quiet => {}
            Track::Missed(by) => out.push(Notice { kind: NoticeKind::Breached, deadline, due_by: by, at: by }),
            Track::Pending { window, by } => {
                if clock.paused_since.is_none() {
                    let at = at_risk_from(policy, window, by);
                    out.push(Notice { kind: NoticeKind::AtRisk, deadline, due_by: by, at });
                }
                out.push(Notice { kind: NoticeKind::Breached, deadline, due_by: by, at: by });
            }
        }
    }
    out.retain(|n| clock.events_from.is_none_or(|from| n.at >= from));
    out
}

impl Notice {
    /// Whether the event is due at `now`.
    pub fn is_due(&self, now: NaiveDateTime) -> bool {
        now >= self.at
    }
}

impl Schedule {
    pub fn stored(&self) -> StoredSchedule {
        StoredSchedule {
            sla_phase: self.phase,
            sla_acknowledge_by: self.acknowledge_by,
            sla_resolve_by: self.resolve_by,
            sla_at_risk_at: self.at_risk_at,
            sla_breach_at: self.breach_at,
            sla_notice_at: self.notice_at,
        }
    }

    /// The schedule but for when its next event is due: what a recomputation
    /// compares.
    pub fn without_notice(self) -> Schedule {
        Schedule { notice_at: None, ..self }
    }

    /// The schedule stored on a case.
    pub fn of_case(case: &Case) -> Schedule {
        Schedule {
            phase: case.sla_phase,
            acknowledge_by: case.sla_acknowledge_by,
            resolve_by: case.sla_resolve_by,
            at_risk_at: case.sla_at_risk_at,
            breach_at: case.sla_breach_at,
            notice_at: case.sla_notice_at,
        }
    }

    /// The schedule as stored.
    pub fn stored_as(stored: &StoredSchedule) -> Schedule {
        Schedule {
            phase: stored.sla_phase,
            acknowledge_by: stored.sla_acknowledge_by,
            resolve_by: stored.sla_resolve_by,
            at_risk_at: stored.sla_at_risk_at,
            breach_at: stored.sla_breach_at,
            notice_at: stored.sla_notice_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sla::policy_for;
    use crate::domain::values::CasePriority;

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
        Clock {
            created_at: at(0),
            acknowledged_at: None,
            closed_at: None,
            paused_since: None,
            paused_seconds: 0,
            events_from: None,
        }
    }

    fn state(clock: Clock, minutes: i64) -> SlaState {
        evaluate(Some(&policy()), &clock, at(minutes)).state
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

    fn kinds(notices: &[Notice]) -> Vec<(NoticeKind, Deadline, i64)> {
        notices.iter().map(|n| (n.kind, n.deadline, (n.at - at(0)).num_minutes())).collect()
    }

    #[test]
    fn each_deadline_has_its_events_until_met_and_a_closed_case_none() {
        use {Deadline::*, NoticeKind::*};
        let all = notices(Some(&policy()), &clock());
        assert_eq!(
            kinds(&all),
            [(AtRisk, Acknowledge, 48), (Breached, Acknowledge, 60), (AtRisk, Resolve, 480), (Breached, Resolve, 600)]
        );
        assert_eq!(Schedule::of(Some(&policy()), &clock()).notice_at, Some(at(48)));
        let in_time = Clock { acknowledged_at: Some(at(30)), ..clock() };
        assert_eq!(kinds(&notices(Some(&policy()), &in_time)), [(AtRisk, Resolve, 480), (Breached, Resolve, 600)]);
        let late = Clock { acknowledged_at: Some(at(70)), ..clock() };
        assert_eq!(
            kinds(&notices(Some(&policy()), &late)),
            [(Breached, Acknowledge, 60), (AtRisk, Resolve, 480), (Breached, Resolve, 600)],
            "a late acknowledgement still owes its breach"
        );
        let paused = Clock { paused_since: Some(at(10)), ..clock() };
        assert_eq!(
            kinds(&notices(Some(&policy()), &paused)),
            [(Breached, Acknowledge, 60)],
            "paused: no at-risk, and the resolve deadline moves on"
        );
        let closed = Clock { closed_at: Some(at(700)), ..clock() };
        assert!(notices(Some(&policy()), &closed).is_empty());
        let rescheduled = Clock { events_from: Some(at(60)), ..clock() };
        assert_eq!(
            kinds(&notices(Some(&policy()), &rescheduled)),
            [(Breached, Acknowledge, 60), (AtRisk, Resolve, 480), (Breached, Resolve, 600)],
            "what was past when the schedule was recomputed stays unannounced"
        );
        assert_eq!(Schedule::of(Some(&policy()), &rescheduled).notice_at, Some(at(60)));
    }

    #[test]
    fn the_stored_schedule_gives_the_state_at_any_moment() {
        let acknowledged = Clock { acknowledged_at: Some(at(5)), ..clock() };
        let schedule = Schedule::of(Some(&policy()), &acknowledged);
        assert_eq!(
            (schedule.phase, schedule.at_risk_at, schedule.breach_at),
            (Phase::Running, Some(at(480)), Some(at(600)))
        );
        let states: Vec<SlaState> =
            [479, 480, 599, 600].iter().map(|m| schedule.at(&acknowledged, at(*m)).state).collect();
        assert_eq!(states, [SlaState::OnTrack, SlaState::AtRisk, SlaState::AtRisk, SlaState::Breached]);
        let late = Schedule::of(Some(&policy()), &Clock { closed_at: Some(at(700)), ..acknowledged });
        assert_eq!((late.phase, late.breach_at), (Phase::Breached, Some(at(600))));
        assert_eq!(Schedule::of(None, &clock()), Schedule::NONE);
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
