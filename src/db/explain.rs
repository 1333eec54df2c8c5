//! The planner's view of a query, for checking that the queue's statements
//! use their indexes (see `tests/explain.rs`).

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Integer, Text};
use diesel::sqlite::Sqlite;

/// `EXPLAIN <query>` on PostgreSQL: one line of the plan per row.
pub struct PgExplain<Q>(pub Q);

/// `EXPLAIN QUERY PLAN <query>` on SQLite: `(id, parent, notused, detail)` per row.
pub struct SqliteExplain<Q>(pub Q);

impl<Q> QueryId for PgExplain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> QueryId for SqliteExplain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for PgExplain<Q> {
    type SqlType = Text;
}

impl<Q> Query for SqliteExplain<Q> {
    type SqlType = (Integer, Integer, Integer, Text);
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for PgExplain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for SqliteExplain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("EXPLAIN QUERY PLAN ");
        self.0.walk_ast(out.reborrow())
    }
}
