//! One subscription's view of a case: replay from the log, then live entries,
//! with gaps filled from the log and repeats dropped.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::future::BoxFuture;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{FETCH_BATCH, fetch};
use crate::db::Db;
use crate::domain::activity::Activity;
use crate::domain::case::CaseId;
use crate::error::AppResult;

/// The entries of one case after a sequence number, in order, each once.
pub struct WatchStream {
    db: Db,
    tenant: Arc<str>,
    case_id: CaseId,
    /// The newest sequence delivered.
    last: i64,
    pending: VecDeque<Activity>,
    live: BroadcastStream<Arc<Activity>>,
    /// A read of the log in progress (replay or catch-up).
    reading: Option<BoxFuture<'static, AppResult<Vec<Activity>>>>,
    /// Replay is over once a read returns less than a batch.
    replaying: bool,
    failed: bool,
    /// Keeps the case's feed alive while this stream lives.
    _lease: super::FeedLease,
}

impl WatchStream {
    pub(super) fn new(
        db: Db,
        tenant: Arc<str>,
        case_id: CaseId,
        after: i64,
        replay: bool,
        receiver: broadcast::Receiver<Arc<Activity>>,
        lease: super::FeedLease,
    ) -> Self {
        WatchStream {
            db,
            tenant,
            case_id,
            last: after,
            pending: VecDeque::new(),
            live: BroadcastStream::new(receiver),
            reading: None,
            replaying: replay,
            failed: false,
            _lease: lease,
        }
    }

    fn read_log(&mut self) {
        let (db, tenant, case_id, after) = (self.db.clone(), self.tenant.clone(), self.case_id, self.last);
        self.reading = Some(Box::pin(super::detached(db, tenant, move |conn, tenant| {
            Box::pin(async move { fetch(conn, &tenant, case_id.0, after).await })
        })));
    }
}

impl Stream for WatchStream {
    type Item = AppResult<Activity>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.failed {
                return Poll::Ready(None);
            }
            if let Some(next) = this.pending.pop_front() {
                this.last = next.seq;
                return Poll::Ready(Some(Ok(next)));
            }
            if this.replaying && this.reading.is_none() {
                this.read_log();
            }
            if let Some(reading) = this.reading.as_mut() {
                match reading.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => {
                        this.failed = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(Ok(rows)) => {
                        this.reading = None;
                        this.replaying = rows.len() as i64 == FETCH_BATCH;
                        this.pending.extend(rows.into_iter().filter(|r| r.seq > this.last));
                        continue;
                    }
                }
            }
            match Pin::new(&mut this.live).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                // Too far behind: the skipped entries are in the log.
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(_)))) => this.replaying = true,
                Poll::Ready(Some(Ok(entry))) => {
                    if entry.seq <= this.last {
                        continue; // already delivered (replay overlapped the live feed)
                    }
                    if entry.seq == this.last + 1 {
                        this.last = entry.seq;
                        return Poll::Ready(Some(Ok(Activity::clone(&entry))));
                    }
                    // A gap: read the log from our last entry, which includes this one.
                    this.replaying = true;
                }
            }
        }
    }
}
