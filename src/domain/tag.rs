//! Tags: free labels per tenant, unique ignoring case (the first spelling is
//! kept), at most [`MAX_TAGS_PER_CASE`] on a case.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts};
use crate::db::Conn;
use crate::db::schema::{case_tags, cases, statuses, tags};
use crate::domain::activity::{self, AuditAction, FieldChange, NewAudit};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::now;
use crate::domain::status::StatusCategory;
use crate::domain::user::escape_like;
use crate::error::{AppError, AppResult};
use crate::with_conn;

pub const MAX_TAGS_PER_CASE: usize = 20;
pub const MAX_TAG_CHARS: usize = 64;

/// The names an input gives, checked: trimmed, 1 to 64 characters, no
/// control characters or commas (the audit trail lists tags comma-separated),
/// repeats (ignoring case) dropped.
pub fn parse_names(field: &str, names: &[String]) -> AppResult<Vec<String>> {
    if names.len() > MAX_TAGS_PER_CASE {
        return Err(AppError::bad_input(field, format!("at most {MAX_TAGS_PER_CASE} at once")));
    }
    let mut parsed: Vec<String> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = crate::domain::parse_text(&format!("{field}[{i}]"), name, MAX_TAG_CHARS)?;
        if name.chars().any(|c| c.is_control() || c == ',') {
            return Err(AppError::bad_input(format!("{field}[{i}]"), "must not contain commas or control characters"));
        }
        if !parsed.iter().any(|p| key(p) == key(&name)) {
            parsed.push(name);
        }
    }
    Ok(parsed)
}

/// A case-tag row (the API's and the demo's one write path).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = case_tags)]
pub struct CaseTagRow {
    pub tenant_id: String,
    pub case_id: i64,
    pub tag_id: i64,
    pub added_by: String,
    pub added_at: NaiveDateTime,
}

/// Inserts case-tag rows in one statement.
pub async fn insert_links(conn: &mut Conn<'_>, rows: &[CaseTagRow]) -> AppResult<()> {
    crate::bulk_insert!(conn, case_tags::table, rows)?;
    Ok(())
}

/// What makes two spellings one tag.
pub fn key(name: &str) -> String {
    name.to_lowercase()
}

/// The tenant's tags with these keys, as (id, name).
async fn find_by_keys(conn: &mut Conn<'_>, tenant: &str, keys: &[String]) -> AppResult<Vec<(i64, String)>> {
    let found = with_conn!(conn, c => {
        tags::table
            .filter(tags::tenant_id.eq(tenant))
            .filter(tags::name_key.eq_any(keys))
            .select((tags::id, tags::name))
            .load(c)
            .await
    })?;
    Ok(found)
}

/// The tags on a case, as (id, name).
async fn on_case(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<Vec<(i64, String)>> {
    let found = with_conn!(conn, c => {
        case_tags::table
            .inner_join(tags::table)
            .filter(case_tags::tenant_id.eq(tenant))
            .filter(case_tags::case_id.eq(case_id.0))
            .select((tags::id, tags::name))
            .load(c)
            .await
    })?;
    Ok(found)
}

/// The tenant's tags of these names, made where missing, as (id, name).
pub async fn ensure(
    conn: &mut Conn<'_>,
    tenant: &str,
    names: &[&String],
    now: NaiveDateTime,
) -> AppResult<Vec<(i64, String)>> {
    // Inside a bulk change, the tags the last case made are the next one's.
    let remembered: Vec<(i64, String)> =
        names.iter().filter_map(|name| conn.recall(&("tag", tenant.to_owned(), key(name)))).collect();
    if remembered.len() == names.len() {
        return Ok(remembered);
    }
    for name in names {
        let values = (
            tags::tenant_id.eq(tenant),
            tags::name.eq(name.as_str()),
            tags::name_key.eq(key(name)),
            tags::created_at.eq(now),
        );
        // A tag another transaction made meanwhile is the same tag.
        with_conn!(conn, c => {
            diesel::insert_into(tags::table)
                .values(values)
                .on_conflict((tags::tenant_id, tags::name_key))
                .do_nothing()
                .execute(c)
                .await
        })?;
    }
    let keys: Vec<String> = names.iter().map(|n| key(n)).collect();
    let found = find_by_keys(conn, tenant, &keys).await?;
    for tag in &found {
        conn.remember(("tag", tenant.to_owned(), key(&tag.1)), tag);
    }
    Ok(found)
}

/// Locks a case for a change of its tags; returns it and the tags it has.
async fn lock_with_tags(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<(Case, Vec<(i64, String)>)> {
    let current = case::lock_existing(conn, tenant, case_id).await?;
    Ok((current, on_case(conn, tenant, case_id).await?))
}

/// Adds tags to a case, making the tenant's new ones; a tag the case has is
/// skipped. One audit event lists the added tags.
pub async fn add(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    names: &[String],
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let names = parse_names("tags", names)?;
    let (current, present) = lock_with_tags(conn, tenant, case_id).await?;
    let wanted: Vec<&String> = names.iter().filter(|n| !present.iter().any(|(_, p)| key(p) == key(n))).collect();
    if wanted.is_empty() {
        return Ok(current);
    }
    if present.len() + wanted.len() > MAX_TAGS_PER_CASE {
        return Err(AppError::bad_input(
            "tags",
            format!("a case has at most {MAX_TAGS_PER_CASE} tags; this one has {}", present.len()),
        ));
    }
    let mut added = attach(conn, actor, case_id, &wanted).await?;
    added.sort_by_key(|n| key(n));
    let change = FieldChange::new("tags", None, Some(added.join(", ")));
    let (case, seq) = case::touch(conn, actor, case_id, 1).await?;
    activity::record_audits(conn, actor, case_id, seq, vec![NewAudit::new(AuditAction::TagsAdded, vec![change])])
        .await?;
    Ok(case)
}

/// Links a case that carries none of them to these tags, making the tenant's
/// new ones, without an audit event (the caller audits); returns the names
/// as the tenant spells them.
pub async fn attach(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    names: &[&String],
) -> AppResult<Vec<String>> {
    let tenant = actor.tenant.as_str();
    let now = now();
    let found = ensure(conn, tenant, names, now).await?;
    let links: Vec<CaseTagRow> = found
        .iter()
        .map(|(id, _)| CaseTagRow {
            tenant_id: tenant.to_owned(),
            case_id: case_id.0,
            tag_id: *id,
            added_by: actor.user_id.clone(),
            added_at: now,
        })
        .collect();
    insert_links(conn, &links).await?;
    Ok(found.into_iter().map(|(_, name)| name).collect())
}

/// Removes tags from a case; one it does not have is skipped. One audit
/// event lists the removed tags.
pub async fn remove(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    names: &[String],
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let names = parse_names("tags", names)?;
    let (current, present) = lock_with_tags(conn, tenant, case_id).await?;
    let mut removed: Vec<(i64, String)> =
        present.into_iter().filter(|(_, p)| names.iter().any(|n| key(n) == key(p))).collect();
    if removed.is_empty() {
        return Ok(current);
    }
    removed.sort_by_key(|(_, n)| key(n));
    let ids: Vec<i64> = removed.iter().map(|(id, _)| *id).collect();
    let target = case_tags::table
        .filter(case_tags::tenant_id.eq(tenant))
        .filter(case_tags::case_id.eq(case_id.0))
        .filter(case_tags::tag_id.eq_any(&ids));
    with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    let names: Vec<String> = removed.into_iter().map(|(_, n)| n).collect();
    let change = FieldChange::new("tags", Some(names.join(", ")), None);
    let (case, seq) = case::touch(conn, actor, case_id, 1).await?;
    activity::record_audits(conn, actor, case_id, seq, vec![NewAudit::new(AuditAction::TagsRemoved, vec![change])])
        .await?;
    Ok(case)
}

/// (case id, tag name) pairs for these cases, by name ignoring case.
pub async fn of_cases(conn: &mut Conn<'_>, tenant: &str, case_ids: &[CaseId]) -> AppResult<Vec<(i64, String)>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let pairs = with_conn!(conn, c => {
        case_tags::table
            .inner_join(tags::table)
            .filter(case_tags::tenant_id.eq(tenant))
            .filter(case_tags::case_id.eq_any(&ids))
            .order(tags::name_key.asc())
            .select((case_tags::case_id, tags::name))
            .load(c)
            .await
    })?;
    Ok(pairs)
}

/// A tag and how many cases not in a CLOSED status carry it.
#[derive(Debug, Clone)]
pub struct TagUse {
    pub name: String,
    pub open_cases: i64,
}

/// The tenant's tags whose name contains `search` (ignoring case), by name,
/// with their open cases counted.
pub async fn list(conn: &mut Conn<'_>, tenant: &str, search: Option<&str>, limit: i64) -> AppResult<Vec<TagUse>> {
    let pattern = search.map(|s| format!("%{}%", escape_like(&key(s.trim()))));
    let found: Vec<(i64, String)> = with_conn!(conn, c => {
        let mut query = tags::table.filter(tags::tenant_id.eq(tenant)).into_boxed();
        if let Some(pattern) = &pattern {
            query = query.filter(tags::name_key.like(pattern.clone()).escape('\\'));
        }
        query.order(tags::name_key.asc()).limit(limit).select((tags::id, tags::name)).load(c).await
    })?;
    let ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
    let closed = statuses::table
        .filter(statuses::tenant_id.eq(tenant))
        .filter(statuses::category.eq(StatusCategory::Closed.as_str()))
        .select(statuses::id);
    let counts: Vec<(i64, i64)> = with_conn!(conn, c => {
        case_tags::table
            .inner_join(cases::table.on(cases::tenant_id.eq(case_tags::tenant_id).and(cases::id.eq(case_tags::case_id))))
            .filter(case_tags::tenant_id.eq(tenant))
            .filter(case_tags::tag_id.eq_any(&ids))
            .filter(cases::status_id.ne_all(closed))
            .group_by(case_tags::tag_id)
            .select((case_tags::tag_id, diesel::dsl::count_star()))
            .load(c)
            .await
    })?;
    Ok(found
        .into_iter()
        .map(|(id, name)| TagUse { name, open_cases: counts.iter().find(|(t, _)| *t == id).map_or(0, |(_, n)| *n) })
        .collect())
}
