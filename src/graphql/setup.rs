//! When a subscription is live. A WebSocket's `subscribe` is let through,
//! then its stream is set up (the watch registered) when the protocol first
//! polls it. The socket counts setups begun and not yet finished, and holds a
//! client's `ping` until none is left: the `pong` then tells the client that
//! every subscription it sent before the ping receives whatever commits
//! from now on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// One socket's setups under way (in its connection data).
#[derive(Clone, Default)]
pub struct SetupTracker(Arc<Pending>);

#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    settled: Notify,
}

impl SetupTracker {
    /// A `subscribe` was let through: its setup is under way.
    pub fn begin(&self) {
        self.0.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Setups begun and not yet finished.
    pub fn pending(&self) -> usize {
        self.0.count.load(Ordering::SeqCst)
    }

    /// Waits until no setup is under way.
    pub async fn settled(&self) {
        loop {
            let notified = self.0.settled.notified();
            if self.pending() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The handle that finishes the setup the executor takes up now (each
    /// begun setup reaches the executor once, in order).
    pub(crate) fn take(&self) -> Setup {
        Setup(Arc::new(Once { tracker: self.clone(), finished: AtomicBool::new(false) }))
    }
}

/// One setup under way; finished once: by the resolver when its watch is
/// registered, by the stream's first answer, or when it is dropped.
#[derive(Clone)]
pub struct Setup(Arc<Once>);

struct Once {
    tracker: SetupTracker,
    finished: AtomicBool,
}

impl Setup {
    pub fn finish(&self) {
        self.0.finish();
    }
}

impl Once {
    fn finish(&self) {
        if !self.finished.swap(true, Ordering::SeqCst) && self.tracker.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.tracker.0.settled.notify_waiters();
        }
    }
}

impl Drop for Once {
    fn drop(&mut self) {
        self.finish();
    }
}
