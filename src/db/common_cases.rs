//! How many cases a few sets of case numbers hold in common, counted from
//! the sets alone (see `queue::count`).

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;

/// One set: a subquery selecting a column named `case_id`.
pub type CaseSet<'a, DB> = Box<dyn QueryFragment<DB> + Send + 'a>;

/// `SELECT COUNT(*)` of the case numbers every one of `sets` holds: the
/// sets' `INTERSECT`, or one set's distinct numbers. Empty, it counts none.
pub struct CountCommonCases<'a, DB>(pub Vec<CaseSet<'a, DB>>);

impl<DB> QueryId for CountCommonCases<'_, DB> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> Query for CountCommonCases<'_, DB> {
    type SqlType = BigInt;
}

impl<DB: Backend> QueryFragment<DB> for CountCommonCases<'_, DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        match self.0.as_slice() {
            [] => out.push_sql("SELECT 0"),
            [one] => {
                // A case may be in one set through several rows (two of a
                // tag list's tags).
                out.push_sql("SELECT COUNT(DISTINCT members.case_id) FROM (");
                one.walk_ast(out.reborrow())?;
                out.push_sql(") AS members");
            }
            [first, rest @ ..] => {
                out.push_sql("SELECT COUNT(*) FROM (");
                first.walk_ast(out.reborrow())?;
                for set in rest {
                    out.push_sql(" INTERSECT ");
                    set.walk_ast(out.reborrow())?;
                }
                out.push_sql(") AS members");
            }
        }
        Ok(())
    }
}
