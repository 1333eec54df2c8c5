//! Subscription root: live activity of a case.

use async_graphql::{Context, ID, Subscription as SubscriptionObject};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::auth::{Permission, ReadData};
use crate::domain::case::CaseId;
use crate::error::AppError;
use crate::events::ActivityBus;
use crate::graphql::cursor::{self, ActivityCursor, IdCursor};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::{GqlError, GqlResult};
use crate::graphql::scalars::numeric_id;
use crate::graphql::types::{ActivityEvent, IncidentIngestedEvent};
use crate::graphql::{Setup, grant};

/// The subscription root.
#[derive(Default)]
pub struct Subscription;

/// Watch the tenant's data change.
#[SubscriptionObject]
impl Subscription {
    /// A case's activity as it commits, whichever replica made the change.
    /// With `after` (an activity cursor, as `Case.activity` edges carry), first
    /// replays every entry after it, oldest first; then streams new ones, in
    /// order, none twice, none missing.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn case_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case number.")] case_id: ID,
        #[graphql(desc = "Resume after this activity cursor.")] after: Option<String>,
    ) -> Result<BoxStream<'static, GqlResult<ActivityEvent>>, GqlError> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let bus = ctx.data_opt::<ActivityBus>().ok_or_else(|| AppError::internal("the schema has no activity bus"))?;
        let not_found = || AppError::not_found("case", case_id.as_str());
        let case = numeric_id(&case_id).map(CaseId).ok_or_else(not_found)?;
        let after = after.as_deref().map(|a| cursor::decode::<ActivityCursor>("after", a)).transpose()?;
        // Boxed: async-graphql keeps the resolver's future inline in each
        // subscription's stream for its whole life; the watch setup (a pool
        // checkout and a query) would otherwise cost every idle watcher kilobytes.
        let watch = Box::pin(bus.watch(tenant, case, after.map(|a| a.seq)));
        let watched = watch.await;
        // Live from here (or refused): a ping the client sent after subscribing may be answered.
        if let Some(setup) = ctx.data_opt::<Setup>() {
            setup.finish();
        }
        let stream = watched?.ok_or_else(not_found)?;
        Ok(stream.map(|entry| entry.map(ActivityEvent::from).map_err(GqlError::from)).boxed())
    }

    /// Incidents as ingestions create or update them (the triage view's live
    /// feed), in commit order, whichever replica ingested them. With `after`
    /// (an event's `cursor`), first replays every ingestion after it, oldest
    /// first; without it, starts with what comes next.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn incident_ingested(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Resume after this event's cursor.")] after: Option<String>,
    ) -> Result<BoxStream<'static, GqlResult<IncidentIngestedEvent>>, GqlError> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let bus = ctx.data_opt::<ActivityBus>().ok_or_else(|| AppError::internal("the schema has no activity bus"))?;
        let after = after.as_deref().map(|a| cursor::decode::<IdCursor>("after", a)).transpose()?;
        let watch = Box::pin(bus.watch_ingestions(tenant, after.map(|a| a.id)));
        let watched = watch.await;
        if let Some(setup) = ctx.data_opt::<Setup>() {
            setup.finish();
        }
        Ok(watched?.map(|row| row.map(IncidentIngestedEvent::from).map_err(GqlError::from)).boxed())
    }
}
