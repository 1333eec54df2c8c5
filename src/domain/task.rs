//! Tasks: the work items of a case. Every task change is a change of its
//! case: it locks and bumps the case and writes the case's audit.

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts, Principal};
use crate::db::Conn;
use crate::db::schema::tasks;
use crate::domain::activity::{self, AuditAction, Changes, FieldChange, NewAudit};
use crate::domain::case::{self, CaseId};
use crate::domain::facts::{AutomationTrigger, Reindex};
use crate::domain::values::{
    CasePriority, MAX_TEXT_CHARS, MAX_TITLE_CHARS, TaskStatus, optional_text, required_text, time_label,
};
use crate::domain::{now, user};
use crate::error::{AppError, AppResult};
use crate::with_conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(pub i64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Task {
    pub id: i64,
    pub case_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub priority: i32,
    pub owner_id: Option<String>,
    pub due_on: Option<NaiveDateTime>,
    pub closing_notes: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
}

impl Task {
    pub fn parsed_priority(&self) -> Option<CasePriority> {
        CasePriority::from_rank(self.priority)
    }
}

/// A whole task row, for bulk loading (the demo data set).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tasks, treat_none_as_default_value = false)]
pub struct TaskRow {
    pub tenant_id: String,
    pub case_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub priority: i32,
    pub owner_id: Option<String>,
    pub due_on: Option<NaiveDateTime>,
    pub closing_notes: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
}

/// Inserts prepared task rows in one statement; returns their ids in order.
pub async fn insert_rows(conn: &mut Conn<'_>, rows: &[TaskRow]) -> AppResult<Vec<i64>> {
    Ok(crate::bulk_insert!(conn, tasks::table, rows, returning tasks::id)?)
}

/// A task to add to a case.
#[derive(Debug)]
pub struct NewTask {
    pub case_id: CaseId,
    pub title: String,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    pub priority: Option<CasePriority>,
    pub owner_id: Option<String>,
    pub due_on: Option<NaiveDateTime>,
    pub closing_notes: Option<String>,
}

/// The most tasks one case holds (the product limit; it bounds `Case.tasks`,
/// which has no pages).
pub const MAX_TASKS_PER_CASE: i64 = 200;

/// Adds a task to a case. Call inside a write transaction.
pub async fn create(conn: &mut Conn<'_>, actor: &Granted<'_, ManageAlerts>, input: NewTask) -> AppResult<Task> {
    let case_id = input.case_id;
    let (task, changes) = insert(conn, actor, input).await?;
    audit(conn, actor, case_id, task.id, AuditAction::TaskCreated, changes).await?;
    Ok(task)
}

/// Adds a task to a case without an audit event of its own (the caller
/// audits it, as a template's tasks are audited together); returns it and
/// its fields as an audit event lists them.
pub async fn insert(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    input: NewTask,
) -> AppResult<(Task, Vec<FieldChange>)> {
    let tenant = actor.tenant.as_str();
    case::lock_existing(conn, tenant, input.case_id).await?;
    let existing: i64 = with_conn!(conn, c => {
        tasks::table
            .filter(tasks::tenant_id.eq(tenant))
            .filter(tasks::case_id.eq(input.case_id.0))
            .count()
            .get_result(c)
            .await
    })?;
    if existing >= MAX_TASKS_PER_CASE {
        return Err(AppError::bad_input("caseId", format!("a case holds at most {MAX_TASKS_PER_CASE} tasks")));
    }
    let title = required_text("title", &input.title, MAX_TITLE_CHARS)?;
    let description = optional_text("description", input.description.as_deref(), MAX_TEXT_CHARS)?;
    let closing_notes = optional_text("closingNotes", input.closing_notes.as_deref(), MAX_TEXT_CHARS)?;
    let status = input.status.unwrap_or(TaskStatus::New);
    let owner = match &input.owner_id {
        Some(id) => Some(user::require_known(conn, tenant, "ownerId", id).await?),
        None => None,
    };
    let now = now();
    let values = (
        tasks::tenant_id.eq(tenant),
        tasks::case_id.eq(input.case_id.0),
        tasks::title.eq(&title),
        tasks::description.eq(&description),
        tasks::status.eq(status.as_str()),
        tasks::priority.eq(CasePriority::rank(input.priority)),
        tasks::owner_id.eq(owner.as_ref().map(|u| u.id.as_str())),
        tasks::due_on.eq(input.due_on),
        tasks::closing_notes.eq(&closing_notes),
        tasks::created_by.eq(&actor.user_id),
        tasks::created_at.eq(now),
        tasks::updated_by.eq(&actor.user_id),
        tasks::updated_at.eq(now),
    );
    let task = with_conn!(conn, c => {
        diesel::insert_into(tasks::table).values(values).returning(Task::as_returning()).get_result(c).await
    })?;
    conn.record(indexed(tenant, &task))?;
    let mut changes =
        vec![FieldChange::new("title", None, Some(title)), FieldChange::new("status", None, Some(status.label()))];
    let optional = [
        ("description", description),
        ("priority", input.priority.map(|p| p.label().to_owned())),
        ("owner", owner.map(|u| u.label())),
        ("dueOn", input.due_on.map(time_label)),
        ("closingNotes", closing_notes),
    ];
    changes.extend(optional.into_iter().filter(|(_, v)| v.is_some()).map(|(f, v)| FieldChange::new(f, None, v)));
    Ok((task, changes))
}

/// A change to a task: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Option<CasePriority>>,
    pub owner_id: Option<Option<String>>,
    pub due_on: Option<Option<NaiveDateTime>>,
    pub closing_notes: Option<Option<String>>,
}

/// Changes a task. Call inside a write transaction.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    id: TaskId,
    input: TaskChanges,
) -> AppResult<Task> {
    let tenant = actor.tenant.as_str();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("task", id))?;
    let case_id = CaseId(current.case_id);
    case::lock(conn, tenant, case_id).await?;
    let mut changes = Changes::default();

    let title = changes.required_text("title", input.title.as_deref(), &current.title, MAX_TITLE_CHARS)?;
    let description = changes.optional_text(
        "description",
        input.description.as_ref().map(Option::as_deref),
        &current.description,
        MAX_TEXT_CHARS,
    )?;
    let status = input.status.unwrap_or(current.status);
    changes.track("status", &current.status, &status, |s| Some(s.label()));
    let priority = input.priority.unwrap_or(current.parsed_priority());
    changes.track("priority", &current.parsed_priority(), &priority, |p| p.map(|p| p.label().to_owned()));
    let owner_id =
        user::reassign(conn, tenant, ("ownerId", "owner"), &current.owner_id, &input.owner_id, &mut changes).await?;
    let due_on = input.due_on.unwrap_or(current.due_on);
    changes.track("dueOn", &current.due_on, &due_on, |d| d.map(time_label));
    let closing_notes = changes.optional_text(
        "closingNotes",
        input.closing_notes.as_ref().map(Option::as_deref),
        &current.closing_notes,
        MAX_TEXT_CHARS,
    )?;

    if changes.is_empty() {
        return Ok(current);
    }
    let values = (
        tasks::title.eq(&title),
        tasks::description.eq(&description),
        tasks::status.eq(status.as_str()),
        tasks::priority.eq(CasePriority::rank(priority)),
        tasks::owner_id.eq(&owner_id),
        tasks::due_on.eq(due_on),
        tasks::closing_notes.eq(&closing_notes),
        tasks::updated_by.eq(&actor.user_id),
        tasks::updated_at.eq(now()),
    );
    let task = with_conn!(conn, c => {
        diesel::update(tasks::table.find(id.0)).set(values).returning(Task::as_returning()).get_result(c).await
    })?;
    if task.title != current.title || task.description != current.description {
        conn.record(indexed(tenant, &task))?;
    }
    audit(conn, actor, case_id, task.id, AuditAction::TaskUpdated, changes.0).await?;
    if status != current.status {
        case::trigger(conn, actor, case_id, vec![AutomationTrigger::TaskStatusChanged])?;
    }
    Ok(task)
}

/// What search holds of a task.
pub fn indexed(tenant: &str, task: &Task) -> Reindex {
    Reindex::Task {
        tenant: tenant.to_owned(),
        task_id: task.id,
        case_id: CaseId(task.case_id),
        title: task.title.clone(),
        description: task.description.clone(),
    }
}

/// Removes a task; its audit trail stays on the case. Returns the case id.
pub async fn delete(conn: &mut Conn<'_>, actor: &Granted<'_, ManageAlerts>, id: TaskId) -> AppResult<CaseId> {
    let tenant = actor.tenant.as_str();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("task", id))?;
    let case_id = CaseId(current.case_id);
    case::lock(conn, tenant, case_id).await?;
    with_conn!(conn, c => diesel::delete(tasks::table.find(id.0)).execute(c).await)?;
    conn.record(Reindex::TaskRemoved { tenant: tenant.to_owned(), task_id: current.id })?;
    let changes = vec![FieldChange::new("title", Some(current.title), None)];
    audit(conn, actor, case_id, current.id, AuditAction::TaskDeleted, changes).await?;
    Ok(case_id)
}

async fn audit(
    conn: &mut Conn<'_>,
    actor: &Principal,
    case_id: CaseId,
    task_id: i64,
    action: AuditAction,
    changes: Vec<FieldChange>,
) -> AppResult<()> {
    let (_, seq) = case::touch(conn, actor, case_id, 1).await?;
    let audit = NewAudit { task_id: Some(task_id), ..NewAudit::new(action, changes) };
    activity::record_audits(conn, actor, case_id, seq, vec![audit]).await
}

pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: TaskId) -> AppResult<Option<Task>> {
    Ok(find_many(conn, tenant, &[id]).await?.pop())
}

pub async fn find_many(conn: &mut Conn<'_>, tenant: &str, ids: &[TaskId]) -> AppResult<Vec<Task>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let tasks = with_conn!(conn, c => {
        tasks::table
            .filter(tasks::tenant_id.eq(tenant))
            .filter(tasks::id.eq_any(&ids))
            .select(Task::as_select())
            .load(c)
            .await
    })?;
    Ok(tasks)
}

/// The tasks of these cases, in creation order.
pub async fn of_cases(conn: &mut Conn<'_>, tenant: &str, case_ids: &[CaseId]) -> AppResult<Vec<Task>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let tasks = with_conn!(conn, c => {
        tasks::table
            .filter(tasks::tenant_id.eq(tenant))
            .filter(tasks::case_id.eq_any(&ids))
            .order(tasks::id.asc())
            .select(Task::as_select())
            .load(c)
            .await
    })?;
    Ok(tasks)
}

/// The titles of a case's tasks not in a finished state, oldest first.
pub async fn unfinished_titles(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<Vec<String>> {
    let finished: Vec<&str> = TaskStatus::FINISHED.iter().map(|s| s.as_str()).collect();
    let titles = with_conn!(conn, c => {
        tasks::table
            .filter(tasks::tenant_id.eq(tenant))
            .filter(tasks::case_id.eq(case_id.0))
            .filter(tasks::status.ne_all(&finished))
            .order(tasks::id.asc())
            .select(tasks::title)
            .load(c)
            .await
    })?;
    Ok(titles)
}
