//! Hints to SQLite's planner where its cost model, often without statistics,
//! would choose an index that reads far more than the page.

use diesel::QueryResult;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sqlite::Sqlite;

/// A column SQLite compares row by row and never uses as an index range
/// (`+column`, SQLite's documented way to disqualify a term from an index).
/// PostgreSQL keeps the plain column: its statistics are kept by autovacuum,
/// while a SQLite database is planned without any until `ANALYZE`, and even
/// then a pooled connection opened before keeps planning without them.
#[derive(Debug, Clone, Copy, QueryId, ValidGrouping)]
pub struct NotARange<E>(E);

/// `column`, compared as a filter on SQLite (see [`NotARange`]).
pub fn not_a_range<E: Expression>(column: E) -> NotARange<E> {
    NotARange(column)
}

impl<E: Expression> Expression for NotARange<E> {
    type SqlType = E::SqlType;
}

impl<E: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for NotARange<E> {}

impl<E: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for NotARange<E> {}

impl<E: QueryFragment<Sqlite>> QueryFragment<Sqlite> for NotARange<E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("+");
        self.0.walk_ast(out.reborrow())
    }
}

impl<E: QueryFragment<Pg>> QueryFragment<Pg> for NotARange<E> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}
