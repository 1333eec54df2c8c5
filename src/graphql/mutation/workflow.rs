use async_graphql::{Context, InputObject, MaybeUndefined, Object};

use super::{clearable, unclearable};
use crate::auth::{ManageSettings, Permission};
use crate::domain::workflow::{self, Classification, Determination, SettingsChanges, WorkflowSettings};
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
    /// Require every child case closed to close its parent.
    pub require_closed_children: MaybeUndefined<bool>,
    /// How `mergeCases` classifies the sources it closes, unless the call says.
    pub duplicate_classification: MaybeUndefined<Classification>,
    /// Why (one of that classification's determinations); `null` for none.
    pub duplicate_determination: MaybeUndefined<Determination>,
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
            require_closed_children: unclearable("requireClosedChildren", input.require_closed_children)?,
            duplicate_classification: unclearable("duplicateClassification", input.duplicate_classification)?,
            duplicate_determination: clearable(input.duplicate_determination),
        };
        Ok(db(ctx)?.write(async |conn| workflow::update_settings(conn, &actor, changes).await).await?)
    }
}
