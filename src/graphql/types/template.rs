use async_graphql::{Context, ID, Object};

use super::AttackTechnique;
use super::user::known_user;
use crate::domain::attack;
use crate::domain::sla::format_duration;
use crate::domain::template::{CaseTemplate, TemplateTask};
use crate::domain::user::User;
use crate::domain::values::CasePriority;
use crate::error::AppError;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};

/// A playbook's starting point for cases: `createCase(input: { templateId })`
/// fills what the input leaves out and adds its tags, techniques and tasks;
/// `applyTemplate` adds its tasks to an existing case.
#[Object]
impl CaseTemplate {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.0.to_string())
    }
    /// Unique in the tenant, ignoring case.
    async fn name(&self) -> &str {
        &self.name
    }
    /// Put before the title of each case opened from it.
    async fn title_prefix(&self) -> Option<&str> {
        self.title_prefix.as_deref()
    }
    /// The description of a case opened without one.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The priority of a case opened without one.
    async fn priority(&self) -> Option<CasePriority> {
        self.priority
    }
    /// Tags each case gets.
    async fn tags(&self) -> &[String] {
        &self.tags
    }
    /// ATT&CK techniques each case gets.
    async fn techniques(&self) -> GqlResult<Vec<AttackTechnique>> {
        let catalogue = attack::catalogue();
        self.technique_ids
            .iter()
            .map(|id| {
                catalogue.technique(id).map(AttackTechnique).ok_or_else(|| {
                    AppError::internal(format!("template {} names {id}, which the catalogue lacks", self.id.0)).into()
                })
            })
            .collect()
    }
    /// Tasks each case gets, in order.
    async fn tasks(&self) -> Vec<CaseTemplateTask> {
        self.tasks.iter().cloned().map(CaseTemplateTask).collect()
    }
    /// Archived templates cannot be used; they are kept for the cases that name them.
    async fn archived(&self) -> bool {
        self.archived
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
}

/// A task a template adds.
pub struct CaseTemplateTask(pub TemplateTask);

/// A task a case template adds to each case.
#[Object]
impl CaseTemplateTask {
    /// The task's title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Plain-text details.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The task's priority.
    async fn priority(&self) -> Option<CasePriority> {
        CasePriority::from_rank(self.0.priority)
    }
    /// Who does it.
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        match &self.0.owner_id {
            Some(id) => Ok(Some(known_user(ctx, id).await?)),
            None => Ok(None),
        }
    }
    /// When it is due after it is added, as an ISO 8601 duration.
    async fn due_after(&self) -> Option<String> {
        self.0.due_after_seconds.map(format_duration)
    }
}
