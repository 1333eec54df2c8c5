use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::template::template_ref;
use super::{case_id, clearable, finish_case, unclearable};
use crate::auth::{ManageAlerts, Permission};
use crate::domain::case::Case;
use crate::domain::case_edit::{self, CaseChanges, NewCase};
use crate::domain::status::StatusId;
use crate::domain::values::CasePriority;
use crate::domain::workflow::{Classification, ClosingInput, Determination};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, numeric_id, optional_time};
use crate::graphql::{db, grant};

/// A case to open.
#[derive(InputObject)]
pub struct CreateCaseInput {
    /// What the investigation is about; 1 to 256 characters.
    pub title: String,
    /// Plain-text details.
    pub description: Option<String>,
    /// How urgent the case is.
    pub priority: Option<CasePriority>,
    /// The status to start in (the tenant's default when absent); not an archived one.
    pub status_id: Option<ID>,
    /// Who works the case: a user known in the tenant.
    pub assignee_id: Option<ID>,
    /// When the case is due.
    pub due_on: Option<DateTime>,
    /// What the case turned out to be, when it is opened in a CLOSED status.
    pub classification: Option<Classification>,
    /// Why (one of the classification's determinations).
    pub determination: Option<Determination>,
    /// Plain-text notes on the closing.
    pub closing_comment: Option<String>,
    /// A case template to open from: its title prefix goes before the title,
    /// its description and priority fill those left out, and its tags,
    /// techniques and tasks are added, all audited as one creation.
    pub template_id: Option<ID>,
}

/// A change to a case. Absent fields are left alone; `null` clears a field.
#[derive(InputObject)]
pub struct UpdateCaseInput {
    /// The case number.
    pub id: ID,
    /// Refuse with CONFLICT unless the case is still at this version.
    pub expected_version: Option<i32>,
    /// New title; cannot be cleared.
    pub title: MaybeUndefined<String>,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// New priority.
    pub priority: MaybeUndefined<CasePriority>,
    /// New status; cannot be cleared, nor an archived one.
    pub status_id: MaybeUndefined<ID>,
    /// New assignee: a user known in the tenant.
    pub assignee_id: MaybeUndefined<ID>,
    /// New due date.
    pub due_on: MaybeUndefined<DateTime>,
    /// What the case turned out to be: given with (or after) the move to a
    /// CLOSED status, where the tenant may require it; a case leaving its
    /// CLOSED status loses it (the audit keeps it).
    pub classification: MaybeUndefined<Classification>,
    /// Why: one of the classification's determinations.
    pub determination: MaybeUndefined<Determination>,
    /// Plain-text notes on the closing.
    pub closing_comment: MaybeUndefined<String>,
}

/// The status an input names: a number, else it cannot exist.
pub(crate) fn status_ref(field: &str, id: &ID) -> AppResult<StatusId> {
    numeric_id(id)
        .map(StatusId)
        .ok_or_else(|| AppError::bad_input(field, format!("status {} does not exist", id.as_str())))
}

#[derive(Default)]
pub struct CaseMutation;

#[Object]
impl CaseMutation {
    /// Opens a case; the server assigns its number.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn create_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new case.")] input: CreateCaseInput,
    ) -> GqlResult<Case> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let new = NewCase {
            title: input.title,
            description: input.description,
            priority: input.priority,
            status_id: input.status_id.as_ref().map(|id| status_ref("statusId", id)).transpose()?,
            assignee_id: input.assignee_id.map(|id| id.0),
            due_on: optional_time("dueOn", input.due_on.as_ref())?,
            closing: ClosingInput {
                classification: input.classification.map(Some),
                determination: input.determination.map(Some),
                closing_comment: input.closing_comment.map(Some),
            },
            template_id: input.template_id.as_ref().map(|id| template_ref("templateId", id)).transpose()?,
        };
        let mut tx = db(ctx)?.begin().await?;
        let result = case_edit::create(&mut tx.conn(), &actor, new).await;
        Ok(finish_case(db(ctx)?, tx, result).await?)
    }

    /// Changes a case's fields; each change is audited.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn update_case(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and its changes.")] input: UpdateCaseInput,
    ) -> GqlResult<Case> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id = case_id(&input.id)?;
        let changes = CaseChanges {
            expected_version: input.expected_version,
            title: unclearable("title", input.title)?,
            description: clearable(input.description),
            priority: clearable(input.priority),
            status_id: unclearable("statusId", input.status_id)?.map(|id| status_ref("statusId", &id)).transpose()?,
            assignee_id: clearable(input.assignee_id).map(|a| a.map(|id| id.0)),
            due_on: clearable(input.due_on).map(|d| optional_time("dueOn", d.as_ref())).transpose()?,
            closing: ClosingInput {
                classification: clearable(input.classification),
                determination: clearable(input.determination),
                closing_comment: clearable(input.closing_comment),
            },
        };
        let mut tx = db(ctx)?.begin().await?;
        let result = case_edit::update(&mut tx.conn(), &actor, id, changes).await;
        Ok(finish_case(db(ctx)?, tx, result).await?)
    }
}
