use async_graphql::{ID, Object};

use crate::domain::status::{Status, StatusCategory};
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
    /// When the status was created.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// When the status last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
}
