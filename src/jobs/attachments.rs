//! The sweeper: deletes from the store the objects no attachment needs
//! (content whose last attachment went, a second copy of content already
//! held, uploads abandoned half-way), claimed in the database so each is
//! deleted once across replicas, and retried after a crash.

use std::sync::Arc;
use std::time::Duration;

use super::Job;
use crate::db::Db;
use crate::domain::attachment::objects;
use crate::error::AppResult;
use crate::store::Store;

/// How many objects one claim takes.
const BATCH: i64 = 100;
/// How long a claim holds (a delete that takes longer is retried by another).
const LEASE: Duration = Duration::from_secs(5 * 60);

/// Starts the sweeper: every `interval`, and whenever `nudge` is notified.
pub fn start(
    db: Db,
    store: Store,
    interval: Duration,
    abandoned_after: Duration,
    nudge: Arc<tokio::sync::Notify>,
) -> Job {
    Job::spawn(async move {
        loop {
            if let Err(error) = sweep(&db, &store, abandoned_after).await {
                tracing::warn!(%error, "attachment sweeper: deleting unused objects failed (retried)");
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = nudge.notified() => {}
            }
        }
    })
}

/// Deletes every object due now; returns how many went.
pub async fn sweep(db: &Db, store: &Store, abandoned_after: Duration) -> AppResult<usize> {
    let mut deleted = 0;
    loop {
        let mut tx = db.begin().await?;
        let claimed = objects::claim_due(&mut tx.conn(), abandoned_after, LEASE, BATCH).await;
        let keys = tx.finish(claimed).await?;
        if keys.is_empty() {
            return Ok(deleted);
        }
        let mut gone = Vec::with_capacity(keys.len());
        for key in keys {
            match store.delete(&key).await {
                Ok(()) => gone.push(key),
                Err(error) => tracing::warn!(%error, key, "attachment sweeper: the store refused a delete"),
            }
        }
        if gone.is_empty() {
            // Every delete failed: the claims lapse and the next sweep retries.
            return Ok(deleted);
        }
        let mut tx = db.begin().await?;
        let result = async {
            for key in &gone {
                objects::forget(&mut tx.conn(), key).await?;
            }
            Ok(())
        }
        .await;
        tx.finish(result).await?;
        deleted += gone.len();
    }
}
