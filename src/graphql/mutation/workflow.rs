use async_graphql::{Context, InputObject, MaybeUndefined, Object};

use super::unclearable;
use crate::auth::{ManageSettings, Permission};
use crate::domain::workflow::{self, SettingsChanges, WorkflowSettings};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// A change to the closing rules; absent fields are left alone.
#[derive(InputObject)]
pub struct UpdateWorkflowSettingsInput {
    /// Require a classification to close a case.
    pub require_classification: MaybeUndefined<bool>,
    /// Require every task finished to close a case.
    pub require_finished_tasks: MaybeUndefined<bool>,
}

#[derive(Default)]
pub struct WorkflowMutation;

#[Object]
impl WorkflowMutation {
    /// Changes the tenant's rules for closing cases.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn update_workflow_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rules to change.")] input: UpdateWorkflowSettingsInput,
    ) -> GqlResult<WorkflowSettings> {
        let actor = grant::<ManageSettings>(ctx)?;
        let changes = SettingsChanges {
            require_classification: unclearable("requireClassification", input.require_classification)?,
            require_finished_tasks: unclearable("requireFinishedTasks", input.require_finished_tasks)?,
        };
        Ok(db(ctx)?.write(async |conn| workflow::update_settings(conn, &actor, changes).await).await?)
    }
}
