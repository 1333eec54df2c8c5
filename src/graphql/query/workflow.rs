use async_graphql::{Context, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::workflow::{self, Classification, Determination, WorkflowSettings};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// The tenant's rules for closing cases.
#[Object]
impl WorkflowSettings {
    /// A case entering a CLOSED status needs a classification (default on).
    async fn require_classification(&self) -> bool {
        self.require_classification
    }
    /// A case entering a CLOSED status needs every task finished: COMPLETED,
    /// SKIPPED, FAILED or PARTIALLY_COMPLETED (default off).
    async fn require_finished_tasks(&self) -> bool {
        self.require_finished_tasks
    }
    /// A parent case entering a CLOSED status needs every child case
    /// (`CHILD_OF` it) closed first (default off).
    async fn require_closed_children(&self) -> bool {
        self.require_closed_children
    }
    /// How `mergeCases` classifies the sources it closes when the call gives
    /// no classification (default UNDETERMINED).
    async fn duplicate_classification(&self) -> Classification {
        self.duplicate_classification
    }
    /// Why, when the call gives no classification (default none).
    async fn duplicate_determination(&self) -> Option<Determination> {
        self.duplicate_determination
    }
}

#[derive(Default)]
pub struct WorkflowQuery;

#[Object]
impl WorkflowQuery {
    /// The tenant's rules for closing cases.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn workflow_settings(&self, ctx: &Context<'_>) -> GqlResult<WorkflowSettings> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(workflow::settings(&mut conn.conn(), tenant).await?)
    }
}
