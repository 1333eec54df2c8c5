use async_graphql::{Context, ID, InputObject, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::case::CaseId;
use crate::domain::incident::{self, Incident, IncidentFilter};
use crate::domain::values::{IncidentSeverity, IncidentStatus};
use crate::graphql::cursor::{self, IdCursor};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::types::{IncidentConnection, IncidentEdge, PageInfo, split_page};
use crate::graphql::{db, grant, loaders, page_size};

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
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the incident this page follows.")] after: Option<String>,
    ) -> GqlResult<IncidentConnection> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let limit = page_size(first)?;
        let input = filter.unwrap_or_default();
        let filter = IncidentFilter {
            severities: input.severities.unwrap_or_default(),
            statuses: input.statuses.unwrap_or_default(),
            search: input.search,
            // an id that cannot exist matches nothing
            case_id: input.case_id.map(|id| CaseId(numeric_id(&id).unwrap_or(-1))),
        };
        let after = after.as_deref().map(|a| cursor::decode::<IdCursor>("after", a)).transpose()?;
        let mut conn = db(ctx)?.get().await?;
        let mut rows = incident::list(&mut conn.conn(), tenant, &filter, after.map(|a| a.id), limit + 1).await?;
        let has_next = split_page(&mut rows, limit);
        let edges: Vec<IncidentEdge> = rows
            .into_iter()
            .map(|i| IncidentEdge { cursor: cursor::encode(&IdCursor { id: i.id }), node: i })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(IncidentConnection { page_info: PageInfo::new(&cursors, has_next, after.is_some()), edges, filter })
    }
}
