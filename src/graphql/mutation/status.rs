use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::case::status_ref;
use super::{clearable, unclearable};
use crate::auth::{ManageSettings, Permission};
use crate::domain::status::{self, NewStatus, Status, StatusCategory, StatusChanges, StatusId};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::{db, grant};

/// A new status of the workflow.
#[derive(InputObject)]
pub struct CreateStatusInput {
    /// Unique in the tenant, ignoring case; 1 to 64 characters.
    pub name: String,
    /// The phase of work the status stands for.
    pub category: StatusCategory,
    /// 1-based place in the workflow; the statuses from there on move down.
    /// Placed last when absent.
    pub position: Option<i32>,
    /// Make it the default for new cases (the previous default stops being one).
    #[graphql(default = false)]
    pub is_default: bool,
    /// Time a case spends here does not count toward its SLA ("Waiting on customer").
    #[graphql(default = false)]
    pub pauses_sla: bool,
}

/// A change to a status. Absent fields are left alone.
#[derive(InputObject)]
pub struct UpdateStatusInput {
    /// The status to change.
    pub id: ID,
    /// New name, unique in the tenant ignoring case.
    pub name: MaybeUndefined<String>,
    /// New phase of work.
    pub category: MaybeUndefined<StatusCategory>,
    /// Move to this 1-based place in the workflow; the others close up around it.
    pub position: MaybeUndefined<i32>,
    /// `true` makes this the default; the default cannot be unset, only replaced.
    pub is_default: MaybeUndefined<bool>,
    /// Archive (or restore) the status. The default cannot be archived.
    pub archived: MaybeUndefined<bool>,
    /// The statuses a case in this one may move to; empty or `null` allows
    /// any. Archived statuses are never targets.
    pub allowed_next_ids: MaybeUndefined<Vec<ID>>,
    /// Whether time a case spends here stops its SLA clock; cannot be cleared.
    pub pauses_sla: MaybeUndefined<bool>,
}

#[derive(Default)]
pub struct StatusMutation;

#[Object]
impl StatusMutation {
    /// Adds a status to the tenant's workflow.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn create_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new status.")] input: CreateStatusInput,
    ) -> GqlResult<Status> {
        let actor = grant::<ManageSettings>(ctx)?;
        let new = NewStatus {
            name: input.name,
            category: input.category,
            position: input.position,
            is_default: input.is_default,
            pauses_sla: input.pauses_sla,
        };
        Ok(db(ctx)?.write(async |conn| status::create(conn, &actor, new).await).await?)
    }

    /// Renames, recategorises, reorders, archives or makes default a status.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn update_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The status and its changes.")] input: UpdateStatusInput,
    ) -> GqlResult<Status> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = numeric_id(&input.id).ok_or_else(|| AppError::not_found("status", input.id.as_str()))?;
        let changes = StatusChanges {
            name: unclearable("name", input.name)?,
            category: unclearable("category", input.category)?,
            position: unclearable("position", input.position)?,
            is_default: unclearable("isDefault", input.is_default)?,
            archived: unclearable("archived", input.archived)?,
            pauses_sla: unclearable("pausesSla", input.pauses_sla)?,
            allowed_next: clearable(input.allowed_next_ids)
                .map(|ids| {
                    ids.unwrap_or_default()
                        .iter()
                        .map(|id| status_ref("allowedNextIds", id))
                        .collect::<AppResult<Vec<StatusId>>>()
                })
                .transpose()?,
        };
        Ok(db(ctx)?.write(async |conn| status::update(conn, &actor, StatusId(id), changes).await).await?)
    }
}
