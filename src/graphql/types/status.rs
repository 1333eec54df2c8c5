use std::sync::Arc;

use async_graphql::{Context, ID, Object};

use crate::domain::status::{Status, StatusCategory};
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;
use crate::graphql::scalars::{DateTime, utc};

/// A step of the tenant's case workflow, such as New, Open or Closed.
#[Object]
impl Status {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Unique per tenant, ignoring case.
    async fn name(&self) -> &str {
        &self.name
    }
    /// The phase of work this status stands for.
    async fn category(&self) -> StatusCategory {
        self.category
    }
    /// Order in the workflow, ascending.
    async fn position(&self) -> i32 {
        self.position
    }
    /// Given to new cases that name no status; exactly one status is the default.
    async fn is_default(&self) -> bool {
        self.is_default
    }
    /// An archived status stays on its cases but cannot be given to a case.
    async fn archived(&self) -> bool {
        self.archived
    }
    /// The statuses a case in this one may move to, in workflow order; empty
    /// means any (archived statuses are never targets).
    async fn allowed_next(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<Status>>> {
        Ok(loaders(ctx)?.allowed_next.load_one(self.id.0).await?.unwrap_or_default())
    }
    /// Time a case spends here does not count toward its SLA's resolve deadline.
    async fn pauses_sla(&self) -> bool {
        self.pauses_sla
    }
    /// When the status was created.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// When the status last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
}
