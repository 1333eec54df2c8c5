use async_graphql::{Context, Object, SimpleObject};

use crate::auth::Permission;
use crate::graphql::admission::RateStatus;
use crate::graphql::directive::requires_permission;
use crate::graphql::scalars::DateTime;

/// The caller's rate-limit budget, in cost points (GitHub's model).
#[derive(SimpleObject)]
pub struct RateLimit {
    /// What this request cost: one point, plus one per hundred lists it fetches.
    pub cost: i32,
    /// Points per minute, which is also the most the budget holds.
    pub limit: i32,
    /// Points left after this request.
    pub remaining: i32,
    /// Points spent and not yet refilled.
    pub used: i32,
    /// When the budget is full again.
    pub reset_at: DateTime,
}

#[derive(Default)]
pub struct RateLimitQuery;

#[Object]
impl RateLimitQuery {
    /// The caller's rate-limit budget after this request; null when the server
    /// runs without a rate limit.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn rate_limit(&self, ctx: &Context<'_>) -> Option<RateLimit> {
        let status = ctx.data_opt::<RateStatus>()?;
        let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        Some(RateLimit {
            cost: clamp(status.cost),
            limit: clamp(status.limit),
            remaining: clamp(status.remaining),
            used: clamp(status.limit.saturating_sub(status.remaining)),
            reset_at: DateTime::Valid(chrono::DateTime::<chrono::Utc>::from(status.reset_at)),
        })
    }
}
