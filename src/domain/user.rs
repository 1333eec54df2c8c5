//! People known in a tenant: recorded on their first call, or by an admin.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageSettings, Principal};
use crate::db::Conn;
use crate::db::schema::users;
use crate::domain::activity::{Changes, FieldChange};
use crate::domain::{now, parse_text};
use crate::error::{AppError, AppResult};
use crate::with_conn;

diesel::define_sql_function! {
    /// SQL `coalesce` over two nullable texts.
    fn coalesce(x: Nullable<Text>, y: Nullable<Text>) -> Nullable<Text>;
}
diesel::define_sql_function! {
    /// SQL `lower`, the same on both backends for ASCII.
    fn lower(x: Nullable<Text>) -> Nullable<Text>;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct User {
    pub tenant_id: String,
    pub id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl User {
    /// How the audit trail names the user: the display name, else the id.
    pub fn label(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| self.id.clone())
    }
}

/// A user that `field` may name: one known in the tenant.
pub async fn require_known(conn: &mut Conn<'_>, tenant: &str, field: &str, id: &str) -> AppResult<User> {
    find(conn, tenant, id)
        .await?
        .ok_or_else(|| AppError::bad_input(field, format!("user {id:?} is not known in this tenant")))
}

/// Applies a change of a user reference (an assignee, an owner): the new user
/// must be known in the tenant; the audit shows both by name. `fields` are the
/// input field (for errors) and the audited field. Returns the resulting id.
pub async fn reassign(
    conn: &mut Conn<'_>,
    tenant: &str,
    (input_field, audit_field): (&str, &str),
    current: &Option<String>,
    change: &Option<Option<String>>,
    changes: &mut Changes,
) -> AppResult<Option<String>> {
    let Some(new) = change.as_ref().filter(|new| *new != current) else { return Ok(current.clone()) };
    let new_label = match new {
        Some(id) => Some(require_known(conn, tenant, input_field, id).await?.label()),
        None => None,
    };
    let old_label = label_of(conn, tenant, current.as_deref()).await?;
    changes.0.push(FieldChange::new(audit_field, old_label, new_label));
    Ok(new.clone())
}

/// The audit label of an optional user id.
pub async fn label_of(conn: &mut Conn<'_>, tenant: &str, id: Option<&str>) -> AppResult<Option<String>> {
    Ok(match id {
        Some(id) => Some(find(conn, tenant, id).await?.map_or_else(|| id.to_owned(), |u| u.label())),
        None => None,
    })
}

/// Records the caller in its tenant, keeping the name and email its token carries.
pub async fn record_seen(conn: &mut Conn<'_>, principal: &Principal) -> AppResult<()> {
    let now = now();
    let query = diesel::insert_into(users::table)
        .values((
            users::tenant_id.eq(&principal.tenant),
            users::id.eq(&principal.user_id),
            users::display_name.eq(&principal.display_name),
            users::email.eq(&principal.email),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .on_conflict((users::tenant_id, users::id))
        .do_update()
        .set((
            users::display_name.eq(coalesce(excluded(users::display_name), users::display_name)),
            users::email.eq(coalesce(excluded(users::email), users::email)),
        ));
    with_conn!(conn, c => query.execute(c).await)?;
    Ok(())
}

/// A change to a user: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct UserUpsert {
    pub id: String,
    pub display_name: Option<Option<String>>,
    pub email: Option<Option<String>>,
}

/// Creates or changes a user of the tenant.
pub async fn upsert(conn: &mut Conn<'_>, actor: &Granted<'_, ManageSettings>, input: UserUpsert) -> AppResult<User> {
    let tenant = actor.tenant();
    let id = parse_text("id", &input.id, 256)?;
    // The service's own actors (rules, the SLA monitor, the webhook worker)
    // are named by it: an admin renaming one would rewrite the tenant's history.
    if crate::auth::RESERVED_SUBJECT_PREFIXES.iter().any(|prefix| id.starts_with(prefix)) {
        return Err(AppError::bad_input(
            "id",
            format!(
                "ids starting with {} name the service's own actors and cannot be changed",
                crate::auth::RESERVED_SUBJECT_PREFIXES.join(" or ")
            ),
        ));
    }
    let display_name = match input.display_name {
        Some(Some(name)) => Some(Some(parse_text("displayName", &name, 256)?)),
        other => other,
    };
    let email = match input.email {
        Some(Some(email)) => Some(Some(parse_email(&email)?)),
        other => other,
    };
    let existing = find(conn, tenant, &id).await?;
    let now = now();
    match existing {
        None => {
            let query = diesel::insert_into(users::table).values((
                users::tenant_id.eq(tenant),
                users::id.eq(&id),
                users::display_name.eq(display_name.flatten()),
                users::email.eq(email.flatten()),
                users::created_at.eq(now),
                users::updated_at.eq(now),
            ));
            with_conn!(conn, c => query.execute(c).await)?;
        }
        Some(user) => {
            let query = diesel::update(users::table.find((tenant, &id))).set((
                users::display_name.eq(display_name.unwrap_or(user.display_name)),
                users::email.eq(email.unwrap_or(user.email)),
                users::updated_at.eq(now),
            ));
            with_conn!(conn, c => query.execute(c).await)?;
        }
    }
    find(conn, tenant, &id).await?.ok_or_else(|| AppError::not_found("user", &id))
}

fn parse_email(value: &str) -> AppResult<String> {
    let email = parse_text("email", value, 320)?;
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !email.contains(' ') => Ok(email),
        _ => Err(AppError::bad_input("email", "is not an email address")),
    }
}

pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: &str) -> AppResult<Option<User>> {
    let key = ("user", tenant.to_owned(), id.to_owned());
    if let Some(user) = conn.recall(&key) {
        return Ok(user);
    }
    let user: Option<User> = with_conn!(conn, c => {
        users::table.find((tenant, id)).select(User::as_select()).first(c).await.optional()
    })?;
    conn.remember(key, &user);
    Ok(user)
}

/// The users with these ids, in no particular order; unknown ids are skipped.
pub async fn find_many(conn: &mut Conn<'_>, tenant: &str, ids: &[String]) -> AppResult<Vec<User>> {
    let users = with_conn!(conn, c => {
        users::table
            .filter(users::tenant_id.eq(tenant))
            .filter(users::id.eq_any(ids))
            .select(User::as_select())
            .load(c)
            .await
    })?;
    Ok(users)
}

/// Users whose id, name or email contains `search` (ignoring case), by name.
pub async fn search(conn: &mut Conn<'_>, tenant: &str, search: Option<&str>, limit: i64) -> AppResult<Vec<User>> {
    let pattern =
        search.map(str::trim).filter(|s| !s.is_empty()).map(|term| format!("%{}%", escape_like(&term.to_lowercase())));
    // Boxed queries are typed per backend, so the query is built inside each arm.
    let users = with_conn!(conn, c => {
        let mut query = users::table
            .filter(users::tenant_id.eq(tenant))
            .select(User::as_select())
            .order((users::display_name.asc(), users::id.asc()))
            .limit(limit)
            .into_boxed();
        if let Some(pattern) = &pattern {
            query = query.filter(
                lower(users::id.nullable())
                    .like(pattern)
                    .escape('\\')
                    .or(lower(users::display_name).like(pattern).escape('\\'))
                    .or(lower(users::email).like(pattern).escape('\\')),
            );
        }
        query.load(c).await
    })?;
    Ok(users)
}

/// Escapes LIKE's wildcards so a search matches them literally.
pub fn escape_like(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}
