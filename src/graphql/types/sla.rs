use async_graphql::{Object, SimpleObject};

use crate::domain::sla::{Policy, SlaState, format_duration};
use crate::domain::values::CasePriority;
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
