//! The activity bus: delivers each case's new activity entries to the
//! subscriptions watching it, in order, none twice, none missing.
//!
//! One feed per watched case per process: when a case changes, the feed
//! fetches the new entries once and broadcasts them to every watcher of that
//! case. A change reaches the feeds in-process (SQLite, one process) or through
//! PostgreSQL `LISTEN/NOTIFY` (several replicas; the `NOTIFY` is sent inside
//! the change's transaction, so only committed changes are announced).
//!
//! Watchers check sequence numbers: a gap (a lagging watcher, a lost
//! notification, a reconnecting listener) is filled from the log, a repeat is
//! dropped. Entries of a case commit in sequence order (the sequence is taken
//! under the case's row lock), so "everything after my last sequence" is
//! always complete.

mod listener;
mod watch;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::broadcast;

use crate::db::{ChangedCase, Conn, Db, INGESTION_LOG};
use crate::domain::activity::{self, Activity};
use crate::domain::case::CaseId;
use crate::domain::incident::ingest::{self, Ingestion};
use crate::error::{AppResult, OrInternal};

pub use watch::WatchStream;

/// Entries a feed keeps for watchers that are briefly behind; further behind,
/// a watcher catches up from the log.
const FEED_CAPACITY: usize = 256;
/// Tenants' ingestion pings a watcher may be behind before it reads its log again.
const INGESTION_PINGS: usize = 64;
/// Rows one catch-up query reads.
const FETCH_BATCH: i64 = 500;

type FeedKey = (Arc<str>, i64);

/// One watched case in this process.
struct Feed {
    sender: broadcast::Sender<Arc<Activity>>,
    /// The newest sequence broadcast (unknown until the first watcher reads
    /// it); the lock also serialises fetches.
    last_sent: tokio::sync::Mutex<Option<i64>>,
}

/// A feed and how many watchers hold it.
struct Watched {
    feed: Arc<Feed>,
    watchers: usize,
}

/// A watcher's hold on its case's feed: the feed is removed when the last
/// hold goes, whether the watch ended, failed, or found no such case.
pub(crate) struct FeedLease {
    bus: Weak<Inner>,
    key: FeedKey,
    feed: Arc<Feed>,
}

impl Drop for FeedLease {
    fn drop(&mut self) {
        let Some(bus) = self.bus.upgrade() else { return };
        let mut feeds = bus.feeds.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(watched) = feeds.get_mut(&self.key) {
            watched.watchers = watched.watchers.saturating_sub(1);
            if watched.watchers == 0 {
                feeds.remove(&self.key);
                metrics::gauge!("casebook_watched_cases").set(feeds.len() as f64);
            }
        }
    }
}

/// The process's activity bus; clone freely.
#[derive(Clone)]
pub struct ActivityBus {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// Bounded by the live subscriptions: an entry lives exactly as long as
    /// its watchers (see [`FeedLease`]).
    feeds: Mutex<HashMap<FeedKey, Watched>>,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Poked on every committed change: the webhook outbox may have work.
    outbox: Arc<tokio::sync::Notify>,
    /// The tenants whose ingestion log grew, as commits announce them; each
    /// `incidentIngested` watcher reads its tenant's log again on a ping.
    ingestions: broadcast::Sender<Arc<str>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut listener) = self.listener.lock()
            && let Some(task) = listener.take()
        {
            task.abort();
        }
    }
}

impl ActivityBus {
    /// A bus for this database; on PostgreSQL it starts this process's listener.
    pub fn start(db: Db, database_url: &crate::config::DatabaseUrl) -> Self {
        let bus = ActivityBus {
            inner: Arc::new(Inner {
                db,
                feeds: Mutex::new(HashMap::new()),
                listener: Mutex::new(None),
                outbox: Arc::default(),
                ingestions: broadcast::channel(INGESTION_PINGS).0,
            }),
        };
        let task = match database_url {
            crate::config::DatabaseUrl::Postgres(url) => {
                tokio::spawn(listener::run(url.clone(), Arc::downgrade(&bus.inner)))
            }
            // One process: the write transactions tell the bus after commit.
            crate::config::DatabaseUrl::Sqlite(_) => {
                tokio::spawn(follow_commits(bus.inner.db.commits(), Arc::downgrade(&bus.inner)))
            }
        };
        if let Ok(mut slot) = bus.inner.listener.lock() {
            *slot = Some(task);
        }
        bus
    }

    /// Watches a case's activity after sequence `after` (oldest first, then
    /// live), or only what comes next when `after` is `None`. `None` when the
    /// case does not exist in the tenant.
    pub async fn watch(&self, tenant: &str, case_id: CaseId, after: Option<i64>) -> AppResult<Option<WatchStream>> {
        let lease = self.lease(tenant, case_id.0);
        let feed = lease.feed.clone();
        // Subscribe before reading where the log stands, so nothing falls between.
        let receiver = feed.sender.subscribe();
        let read = detached(self.inner.db.clone(), tenant.into(), move |conn, tenant| {
            Box::pin(async move { activity::last_seq(conn, &tenant, case_id).await })
        });
        // No such case: the lease goes with this scope, and the feed with it.
        let Some(current) = read.await? else {
            return Ok(None);
        };
        {
            let mut last_sent = feed.last_sent.lock().await;
            if last_sent.is_none() {
                *last_sent = Some(current);
            }
        }
        // Without a cursor the watcher starts where the log stands: nothing to replay,
        // and whatever commits from here on arrives through the feed.
        let start = after.unwrap_or(current);
        Ok(Some(WatchStream::new(
            self.inner.db.clone(),
            tenant.into(),
            case_id,
            start,
            after.is_some(),
            receiver,
            lease,
        )))
    }

    /// Watches the tenant's incident ingestion log after `after` (oldest
    /// first, then live), or only what comes next when `after` is `None`.
    pub async fn watch_ingestions(&self, tenant: &str, after: Option<i64>) -> AppResult<IngestionStream> {
        // Subscribe before reading where the log stands, so nothing falls between.
        let pings = self.inner.ingestions.subscribe();
        let tenant: Arc<str> = tenant.into();
        let last = match after {
            Some(after) => after,
            None => {
                detached(self.inner.db.clone(), tenant.clone(), |conn, tenant| {
                    Box::pin(async move { ingest::last_ingestion(conn, &tenant).await })
                })
                .await?
            }
        };
        let state = IngestionWatch { db: self.inner.db.clone(), tenant, last, pings, buffer: VecDeque::new() };
        Ok(futures_util::stream::unfold(state, IngestionWatch::next).boxed())
    }

    /// Takes a hold on a case's feed, making it when nobody watches the case yet.
    fn lease(&self, tenant: &str, case_id: i64) -> FeedLease {
        let mut feeds = self.inner.feeds.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key: FeedKey = (tenant.into(), case_id);
        let watched = feeds.entry(key.clone()).or_insert_with(|| Watched {
            feed: Arc::new(Feed {
                sender: broadcast::channel(FEED_CAPACITY).0,
                last_sent: tokio::sync::Mutex::new(None),
            }),
            watchers: 0,
        });
        watched.watchers += 1;
        let feed = watched.feed.clone();
        metrics::gauge!("casebook_watched_cases").set(feeds.len() as f64);
        FeedLease { bus: Arc::downgrade(&self.inner), key, feed }
    }

    /// Wakes whoever waits on [`outbox_signal`](Self::outbox_signal).
    pub fn wake_outbox(&self) {
        self.inner.outbox.notify_one();
    }

    /// Notified whenever a change commits (on any replica, on PostgreSQL):
    /// what the webhook delivery worker waits on besides its timer.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.inner.outbox.clone()
    }

    /// How many cases this process currently feeds (the `casebook_watched_cases` gauge).
    pub fn watched_cases(&self) -> usize {
        self.inner.feeds.lock().map(|f| f.len()).unwrap_or(0)
    }
}

impl Inner {
    /// A case changed: its feed, if anyone watches, fetches and broadcasts the new entries.
    async fn changed(&self, tenant: &str, case_id: i64) {
        self.outbox.notify_one();
        if case_id == INGESTION_LOG {
            // Nobody watching is fine.
            let _ = self.ingestions.send(tenant.into());
            return;
        }
        let feed = {
            let feeds = self.feeds.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let key: FeedKey = (tenant.into(), case_id);
            match feeds.get(&key) {
                Some(watched) => watched.feed.clone(),
                None => return,
            }
        };
        if let Err(e) = self.fetch_and_send(tenant, case_id, &feed).await {
            // Watchers notice the gap with the next entry and read the log themselves.
            tracing::warn!(error = %e, tenant, case_id, "activity feed fetch failed");
        }
    }

    async fn fetch_and_send(&self, tenant: &str, case_id: i64, feed: &Feed) -> AppResult<()> {
        let mut guard = feed.last_sent.lock().await;
        // Not yet known: the first watcher is still reading where the log
        // stands; it fills any gap itself.
        let Some(last) = guard.as_mut() else { return Ok(()) };
        let mut pooled = self.db.get().await?;
        loop {
            let rows = fetch(&mut pooled.conn(), tenant, case_id, *last).await?;
            let done = (rows.len() as i64) < FETCH_BATCH;
            let now = crate::domain::now();
            for row in rows {
                *last = row.seq;
                let lag = (now - row.created_at).to_std().unwrap_or_default();
                metrics::histogram!("casebook_activity_delivery_lag_seconds").record(lag.as_secs_f64());
                // No receiver left is fine: nobody to deliver to.
                let delivered = feed.sender.send(Arc::new(row)).unwrap_or(0);
                metrics::counter!("casebook_activity_events_delivered_total").increment(delivered as u64);
            }
            if done {
                return Ok(());
            }
        }
    }

    /// After the listener reconnects: whatever was announced meanwhile is fetched now.
    async fn resync_all(&self) {
        // Every ingestion watcher reads its log again (an empty tenant pings all).
        let _ = self.ingestions.send("".into());
        let keys: Vec<FeedKey> = match self.feeds.lock() {
            Ok(feeds) => feeds.keys().cloned().collect(),
            Err(_) => return,
        };
        for (tenant, case_id) in keys {
            self.changed(&tenant, case_id).await;
        }
    }
}

/// Feeds the cases that committed transactions changed, each in its own task
/// (the feed's lock keeps one case's fetches in order).
async fn follow_commits(mut commits: tokio::sync::mpsc::UnboundedReceiver<ChangedCase>, bus: Weak<Inner>) {
    while let Some(changed) = commits.recv().await {
        let Some(bus) = bus.upgrade() else { return };
        tokio::spawn(async move { bus.changed(&changed.tenant, changed.case_id).await });
    }
}

/// Runs a read on a pooled connection in a task of its own, so it completes
/// and gives the connection back even if whoever waits for it (a WebSocket
/// that stopped being polled) never looks again.
pub(crate) async fn detached<T: Send + 'static>(
    db: Db,
    tenant: Arc<str>,
    read: impl for<'c> FnOnce(&'c mut Conn<'_>, Arc<str>) -> BoxFuture<'c, AppResult<T>> + Send + 'static,
) -> AppResult<T> {
    let task = tokio::spawn(async move {
        let mut pooled = db.get().await?;
        read(&mut pooled.conn(), tenant).await
    });
    task.await.or_internal("a log read failed")?
}

/// A tenant's ingestion log as a stream: entries after `last`, read in
/// batches, then a wait for the next ping of the tenant.
pub type IngestionStream = futures_util::stream::BoxStream<'static, AppResult<Ingestion>>;

struct IngestionWatch {
    db: Db,
    tenant: Arc<str>,
    last: i64,
    pings: broadcast::Receiver<Arc<str>>,
    /// At most one batch ([`FETCH_BATCH`]) read ahead.
    buffer: VecDeque<Ingestion>,
}

impl IngestionWatch {
    async fn next(mut self) -> Option<(AppResult<Ingestion>, Self)> {
        loop {
            if let Some(row) = self.buffer.pop_front() {
                self.last = row.id;
                return Some((Ok(row), self));
            }
            let last = self.last;
            let read = detached(self.db.clone(), self.tenant.clone(), move |conn, tenant| {
                Box::pin(async move { ingest::ingestions_since(conn, &tenant, last, FETCH_BATCH).await })
            })
            .await;
            match read {
                Ok(rows) if !rows.is_empty() => {
                    self.buffer.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(e) => return Some((Err(e), self)),
            }
            // A ping queued while reading is seen here, so nothing is missed.
            loop {
                match self.pings.recv().await {
                    Ok(tenant) if tenant == self.tenant || tenant.is_empty() => break,
                    Ok(_) => {}
                    // Fell behind the pings: read the log again.
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    }
}

async fn fetch(conn: &mut Conn<'_>, tenant: &str, case_id: i64, after: i64) -> AppResult<Vec<Activity>> {
    activity::since(conn, tenant, CaseId(case_id), after, FETCH_BATCH).await
}
