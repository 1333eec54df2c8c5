use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::{case_id, clearable, unclearable};
use crate::auth::{ManageAlerts, Permission};
use crate::domain::case::Case;
use crate::domain::task::{self, NewTask, Task, TaskChanges, TaskId};
use crate::domain::values::{CasePriority, TaskStatus};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, numeric_id, optional_time};
use crate::graphql::{db, grant, loaders};

/// A task to add to a case.
#[derive(InputObject)]
pub struct CreateTaskInput {
    /// The case number.
    pub case_id: ID,
    /// What to do; 1 to 256 characters.
    pub title: String,
    /// Plain-text details.
    pub description: Option<String>,
    /// Progress (`NEW` when absent).
    pub status: Option<TaskStatus>,
    /// How urgent the task is.
    pub priority: Option<CasePriority>,
    /// Who does the task: a user known in the tenant.
    pub owner_id: Option<ID>,
    /// When the task is due.
    pub due_on: Option<DateTime>,
    /// What was found or done.
    pub closing_notes: Option<String>,
}

/// A change to a task. Absent fields are left alone; `null` clears a field.
#[derive(InputObject)]
pub struct UpdateTaskInput {
    /// The task's id.
    pub id: ID,
    /// New title; cannot be cleared.
    pub title: MaybeUndefined<String>,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// New progress; cannot be cleared.
    pub status: MaybeUndefined<TaskStatus>,
    /// New priority.
    pub priority: MaybeUndefined<CasePriority>,
    /// New owner: a user known in the tenant.
    pub owner_id: MaybeUndefined<ID>,
    /// New due date.
    pub due_on: MaybeUndefined<DateTime>,
    /// What was found or done, typically written when completing the task.
    pub closing_notes: MaybeUndefined<String>,
}

/// The task to delete.
#[derive(InputObject)]
pub struct DeleteTaskInput {
    /// The task's id.
    pub id: ID,
}

/// What `deleteTask` answers.
#[derive(SimpleObject)]
pub struct DeleteTaskPayload {
    /// The id the task had.
    pub deleted_task_id: ID,
    /// The case the task belonged to, after the change.
    pub case: Case,
}

fn task_id(id: &ID) -> AppResult<TaskId> {
    numeric_id(id).map(TaskId).ok_or_else(|| AppError::not_found("task", id.as_str()))
}

#[derive(Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
    /// Adds a task to a case.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new task.")] input: CreateTaskInput,
    ) -> GqlResult<Task> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let new = NewTask {
            case_id: case_id(&input.case_id)?,
            title: input.title,
            description: input.description,
            status: input.status,
            priority: input.priority,
            owner_id: input.owner_id.map(|id| id.0),
            due_on: optional_time("dueOn", input.due_on.as_ref())?,
            closing_notes: input.closing_notes,
        };
        let task = db(ctx)?.write(async |conn| task::create(conn, &actor, new).await).await?;
        Ok(task)
    }

    /// Changes a task; each change is audited on its case.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task and its changes.")] input: UpdateTaskInput,
    ) -> GqlResult<Task> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id = task_id(&input.id)?;
        let changes = TaskChanges {
            title: unclearable("title", input.title)?,
            description: clearable(input.description),
            status: unclearable("status", input.status)?,
            priority: clearable(input.priority),
            owner_id: clearable(input.owner_id).map(|o| o.map(|id| id.0)),
            due_on: clearable(input.due_on).map(|d| optional_time("dueOn", d.as_ref())).transpose()?,
            closing_notes: clearable(input.closing_notes),
        };
        let task = db(ctx)?.write(async |conn| task::update(conn, &actor, id, changes).await).await?;
        Ok(task)
    }

    /// Removes a task; the case's audit keeps its history.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn delete_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task to remove.")] input: DeleteTaskInput,
    ) -> GqlResult<DeleteTaskPayload> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id = task_id(&input.id)?;
        let case_id = db(ctx)?.write(async |conn| task::delete(conn, &actor, id).await).await?;
        let case = loaders(ctx)?.cases.load_one(case_id.0).await?;
        let case = case.ok_or_else(|| AppError::not_found("case", case_id))?;
        Ok(DeleteTaskPayload { deleted_task_id: input.id, case })
    }
}
