//! The rules of casebook and their SQL, one module per entity. Functions take a
//! [`Conn`](crate::db::Conn) so the caller decides the transaction.
//!
//! Entities record, the pipeline reacts: a write records what happened
//! ([`facts`]) and returns; search indexing, the webhook outbox and
//! automation react to it in [`pipeline`], in the order and with the bound
//! written there, before the transaction commits.

pub mod activity;
pub mod api_key;
pub mod attachment;
pub mod attack;
pub mod automation;
pub mod bulk;
pub mod case;
pub mod case_edit;
pub mod comment;
pub mod counts;
pub mod facts;
pub mod filter;
pub mod incident;
pub mod merge;
pub mod metrics;
pub mod observable;
pub mod pipeline;
pub mod queue;
pub mod relation;
pub mod search;
pub mod sla;
pub mod status;
pub mod tag;
pub mod task;
pub mod template;
pub mod tenant;
pub mod triage;
pub mod user;
pub mod values;
pub mod verdict;
pub mod webhook;
pub mod workflow;

use chrono::{NaiveDateTime, Utc};

/// Now, at the microsecond precision both databases keep, so values read back
/// compare equal to what was written.
pub fn now() -> NaiveDateTime {
    crate::db::to_micros(Utc::now().naive_utc())
}

/// Trims `value` and checks its length in characters; `field` names it in the error.
pub fn parse_text(field: &str, value: &str, max_chars: usize) -> Result<String, crate::error::AppError> {
    refuse_nul(field, value)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(crate::error::AppError::bad_input(field, "must not be blank"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(crate::error::AppError::bad_input(field, format!("must be at most {max_chars} characters")));
    }
    Ok(trimmed.to_owned())
}

/// PostgreSQL cannot store NUL in text and SQLite would keep it silently:
/// both refuse it the same way, naming the field.
pub fn refuse_nul(field: &str, value: &str) -> Result<(), crate::error::AppError> {
    if value.contains('\0') {
        return Err(crate::error::AppError::bad_input(field, "must not contain NUL characters"));
    }
    Ok(())
}
