//! Tenants exist from the first time one of their users calls the API.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::tenants;
use crate::db::{Conn, Link};
use crate::domain::now;
use crate::error::AppResult;
use crate::with_conn;

/// The first case id of every tenant.
pub const FIRST_CASE_ID: i64 = 1000;

/// Creates the tenant's row unless it exists; returns true when it was
/// created (the caller seeds what a new tenant starts with: see
/// `status::ensure_tenant`). Call inside a write transaction.
pub async fn create_if_missing(conn: &mut Conn<'_>, tenant: &str) -> AppResult<bool> {
    let query = diesel::insert_into(tenants::table)
        .values((tenants::id.eq(tenant), tenants::next_case_id.eq(FIRST_CASE_ID), tenants::created_at.eq(now())))
        .on_conflict_do_nothing();
    let inserted = with_conn!(conn, c => query.execute(c).await)?;
    Ok(inserted == 1)
}

/// Takes the tenant's row lock for the rest of the transaction, so that
/// writes which check a per-tenant cap before they insert (webhooks, rules,
/// templates, statuses) take turns and the cap holds under concurrency. On
/// SQLite the write transaction (BEGIN IMMEDIATE) already has the database
/// to itself.
pub async fn lock(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    if let Link::Postgres(c) = &mut conn.link {
        tenants::table
            .filter(tenants::id.eq(tenant))
            .select(tenants::id)
            .for_update()
            .first::<String>(*c)
            .await
            .optional()?;
    }
    Ok(())
}
