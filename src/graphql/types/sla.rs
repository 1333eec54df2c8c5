use async_graphql::{Context, Object, SimpleObject};

use super::user::known_user;
use crate::domain::metrics::{MetricsGroup, Timing};
use crate::domain::sla::{Policy, SlaState, format_duration};
use crate::domain::status::StatusCategory;
use crate::domain::user::User;
use crate::domain::values::CasePriority;
use crate::domain::workflow::Classification;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};

/// A case's SLA now, under the tenant's policy for its priority.
#[derive(SimpleObject)]
pub struct CaseSla {
    /// When the case must be acknowledged (moved out of a NEW status or assigned).
    pub acknowledge_by: Option<DateTime>,
    /// When the case must be in a CLOSED status; paused time moves it later.
    pub resolve_by: Option<DateTime>,
    /// When the case was acknowledged.
    pub acknowledged_at: Option<DateTime>,
    /// Where the case stands.
    pub state: SlaState,
    /// Since when the clock is paused (the case is in a status that pauses it).
    pub paused_since: Option<DateTime>,
    /// The first deadline the case missed.
    pub breached_at: Option<DateTime>,
}

impl From<crate::domain::sla::Sla> for CaseSla {
    fn from(sla: crate::domain::sla::Sla) -> Self {
        CaseSla {
            acknowledge_by: sla.acknowledge_by.map(utc),
            resolve_by: sla.resolve_by.map(utc),
            acknowledged_at: sla.acknowledged_at.map(utc),
            state: sla.state,
            paused_since: sla.paused_since.map(utc),
            breached_at: sla.breached_at.map(utc),
        }
    }
}

/// The tenant's SLA for cases of one priority (or every other case).
#[Object]
impl Policy {
    /// The priority it applies to; null: cases whose priority has no policy of its own.
    async fn priority(&self) -> Option<CasePriority> {
        self.priority
    }
    /// Time from creation to acknowledgement, as an ISO 8601 duration.
    async fn acknowledge_within(&self) -> Option<String> {
        self.acknowledge_within.map(format_duration)
    }
    /// Time from creation to a CLOSED status, paused time left out, as an ISO 8601 duration.
    async fn resolve_within(&self) -> Option<String> {
        self.resolve_within.map(format_duration)
    }
    /// The share of a window used (percent) from which a case is AT_RISK.
    async fn at_risk_percent(&self) -> i32 {
        self.at_risk_percent
    }
    /// When the policy last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
}

/// Durations over a group's cases, in seconds.
#[derive(SimpleObject)]
pub struct DurationStats {
    /// How many cases the figures are over.
    pub count: i64,
    /// The mean.
    pub mean_seconds: Option<f64>,
    /// The median (`percentile_cont(0.5)`: interpolated between the two closest ranks).
    pub p50_seconds: Option<f64>,
    /// The 90th percentile (interpolated alike).
    pub p90_seconds: Option<f64>,
}

impl From<Timing> for DurationStats {
    fn from(t: Timing) -> Self {
        DurationStats { count: t.count, mean_seconds: t.mean, p50_seconds: t.p50, p90_seconds: t.p90 }
    }
}

/// One group of case metrics.
pub struct CaseMetricsGroup(pub MetricsGroup);

/// The figures of one group of cases; the key fields of the dimensions
/// grouped by are set (null there is a group of its own: no priority,
/// unassigned, open, untagged), the others are null.
#[Object]
impl CaseMetricsGroup {
    /// The group's priority (grouped by PRIORITY).
    async fn priority(&self) -> Option<CasePriority> {
        self.0.priority
    }
    /// The group's assignee (grouped by ASSIGNEE).
    async fn assignee(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        match &self.0.assignee_id {
            Some(id) => Ok(Some(known_user(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// The category of the group's status (grouped by STATUS_CATEGORY).
    async fn status_category(&self) -> Option<StatusCategory> {
        self.0.status_category
    }
    /// The group's closing classification (grouped by CLASSIFICATION).
    async fn classification(&self) -> Option<Classification> {
        self.0.classification
    }
    /// The group's tag name (grouped by TAG).
    async fn tag(&self) -> Option<&str> {
        self.0.tag.as_deref()
    }
    /// Cases opened within the window.
    async fn opened(&self) -> i64 {
        self.0.opened
    }
    /// Cases closed within the window (and closed still).
    async fn closed(&self) -> i64 {
        self.0.closed
    }
    /// Cases open now.
    async fn open_now(&self) -> i64 {
        self.0.open_now
    }
    /// From opening to acknowledgement, over the cases opened within the window and acknowledged.
    async fn time_to_acknowledge(&self) -> DurationStats {
        self.0.to_acknowledge.into()
    }
    /// From opening to closing, time in statuses that pause the SLA left
    /// out, over the cases closed within the window.
    async fn time_to_resolve(&self) -> DurationStats {
        self.0.to_resolve.into()
    }
    /// Cases opened within the window that have an SLA.
    async fn sla_cases(&self) -> i64 {
        self.0.with_sla
    }
    /// Of those, the ones whose SLA is breached now.
    async fn sla_breached(&self) -> i64 {
        self.0.breached
    }
    /// `slaBreached / slaCases` (0 to 1); null without SLA cases.
    async fn sla_breach_rate(&self) -> Option<f64> {
        (self.0.with_sla > 0).then(|| self.0.breached as f64 / self.0.with_sla as f64)
    }
}
