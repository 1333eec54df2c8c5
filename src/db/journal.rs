//! What a write transaction recorded of what happened, in order, for the
//! reactions that run before it commits (registered once with
//! [`Db::reacting_with`](super::Db::reacting_with); the domain's are in
//! `domain::pipeline`). Type-erased, so this layer knows nothing of the
//! domain: the domain records its own fact types, and the reactions take
//! them out and refuse any they do not know.

use std::any::Any;

use crate::error::AppError;

/// One recorded fact.
pub type Fact = Box<dyn Any + Send>;

/// The facts of one write transaction, oldest first.
#[derive(Default)]
pub struct Journal(Vec<Fact>);

impl Journal {
    pub fn record<T: Any + Send>(&mut self, fact: T) {
        self.0.push(Box::new(fact));
    }

    /// How many facts are recorded: a mark to roll back to.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets the facts recorded after `mark` (their writes were rolled back).
    pub fn truncate(&mut self, mark: usize) {
        self.0.truncate(mark);
    }

    /// Takes every fact out, oldest first.
    pub fn take(&mut self) -> Vec<Fact> {
        std::mem::take(&mut self.0)
    }
}

/// The reactions to a write's facts: run inside the write transaction, just
/// before it commits, until the journal is empty. A write whose facts nothing
/// reacts to is refused (fail closed): a change would commit without its
/// audit webhooks, search entries or rules.
#[async_trait::async_trait]
pub trait Reactions: Send + Sync {
    /// Reacts to what `conn`'s journal holds (taking it out with
    /// [`Conn::take_facts`](super::Conn::take_facts)); may record more.
    async fn react(&self, conn: &mut super::Conn<'_>) -> Result<(), AppError>;
}
