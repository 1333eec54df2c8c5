use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};

use super::connection::{PageInfo, split_page};
use crate::auth::ReadData;
use crate::domain::case::Case;
use crate::domain::incident::ingest::{IngestOutcome, Ingestion, StoredEvidence, StoredIndicator};
use crate::domain::incident::{
    self, Alert, Incident, IncidentFilter, IncidentKey, IncidentObservable, IncidentOrderField,
};
use crate::domain::observable::ObservableType;
use crate::domain::queue::OrderDirection;
use crate::domain::values::{IncidentSeverity, IncidentStatus};
use crate::domain::verdict::{Classification, Determination};
use crate::graphql::cursor::{self, IdCursor};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::{db, grant, loaders, page_size, prefetch};

/// Something detection raised, which cases investigate.
#[Object]
impl Incident {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The detection system's own id: unique in the tenant for an incident
    /// made by hand, unique per source for an ingested one.
    async fn external_id(&self) -> Option<&str> {
        self.external()
    }
    /// The source it was ingested from (`microsoft-graph`, ...); null for
    /// an incident made by hand.
    async fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// The source's own time of its last change to what is stored
    /// (ingested incidents); older deliveries are ignored.
    async fn source_updated_at(&self) -> Option<DateTime> {
        self.source_updated_at.map(utc)
    }
    /// The incident's page at its source.
    async fn web_url(&self) -> Option<&str> {
        self.web_url.as_deref()
    }
    /// What it turned out to be: as its source says, or as the case it is
    /// linked to was closed with (sync back).
    async fn classification(&self) -> Option<Classification> {
        self.classification
    }
    /// Why it was classified so.
    async fn determination(&self) -> Option<Determination> {
        self.determination
    }
    /// Who owns it at its source (free text there).
    async fn assigned_to(&self) -> Option<&str> {
        self.assigned_to.as_deref()
    }
    /// Its source's tags (custom and system tags alike).
    async fn tags(&self) -> &[String] {
        &self.tags.0
    }
    /// The earliest activity any of its alerts saw.
    async fn first_activity_at(&self) -> Option<DateTime> {
        self.first_activity_at.map(utc)
    }
    /// The latest activity any of its alerts saw.
    async fn last_activity_at(&self) -> Option<DateTime> {
        self.last_activity_at.map(utc)
    }
    /// The source's id of the incident this one was merged into (Microsoft's
    /// `redirected` status; the status here is then `RESOLVED`).
    async fn redirected_to(&self) -> Option<&str> {
        self.redirected_to.as_deref()
    }
    /// The incident this one was merged into, when it was ingested too.
    async fn redirected_to_incident(&self, ctx: &Context<'_>) -> GqlResult<Option<Incident>> {
        let (Some(source), Some(target)) = (&self.source, &self.redirected_to) else { return Ok(None) };
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(incident::find_by_source(&mut conn.conn(), tenant, source, target).await?)
    }
    /// How many alerts it has.
    async fn alert_count(&self) -> i32 {
        self.alert_count
    }
    /// Its alerts, as its source last sent them (at most 150).
    async fn alerts(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<Alert>>> {
        Ok(loaders(ctx)?.alerts_by_incident.load_one(self.id).await?.unwrap_or_default())
    }
    /// The indicators its alerts' evidence names, in the canonical form of
    /// observables (at most 1,000).
    async fn observables(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<IncidentObservable>>> {
        Ok(loaders(ctx)?.observables_by_incident.load_one(self.id).await?.unwrap_or_default())
    }
    /// Whether closing a case it is linked to writes the case's verdict back
    /// to it (and tells its source's connector by the `incident.updated` webhook).
    async fn sync_back(&self) -> bool {
        self.sync_back
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

/// The default order of incident lists.
pub const NEWEST_FIRST: (IncidentOrderField, OrderDirection) = (IncidentOrderField::CreatedAt, OrderDirection::Desc);

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

/// Where an incident page resumes: the order it was read in, the last
/// incident's sort value and its id.
#[derive(serde::Serialize, serde::Deserialize)]
struct IncidentCursor {
    #[serde(rename = "f")]
    field: IncidentOrderField,
    #[serde(rename = "d")]
    direction: OrderDirection,
    #[serde(rename = "v")]
    value: i64,
    id: i64,
}

impl IncidentConnection {
    /// A page of the tenant's incidents matching `filter`, in `order`.
    pub async fn page(
        ctx: &Context<'_>,
        filter: IncidentFilter,
        order: (IncidentOrderField, OrderDirection),
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<IncidentConnection> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let limit = page_size(first)?;
        let after = after.as_deref().map(|a| cursor::decode::<IncidentCursor>("after", a)).transpose()?;
        if after.as_ref().is_some_and(|a| (a.field, a.direction) != order) {
            return Err(crate::error::AppError::bad_input("after", "this cursor belongs to another orderBy").into());
        }
        let key = after.as_ref().map(|a| IncidentKey { value: a.value, id: a.id });
        let mut conn = db(ctx)?.get().await?;
        let mut rows = incident::list(&mut conn.conn(), tenant, &filter, order, key, limit + 1).await?;
        let has_next = split_page(&mut rows, limit);
        for nodes in prefetch::connection_nodes(&ctx.look_ahead()) {
            prefetch::incidents(ctx, &nodes, &rows).await?;
        }
        let edges: Vec<IncidentEdge> = rows
            .into_iter()
            .map(|i| {
                let IncidentKey { value, id } = IncidentKey::of(&i, order.0);
                let cursor = IncidentCursor { field: order.0, direction: order.1, value, id };
                IncidentEdge { cursor: cursor::encode(&cursor), node: i }
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(IncidentConnection { page_info: PageInfo::new(&cursors, has_next, after.is_some()), edges, filter })
    }
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

/// An incident an ingestion created or updated, as `incidentIngested` streams it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct IncidentIngestedEvent {
    /// Pass as `after` to resume after this event.
    pub cursor: String,
    /// Whether the ingestion created the incident or updated it.
    pub outcome: IngestOutcome,
    /// When it was ingested.
    pub at: DateTime,
    #[graphql(skip)]
    pub incident_id: i64,
}

impl From<Ingestion> for IncidentIngestedEvent {
    fn from(row: Ingestion) -> Self {
        IncidentIngestedEvent {
            cursor: cursor::encode(&IdCursor { id: row.id }),
            outcome: row.outcome,
            at: utc(row.at),
            incident_id: row.incident_id,
        }
    }
}

#[async_graphql::ComplexObject]
impl IncidentIngestedEvent {
    /// The incident, as it stands now.
    async fn incident(&self, ctx: &Context<'_>) -> GqlResult<Incident> {
        let found = loaders(ctx)?.incidents.load_one(self.incident_id).await?;
        Ok(found
            .ok_or_else(|| crate::error::AppError::internal(format!("incident {} is missing", self.incident_id)))?)
    }
}

/// An alert of an ingested incident, as its source last sent it.
#[Object(name = "IncidentAlert")]
impl Alert {
    /// Stable identifier (a new one when the source sends the incident again changed).
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The source's id of the alert.
    async fn external_id(&self) -> &str {
        &self.external_id
    }
    /// What was detected.
    async fn title(&self) -> &str {
        &self.title
    }
    /// How severe the source rated it.
    async fn severity(&self) -> IncidentSeverity {
        self.severity
    }
    /// The source's category (such as an ATT&CK tactic name).
    async fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }
    /// What detected it (`antivirus`, `edr`, ...).
    async fn detection_source(&self) -> Option<&str> {
        self.detection_source.as_deref()
    }
    /// When the activity it saw began.
    async fn first_activity_at(&self) -> Option<DateTime> {
        self.first_activity_at.map(utc)
    }
    /// When the activity it saw last happened.
    async fn last_activity_at(&self) -> Option<DateTime> {
        self.last_activity_at.map(utc)
    }
    /// The ATT&CK technique ids it names, known or not (`problems` says
    /// which the catalogue does not know).
    async fn technique_ids(&self) -> &[String] {
        &self.techniques.0
    }
    /// Its evidence items, each with the indicators it names.
    async fn evidence(&self) -> &[StoredEvidence] {
        &self.evidence.0
    }
    /// What ingestion kept as given rather than understood: unknown
    /// techniques, evidence whose values broke their type's rules or that
    /// names no indicator.
    async fn problems(&self) -> &[String] {
        &self.problems.0
    }
    /// The rest of the alert as its source sent it, as JSON text.
    async fn data(&self) -> String {
        self.raw.0.to_string()
    }
}

/// One evidence item of an alert.
#[Object(name = "AlertEvidence")]
impl StoredEvidence {
    /// The source's kind of entity (`ipEvidence`, `fileEvidence`, ... or an
    /// observable type's name).
    async fn kind(&self) -> &str {
        &self.kind
    }
    /// The indicators it names.
    async fn indicators(&self) -> &[StoredIndicator] {
        &self.indicators
    }
    /// The item as its source sent it, as JSON text.
    async fn data(&self) -> String {
        self.raw.to_string()
    }
}

/// An indicator an evidence item names.
#[Object(name = "EvidenceIndicator")]
impl StoredIndicator {
    /// Its observable type.
    #[graphql(name = "type")]
    async fn kind(&self) -> ObservableType {
        self.kind
    }
    /// As the source gave it.
    async fn value(&self) -> &str {
        &self.value
    }
    /// In its type's canonical form; null when the value broke its type's rules.
    async fn normalized_value(&self) -> Option<&str> {
        self.normalized.as_deref()
    }
    /// The rule the value broke; null when it is a valid indicator.
    async fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
}
