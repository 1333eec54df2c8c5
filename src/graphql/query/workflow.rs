use async_graphql::{Context, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::workflow::{self, WorkflowSettings};
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
