use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::{case_id, clearable, finish_case, unclearable};
use crate::auth::{IngestIncidents, ManageAlerts, Permission};
use crate::domain::case::Case;
use crate::domain::incident::ingest::{
    self, Batch, IngestOutcome, ItemReport, SourceAlert, SourceEvidence, SourceIncident,
};
use crate::domain::incident::{self, Incident, IncidentChanges, IncidentId, LinkChange, NewIncident};
use crate::domain::observable::ObservableType;
use crate::domain::values::{IncidentSeverity, IncidentStatus};
use crate::domain::verdict::{Classification, Determination};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, numeric_id, optional_time};
use crate::graphql::{db, grant};

/// An incident to record.
#[derive(InputObject)]
pub struct CreateIncidentInput {
    /// The detection system's own id, unique in the tenant.
    pub external_id: Option<String>,
    /// What was detected; 1 to 256 characters.
    pub title: String,
    /// How severe it is.
    pub severity: IncidentSeverity,
    /// Where it stands (`ACTIVE` when absent).
    pub status: Option<IncidentStatus>,
}

/// A change to an incident. Absent fields are left alone; `null` clears a field.
#[derive(InputObject)]
pub struct UpdateIncidentInput {
    /// The incident's id.
    pub id: ID,
    /// New external id, unique in the tenant.
    pub external_id: MaybeUndefined<String>,
    /// New title; cannot be cleared.
    pub title: MaybeUndefined<String>,
    /// New severity; cannot be cleared.
    pub severity: MaybeUndefined<IncidentSeverity>,
    /// New state; cannot be cleared.
    pub status: MaybeUndefined<IncidentStatus>,
}

/// Incidents to link to, or unlink from, a case.
#[derive(InputObject)]
pub struct CaseIncidentsInput {
    /// The case number.
    pub case_id: ID,
    /// The incidents (at most 100).
    pub incident_ids: Vec<ID>,
}

impl CaseIncidentsInput {
    fn incident_ids(&self) -> AppResult<Vec<IncidentId>> {
        if self.incident_ids.len() > incident::MAX_LINKS_PER_CASE as usize {
            return Err(AppError::bad_input(
                "incidentIds",
                format!("at most {} at once", incident::MAX_LINKS_PER_CASE),
            ));
        }
        self.incident_ids
            .iter()
            .map(|id| {
                numeric_id(id).map(IncidentId).ok_or_else(|| {
                    AppError::bad_input("incidentIds", format!("incident {} does not exist", id.as_str()))
                })
            })
            .collect()
    }
}

#[derive(Default)]
pub struct IncidentMutation;

#[Object]
impl IncidentMutation {
    /// Records an incident.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn create_incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new incident.")] input: CreateIncidentInput,
    ) -> GqlResult<Incident> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let new = NewIncident {
            external_id: input.external_id,
            title: input.title,
            severity: input.severity,
            status: input.status,
        };
        Ok(db(ctx)?.write(async |conn| incident::create(conn, &actor, new).await).await?)
    }

    /// Changes an incident.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn update_incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The incident and its changes.")] input: UpdateIncidentInput,
    ) -> GqlResult<Incident> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id =
            numeric_id(&input.id).map(IncidentId).ok_or_else(|| AppError::not_found("incident", input.id.as_str()))?;
        let changes = IncidentChanges {
            external_id: clearable(input.external_id),
            title: unclearable("title", input.title)?,
            severity: unclearable("severity", input.severity)?,
            status: unclearable("status", input.status)?,
        };
        Ok(db(ctx)?.write(async |conn| incident::update(conn, &actor, id, changes).await).await?)
    }

    /// Links incidents to a case; linking a linked incident again changes nothing.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn link_incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the incidents.")] input: CaseIncidentsInput,
    ) -> GqlResult<Case> {
        change_links(ctx, input, LinkChange::Link).await
    }

    /// Unlinks incidents from a case; unlinking one that is not linked changes nothing.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn unlink_incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the incidents.")] input: CaseIncidentsInput,
    ) -> GqlResult<Case> {
        change_links(ctx, input, LinkChange::Unlink).await
    }
}

async fn change_links(ctx: &Context<'_>, input: CaseIncidentsInput, change: LinkChange) -> GqlResult<Case> {
    let actor = grant::<ManageAlerts>(ctx)?;
    let (case, ids) = (case_id(&input.case_id)?, input.incident_ids()?);
    let mut tx = db(ctx)?.begin().await?;
    let result = incident::change_links(&mut tx.conn(), &actor, case, &ids, change).await;
    Ok(finish_case(db(ctx)?, tx, result).await?)
}

/// Incidents a detection source sends, up to 100 per call.
#[derive(InputObject)]
pub struct IngestIncidentsInput {
    /// The source's name: 1 to 64 lower-case letters, digits, `.`, `_` or
    /// `-` (`splunk-es`). An incident is known by its source and its
    /// `externalId` together.
    pub source: String,
    /// Whether closing a case these incidents are linked to writes the
    /// case's verdict back to them, for the source's connector to pick up
    /// (the `incident.updated` webhook). Default true.
    #[graphql(default = true)]
    pub sync_back: bool,
    /// The incidents (at most 100).
    pub incidents: Vec<IngestedIncidentInput>,
}

/// An incident as its source describes it now.
#[derive(InputObject)]
pub struct IngestedIncidentInput {
    /// The source's id of the incident.
    pub external_id: String,
    /// What was detected; 1 to 256 characters.
    pub title: String,
    /// How severe the source rates it.
    pub severity: IncidentSeverity,
    /// Where it stands at the source (`ACTIVE` when absent).
    pub status: Option<IncidentStatus>,
    /// What the source classified it as.
    pub classification: Option<Classification>,
    /// Why.
    pub determination: Option<Determination>,
    /// Who owns it at the source.
    pub assigned_to: Option<String>,
    /// The source's tags (at most 50).
    pub tags: Option<Vec<String>>,
    /// The incident's page at the source.
    pub web_url: Option<String>,
    /// The source's id of the incident this one was merged into.
    pub redirected_to: Option<String>,
    /// The source's time of its last change: an update older than the
    /// stored one is ignored, an identical one writes nothing.
    pub last_updated_at: DateTime,
    /// Its alerts (at most 150).
    pub alerts: Option<Vec<IngestedAlertInput>>,
}

/// An alert of an ingested incident.
#[derive(InputObject)]
pub struct IngestedAlertInput {
    /// The source's id of the alert, unique in its incident.
    pub external_id: String,
    /// What was detected.
    pub title: String,
    /// How severe the source rates it.
    pub severity: IncidentSeverity,
    /// The source's category.
    pub category: Option<String>,
    /// What detected it.
    pub detection_source: Option<String>,
    /// When the activity began.
    pub first_activity_at: Option<DateTime>,
    /// When the activity last happened.
    pub last_activity_at: Option<DateTime>,
    /// ATT&CK technique ids (unknown ones are kept and reported).
    pub technique_ids: Option<Vec<String>>,
    /// Its evidence: typed indicators (at most 100), each checked like an
    /// observable; one that breaks its type's rules is kept and reported.
    pub evidence: Option<Vec<EvidenceInput>>,
}

/// One indicator of an alert's evidence.
#[derive(InputObject)]
pub struct EvidenceInput {
    /// Its observable type.
    #[graphql(name = "type")]
    pub kind: ObservableType,
    /// The value, as the source has it.
    pub value: String,
}

/// What one ingested incident became.
#[derive(SimpleObject)]
pub struct IngestResult {
    /// Which incident of the call (from 0).
    pub index: i32,
    /// Its externalId, when it had a readable one.
    pub external_id: Option<String>,
    /// What ingesting it did.
    pub outcome: IngestOutcome,
    /// The incident (null when refused).
    pub incident: Option<Incident>,
    /// Why it was refused, or why an older update was ignored.
    pub reason: Option<String>,
    /// What was kept as given rather than understood (unknown techniques,
    /// evidence that broke its type's rules); at most 100.
    pub warnings: Vec<String>,
}

/// What `ingestIncidents` did, per incident in the order sent.
#[derive(SimpleObject)]
pub struct IngestIncidentsPayload {
    /// One result per incident sent.
    pub results: Vec<IngestResult>,
    /// How many were created.
    pub created: i32,
    /// How many were updated.
    pub updated: i32,
    /// How many were left as stored.
    pub unchanged: i32,
    /// How many were refused.
    pub refused: i32,
}

impl IngestIncidentsPayload {
    /// The reports of a call, with their incidents as they stand now.
    pub async fn of(db: &crate::db::Db, tenant: &str, reports: Vec<ItemReport>) -> AppResult<Self> {
        let ids: Vec<IncidentId> = reports.iter().filter_map(|r| r.incident_id).collect();
        let incidents = {
            let mut conn = db.get().await?;
            incident::find_many(&mut conn.conn(), tenant, &ids).await?
        };
        let count = |o: IngestOutcome| reports.iter().filter(|r| r.outcome == o).count() as i32;
        Ok(IngestIncidentsPayload {
            created: count(IngestOutcome::Created),
            updated: count(IngestOutcome::Updated),
            unchanged: count(IngestOutcome::Unchanged),
            refused: count(IngestOutcome::Refused),
            results: reports
                .into_iter()
                .map(|r| IngestResult {
                    index: r.index as i32,
                    incident: r.incident_id.and_then(|id| incidents.iter().find(|i| i.id == id.0).cloned()),
                    external_id: r.external_id,
                    outcome: r.outcome,
                    reason: r.reason,
                    warnings: r.warnings,
                })
                .collect(),
        })
    }
}

impl IngestedIncidentInput {
    fn into_source(self, index: usize) -> Result<SourceIncident, String> {
        let field = |name: &str| format!("incidents[{index}].{name}");
        let time = |name: &str, value: Option<&DateTime>| optional_time(&field(name), value).map_err(|e| e.to_string());
        let alerts = self.alerts.unwrap_or_default();
        let mut parsed = Vec::with_capacity(alerts.len());
        for (n, alert) in alerts.into_iter().enumerate() {
            let name = |rest: &str| format!("alerts[{n}].{rest}");
            parsed.push(SourceAlert {
                external_id: alert.external_id,
                title: alert.title,
                severity: alert.severity,
                category: alert.category,
                detection_source: alert.detection_source,
                first_activity_at: time(&name("firstActivityAt"), alert.first_activity_at.as_ref())?,
                last_activity_at: time(&name("lastActivityAt"), alert.last_activity_at.as_ref())?,
                techniques: alert.technique_ids.unwrap_or_default(),
                evidence: alert
                    .evidence
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| SourceEvidence {
                        kind: e.kind.as_str().to_owned(),
                        raw: serde_json::json!({ "type": e.kind, "value": e.value }),
                        indicators: vec![(e.kind, e.value)],
                    })
                    .collect(),
                raw: serde_json::Value::Object(Default::default()),
            });
        }
        Ok(SourceIncident {
            external_id: self.external_id,
            title: self.title,
            severity: self.severity,
            status: self.status.unwrap_or(IncidentStatus::Active),
            classification: self.classification,
            determination: self.determination,
            assigned_to: self.assigned_to,
            tags: self.tags.unwrap_or_default(),
            web_url: self.web_url,
            redirected_to: self.redirected_to,
            last_updated_at: self.last_updated_at.parse_for(&field("lastUpdatedAt")).map_err(|e| e.to_string())?,
            alerts: parsed,
            warnings: Vec::new(),
        })
    }
}

#[derive(Default)]
pub struct IngestMutation;

#[Object]
impl IngestMutation {
    /// Upserts incidents from a detection source, in one transaction: each
    /// is created, updated (a newer `lastUpdatedAt`), left unchanged (the
    /// same, or older: replays are safe) or refused on its own, with the
    /// reason. The whole call is refused only when it is malformed as a
    /// whole (a bad source, more than 100 incidents).
    #[graphql(directive = requires_permission::apply(Permission::IncidentsIngest))]
    async fn ingest_incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The source and its incidents.")] input: IngestIncidentsInput,
    ) -> GqlResult<IngestIncidentsPayload> {
        let actor = grant::<IngestIncidents>(ctx)?;
        if input.incidents.len() > ingest::MAX_PER_CALL {
            return Err(AppError::bad_input(
                "incidents",
                format!("at most {} incidents per call", ingest::MAX_PER_CALL),
            )
            .into());
        }
        let items = input.incidents.into_iter().enumerate().map(|(i, item)| item.into_source(i)).collect();
        let batch = Batch { source: input.source, sync_back: input.sync_back, items };
        let reports = ingest::ingest(db(ctx)?, &actor, batch).await?;
        Ok(IngestIncidentsPayload::of(db(ctx)?, actor.tenant(), reports).await?)
    }
}
