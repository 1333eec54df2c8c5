use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::{case_id, clearable, unclearable};
use crate::auth::{ManageAlerts, ManageSettings, Permission};
use crate::domain::case::Case;
use crate::domain::template::{self, CaseTemplate, TemplateChanges, TemplateId, TemplateTaskInput};
use crate::domain::values::CasePriority;
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::{db, grant};

/// A task a template adds to each case.
#[derive(InputObject)]
pub struct CaseTemplateTaskInput {
    /// The task's title; 1 to 256 characters.
    pub title: String,
    /// Plain-text details.
    pub description: Option<String>,
    /// The task's priority.
    pub priority: Option<CasePriority>,
    /// Who does it: a user known in the tenant.
    pub owner_id: Option<ID>,
    /// When it is due after it is added, as an ISO 8601 duration (`PT4H`, `P2D`).
    pub due_after: Option<String>,
}

impl From<CaseTemplateTaskInput> for TemplateTaskInput {
    fn from(t: CaseTemplateTaskInput) -> Self {
        TemplateTaskInput {
            title: t.title,
            description: t.description,
            priority: t.priority,
            owner_id: t.owner_id.map(|id| id.0),
            due_after: t.due_after,
        }
    }
}

/// A case template to create.
#[derive(InputObject)]
pub struct CreateCaseTemplateInput {
    /// Unique in the tenant, ignoring case; 1 to 64 characters.
    pub name: String,
    /// Put before the title of each case opened from it (up to 64 characters).
    pub title_prefix: Option<String>,
    /// The description of a case opened without one.
    pub description: Option<String>,
    /// The priority of a case opened without one.
    pub priority: Option<CasePriority>,
    /// Tags each case gets (at most 20).
    pub tags: Option<Vec<String>>,
    /// ATT&CK technique ids each case gets (current ones only).
    pub technique_ids: Option<Vec<String>>,
    /// Tasks each case gets (at most 50).
    pub tasks: Option<Vec<CaseTemplateTaskInput>>,
}

/// A change to a case template. Absent fields are left alone; `null` clears
/// a field; lists are replaced whole.
#[derive(InputObject)]
pub struct UpdateCaseTemplateInput {
    /// The template.
    pub id: ID,
    /// New name; cannot be cleared.
    pub name: MaybeUndefined<String>,
    /// New title prefix.
    pub title_prefix: MaybeUndefined<String>,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// New priority.
    pub priority: MaybeUndefined<CasePriority>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New techniques.
    pub technique_ids: Option<Vec<String>>,
    /// New tasks.
    pub tasks: Option<Vec<CaseTemplateTaskInput>>,
    /// Archived templates are listed only when asked and cannot be used; they are never deleted.
    pub archived: Option<bool>,
}

/// A template to apply to a case.
#[derive(InputObject)]
pub struct ApplyTemplateInput {
    /// The case number.
    pub case_id: ID,
    /// The template whose tasks the case gets.
    pub template_id: ID,
}

/// The template an input names: a number, else it cannot exist.
pub(crate) fn template_ref(field: &str, id: &ID) -> AppResult<TemplateId> {
    numeric_id(id)
        .map(TemplateId)
        .ok_or_else(|| AppError::bad_input(field, format!("no case template {}", id.as_str())))
}

#[derive(Default)]
pub struct TemplateMutation;

#[Object]
impl TemplateMutation {
    /// Creates a case template.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn create_case_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new template.")] input: CreateCaseTemplateInput,
    ) -> GqlResult<CaseTemplate> {
        let actor = grant::<ManageSettings>(ctx)?;
        let changes = TemplateChanges {
            name: Some(input.name),
            title_prefix: Some(input.title_prefix),
            description: Some(input.description),
            priority: Some(input.priority),
            tags: input.tags,
            technique_ids: input.technique_ids,
            tasks: input.tasks.map(|tasks| tasks.into_iter().map(Into::into).collect()),
            archived: None,
        };
        Ok(db(ctx)?.write(async |conn| template::create(conn, &actor, changes).await).await?)
    }

    /// Changes a case template (cases opened from it keep what they got), or archives it.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn update_case_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The template and its changes.")] input: UpdateCaseTemplateInput,
    ) -> GqlResult<CaseTemplate> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = numeric_id(&input.id)
            .map(TemplateId)
            .ok_or_else(|| AppError::not_found("case template", input.id.as_str()))?;
        let changes = TemplateChanges {
            name: unclearable("name", input.name)?,
            title_prefix: clearable(input.title_prefix),
            description: clearable(input.description),
            priority: clearable(input.priority),
            tags: input.tags,
            technique_ids: input.technique_ids,
            tasks: input.tasks.map(|tasks| tasks.into_iter().map(Into::into).collect()),
            archived: input.archived,
        };
        Ok(db(ctx)?.write(async |conn| template::update(conn, &actor, id, changes).await).await?)
    }

    /// Adds a template's tasks to a case (one TEMPLATE_APPLIED event lists them).
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn apply_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the template.")] input: ApplyTemplateInput,
    ) -> GqlResult<Case> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let case = case_id(&input.case_id)?;
        let template = template_ref("templateId", &input.template_id)?;
        Ok(db(ctx)?.write(async |conn| template::apply(conn, &actor, case, template).await).await?)
    }
}
