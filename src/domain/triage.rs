//! Where an ingested incident lands: the tenant's live INCIDENT_INGESTED
//! rules, by position, test the incident; the first whose actions place it
//! on a case (a new case, or an open case already holding one of its
//! indicators) ends the run, and its remaining actions act on that case.
//! Runs in the ingestion's transaction, each rule in a savepoint: a rule
//! that fails is rolled back alone and the ingestion commits. An incident
//! already on a case (an update from its source) is not placed again.

use chrono::Duration;

use crate::auth::{ManageAlerts, Principal};
use crate::db::Conn;
use crate::domain::automation::{self, Action, ActionFailed, AutomationTrigger, Conditions, Rule};
use crate::domain::case_edit::{self, NewCase};
use crate::domain::incident::{self, Alert, Incident, IncidentId, LinkChange};
use crate::domain::template::TemplateId;
use crate::domain::values::{CaseId, IncidentSeverity};
use crate::domain::{now, tag};
use crate::error::{AppError, AppResult};

/// Runs the rules watching INCIDENT_INGESTED on the incidents `actor` just
/// ingested (from the write pipeline): the rules are read once per
/// ingestion, the incidents, their links and alerts in one statement each.
pub async fn place(conn: &mut Conn<'_>, actor: &Principal, incident_ids: &[IncidentId]) -> AppResult<()> {
    if automation::is_rule(actor) || incident_ids.is_empty() {
        return Ok(());
    }
    let tenant = actor.tenant.as_str();
    let rules = automation::live_rules(conn, tenant, &[AutomationTrigger::IncidentIngested]).await?;
    if rules.is_empty() {
        return Ok(());
    }
    let placed: Vec<i64> =
        incident::cases_of(conn, tenant, incident_ids).await?.into_iter().map(|(id, _)| id).collect();
    let mut incidents = incident::find_many(conn, tenant, incident_ids).await?;
    incidents.retain(|i| !placed.contains(&i.id));
    incidents.sort_by_key(|i| i.id);
    let ids: Vec<IncidentId> = incidents.iter().map(|i| IncidentId(i.id)).collect();
    let alerts = incident::alerts_of(conn, tenant, &ids).await?;
    for incident in &incidents {
        let own: Vec<&Alert> = alerts.iter().filter(|a| a.incident_id == incident.id).collect();
        place_one(conn, tenant, &rules, incident, &own).await?;
    }
    Ok(())
}

/// Runs the rules on one incident until one places it.
async fn place_one(
    conn: &mut Conn<'_>,
    tenant: &str,
    rules: &[Rule],
    incident: &Incident,
    alerts: &[&Alert],
) -> AppResult<()> {
    for rule in rules {
        if !holds(&rule.conditions, incident, alerts) {
            continue;
        }
        let savepoint = conn.savepoint().await?;
        match run(conn, tenant, rule, incident).await {
            Ok(Some(case_id)) => {
                conn.release(savepoint).await?;
                conn.reacted(tenant, case_id.0)?;
                return Ok(());
            }
            Ok(None) => conn.release(savepoint).await?,
            Err((existing_case, failed)) => {
                conn.roll_back_to(savepoint).await?;
                if failed.error.is_storage_full() {
                    return Err(failed.error);
                }
                match existing_case {
                    Some(case_id) => automation::record_failure(conn, tenant, rule, case_id, failed).await?,
                    None => tracing::warn!(
                        rule = rule.id.0,
                        incident = incident.id,
                        error = %failed.error,
                        "an automation rule could not place an incident"
                    ),
                }
            }
        }
    }
    Ok(())
}

/// Whether the incident meets every condition of an INCIDENT_INGESTED rule.
fn holds(c: &Conditions, incident: &Incident, alerts: &[&Alert]) -> bool {
    if !c.sources.is_empty() && !incident.source.as_ref().is_some_and(|s| c.sources.contains(s)) {
        return false;
    }
    if !c.incident_statuses.is_empty() && !c.incident_statuses.iter().any(|s| s == incident.status.as_str()) {
        return false;
    }
    if let Some(min) = c.min_incident_severity.as_deref() {
        // A stored name this build does not know holds for nothing.
        let Ok(min) = IncidentSeverity::from_db(min) else { return false };
        if incident.severity.rank() < min.rank() {
            return false;
        }
    }
    if !c.tags.is_empty() {
        let carried: Vec<String> = incident.tags.0.iter().map(|t| tag::key(t)).collect();
        if !c.tags.iter().all(|t| carried.contains(t)) {
            return false;
        }
    }
    if !c.technique_ids.is_empty()
        && !alerts.iter().any(|a| a.techniques.0.iter().any(|t| c.technique_ids.contains(&t.to_uppercase())))
    {
        return false;
    }
    if c.min_alert_count.is_some_and(|n| incident.alert_count < n) {
        return false;
    }
    true
}

/// Runs a rule's actions: the case the incident was placed on (none when
/// no action placed it), or the failure with the case that existed before
/// the rule ran, to record it on.
async fn run(
    conn: &mut Conn<'_>,
    tenant: &str,
    rule: &Rule,
    incident: &Incident,
) -> Result<Option<CaseId>, (Option<CaseId>, ActionFailed)> {
    let principal = rule.actor(tenant);
    let actor = principal.grant::<ManageAlerts>().map_err(|e| (None, ActionFailed { action: None, error: e }))?;
    let incident_id = IncidentId(incident.id);
    let mut placed: Option<CaseId> = None;
    let mut existing: Option<CaseId> = None;
    for action in &rule.actions {
        let failed = |error: AppError| ActionFailed { action: Some(action.kind()), error };
        match action {
            Action::CreateCase { template_id } if placed.is_none() => {
                let input = NewCase {
                    title: incident.title.clone(),
                    description: Some(opened_from(incident)),
                    template_id: template_id.map(TemplateId),
                    ..NewCase::default()
                };
                let case = case_edit::create(conn, &actor, input).await.map_err(|e| (existing, failed(e)))?;
                incident::change_links(conn, &actor, case.case_id(), &[incident_id], LinkChange::Link)
                    .await
                    .map_err(|e| (existing, failed(e)))?;
                placed = Some(case.case_id());
            }
            Action::LinkToMatchingCase { window_days } if placed.is_none() => {
                let since = now() - Duration::days(i64::from(*window_days));
                let found = incident::open_case_holding_indicator(conn, tenant, incident_id, since)
                    .await
                    .map_err(|e| (None, failed(e)))?;
                if let Some(case_id) = found {
                    existing = Some(case_id);
                    incident::change_links(conn, &actor, case_id, &[incident_id], LinkChange::Link)
                        .await
                        .map_err(|e| (existing, failed(e)))?;
                    placed = Some(case_id);
                }
            }
            // Placed by an earlier action: the later placing actions have nothing to do.
            placing if placing.places_incident() => {}
            other => {
                if let Some(case_id) = placed {
                    automation::run_action(conn, &actor, rule, other, case_id)
                        .await
                        .map_err(|e| (existing, failed(e)))?;
                }
            }
        }
    }
    Ok(placed)
}

/// How a case a rule opened says where it came from.
fn opened_from(incident: &Incident) -> String {
    let source = incident.source.as_deref().unwrap_or("detection");
    let id = incident.external().unwrap_or_default();
    match &incident.web_url {
        Some(url) => format!("Opened from {source} incident {id} ({url})."),
        None => format!("Opened from {source} incident {id}."),
    }
}
