//! Background work each replica runs beside serving requests. Work shared by
//! replicas is claimed in the database (rows locked and skipped by the other
//! replicas), so each piece is done once and survives restarts: nothing
//! waits on a timer that only lives in memory.

pub mod attachments;
pub mod keys;
pub mod sla;
pub mod webhooks;

/// A background job of this process, stopped when dropped.
pub struct Job(tokio::task::JoinHandle<()>);

impl Job {
    pub fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Job {
        Job(tokio::spawn(work))
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.0.abort();
    }
}
