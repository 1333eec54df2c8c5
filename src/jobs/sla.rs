//! The SLA monitor: writes `SLA_AT_RISK` and `SLA_BREACHED` events as their
//! moments pass. Each case stores the next moment one may be due
//! (`sla_notice_at`); every tick claims the due cases one transaction each,
//! and `sla_notices` makes each event written once per case and deadline
//! whichever replica gets there first.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::Job;
use crate::db::Db;
use crate::domain::{now, sla};
use crate::error::AppResult;

/// How long a case whose events could not be written waits for another try.
const RETRY_AFTER_SECONDS: i64 = 60;

/// Starts the monitor, checking every `interval`.
pub fn start(db: Db, interval: Duration) -> Job {
    Job(tokio::spawn(async move {
        // The first look comes one interval after start, like every other.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = run_due(&db, now()).await {
                tracing::warn!(%error, "SLA monitor: writing due events failed");
            }
        }
    }))
}

/// Writes every SLA event due at `now` (the monitor's tick; tests call it
/// with a time of their choosing). Returns how many events were written.
pub async fn run_due(db: &Db, now: NaiveDateTime) -> AppResult<usize> {
    let mut written = 0;
    loop {
        // One case per transaction: its claim and its events commit
        // together, and a case that fails is put off while the others go on.
        let mut tx = db.begin().await?;
        let claimed = sla::claim_due(&mut tx.conn(), now).await;
        let (tenant, case_id) = match claimed {
            Ok(Some(claimed)) => claimed,
            other => {
                tx.finish(other).await?;
                return Ok(written);
            }
        };
        let result = sla::announce_due(&mut tx.conn(), &tenant, case_id, now).await;
        match tx.finish(result).await {
            Ok(count) => written += count,
            Err(error) => {
                tracing::warn!(%error, %tenant, %case_id, "SLA monitor: putting the case off");
                let mut tx = db.begin().await?;
                let until = now + chrono::Duration::seconds(RETRY_AFTER_SECONDS);
                let result = sla::postpone(&mut tx.conn(), &tenant, case_id, until).await;
                tx.finish(result).await?;
            }
        }
    }
}
