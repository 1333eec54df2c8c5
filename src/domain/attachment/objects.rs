//! Objects in the store that no blob owns (`stored_objects`): uploads under
//! way (STAGING, recorded before their first byte) and content to delete
//! (DELETE). The sweeper claims due rows on the database's clock, deletes
//! each object, then its row; a claim is a lease, so a replica that dies
//! mid-sweep leaves rows another takes up.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::stored_objects;
use crate::domain::values::text_enum;
use crate::error::{AppError, AppResult};
use crate::with_conn;

text_enum! {
    /// Why an object is in the store without a blob.
    pub enum ObjectState {
        /// An upload is writing it.
        Staging => "STAGING",
        /// Nothing refers to it: it is to be deleted.
        Delete => "DELETE",
    }
}

/// Records a key an upload is about to write. Commit before the first byte.
pub async fn stage(conn: &mut Conn<'_>, tenant: &str, key: &str) -> AppResult<()> {
    let now = conn.clock().await?;
    let values = (
        stored_objects::storage_key.eq(key),
        stored_objects::tenant_id.eq(tenant),
        stored_objects::state.eq(ObjectState::Staging),
        stored_objects::since.eq(now),
    );
    with_conn!(conn, c => diesel::insert_into(stored_objects::table).values(values).execute(c).await)?;
    Ok(())
}

/// Checks that `key` is an upload of `tenant` still staged (not swept, not
/// used by another attachment).
pub async fn expect_staging(conn: &mut Conn<'_>, tenant: &str, key: &str) -> AppResult<()> {
    let found: Option<ObjectState> = with_conn!(conn, c => {
        stored_objects::table
            .filter(stored_objects::storage_key.eq(key))
            .filter(stored_objects::tenant_id.eq(tenant))
            .select(stored_objects::state)
            .first(c)
            .await
            .optional()
    })?;
    match found {
        Some(ObjectState::Staging) => Ok(()),
        _ => Err(AppError::bad_input("file", "this upload is no longer available: send the file again")),
    }
}

/// The staged object becomes a blob's: it leaves this table.
pub async fn adopt(conn: &mut Conn<'_>, key: &str) -> AppResult<()> {
    with_conn!(conn, c => diesel::delete(stored_objects::table.find(key)).execute(c).await)?;
    Ok(())
}

/// Queues an object for deletion (a staged copy not needed, or a blob's
/// content nothing refers to any more).
pub async fn doom(conn: &mut Conn<'_>, tenant: &str, key: &str) -> AppResult<()> {
    let now = conn.clock().await?;
    let values = (
        stored_objects::storage_key.eq(key),
        stored_objects::tenant_id.eq(tenant),
        stored_objects::state.eq(ObjectState::Delete),
        stored_objects::since.eq(now),
    );
    with_conn!(conn, c => {
        diesel::insert_into(stored_objects::table)
            .values(values)
            .on_conflict(stored_objects::storage_key)
            .do_update()
            .set((stored_objects::state.eq(ObjectState::Delete), stored_objects::since.eq(now)))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Claims up to `limit` objects to delete: every DELETE row, and STAGING
/// rows older than `abandoned_after` (an upload that long is dead), whose
/// lease is free. Returns their keys; the claim lasts `lease`.
pub async fn claim_due(
    conn: &mut Conn<'_>,
    abandoned_after: Duration,
    lease: Duration,
    limit: i64,
) -> AppResult<Vec<String>> {
    let now: NaiveDateTime = conn.clock().await?;
    let abandoned = now - chrono::Duration::from_std(abandoned_after).unwrap_or(chrono::Duration::hours(2));
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
    let free = stored_objects::claimed_until.is_null().or(stored_objects::claimed_until.lt(now));
    let due = stored_objects::state
        .eq(ObjectState::Delete)
        .or(stored_objects::state.eq(ObjectState::Staging).and(stored_objects::since.lt(abandoned)));
    let keys: Vec<String> = with_conn!(conn, c => {
        stored_objects::table
            .filter(due)
            .filter(free)
            .order(stored_objects::since.asc())
            .limit(limit)
            .select(stored_objects::storage_key)
            .load(c)
            .await
    })?;
    if keys.is_empty() {
        return Ok(keys);
    }
    // Claimed only where still free: of two replicas racing, each row goes to one.
    let free = stored_objects::claimed_until.is_null().or(stored_objects::claimed_until.lt(now));
    let claimed: Vec<String> = with_conn!(conn, c => {
        diesel::update(stored_objects::table.filter(stored_objects::storage_key.eq_any(&keys)).filter(free))
            .set(stored_objects::claimed_until.eq(until))
            .returning(stored_objects::storage_key)
            .load(c)
            .await
    })?;
    Ok(claimed)
}

/// The object is gone from the store: forget it.
pub async fn forget(conn: &mut Conn<'_>, key: &str) -> AppResult<()> {
    with_conn!(conn, c => diesel::delete(stored_objects::table.find(key)).execute(c).await)?;
    Ok(())
}

/// How many rows wait (tests and metrics: nothing is left behind).
pub async fn pending(conn: &mut Conn<'_>) -> AppResult<i64> {
    let count = with_conn!(conn, c => stored_objects::table.count().get_result(c).await)?;
    Ok(count)
}

/// A staged upload that no attachment took (the operation did not use it,
/// or its write rolled back) is queued for deletion; one adopted or queued
/// already is left alone.
pub async fn release(conn: &mut Conn<'_>, key: &str) -> AppResult<usize> {
    let now = conn.clock().await?;
    let queued = with_conn!(conn, c => {
        diesel::update(
            stored_objects::table
                .filter(stored_objects::storage_key.eq(key))
                .filter(stored_objects::state.eq(ObjectState::Staging)),
        )
        .set((stored_objects::state.eq(ObjectState::Delete), stored_objects::since.eq(now)))
        .execute(c)
        .await
    })?;
    Ok(queued)
}
