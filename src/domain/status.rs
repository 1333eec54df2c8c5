//! Case statuses: each tenant's customisable workflow.
//!
//! Rules: names are unique per tenant ignoring case; exactly one status is the
//! default; statuses are archived, never deleted; the default cannot be archived.
//! Each status may name the statuses a case in it can move to (none: any).

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageSettings};
use crate::db::Conn;
use crate::db::schema::{status_transitions, statuses};
use crate::domain::values::text_enum;
use crate::domain::{now, parse_text};
use crate::error::{AppError, AppResult, UniqueConstraint};
use crate::with_conn;

/// A status's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusId(pub i64);

impl fmt::Display for StatusId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

text_enum! {
    /// The phase of work a status stands for, whatever its name.
    pub enum StatusCategory {
        /// Not yet worked on.
        New => "NEW",
        /// Being worked on.
        Open => "OPEN",
        /// Done.
        Closed => "CLOSED",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statuses, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct StatusRow {
    id: i64,
    name: String,
    category: StatusCategory,
    position: i32,
    is_default: bool,
    archived: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    pauses_sla: bool,
}

/// A status of a tenant's case workflow.
#[derive(Debug, Clone)]
pub struct Status {
    pub id: StatusId,
    pub name: String,
    pub category: StatusCategory,
    pub position: i32,
    pub is_default: bool,
    pub archived: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Time a case spends here does not count toward its SLA's resolve deadline.
    pub pauses_sla: bool,
}

impl TryFrom<StatusRow> for Status {
    type Error = AppError;
    fn try_from(row: StatusRow) -> AppResult<Self> {
        Ok(Status {
            id: StatusId(row.id),
            name: row.name,
            category: row.category,
            position: row.position,
            is_default: row.is_default,
            archived: row.archived,
            created_at: row.created_at,
            updated_at: row.updated_at,
            pauses_sla: row.pauses_sla,
        })
    }
}

fn into_statuses(rows: Vec<StatusRow>) -> AppResult<Vec<Status>> {
    rows.into_iter().map(Status::try_from).collect()
}

const MAX_NAME_CHARS: usize = 64;
/// The most statuses a tenant has, archived ones included (it bounds `statuses`).
pub const MAX_STATUSES_PER_TENANT: i64 = 50;

fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// The statuses every tenant starts with.
/// Creates the tenant with its default statuses unless it exists. Returns
/// true when it was created. Call inside a write transaction.
pub async fn ensure_tenant(conn: &mut Conn<'_>, tenant: &str) -> AppResult<bool> {
    let created = crate::domain::tenant::create_if_missing(conn, tenant).await?;
    if created {
        seed_defaults(conn, tenant).await?;
    }
    Ok(created)
}

pub async fn seed_defaults(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    let now = now();
    let defaults = [
        ("New", StatusCategory::New, true),
        ("Open", StatusCategory::Open, false),
        ("Closed", StatusCategory::Closed, false),
    ];
    for (position, (name, category, is_default)) in (1..).zip(defaults) {
        let query = diesel::insert_into(statuses::table).values((
            statuses::tenant_id.eq(tenant),
            statuses::name.eq(name),
            statuses::name_key.eq(name_key(name)),
            statuses::category.eq(category.as_str()),
            statuses::position.eq(position),
            statuses::is_default.eq(is_default),
            statuses::archived.eq(false),
            statuses::created_at.eq(now),
            statuses::updated_at.eq(now),
        ));
        with_conn!(conn, c => query.execute(c).await)?;
    }
    Ok(())
}

/// The tenant's statuses in workflow order.
pub async fn list(conn: &mut Conn<'_>, tenant: &str, include_archived: bool) -> AppResult<Vec<Status>> {
    let rows = with_conn!(conn, c => {
        let mut query = statuses::table
            .filter(statuses::tenant_id.eq(tenant))
            .order((statuses::position.asc(), statuses::id.asc()))
            .select(StatusRow::as_select())
            .into_boxed();
        if !include_archived {
            query = query.filter(statuses::archived.eq(false));
        }
        query.load(c).await
    })?;
    into_statuses(rows)
}

/// One status of the tenant, archived or not.
pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: StatusId) -> AppResult<Option<Status>> {
    let key = ("status", tenant.to_owned(), id.0);
    if let Some(status) = conn.recall(&key) {
        return Ok(status);
    }
    let status = find_many(conn, tenant, &[id]).await?.pop();
    conn.remember(key, &status);
    Ok(status)
}

/// The statuses of the tenant with these ids (for loaders); unknown ids are skipped.
pub async fn find_many(conn: &mut Conn<'_>, tenant: &str, ids: &[StatusId]) -> AppResult<Vec<Status>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows = with_conn!(conn, c => {
        statuses::table
            .filter(statuses::tenant_id.eq(tenant))
            .filter(statuses::id.eq_any(&ids))
            .select(StatusRow::as_select())
            .load(c)
            .await
    })?;
    into_statuses(rows)
}

/// The tenant's default status, given to new cases.
pub async fn default_status(conn: &mut Conn<'_>, tenant: &str) -> AppResult<Status> {
    let row = with_conn!(conn, c => {
        statuses::table
            .filter(statuses::tenant_id.eq(tenant))
            .filter(statuses::is_default.eq(true))
            .select(StatusRow::as_select())
            .first(c)
            .await
            .optional()
    })?
    .ok_or_else(|| AppError::internal(format!("tenant {tenant} has no default status")))?;
    row.try_into()
}

/// A status a case may be given: one of the tenant's, not archived.
pub async fn assignable(conn: &mut Conn<'_>, tenant: &str, field: &str, id: StatusId) -> AppResult<Status> {
    match find(conn, tenant, id).await? {
        None => Err(AppError::bad_input(field, format!("status {id} does not exist"))),
        Some(status) if status.archived => {
            Err(AppError::bad_input(field, format!("status {:?} is archived", status.name)))
        }
        Some(status) => Ok(status),
    }
}

/// A new status.
#[derive(Debug)]
pub struct NewStatus {
    pub name: String,
    pub category: StatusCategory,
    /// 1-based place in the workflow; the statuses from there on move down.
    /// Placed last when absent.
    pub position: Option<i32>,
    pub is_default: bool,
    pub pauses_sla: bool,
}

/// Creates a status. Call inside a write transaction.
pub async fn create(conn: &mut Conn<'_>, actor: &Granted<'_, ManageSettings>, input: NewStatus) -> AppResult<Status> {
    let tenant = actor.tenant();
    let name = parse_text("name", &input.name, MAX_NAME_CHARS)?;
    // The cap is counted, then written: the tenant's writes of this kind take turns.
    crate::domain::tenant::lock(conn, tenant).await?;
    let last = last_position(conn, tenant).await?;
    if i64::from(last) >= MAX_STATUSES_PER_TENANT {
        return Err(AppError::bad_input("name", format!("a tenant has at most {MAX_STATUSES_PER_TENANT} statuses")));
    }
    let position = match input.position {
        Some(position) => parse_position(position)?.min(last + 1),
        None => last + 1,
    };
    shift_positions(conn, tenant, position, last, 1).await?;
    if input.is_default {
        clear_default(conn, tenant).await?;
    }
    let now = now();
    let values = (
        statuses::tenant_id.eq(tenant),
        statuses::name.eq(&name),
        statuses::name_key.eq(name_key(&name)),
        statuses::category.eq(input.category.as_str()),
        statuses::position.eq(position),
        statuses::is_default.eq(input.is_default),
        statuses::archived.eq(false),
        statuses::pauses_sla.eq(input.pauses_sla),
        statuses::created_at.eq(now),
        statuses::updated_at.eq(now),
    );
    let row = with_conn!(conn, c => {
        diesel::insert_into(statuses::table)
            .values(values)
            .returning(StatusRow::as_returning())
            .get_result(c)
            .await
    })
    .map_err(|e| name_conflict(e.into(), &name))?;
    row.try_into()
}

/// A change to a status: `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct StatusChanges {
    pub name: Option<String>,
    pub category: Option<StatusCategory>,
    pub position: Option<i32>,
    pub is_default: Option<bool>,
    pub archived: Option<bool>,
    /// The statuses a case in this one may move to (empty: any).
    pub allowed_next: Option<Vec<StatusId>>,
    pub pauses_sla: Option<bool>,
}

/// Changes a status. Call inside a write transaction.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    id: StatusId,
    changes: StatusChanges,
) -> AppResult<Status> {
    let tenant = actor.tenant();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("status", id))?;
    let name = changes.name.as_deref().map(|n| parse_text("name", n, MAX_NAME_CHARS)).transpose()?;
    let position = changes.position.map(parse_position).transpose()?;
    let archived = changes.archived.unwrap_or(current.archived);
    let is_default = changes.is_default.unwrap_or(current.is_default);
    if current.is_default && !is_default {
        return Err(AppError::bad_input(
            "isDefault",
            "there is always exactly one default status: make another status the default instead",
        ));
    }
    if is_default && archived {
        let field = if changes.archived == Some(true) { "archived" } else { "isDefault" };
        return Err(AppError::bad_input(field, "the default status cannot be archived"));
    }
    if is_default && !current.is_default {
        clear_default(conn, tenant).await?;
    }
    let position = match position {
        Some(target) => {
            let target = target.min(last_position(conn, tenant).await?);
            if target < current.position {
                shift_positions(conn, tenant, target, current.position - 1, 1).await?;
            } else if target > current.position {
                shift_positions(conn, tenant, current.position + 1, target, -1).await?;
            }
            Some(target)
        }
        None => None,
    };
    if let Some(targets) = &changes.allowed_next {
        set_allowed_next(conn, tenant, id, targets).await?;
    }
    let name = name.unwrap_or(current.name);
    let changes = (
        statuses::name.eq(&name),
        statuses::name_key.eq(name_key(&name)),
        statuses::category.eq(changes.category.unwrap_or(current.category).as_str()),
        statuses::position.eq(position.unwrap_or(current.position)),
        statuses::is_default.eq(is_default),
        statuses::archived.eq(archived),
        statuses::pauses_sla.eq(changes.pauses_sla.unwrap_or(current.pauses_sla)),
        statuses::updated_at.eq(now()),
    );
    let target = statuses::table.filter(statuses::tenant_id.eq(tenant)).find(id.0);
    let row = with_conn!(conn, c => {
        diesel::update(target).set(changes).returning(StatusRow::as_returning()).get_result(c).await
    })
    .map_err(|e| name_conflict(e.into(), &name))?;
    row.try_into()
}

fn parse_position(position: i32) -> AppResult<i32> {
    if position >= 1 { Ok(position) } else { Err(AppError::bad_input("position", "must be 1 or more")) }
}

/// Moves the statuses at positions `from..=to` by `by`, making room for (or
/// closing the gap of) a status placed or moved in the workflow.
async fn shift_positions(conn: &mut Conn<'_>, tenant: &str, from: i32, to: i32, by: i32) -> AppResult<()> {
    if from > to {
        return Ok(());
    }
    let query = diesel::update(statuses::table)
        .filter(statuses::tenant_id.eq(tenant))
        .filter(statuses::position.between(from, to))
        .set(statuses::position.eq(statuses::position + by));
    with_conn!(conn, c => query.execute(c).await)?;
    Ok(())
}

async fn last_position(conn: &mut Conn<'_>, tenant: &str) -> AppResult<i32> {
    let query = statuses::table.filter(statuses::tenant_id.eq(tenant)).select(diesel::dsl::max(statuses::position));
    let max: Option<i32> = with_conn!(conn, c => query.first(c).await)?;
    Ok(max.unwrap_or(0))
}

async fn clear_default(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    let query = diesel::update(statuses::table)
        .filter(statuses::tenant_id.eq(tenant))
        .filter(statuses::is_default.eq(true))
        .set((statuses::is_default.eq(false), statuses::updated_at.eq(now())));
    with_conn!(conn, c => query.execute(c).await)?;
    Ok(())
}

const NAME_UNIQUE: UniqueConstraint =
    UniqueConstraint { name: "statuses_name_unique", sqlite_columns: "statuses.tenant_id, statuses.name_key" };

fn name_conflict(error: AppError, name: &str) -> AppError {
    if error.violates(&NAME_UNIQUE) {
        AppError::Conflict(format!("a status named {name:?} already exists (names ignore case)"))
    } else {
        error
    }
}

/// The statuses a case in `from` may move to; empty means any (remembered
/// inside a bulk change or merge).
pub async fn allowed_next(conn: &mut Conn<'_>, tenant: &str, from: &[StatusId]) -> AppResult<Vec<(i64, i64)>> {
    let ids: Vec<i64> = from.iter().map(|s| s.0).collect();
    let key = ("allowed next", tenant.to_owned(), ids.clone());
    if let Some(pairs) = conn.recall(&key) {
        return Ok(pairs);
    }
    let pairs: Vec<(i64, i64)> = with_conn!(conn, c => {
        status_transitions::table
            .filter(status_transitions::tenant_id.eq(tenant))
            .filter(status_transitions::from_status_id.eq_any(&ids))
            .select((status_transitions::from_status_id, status_transitions::to_status_id))
            .load(c)
            .await
    })?;
    conn.remember(key, &pairs);
    Ok(pairs)
}

/// Refuses a move the status `from` does not allow, listing the targets it does.
pub async fn check_move(conn: &mut Conn<'_>, tenant: &str, from: &Status, to: &Status) -> AppResult<()> {
    let allowed: Vec<i64> = allowed_next(conn, tenant, &[from.id]).await?.into_iter().map(|(_, to)| to).collect();
    if allowed.is_empty() || allowed.contains(&to.id.0) {
        return Ok(());
    }
    let targets = find_many(conn, tenant, &allowed.into_iter().map(StatusId).collect::<Vec<_>>()).await?;
    let names: Vec<String> = targets.iter().filter(|s| !s.archived).map(|s| format!("{:?}", s.name)).collect();
    Err(AppError::bad_input(
        "statusId",
        format!("a case in {:?} can move only to {}, not to {:?}", from.name, names.join(", "), to.name),
    ))
}

/// Sets the statuses a case in `from` may move to (empty: any). Targets are
/// the tenant's statuses, not archived, not `from` itself.
pub async fn set_allowed_next(
    conn: &mut Conn<'_>,
    tenant: &str,
    from: StatusId,
    targets: &[StatusId],
) -> AppResult<()> {
    let mut targets = targets.to_vec();
    targets.sort();
    targets.dedup();
    for target in &targets {
        if *target == from {
            return Err(AppError::bad_input("allowedNextIds", "a status is not a move to itself"));
        }
        assignable(conn, tenant, "allowedNextIds", *target).await?;
    }
    let target = status_transitions::table
        .filter(status_transitions::tenant_id.eq(tenant))
        .filter(status_transitions::from_status_id.eq(from.0));
    with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    for to in &targets {
        let values = (
            status_transitions::tenant_id.eq(tenant),
            status_transitions::from_status_id.eq(from.0),
            status_transitions::to_status_id.eq(to.0),
        );
        with_conn!(conn, c => diesel::insert_into(status_transitions::table).values(values).execute(c).await)?;
    }
    Ok(())
}
