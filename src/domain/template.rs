//! Case templates: what a playbook's cases start with (a title prefix, a
//! description, a priority, tags, ATT&CK techniques and tasks due some time
//! after the case opens). Admins manage them; templates are archived, never
//! deleted, so cases opened from one keep naming it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::auth::{Granted, ManageAlerts, ManageSettings};
use crate::db::Conn;
use crate::db::schema::case_templates;
use crate::domain::activity::{self, AuditAction, FieldChange, NewAudit};
use crate::domain::attack;
use crate::domain::case::{self, Case, CaseId};
use crate::domain::tag;
use crate::domain::task::{self, NewTask};
use crate::domain::values::{CasePriority, MAX_TEXT_CHARS, MAX_TITLE_CHARS, optional_text, required_text};
use crate::domain::{now, parse_text, sla, user};
use crate::error::{AppError, AppResult, OrInternal, UniqueConstraint};
use crate::with_conn;

/// The most templates a tenant keeps (archived ones count).
pub const MAX_TEMPLATES_PER_TENANT: i64 = 200;
/// The most tasks one template holds.
pub const MAX_TASKS_PER_TEMPLATE: usize = 50;
const MAX_NAME_CHARS: usize = 64;
const MAX_PREFIX_CHARS: usize = 64;

/// A template's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateId(pub i64);

/// A task a template adds, due `due_after_seconds` after it is added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateTask {
    pub title: String,
    pub description: Option<String>,
    /// Rank: see [`CasePriority::from_rank`].
    pub priority: i32,
    pub owner_id: Option<String>,
    pub due_after_seconds: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = case_templates, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct TemplateRow {
    id: i64,
    name: String,
    title_prefix: Option<String>,
    description: Option<String>,
    priority: Option<i32>,
    tags: String,
    techniques: String,
    tasks: String,
    archived: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A case template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseTemplate {
    pub id: TemplateId,
    pub name: String,
    pub title_prefix: Option<String>,
    pub description: Option<String>,
    pub priority: Option<CasePriority>,
    pub tags: Vec<String>,
    pub technique_ids: Vec<String>,
    pub tasks: Vec<TemplateTask>,
    pub archived: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl TryFrom<TemplateRow> for CaseTemplate {
    type Error = AppError;

    fn try_from(row: TemplateRow) -> AppResult<CaseTemplate> {
        let list = |json: &str| serde_json::from_str(json).or_internal(format!("template {} list", row.id));
        Ok(CaseTemplate {
            id: TemplateId(row.id),
            tags: list(&row.tags)?,
            technique_ids: list(&row.techniques)?,
            tasks: serde_json::from_str(&row.tasks).or_internal(format!("template {} tasks", row.id))?,
            name: row.name,
            title_prefix: row.title_prefix,
            description: row.description,
            priority: row.priority.and_then(CasePriority::from_rank),
            archived: row.archived,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A task of a template as a client gives it.
#[derive(Debug, Clone, Default)]
pub struct TemplateTaskInput {
    pub title: String,
    pub description: Option<String>,
    pub priority: Option<CasePriority>,
    pub owner_id: Option<String>,
    /// An ISO 8601 duration (see `sla::parse_duration`).
    pub due_after: Option<String>,
}

/// A template's content: `None` leaves a field alone (on create: empty),
/// `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct TemplateChanges {
    pub name: Option<String>,
    pub title_prefix: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub priority: Option<Option<CasePriority>>,
    pub tags: Option<Vec<String>>,
    pub technique_ids: Option<Vec<String>>,
    pub tasks: Option<Vec<TemplateTaskInput>>,
    pub archived: Option<bool>,
}

const NAME_UNIQUE: UniqueConstraint = UniqueConstraint {
    name: "case_templates_name_unique",
    sqlite_columns: "case_templates.tenant_id, case_templates.name_key",
};

fn name_conflict(error: AppError, name: &str) -> AppError {
    if error.violates(&NAME_UNIQUE) {
        AppError::Conflict(format!("a case template named {name:?} already exists (names ignore case)"))
    } else {
        error
    }
}

/// Checks a template's tasks: titles, owners known in the tenant, due times.
async fn parse_tasks(conn: &mut Conn<'_>, tenant: &str, tasks: &[TemplateTaskInput]) -> AppResult<Vec<TemplateTask>> {
    if tasks.len() > MAX_TASKS_PER_TEMPLATE {
        return Err(AppError::bad_input("tasks", format!("a template holds at most {MAX_TASKS_PER_TEMPLATE} tasks")));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for (i, t) in tasks.iter().enumerate() {
        let field = |name: &str| format!("tasks[{i}].{name}");
        if let Some(owner) = &t.owner_id {
            user::require_known(conn, tenant, &field("ownerId"), owner).await?;
        }
        out.push(TemplateTask {
            title: required_text(&field("title"), &t.title, MAX_TITLE_CHARS)?,
            description: optional_text(&field("description"), t.description.as_deref(), MAX_TEXT_CHARS)?,
            priority: CasePriority::rank(t.priority),
            owner_id: t.owner_id.clone(),
            due_after_seconds: t
                .due_after
                .as_deref()
                .map(|d| sla::parse_duration(&field("dueAfter"), d))
                .transpose()?,
        });
    }
    Ok(out)
}

/// Technique ids in canonical form, each known and current in the catalogue.
fn parse_techniques(ids: &[String]) -> AppResult<Vec<String>> {
    let catalogue = attack::catalogue();
    let mut out: Vec<String> = ids.iter().map(|id| id.trim().to_uppercase()).collect();
    out.sort();
    out.dedup();
    if out.len() > attack::MAX_TECHNIQUES_PER_CASE {
        return Err(AppError::bad_input(
            "techniqueIds",
            format!("a case carries at most {}", attack::MAX_TECHNIQUES_PER_CASE),
        ));
    }
    let refused: Vec<&str> =
        out.iter().filter(|id| catalogue.technique(id).is_none_or(|t| t.retired)).map(String::as_str).collect();
    if !refused.is_empty() {
        return Err(AppError::bad_input(
            "techniqueIds",
            format!("not current ATT&CK Enterprise {} techniques: {}", catalogue.version, refused.join(", ")),
        ));
    }
    Ok(out)
}

fn json<T: Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).or_internal("encoding a template")
}

/// Creates a template.
pub async fn create(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    input: TemplateChanges,
) -> AppResult<CaseTemplate> {
    let tenant = actor.tenant();
    let name = parse_text("name", input.name.as_deref().unwrap_or_default(), MAX_NAME_CHARS)?;
    // The cap is counted, then written: the tenant's writes of this kind take turns.
    crate::domain::tenant::lock(conn, tenant).await?;
    let count: i64 = with_conn!(conn, c => {
        case_templates::table.filter(case_templates::tenant_id.eq(tenant)).count().get_result(c).await
    })?;
    if count >= MAX_TEMPLATES_PER_TENANT {
        return Err(AppError::bad_input("name", format!("a tenant has at most {MAX_TEMPLATES_PER_TENANT} templates")));
    }
    let title_prefix = optional_text("titlePrefix", input.title_prefix.flatten().as_deref(), MAX_PREFIX_CHARS)?;
    let description = optional_text("description", input.description.flatten().as_deref(), MAX_TEXT_CHARS)?;
    let tags = tag::parse_names("tags", &input.tags.unwrap_or_default())?;
    let techniques = parse_techniques(&input.technique_ids.unwrap_or_default())?;
    let tasks = parse_tasks(conn, tenant, &input.tasks.unwrap_or_default()).await?;
    let now = now();
    let values = (
        case_templates::tenant_id.eq(tenant),
        case_templates::name.eq(&name),
        case_templates::name_key.eq(name.to_lowercase()),
        case_templates::title_prefix.eq(&title_prefix),
        case_templates::description.eq(&description),
        case_templates::priority.eq(input.priority.flatten().map(|p| CasePriority::rank(Some(p)))),
        case_templates::tags.eq(json(&tags)?),
        case_templates::techniques.eq(json(&techniques)?),
        case_templates::tasks.eq(json(&tasks)?),
        case_templates::archived.eq(input.archived.unwrap_or(false)),
        case_templates::created_by.eq(&actor.user_id),
        case_templates::created_at.eq(now),
        case_templates::updated_by.eq(&actor.user_id),
        case_templates::updated_at.eq(now),
    );
    let row = with_conn!(conn, c => {
        diesel::insert_into(case_templates::table)
            .values(values)
            .returning(TemplateRow::as_returning())
            .get_result(c)
            .await
    })
    .map_err(|e| name_conflict(e.into(), &name))?;
    row.try_into()
}

/// Changes a template; cases opened from it before keep what they got.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    id: TemplateId,
    changes: TemplateChanges,
) -> AppResult<CaseTemplate> {
    let tenant = actor.tenant();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("case template", id.0))?;
    let name = match &changes.name {
        Some(name) => parse_text("name", name, MAX_NAME_CHARS)?,
        None => current.name.clone(),
    };
    let title_prefix = match changes.title_prefix {
        Some(prefix) => optional_text("titlePrefix", prefix.as_deref(), MAX_PREFIX_CHARS)?,
        None => current.title_prefix,
    };
    let description = match changes.description {
        Some(text) => optional_text("description", text.as_deref(), MAX_TEXT_CHARS)?,
        None => current.description,
    };
    let priority = changes.priority.unwrap_or(current.priority);
    let tags = match &changes.tags {
        Some(tags) => tag::parse_names("tags", tags)?,
        None => current.tags,
    };
    let techniques = match &changes.technique_ids {
        Some(ids) => parse_techniques(ids)?,
        None => current.technique_ids,
    };
    let tasks = match &changes.tasks {
        Some(tasks) => parse_tasks(conn, tenant, tasks).await?,
        None => current.tasks,
    };
    let values = (
        case_templates::name.eq(&name),
        case_templates::name_key.eq(name.to_lowercase()),
        case_templates::title_prefix.eq(&title_prefix),
        case_templates::description.eq(&description),
        case_templates::priority.eq(priority.map(|p| CasePriority::rank(Some(p)))),
        case_templates::tags.eq(json(&tags)?),
        case_templates::techniques.eq(json(&techniques)?),
        case_templates::tasks.eq(json(&tasks)?),
        case_templates::archived.eq(changes.archived.unwrap_or(current.archived)),
        case_templates::updated_by.eq(&actor.user_id),
        case_templates::updated_at.eq(now()),
    );
    let target = case_templates::table.filter(case_templates::tenant_id.eq(tenant)).filter(case_templates::id.eq(id.0));
    let row = with_conn!(conn, c => {
        diesel::update(target).set(values).returning(TemplateRow::as_returning()).get_result(c).await
    })
    .map_err(|e| name_conflict(e.into(), &name))?;
    row.try_into()
}

/// The tenant's template with this id.
pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: TemplateId) -> AppResult<Option<CaseTemplate>> {
    let row: Option<TemplateRow> = with_conn!(conn, c => {
        case_templates::table
            .filter(case_templates::tenant_id.eq(tenant))
            .filter(case_templates::id.eq(id.0))
            .select(TemplateRow::as_select())
            .first(c)
            .await
            .optional()
    })?;
    row.map(CaseTemplate::try_from).transpose()
}

/// The tenant's templates by name (archived ones too when asked).
pub async fn list(conn: &mut Conn<'_>, tenant: &str, include_archived: bool) -> AppResult<Vec<CaseTemplate>> {
    let rows: Vec<TemplateRow> = with_conn!(conn, c => {
        let mut query = case_templates::table.filter(case_templates::tenant_id.eq(tenant)).into_boxed();
        if !include_archived {
            query = query.filter(case_templates::archived.eq(false));
        }
        query.order(case_templates::name_key.asc()).select(TemplateRow::as_select()).load(c).await
    })?;
    rows.into_iter().map(CaseTemplate::try_from).collect()
}

/// A template a case may be opened from or given: the tenant's, not archived.
pub async fn usable(conn: &mut Conn<'_>, tenant: &str, field: &str, id: TemplateId) -> AppResult<CaseTemplate> {
    match find(conn, tenant, id).await? {
        Some(template) if !template.archived => Ok(template),
        Some(template) => Err(AppError::bad_input(field, format!("case template {:?} is archived", template.name))),
        None => Err(AppError::bad_input(field, format!("no case template {}", id.0))),
    }
}

impl CaseTemplate {
    /// The title of a case opened from this template: the prefix, then the
    /// given title (unless it starts with the prefix already).
    pub fn title_for(&self, title: &str) -> String {
        let title = title.trim();
        match &self.title_prefix {
            Some(prefix) if !title.to_lowercase().starts_with(&prefix.to_lowercase()) => {
                format!("{prefix} {title}").trim().to_owned()
            }
            _ => title.to_owned(),
        }
    }
}

/// Adds the template's tasks to a case, each due its time after `now`,
/// without audit events of their own; returns what an audit event lists.
async fn add_tasks(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    template: &CaseTemplate,
    now: NaiveDateTime,
) -> AppResult<Option<FieldChange>> {
    let mut titles = Vec::with_capacity(template.tasks.len());
    for t in &template.tasks {
        let input = NewTask {
            case_id,
            title: t.title.clone(),
            description: t.description.clone(),
            status: None,
            priority: CasePriority::from_rank(t.priority),
            owner_id: t.owner_id.clone(),
            due_on: t.due_after_seconds.map(|s| now + Duration::seconds(s)),
            closing_notes: None,
        };
        task::insert(conn, actor, input).await?;
        titles.push(t.title.clone());
    }
    Ok((!titles.is_empty()).then(|| FieldChange::new("tasks", None, Some(titles.join("; ")))))
}

/// Gives a case just opened from `template` its tags, techniques and tasks
/// (inside the creating transaction); returns the changes its creation event
/// lists, the template's name first.
pub async fn fill_new_case(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    template: &CaseTemplate,
) -> AppResult<Vec<FieldChange>> {
    let now = now();
    let mut changes = vec![FieldChange::new("template", None, Some(template.name.clone()))];
    if !template.tags.is_empty() {
        let names: Vec<&String> = template.tags.iter().collect();
        let names = tag::attach(conn, actor, case_id, &names).await?;
        changes.push(FieldChange::new("tags", None, Some(names.join(", "))));
    }
    if !template.technique_ids.is_empty() {
        let ids: Vec<&String> = template.technique_ids.iter().collect();
        attack::attach(conn, actor, case_id, &ids).await?;
        changes.push(FieldChange::new("techniques", None, Some(template.technique_ids.join(", "))));
    }
    changes.extend(add_tasks(conn, actor, case_id, template, now).await?);
    Ok(changes)
}

/// Adds a template's tasks to an existing case: one `TEMPLATE_APPLIED` event
/// names the template and lists the tasks.
pub async fn apply(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    template_id: TemplateId,
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    case::lock_existing(conn, tenant, case_id).await?;
    let template = usable(conn, tenant, "templateId", template_id).await?;
    let mut changes = vec![FieldChange::new("template", None, Some(template.name.clone()))];
    changes.extend(add_tasks(conn, actor, case_id, &template, now()).await?);
    let (case, seq) = case::touch(conn, actor, case_id, 1).await?;
    activity::record_audits(conn, actor, case_id, seq, vec![NewAudit::new(AuditAction::TemplateApplied, changes)])
        .await?;
    Ok(case)
}
