use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};

use super::connection::PageInfo;
use crate::auth::ReadData;
use crate::domain::case::Case;
use crate::domain::incident::{self, Incident, IncidentFilter};
use crate::domain::values::{IncidentSeverity, IncidentStatus};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::{db, grant, loaders, prefetch};

/// Something detection raised, which cases investigate.
#[Object]
impl Incident {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The detection system's own id, unique in the tenant.
    async fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
    /// What was detected.
    async fn title(&self) -> &str {
        &self.title
    }
    /// How severe it is.
    async fn severity(&self) -> GqlResult<IncidentSeverity> {
        Ok(self.severity)
    }
    /// Where it stands.
    async fn status(&self) -> GqlResult<IncidentStatus> {
        Ok(self.status)
    }
    /// When it was recorded.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
    /// The cases it is linked to, newest first.
    async fn cases(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<Case>>> {
        let cases = loaders(ctx)?.cases_by_incident.load_one(self.id).await?.unwrap_or_default();
        prefetch::cases(ctx, &ctx.look_ahead(), &cases).await?;
        Ok(cases)
    }
}

/// An edge of the incident list.
#[derive(SimpleObject)]
pub struct IncidentEdge {
    /// Pass as `after` to continue after this incident.
    pub cursor: String,
    /// The incident.
    pub node: Incident,
}

/// A page of incidents, newest first (Relay connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct IncidentConnection {
    /// The incidents of this page with their cursors.
    pub edges: Vec<IncidentEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub filter: IncidentFilter,
}

#[async_graphql::ComplexObject]
impl IncidentConnection {
    /// The incidents of this page.
    async fn nodes(&self) -> Vec<&Incident> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// How many incidents match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(incident::count(&mut conn.conn(), tenant, &self.filter).await?)
    }
}
