//! Opening and editing a case: the rules that span its status workflow,
//! closing, SLA schedule, template and counters. The change is recorded
//! (audit, search text, triggers) for the write pipeline to react to.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts};
use crate::db::schema::cases;
use crate::db::{Conn, reused};
use crate::domain::activity::{self, AuditAction, Changes, FieldChange, NewAudit};
use crate::domain::case::{Case, CaseId, lock_existing, reserve_ids, touched, trigger};
use crate::domain::facts::{AutomationTrigger, CaseClosure, Reindex};
use crate::domain::sla;
use crate::domain::status::{self, StatusId};
use crate::domain::template::{self, TemplateId};
use crate::domain::values::{CasePriority, MAX_TEXT_CHARS, MAX_TITLE_CHARS, optional_text, required_text, time_label};
use crate::domain::workflow::{self, Closing, ClosingInput};
use crate::domain::{counts, now, user};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// A case to open.
#[derive(Debug, Default)]
pub struct NewCase {
    pub title: String,
    pub description: Option<String>,
    pub priority: Option<CasePriority>,
    /// The tenant's default when absent.
    pub status_id: Option<StatusId>,
    pub assignee_id: Option<String>,
    pub due_on: Option<NaiveDateTime>,
    /// How it was closed, when it is opened in a CLOSED status.
    pub closing: ClosingInput,
    /// The template that fills what the rest leaves out, and adds its tags,
    /// techniques and tasks.
    pub template_id: Option<TemplateId>,
}

/// Opens a case, from a template when given one (all in the caller's
/// transaction, audited as one creation naming the template).
pub async fn create(conn: &mut Conn<'_>, actor: &Granted<'_, ManageAlerts>, input: NewCase) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let template = match input.template_id {
        Some(id) => Some(template::usable(conn, tenant, "templateId", id).await?),
        None => None,
    };
    let title = required_text("title", &input.title, MAX_TITLE_CHARS)?;
    let title = match &template {
        Some(template) => required_text("title", &template.title_for(&title), MAX_TITLE_CHARS)?,
        None => title,
    };
    let description = optional_text("description", input.description.as_deref(), MAX_TEXT_CHARS)?
        .or_else(|| template.as_ref().and_then(|t| t.description.clone()));
    let priority = input.priority.or_else(|| template.as_ref().and_then(|t| t.priority));
    let status = match input.status_id {
        Some(id) => status::assignable(conn, tenant, "statusId", id).await?,
        None => status::default_status(conn, tenant).await?,
    };
    let assignee = match &input.assignee_id {
        Some(id) => Some(user::require_known(conn, tenant, "assigneeId", id).await?),
        None => None,
    };
    let mut closing_changes = Changes::default();
    let step = workflow::Move { case_id: None, from: None, to: &status };
    let closing =
        workflow::closing(conn, tenant, step, Closing::default(), &input.closing, &mut closing_changes).await?;
    let id = next_case_id(conn, tenant).await?;
    let now = now();
    let clock = sla::Clock::opened(now, &status, assignee.is_some());
    let schedule = sla::schedule_of(conn, tenant, priority, &clock).await?;
    let values = (
        cases::tenant_id.eq(tenant),
        cases::id.eq(id),
        cases::title.eq(&title),
        cases::title_key.eq(title.to_lowercase()),
        cases::description.eq(&description),
        cases::priority.eq(CasePriority::rank(priority)),
        cases::status_id.eq(status.id.0),
        cases::assignee_id.eq(assignee.as_ref().map(|u| u.id.as_str())),
        cases::due_on.eq(input.due_on),
        cases::created_by.eq(&actor.user_id),
        cases::created_at.eq(now),
        cases::updated_by.eq(&actor.user_id),
        cases::updated_at.eq(now),
        cases::version.eq(1),
        cases::activity_seq.eq(1),
        cases::classification.eq(closing.classification.map(|c| c.as_str())),
        cases::determination.eq(closing.determination.map(|d| d.as_str())),
        cases::closing_comment.eq(&closing.closing_comment),
        cases::acknowledged_at.eq(clock.acknowledged_at),
        cases::closed_at.eq(clock.closed_at),
        cases::paused_since.eq(clock.paused_since),
    );
    let case = with_conn!(conn, c => {
        diesel::insert_into(cases::table).values((values, schedule.stored())).returning(Case::as_returning()).get_result(c).await
    })?;
    counts::fold_now_and_then(conn, tenant).await?;
    conn.record(Reindex::Case {
        tenant: tenant.to_owned(),
        case_id: case.case_id(),
        title: title.clone(),
        description: description.clone(),
        with_evidence: false,
    })?;
    let mut changes = vec![FieldChange::new("title", None, Some(title))];
    let optional = [
        ("description", description),
        ("priority", priority.map(|p| p.label().to_owned())),
        ("status", Some(status.name)),
        ("assignee", assignee.map(|u| u.label())),
        ("dueOn", input.due_on.map(time_label)),
    ];
    changes.extend(optional.into_iter().filter(|(_, v)| v.is_some()).map(|(f, v)| FieldChange::new(f, None, v)));
    changes.extend(closing_changes.0);
    if let Some(template) = &template {
        changes.extend(template::fill_new_case(conn, actor, case.case_id(), template).await?);
    }
    activity::record_audits(conn, actor, case.case_id(), 1, vec![NewAudit::new(AuditAction::CaseCreated, changes)])
        .await?;
    trigger(conn, actor, case.case_id(), vec![AutomationTrigger::CaseCreated])?;
    Ok(case)
}

/// Takes the next id from the tenant's counter; the row lock it takes makes
/// concurrent creates of one tenant queue, and a rollback gives the id back.
async fn next_case_id(conn: &mut Conn<'_>, tenant: &str) -> AppResult<i64> {
    reserve_ids(conn, tenant, 1).await
}

/// A change to a case: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct CaseChanges {
    /// Refuse with `CONFLICT` unless the case is at this version.
    pub expected_version: Option<i32>,
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub priority: Option<Option<CasePriority>>,
    pub status_id: Option<StatusId>,
    pub assignee_id: Option<Option<String>>,
    pub due_on: Option<Option<NaiveDateTime>>,
    pub closing: ClosingInput,
}

/// Changes a case. A change that changes nothing writes nothing. Call inside a
/// write transaction.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    id: CaseId,
    input: CaseChanges,
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let current = lock_existing(conn, tenant, id).await?;
    if let Some(expected) = input.expected_version
        && expected != current.version
    {
        return Err(AppError::Conflict(format!(
            "case {id} is at version {}, not {expected}: reload it and apply the change again",
            current.version
        )));
    }
    let mut changes = Changes::default();

    let title = changes.required_text("title", input.title.as_deref(), &current.title, MAX_TITLE_CHARS)?;
    let description = changes.optional_text(
        "description",
        input.description.as_ref().map(Option::as_deref),
        &current.description,
        MAX_TEXT_CHARS,
    )?;

    let priority = input.priority.unwrap_or(current.parsed_priority());
    changes.track("priority", &current.parsed_priority(), &priority, |p| p.map(|p| p.label().to_owned()));

    let old_status = status::find(conn, tenant, StatusId(current.status_id))
        .await?
        .ok_or_else(|| AppError::internal(format!("case {id} has no status")))?;
    let new_status = match input.status_id {
        Some(new) if new.0 != current.status_id => {
            let new = status::assignable(conn, tenant, "statusId", new).await?;
            status::check_move(conn, tenant, &old_status, &new).await?;
            changes.0.push(FieldChange::new("status", Some(old_status.name.clone()), Some(new.name.clone())));
            new
        }
        _ => old_status.clone(),
    };
    let status_id = new_status.id.0;
    let step = workflow::Move { case_id: Some(id), from: Some(&old_status), to: &new_status };
    let closing = workflow::closing(conn, tenant, step, Closing::of(&current), &input.closing, &mut changes).await?;

    let assignee_id = user::reassign(
        conn,
        tenant,
        ("assigneeId", "assignee"),
        &current.assignee_id,
        &input.assignee_id,
        &mut changes,
    )
    .await?;

    let due_on = input.due_on.unwrap_or(current.due_on);
    changes.track("dueOn", &current.due_on, &due_on, |d| d.map(time_label));

    if changes.is_empty() {
        return Ok(current);
    }
    let clock = sla::Clock::of(&current).moved(&old_status, &new_status, assignee_id.is_some(), now());
    let schedule = sla::schedule_of(conn, tenant, priority, &clock).await?;
    let values = (
        cases::title.eq(&title),
        cases::title_key.eq(title.to_lowercase()),
        cases::description.eq(&description),
        cases::priority.eq(CasePriority::rank(priority)),
        cases::status_id.eq(status_id),
        cases::assignee_id.eq(&assignee_id),
        cases::due_on.eq(due_on),
        cases::classification.eq(closing.classification.map(|c| c.as_str())),
        cases::determination.eq(closing.determination.map(|d| d.as_str())),
        cases::closing_comment.eq(&closing.closing_comment),
        cases::acknowledged_at.eq(clock.acknowledged_at),
        cases::closed_at.eq(clock.closed_at),
        cases::paused_since.eq(clock.paused_since),
        cases::paused_seconds.eq(clock.paused_seconds),
    );
    // The change and its touch (see `case::touch`) in one statement.
    let touched = touched(actor, 1);
    let target = cases::table.find((tenant, id.0));
    let case = with_conn!(conn, c => {
        let query = diesel::update(target).set((values, schedule.stored(), touched)).returning(Case::as_returning());
        reused(query).get_result(c).await
    })?;
    let seq = case.activity_seq;
    counts::fold_now_and_then(conn, tenant).await?;
    if title != current.title || description != current.description {
        let (title, description) = (title.clone(), description.clone());
        conn.record(Reindex::Case { tenant: tenant.to_owned(), case_id: id, title, description, with_evidence: true })?;
    }
    let closes_case = current.closed_at.is_none() && clock.closed_at.is_some();
    let reopens_case = current.closed_at.is_some() && clock.closed_at.is_none();
    let audit = NewAudit { closes_case, ..NewAudit::new(AuditAction::CaseUpdated, changes.0) };
    activity::record_audits(conn, actor, id, seq, vec![audit]).await?;
    if closes_case || reopens_case {
        conn.record(CaseClosure { actor: actor.principal().clone(), case_id: id, closed: closes_case })?;
    }
    let mut triggers = vec![AutomationTrigger::CaseUpdated];
    if status_id != current.status_id {
        triggers.push(AutomationTrigger::StatusChanged);
    }
    trigger(conn, actor, id, triggers)?;
    Ok(case)
}
