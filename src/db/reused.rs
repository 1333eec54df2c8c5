//! Prepared statements kept for statements diesel would prepare afresh.
//!
//! Diesel never caches an `UPDATE` (a changeset that skips `None` fields
//! changes the text), nor raw SQL. Uncached, PostgreSQL pays a round trip to
//! parse each one before the round trip that runs it, and the writes every
//! case change makes (lock, change, touch) are all `UPDATE`s. The connection's
//! cache keys a statement without a static query id by its text, so keeping
//! one is sound; what [`reused`] asks of its caller is that the statement
//! takes few shapes (the cache holds one entry per text, for the connection's
//! life): fixed columns, no `IN` list or row count that varies with input.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// `query`, run through the connection's prepared-statement cache.
pub fn reused<Q>(query: Q) -> Reused<Q> {
    Reused(query)
}

/// A statement of few shapes, kept prepared (see [`reused`]).
#[derive(Debug, Clone, Copy)]
pub struct Reused<Q>(Q);

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Reused<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> QueryId for Reused<Q> {
    // No type-level id: the cache keys the statement by its text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Reused<Q> {
    type SqlType = Q::SqlType;
}
