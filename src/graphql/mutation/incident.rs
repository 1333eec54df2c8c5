use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::{case_id, clearable, finish_case, unclearable};
use crate::auth::{ManageAlerts, Permission};
use crate::domain::case::Case;
use crate::domain::incident::{self, Incident, IncidentChanges, IncidentId, LinkChange, NewIncident};
use crate::domain::values::{IncidentSeverity, IncidentStatus};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
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
