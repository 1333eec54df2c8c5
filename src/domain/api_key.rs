//! API keys: service accounts a connector authenticates as. A key belongs to
//! one tenant, holds a subset of its creator's permissions, and acts as its
//! own principal (`apikey:<id>`, named by the key's name in the audit).

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{API_KEY_SUBJECT_PREFIX, Granted, ManageSettings, Permission, Principal, api_key};
use crate::db::schema::api_keys;
use crate::db::{Conn, Json};
use crate::domain::{now, parse_text, user};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The most keys a tenant holds that are not revoked.
pub const MAX_ACTIVE_PER_TENANT: i64 = 100;
/// The most keys one `apiKeys` lists.
pub const MAX_LISTED: i64 = 500;
/// The longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// How stale `lastUsedAt` may be: a key used again within this many seconds
/// costs no write.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(pub i64);

impl std::fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ApiKey {
    pub id: i64,
    pub tenant_id: String,
    pub name: String,
    pub secret_hint: String,
    pub permissions: Json<Vec<Permission>>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
}

impl ApiKey {
    /// The principal id the key acts as.
    pub fn principal_id(&self) -> String {
        subject(ApiKeyId(self.id))
    }
}

pub fn subject(id: ApiKeyId) -> String {
    format!("{API_KEY_SUBJECT_PREFIX}{id}")
}

/// A key to create.
#[derive(Debug)]
pub struct NewApiKey {
    pub name: String,
    pub permissions: Vec<Permission>,
    pub expires_at: Option<NaiveDateTime>,
}

/// Creates a key holding some of the creator's permissions; returns it and
/// its secret, which is shown this once and never kept.
pub async fn create(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    input: NewApiKey,
) -> AppResult<(ApiKey, String)> {
    let tenant = actor.tenant();
    let name = parse_text("name", &input.name, MAX_NAME_CHARS)?;
    let permissions: BTreeSet<Permission> = input.permissions.iter().copied().collect();
    if permissions.is_empty() {
        return Err(AppError::bad_input("permissions", "a key needs at least one permission"));
    }
    if let Some(missing) = permissions.iter().find(|p| !actor.has(**p)) {
        return Err(AppError::bad_input(
            "permissions",
            format!("{missing} is not yours to give: a key holds a subset of its creator's permissions"),
        ));
    }
    let now = now();
    if input.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::bad_input("expiresAt", "must be in the future"));
    }
    let active: i64 = with_conn!(conn, c => {
        api_keys::table
            .filter(api_keys::tenant_id.eq(tenant))
            .filter(api_keys::revoked_at.is_null())
            .count()
            .get_result(c)
            .await
    })?;
    if active >= MAX_ACTIVE_PER_TENANT {
        return Err(AppError::bad_input(
            "name",
            format!("a tenant holds at most {MAX_ACTIVE_PER_TENANT} keys that are not revoked; revoke one first"),
        ));
    }
    let secret = api_key::generate();
    let values = (
        api_keys::tenant_id.eq(tenant),
        api_keys::name.eq(&name),
        api_keys::secret_hash.eq(&secret.hash),
        api_keys::secret_hint.eq(&secret.hint),
        api_keys::permissions.eq(Json(permissions.into_iter().collect::<Vec<_>>())),
        api_keys::created_by.eq(&actor.user_id),
        api_keys::created_at.eq(now),
        api_keys::expires_at.eq(input.expires_at),
    );
    let key = with_conn!(conn, c => {
        diesel::insert_into(api_keys::table).values(values).returning(ApiKey::as_returning()).get_result(c).await
    })?;
    // The key is a user of the tenant too, so the audit names it.
    user::record_seen(conn, &principal_of(&key)).await?;
    Ok((key, secret.secret))
}

/// The tenant's keys, newest first; revoked ones only when asked for.
pub async fn list(conn: &mut Conn<'_>, tenant: &str, include_revoked: bool) -> AppResult<Vec<ApiKey>> {
    let keys = with_conn!(conn, c => {
        let mut query = api_keys::table
            .filter(api_keys::tenant_id.eq(tenant))
            .order(api_keys::id.desc())
            .limit(MAX_LISTED)
            .select(ApiKey::as_select())
            .into_boxed();
        if !include_revoked {
            query = query.filter(api_keys::revoked_at.is_null());
        }
        query.load(c).await
    })?;
    Ok(keys)
}

/// Revokes a key: from now on it authenticates nothing. Revoking a revoked
/// key changes nothing.
pub async fn revoke(conn: &mut Conn<'_>, actor: &Granted<'_, ManageSettings>, id: ApiKeyId) -> AppResult<ApiKey> {
    let tenant = actor.tenant();
    let target = api_keys::table.filter(api_keys::tenant_id.eq(tenant)).filter(api_keys::id.eq(id.0));
    let revoked = with_conn!(conn, c => {
        diesel::update(target.filter(api_keys::revoked_at.is_null()))
            .set((api_keys::revoked_at.eq(now()), api_keys::revoked_by.eq(&actor.user_id)))
            .execute(c)
            .await
    })?;
    let key = with_conn!(conn, c => target.select(ApiKey::as_select()).first(c).await.optional())?;
    let key = key.ok_or_else(|| AppError::not_found("API key", id))?;
    if revoked > 0 {
        tracing::info!(tenant, key = id.0, by = %actor.user_id, "API key revoked");
    }
    Ok(key)
}

/// What a presented secret proved.
pub enum KeyCheck {
    /// A live key: its principal, and whether its `lastUsedAt` is stale.
    Valid { principal: Principal, key: ApiKeyId, stale_use: bool },
    /// Refused, with the reason the caller is told.
    Refused(&'static str),
}

/// Checks a presented secret (a read; see [`mark_used`]).
pub async fn check(conn: &mut Conn<'_>, secret: &str) -> AppResult<KeyCheck> {
    if !api_key::well_formed(secret) {
        return Ok(KeyCheck::Refused("the API key is malformed"));
    }
    let hash = api_key::hash(secret);
    let key = with_conn!(conn, c => {
        api_keys::table.filter(api_keys::secret_hash.eq(&hash)).select(ApiKey::as_select()).first(c).await.optional()
    })?;
    let Some(key) = key else { return Ok(KeyCheck::Refused("the API key is not known")) };
    let now = now();
    if key.revoked_at.is_some() {
        return Ok(KeyCheck::Refused("the API key was revoked"));
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Ok(KeyCheck::Refused("the API key has expired"));
    }
    let stale_use = key.last_used_at.is_none_or(|at| (now - at).num_seconds() >= LAST_USED_RESOLUTION_SECS);
    Ok(KeyCheck::Valid { principal: principal_of(&key), key: ApiKeyId(key.id), stale_use })
}

/// Records that a key was used now.
pub async fn mark_used(conn: &mut Conn<'_>, id: ApiKeyId) -> AppResult<()> {
    with_conn!(conn, c => {
        diesel::update(api_keys::table.find(id.0)).set(api_keys::last_used_at.eq(now())).execute(c).await
    })?;
    Ok(())
}

/// The principal a key acts as.
fn principal_of(key: &ApiKey) -> Principal {
    Principal {
        user_id: key.principal_id(),
        tenant: key.tenant_id.clone(),
        display_name: Some(key.name.clone()),
        email: None,
        permissions: key.permissions.0.iter().copied().collect(),
        expires_at: key.expires_at.map_or(u64::MAX, |at| at.and_utc().timestamp().max(0) as u64),
    }
}
