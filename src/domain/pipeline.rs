//! The write pipeline: what happens after a domain write, in one place.
//!
//! Entity modules (cases, tasks, comments, incidents, observables, the SLA
//! monitor) write their rows and record what happened in the transaction's
//! journal ([`facts`](super::facts), [`activity::Logged`]); none of them calls
//! search, automation or webhooks. When the transaction finishes,
//! [`WriteTx`](crate::db::WriteTx) hands the journal to [`Pipeline`] before
//! it commits, which reacts in rounds, each in this order:
//!
//! 1. **search indexing**: text that changed is indexed again;
//! 2. **the webhook outbox**: each new log entry becomes deliveries for the
//!    tenant's webhooks that take its event type, so deliveries leave in the
//!    order things happened (a person's change before what rules did about it);
//! 3. **automation**: rules watching the changes run, each in a savepoint
//!    (a rule that fails is rolled back alone and leaves `AUTOMATION_FAILED`;
//!    the change that triggered it commits); then rules watching ingested
//!    incidents place them on cases ([`triage`]).
//!
//! Then `WriteTx` notifies watchers (NOTIFY on PostgreSQL, in-process after
//! commit on SQLite) and commits.
//!
//! What the rules write is recorded too, and answered by the next round.
//! Changes made by rules start no rules, so a person's change takes at most
//! [`MAX_ROUNDS`] rounds; the work it can cause is bounded by the tenant's
//! caps: at most 100 rules x 20 actions, each action's entries told to at
//! most 20 webhooks.

use std::any::Any;

use crate::db::{Conn, Reactions};
use crate::domain::activity::Logged;
use crate::domain::facts::{CaseClosure, IncidentsIngested, Reindex, Triggered};
use crate::domain::webhook::{self, Happened};
use crate::domain::{automation, incident, search, triage};
use crate::error::{AppError, AppResult};

/// A person's change, then what the rules it started wrote (which starts no
/// rules), then what a case a rule closed wrote back to its incidents.
pub const MAX_ROUNDS: usize = 3;

/// The domain's reactions, registered with the database once at start
/// (`Db::reacting_with`).
pub struct Pipeline;

#[async_trait::async_trait]
impl Reactions for Pipeline {
    async fn react(&self, conn: &mut Conn<'_>) -> AppResult<()> {
        for _ in 0..MAX_ROUNDS {
            let facts = Facts::sort(conn.take_facts())?;
            if facts.is_empty() {
                return Ok(());
            }
            facts.answer(conn).await?;
        }
        if Facts::sort(conn.take_facts())?.is_empty() {
            Ok(())
        } else {
            Err(AppError::internal(format!("a write still caused more after {MAX_ROUNDS} rounds of reactions")))
        }
    }
}

/// One round's facts, by kind, each kind in the order it was recorded.
#[derive(Default)]
struct Facts {
    reindex: Vec<Reindex>,
    logged: Vec<Logged>,
    triggered: Vec<Triggered>,
    ingested: Vec<IncidentsIngested>,
    closures: Vec<CaseClosure>,
}

impl Facts {
    /// Sorts facts by kind; a fact of a kind nothing here answers is refused
    /// (fail closed: it would commit unanswered).
    fn sort(facts: Vec<Box<dyn Any + Send>>) -> AppResult<Facts> {
        let mut sorted = Facts::default();
        for fact in facts {
            let fact = match fact.downcast::<Reindex>() {
                Ok(reindex) => {
                    sorted.reindex.push(*reindex);
                    continue;
                }
                Err(other) => other,
            };
            let fact = match fact.downcast::<Logged>() {
                Ok(logged) => {
                    sorted.logged.push(*logged);
                    continue;
                }
                Err(other) => other,
            };
            let fact = match fact.downcast::<Triggered>() {
                Ok(triggered) => {
                    sorted.triggered.push(*triggered);
                    continue;
                }
                Err(other) => other,
            };
            let fact = match fact.downcast::<IncidentsIngested>() {
                Ok(ingested) => {
                    sorted.ingested.push(*ingested);
                    continue;
                }
                Err(other) => other,
            };
            match fact.downcast::<CaseClosure>() {
                Ok(closure) => sorted.closures.push(*closure),
                Err(_) => return Err(AppError::internal("a write recorded a fact the pipeline does not know")),
            }
        }
        Ok(sorted)
    }

    fn is_empty(&self) -> bool {
        self.reindex.is_empty()
            && self.logged.is_empty()
            && self.triggered.is_empty()
            && self.ingested.is_empty()
            && self.closures.is_empty()
    }

    async fn answer(self, conn: &mut Conn<'_>) -> AppResult<()> {
        for change in self.reindex {
            search::reindex(conn, change).await?;
        }
        for logged in &self.logged {
            let happened: Vec<Happened<'_>> =
                logged.entries.iter().map(|e| Happened { entry: &e.entry, closes_case: e.closes_case }).collect();
            webhook::enqueue(conn, &logged.actor, logged.case_id, &happened).await?;
        }
        for triggered in self.triggered {
            automation::react(conn, &triggered.actor, triggered.case_id, &triggered.triggers).await?;
        }
        for closure in self.closures {
            incident::sync_back(conn, &closure.actor, closure.case_id, closure.closed).await?;
        }
        for ingested in self.ingested {
            triage::place(conn, &ingested.actor, &ingested.incident_ids).await?;
        }
        Ok(())
    }
}
