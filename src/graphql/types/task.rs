use async_graphql::{Context, ID, Object};

use super::user::known_user;
use crate::domain::case::Case;
use crate::domain::task::Task;
use crate::domain::user::User;
use crate::domain::values::{CasePriority, TaskStatus};
use crate::error::AppError;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;
use crate::graphql::scalars::{DateTime, utc};

/// A work item of a case.
#[Object]
impl Task {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The case the task belongs to.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Case> {
        let case = loaders(ctx)?.cases.load_one(self.case_id).await?;
        Ok(case.ok_or_else(|| AppError::internal(format!("task {} has no case", self.id)))?)
    }
    /// What to do.
    async fn title(&self) -> &str {
        &self.title
    }
    /// Plain-text details.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// Progress; new tasks start `NEW`.
    async fn status(&self) -> GqlResult<TaskStatus> {
        Ok(self.status)
    }
    /// How urgent the task is, when set.
    async fn priority(&self) -> Option<CasePriority> {
        CasePriority::from_rank(self.priority)
    }
    /// Who does the task.
    async fn owner(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        match &self.owner_id {
            Some(id) => Ok(loaders(ctx)?.users.load_one(id.clone()).await?),
            None => Ok(None),
        }
    }
    /// When the task is due.
    async fn due_on(&self) -> Option<DateTime> {
        self.due_on.map(utc)
    }
    /// What was found or done, written when closing the task.
    async fn closing_notes(&self) -> Option<&str> {
        self.closing_notes.as_deref()
    }
    /// The files added to this task, newest first.
    async fn attachments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the attachment this page follows.")] after: Option<String>,
    ) -> GqlResult<crate::graphql::types::AttachmentConnection> {
        let owner = crate::domain::attachment::Owner::Task(crate::domain::task::TaskId(self.id));
        crate::graphql::types::attachment_page(ctx, owner, first, after).await
    }
    /// Who created the task.
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.created_by).await
    }
    /// When the task was created.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// Who changed the task last.
    async fn updated_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.updated_by).await
    }
    /// When the task last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
}
