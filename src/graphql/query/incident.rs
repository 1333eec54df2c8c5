use async_graphql::{Context, ID, InputObject, Object};

use crate::auth::Permission;
use crate::domain::case::CaseId;
use crate::domain::incident::{Incident, IncidentFilter, IncidentOrderField};
use crate::domain::observable::Indicator;
use crate::domain::queue::OrderDirection;
use crate::domain::values::{IncidentSeverity, IncidentStatus};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;
use crate::graphql::query::case::ObservableMatch;
use crate::graphql::scalars::numeric_id;
use crate::graphql::types::{INCIDENTS_NEWEST_FIRST, IncidentConnection};

/// Which incidents to list; every given criterion must hold.
#[derive(InputObject, Default)]
#[graphql(name = "IncidentFilter")]
pub struct IncidentFilterInput {
    /// With one of these severities.
    pub severities: Option<Vec<IncidentSeverity>>,
    /// In one of these states.
    pub statuses: Option<Vec<IncidentStatus>>,
    /// Words that must each appear in the title or external id, ignoring case.
    pub search: Option<String>,
    /// Linked to this case.
    pub case_id: Option<ID>,
    /// Ingested from one of these sources (`microsoft-graph`, ...).
    pub sources: Option<Vec<String>>,
    /// `true`: linked to no case (the triage view); `false`: linked to at least one.
    pub unlinked: Option<bool>,
    /// Whose evidence names this indicator (the pivot cases use too).
    pub observable: Option<ObservableMatch>,
}

/// How to order incidents.
#[derive(InputObject)]
pub struct IncidentOrder {
    /// What to order by (then by number, the same way).
    pub field: IncidentOrderField,
    /// Which way (default DESC: newest, most severe, latest activity first).
    #[graphql(default_with = "OrderDirection::Desc")]
    pub direction: OrderDirection,
}

#[derive(Default)]
pub struct IncidentQuery;

#[Object]
impl IncidentQuery {
    /// One incident; null when it does not exist in the caller's tenant.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The incident's id.")] id: ID,
    ) -> GqlResult<Option<Incident>> {
        match numeric_id(&id) {
            Some(id) => Ok(loaders(ctx)?.incidents.load_one(id).await?),
            None => Ok(None),
        }
    }

    /// The tenant's incidents, newest first.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which incidents (all when absent).")] filter: Option<IncidentFilterInput>,
        #[graphql(desc = "Their order (default newest first).")] order_by: Option<IncidentOrder>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the incident this page follows.")] after: Option<String>,
    ) -> GqlResult<IncidentConnection> {
        let input = filter.unwrap_or_default();
        let filter = IncidentFilter {
            severities: input.severities.unwrap_or_default(),
            statuses: input.statuses.unwrap_or_default(),
            search: input.search,
            // an id that cannot exist matches nothing
            case_id: input.case_id.map(|id| CaseId(numeric_id(&id).unwrap_or(-1))),
            sources: input.sources.unwrap_or_default(),
            unlinked: input.unlinked,
            observable: input
                .observable
                .map(|o| Indicator::parse("filter.observable.value", o.kind, &o.value))
                .transpose()?,
        };
        let order = order_by.map_or(INCIDENTS_NEWEST_FIRST, |o| (o.field, o.direction));
        IncidentConnection::page(ctx, filter, order, first, after).await
    }
}
