use async_graphql::{Context, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::metrics::{self, MetricsDimension, Window};
use crate::domain::sla::{self, Policy};
use crate::error::AppError;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::query::CaseFilterInput;
use crate::graphql::scalars::{DateTime, optional_time};
use crate::graphql::types::CaseMetricsGroup;
use crate::graphql::{db, grant};

#[derive(Default)]
pub struct SlaQuery;

#[Object]
impl SlaQuery {
    /// The tenant's SLA policies: the default (no priority) first, then by priority.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn sla_policies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Policy>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(sla::policies(&mut conn.conn(), tenant).await?)
    }
}

/// Case metrics for reporting.
#[derive(Default)]
pub struct MetricsQuery;

/// The longest window metrics count over: the days of a year.
const MAX_WINDOW_DAYS: i64 = 366;

#[Object]
impl MetricsQuery {
    /// Figures per group of the filtered cases: opened and closed within the
    /// window, open now, time to acknowledge and to resolve (mean, median,
    /// 90th percentile), and the SLA breach rate. Groups with nothing to
    /// count are left out; without `groupBy`, one group of every case.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn case_metrics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which cases count (as the queue's filter).")] filter: Option<CaseFilterInput>,
        #[graphql(desc = "The window's start (inclusive); 30 days before `to` when absent.")] from: Option<DateTime>,
        #[graphql(desc = "The window's end (exclusive); now when absent.")] to: Option<DateTime>,
        #[graphql(desc = "What to group by; each dimension at most once.")] group_by: Option<Vec<MetricsDimension>>,
    ) -> GqlResult<Vec<CaseMetricsGroup>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let filter = filter.unwrap_or_default().into_domain()?;
        let to = optional_time("to", to.as_ref())?.unwrap_or_else(crate::domain::now);
        let from = optional_time("from", from.as_ref())?.unwrap_or(to - chrono::Duration::days(30));
        if to - from > chrono::Duration::days(MAX_WINDOW_DAYS) {
            return Err(AppError::bad_input("from", format!("the window spans at most {MAX_WINDOW_DAYS} days")).into());
        }
        let mut dimensions = group_by.unwrap_or_default();
        let count = dimensions.len();
        dimensions.sort_by_key(|d| d.as_str());
        dimensions.dedup();
        if dimensions.len() != count {
            return Err(AppError::bad_input("groupBy", "names a dimension twice").into());
        }
        let mut conn = db(ctx)?.get().await?;
        let groups = metrics::case_metrics(&mut conn.conn(), tenant, &filter, Window { from, to }, &dimensions).await?;
        Ok(groups.into_iter().map(CaseMetricsGroup).collect())
    }
}
