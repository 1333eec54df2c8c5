//! Incidents as detection sends them: checked, then upserted by (tenant,
//! source, the source's id) in one transaction. The source's
//! `lastUpdatedAt` orders updates: an older one is ignored (a replay or an
//! out-of-order delivery), an identical one (same content hash) writes
//! nothing. A bad item is refused on its own; the rest of the call goes in.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AlertInsert, IncidentId, IncidentObservableInsert};
use crate::auth::{Granted, IngestIncidents};
use crate::db::schema::{incident_alerts, incident_ingestions, incident_observables, incidents};
use crate::db::{Conn, Db, Json, Link};
use crate::domain::attack;
use crate::domain::facts::IncidentsIngested;
use crate::domain::now;
use crate::domain::observable::ObservableType;
use crate::domain::observable::normalize::normalize;
use crate::domain::values::{IncidentSeverity, IncidentStatus, MAX_TITLE_CHARS, search_text, text_enum};
use crate::domain::verdict::{Classification, Determination};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The most incidents one call ingests.
pub const MAX_PER_CALL: usize = 100;
/// The most alerts one incident carries.
pub const MAX_ALERTS_PER_INCIDENT: usize = 150;
/// The most evidence items one alert carries.
pub const MAX_EVIDENCE_PER_ALERT: usize = 100;
/// The most techniques one alert names.
pub const MAX_TECHNIQUES_PER_ALERT: usize = 50;
/// The most indicators one evidence item names.
pub const MAX_INDICATORS_PER_EVIDENCE: usize = 8;
/// The most tags one incident carries.
pub const MAX_TAGS: usize = 50;
/// The longest tag, source name, category or id, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// The most bytes of one alert's data kept as given (its evidence and the
/// fields casebook does not map).
pub const MAX_RAW_BYTES_PER_ALERT: usize = 64 * 1024;
/// The most indicators one incident keeps as observables (its evidence
/// keeps the rest as given).
pub const MAX_OBSERVABLES_PER_INCIDENT: usize = 1_000;
/// The most warnings one item reports (the last says how many more there were).
pub const MAX_WARNINGS: usize = 100;
/// The longest source name.
pub const MAX_SOURCE_CHARS: usize = 64;
/// Rows per insert statement (SQLite binds at most 32,766 values).
const ROWS_PER_STATEMENT: usize = 500;

text_enum! {
    /// What ingesting one incident did.
    pub enum IngestOutcome {
        /// A new incident was recorded.
        Created => "CREATED",
        /// The stored incident was replaced by the newer one sent.
        Updated => "UPDATED",
        /// Nothing was written: the incident sent is identical to the stored
        /// one, or older than it (`lastUpdatedAt`), as replays are.
        Unchanged => "UNCHANGED",
        /// This incident was refused (the reason says why); the others of
        /// the call were not affected.
        Refused => "REFUSED",
    }
}

/// An incident as its source describes it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceIncident {
    pub external_id: String,
    pub title: String,
    pub severity: IncidentSeverity,
    pub status: IncidentStatus,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub assigned_to: Option<String>,
    pub tags: Vec<String>,
    pub web_url: Option<String>,
    /// The source's id of the incident this one was merged into.
    pub redirected_to: Option<String>,
    pub last_updated_at: NaiveDateTime,
    pub alerts: Vec<SourceAlert>,
    /// What a mapping from the source's own format had to report.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceAlert {
    pub external_id: String,
    pub title: String,
    pub severity: IncidentSeverity,
    pub category: Option<String>,
    pub detection_source: Option<String>,
    pub first_activity_at: Option<NaiveDateTime>,
    pub last_activity_at: Option<NaiveDateTime>,
    pub techniques: Vec<String>,
    pub evidence: Vec<SourceEvidence>,
    /// The rest of the alert as the source sent it.
    pub raw: serde_json::Value,
}

/// One evidence item: the indicators it names (type and value, checked on
/// ingestion) and the item as given.
#[derive(Debug, Clone, Serialize)]
pub struct SourceEvidence {
    /// The source's name for the kind of entity (`ipEvidence`, or an
    /// observable type's name).
    pub kind: String,
    pub indicators: Vec<(ObservableType, String)>,
    pub raw: serde_json::Value,
}

/// A call's incidents: each parsed, or refused with the reason.
pub struct Batch {
    pub source: String,
    /// Whether closing a case writes its verdict back to these incidents.
    pub sync_back: bool,
    pub items: Vec<Result<SourceIncident, String>>,
}

/// What ingesting one item did.
#[derive(Debug, Clone)]
pub struct ItemReport {
    /// Which item of the call (from 0).
    pub index: usize,
    pub external_id: Option<String>,
    pub outcome: IngestOutcome,
    pub incident_id: Option<IncidentId>,
    /// Why it was refused, or why an older update was ignored.
    pub reason: Option<String>,
    /// What was kept as given rather than understood: unknown techniques,
    /// evidence that names no indicator casebook can check, values mapped
    /// by default.
    pub warnings: Vec<String>,
}

/// An evidence item as stored on its alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvidence {
    pub kind: String,
    pub indicators: Vec<StoredIndicator>,
    pub raw: serde_json::Value,
}

/// An indicator an evidence item names: canonical when it passed its type's
/// rules, else kept as given with the rule it broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredIndicator {
    pub kind: ObservableType,
    pub value: String,
    pub normalized: Option<String>,
    pub problem: Option<String>,
}

/// An incident that passed the checks, as it is stored.
#[derive(Debug)]
struct Checked {
    external_id: String,
    title: String,
    severity: IncidentSeverity,
    status: IncidentStatus,
    classification: Option<Classification>,
    determination: Option<Determination>,
    assigned_to: Option<String>,
    tags: Vec<String>,
    web_url: Option<String>,
    redirected_to: Option<String>,
    last_updated_at: NaiveDateTime,
    first_activity_at: Option<NaiveDateTime>,
    last_activity_at: Option<NaiveDateTime>,
    alerts: Vec<CheckedAlert>,
    observables: Vec<(ObservableType, String, String)>,
    warnings: Vec<String>,
}

#[derive(Debug)]
struct CheckedAlert {
    external_id: String,
    title: String,
    severity: IncidentSeverity,
    category: Option<String>,
    detection_source: Option<String>,
    first_activity_at: Option<NaiveDateTime>,
    last_activity_at: Option<NaiveDateTime>,
    techniques: Vec<String>,
    evidence: Vec<StoredEvidence>,
    problems: Vec<String>,
    raw: serde_json::Value,
}

/// Ingests a batch: refuses the whole call only when it is malformed as a
/// whole (a bad source, too many items); otherwise reports per item. A
/// batch with nothing new is answered from a read, without a write.
pub async fn ingest(db: &Db, actor: &Granted<'_, IngestIncidents>, batch: Batch) -> AppResult<Vec<ItemReport>> {
    let source = check_source(&batch.source)?;
    if batch.items.len() > MAX_PER_CALL {
        return Err(AppError::bad_input("incidents", format!("at most {MAX_PER_CALL} incidents per call")));
    }
    let mut reports = Vec::with_capacity(batch.items.len());
    // What was sent is hashed before anything is checked: a replay is known by
    // its hash and answered without checking it again.
    let mut sent = Vec::new();
    let mut seen = HashSet::new();
    for (index, item) in batch.items.into_iter().enumerate() {
        match item {
            Err(reason) => reports.push(refused(index, None, reason)),
            Ok(item) if !seen.insert(item.external_id.trim().to_owned()) => reports.push(refused(
                index,
                Some(item.external_id),
                "this externalId appears earlier in the same call".into(),
            )),
            Ok(item) => {
                let hash = source_hash(&item);
                sent.push((index, item, hash));
            }
        }
    }
    let tenant = actor.tenant();
    let ids: Vec<&str> = sent.iter().map(|(_, item, _)| item.external_id.trim()).collect();
    // Read outside a transaction: a call with nothing new takes no write turn.
    let stored = {
        let mut pooled = db.get().await?;
        stored_states(&mut pooled.conn(), tenant, &source, &ids).await?
    };
    let mut checked = Vec::new();
    for (index, item, hash) in sent {
        let state = stored.get(item.external_id.trim());
        let updated = crate::db::to_micros(item.last_updated_at);
        if let Some(reason) = is_current(state, updated, &hash) {
            reports.push(unchanged(index, item.external_id.trim().to_owned(), state.map(|s| IncidentId(s.id)), reason));
            continue;
        }
        let external_id = item.external_id.clone();
        match check(item) {
            Ok(item) => checked.push((index, item, hash)),
            Err(reason) => reports.push(refused(index, Some(external_id), reason)),
        }
    }
    if !checked.is_empty() {
        let written = db.write(async |conn| write(conn, actor, &source, batch.sync_back, checked).await).await?;
        reports.extend(written);
    }
    reports.sort_by_key(|r| r.index);
    Ok(reports)
}

fn refused(index: usize, external_id: Option<String>, reason: String) -> ItemReport {
    ItemReport {
        index,
        external_id,
        outcome: IngestOutcome::Refused,
        incident_id: None,
        reason: Some(reason),
        warnings: Vec::new(),
    }
}

fn unchanged(index: usize, external_id: String, id: Option<IncidentId>, reason: Option<String>) -> ItemReport {
    ItemReport {
        index,
        external_id: Some(external_id),
        outcome: IngestOutcome::Unchanged,
        incident_id: id,
        reason,
        warnings: Vec::new(),
    }
}

/// A source name: lower-case letters, digits, `.`, `_` and `-`, starting
/// with a letter or digit (`microsoft-graph`, `splunk.es`).
fn check_source(source: &str) -> AppResult<String> {
    let valid = !source.is_empty()
        && source.len() <= MAX_SOURCE_CHARS
        && source.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && source.as_bytes()[0].is_ascii_alphanumeric();
    if valid {
        Ok(source.to_owned())
    } else {
        Err(AppError::bad_input(
            "source",
            format!(
                "must be 1 to {MAX_SOURCE_CHARS} lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}

/// Plain text of at most `max` characters, trimmed; `field` names it.
fn text(field: &str, value: &str, max: usize) -> Result<String, String> {
    crate::domain::parse_text(field, value, max).map_err(|e| e.to_string())
}

fn optional(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

fn check(item: SourceIncident) -> Result<Checked, String> {
    let external_id = text("externalId", &item.external_id, MAX_NAME_CHARS)?;
    let title = text("title", &item.title, MAX_TITLE_CHARS)?;
    if item.tags.len() > MAX_TAGS {
        return Err(format!("tags: at most {MAX_TAGS}"));
    }
    let mut tags = Vec::new();
    for tag in &item.tags {
        let tag = text("tags", tag, MAX_NAME_CHARS)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if item.alerts.len() > MAX_ALERTS_PER_INCIDENT {
        return Err(format!("alerts: at most {MAX_ALERTS_PER_INCIDENT} per incident"));
    }
    let web_url = optional("webUrl", item.web_url.as_deref(), 2048)?;
    if let Some(url) = &web_url {
        normalize(ObservableType::Url, url).map_err(|rule| format!("webUrl: {rule}"))?;
    }
    let mut warnings = item.warnings;
    let mut observables: Vec<(ObservableType, String, String)> = Vec::new();
    let mut seen: HashSet<(ObservableType, String)> = HashSet::new();
    let mut alerts = Vec::with_capacity(item.alerts.len());
    let mut alert_ids = HashSet::new();
    for (n, alert) in item.alerts.into_iter().enumerate() {
        let field = format!("alerts[{n}]");
        let external_id = text(&format!("{field}.externalId"), &alert.external_id, MAX_NAME_CHARS)?;
        if !alert_ids.insert(external_id.clone()) {
            return Err(format!("{field}.externalId: {external_id:?} appears twice in the incident"));
        }
        if alert.evidence.len() > MAX_EVIDENCE_PER_ALERT {
            return Err(format!("{field}.evidence: at most {MAX_EVIDENCE_PER_ALERT} items per alert"));
        }
        if alert.techniques.len() > MAX_TECHNIQUES_PER_ALERT {
            return Err(format!("{field}.techniques: at most {MAX_TECHNIQUES_PER_ALERT} per alert"));
        }
        let mut problems = Vec::new();
        let mut techniques = Vec::new();
        for technique in &alert.techniques {
            let technique = text(&format!("{field}.techniques"), technique, MAX_NAME_CHARS)?;
            if attack::catalogue().technique(&technique).is_none() {
                problems.push(format!("technique {technique:?} is not in the ATT&CK catalogue; kept as given"));
            }
            if !techniques.contains(&technique) {
                techniques.push(technique);
            }
        }
        let mut evidence = Vec::with_capacity(alert.evidence.len());
        for item in alert.evidence {
            if item.indicators.len() > MAX_INDICATORS_PER_EVIDENCE {
                return Err(format!("{field}.evidence: at most {MAX_INDICATORS_PER_EVIDENCE} indicators per item"));
            }
            let mut indicators = Vec::new();
            for (kind, value) in item.indicators {
                match normalize(kind, &value) {
                    Ok(normalized) => {
                        if observables.len() < MAX_OBSERVABLES_PER_INCIDENT && seen.insert((kind, normalized.clone())) {
                            observables.push((kind, normalized.clone(), value.trim().to_owned()));
                        } else if observables.len() >= MAX_OBSERVABLES_PER_INCIDENT
                            && !seen.contains(&(kind, normalized.clone()))
                        {
                            problems.push(format!(
                                "{} {normalized:?}: past {MAX_OBSERVABLES_PER_INCIDENT} indicators per incident, kept in the evidence only",
                                kind.as_str()
                            ));
                        }
                        indicators.push(StoredIndicator { kind, value, normalized: Some(normalized), problem: None });
                    }
                    Err(rule) => {
                        problems.push(format!(
                            "{} evidence: {} {value:?} {rule}; kept as given",
                            item.kind,
                            kind.as_str()
                        ));
                        indicators.push(StoredIndicator { kind, value, normalized: None, problem: Some(rule) });
                    }
                }
            }
            if indicators.is_empty() {
                problems.push(format!("{} evidence names no indicator casebook checks; kept as given", item.kind));
            }
            evidence.push(StoredEvidence { kind: item.kind, indicators, raw: item.raw });
        }
        let raw_bytes = serde_json::to_vec(&(&evidence, &alert.raw)).map_or(usize::MAX, |b| b.len());
        if raw_bytes > MAX_RAW_BYTES_PER_ALERT {
            return Err(format!("{field}: its data is {raw_bytes} bytes; at most {MAX_RAW_BYTES_PER_ALERT} per alert"));
        }
        warnings.extend(problems.iter().map(|p| format!("alert {external_id}: {p}")));
        cap(&mut problems, "the evidence keeps every item as given");
        alerts.push(CheckedAlert {
            external_id,
            title: text(&format!("{field}.title"), &alert.title, MAX_TITLE_CHARS)?,
            severity: alert.severity,
            category: optional(&format!("{field}.category"), alert.category.as_deref(), MAX_NAME_CHARS)?,
            detection_source: optional(
                &format!("{field}.detectionSource"),
                alert.detection_source.as_deref(),
                MAX_NAME_CHARS,
            )?,
            first_activity_at: alert.first_activity_at.map(crate::db::to_micros),
            last_activity_at: alert.last_activity_at.map(crate::db::to_micros),
            techniques,
            evidence,
            problems,
            raw: alert.raw,
        });
    }
    cap(&mut warnings, "see each alert's problems");
    let first_activity_at = alerts.iter().filter_map(|a| a.first_activity_at.or(a.last_activity_at)).min();
    let last_activity_at = alerts.iter().filter_map(|a| a.last_activity_at.or(a.first_activity_at)).max();
    Ok(Checked {
        external_id,
        title,
        severity: item.severity,
        status: item.status,
        classification: item.classification,
        determination: item.determination,
        assigned_to: optional("assignedTo", item.assigned_to.as_deref(), MAX_NAME_CHARS)?,
        tags,
        web_url,
        redirected_to: optional("redirectedTo", item.redirected_to.as_deref(), MAX_NAME_CHARS)?,
        last_updated_at: crate::db::to_micros(item.last_updated_at),
        first_activity_at,
        last_activity_at,
        alerts,
        observables,
        warnings,
    })
}

/// Keeps at most [`MAX_WARNINGS`] notes, the last saying how many more there were.
fn cap(notes: &mut Vec<String>, where_else: &str) {
    if notes.len() > MAX_WARNINGS {
        let more = notes.len() - (MAX_WARNINGS - 1);
        notes.truncate(MAX_WARNINGS - 1);
        notes.push(format!("and {more} more ({where_else})"));
    }
}

/// The hex SHA-256 of an incident as sent (its source's JSON objects keep
/// their keys sorted, so the same content hashes the same).
fn source_hash(item: &SourceIncident) -> String {
    let bytes = serde_json::to_vec(item).unwrap_or_default();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// What is stored of an ingested incident.
#[derive(Debug, Queryable)]
struct Stored {
    id: i64,
    source_id: Option<String>,
    source_updated_at: Option<NaiveDateTime>,
    content_hash: Option<String>,
}

async fn stored_states(
    conn: &mut Conn<'_>,
    tenant: &str,
    source: &str,
    ids: &[&str],
) -> AppResult<HashMap<String, Stored>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Stored> = with_conn!(conn, c => {
        incidents::table
            .filter(incidents::tenant_id.eq(tenant))
            .filter(incidents::source.eq(source))
            .filter(incidents::source_id.eq_any(ids))
            .select((incidents::id, incidents::source_id, incidents::source_updated_at, incidents::content_hash))
            .load(c)
            .await
    })?;
    Ok(rows.into_iter().filter_map(|s| Some((s.source_id.clone()?, s))).collect())
}

/// `Some` when the stored incident needs no write (with the reason to tell
/// when the one sent was older), `None` when it must be written.
fn is_current(stored: Option<&Stored>, last_updated_at: NaiveDateTime, hash: &str) -> Option<Option<String>> {
    let stored = stored?;
    let stored_at = stored.source_updated_at?;
    if last_updated_at < stored_at {
        return Some(Some(format!(
            "lastUpdatedAt {} is older than the stored {}; ignored",
            last_updated_at.and_utc().to_rfc3339(),
            stored_at.and_utc().to_rfc3339()
        )));
    }
    (stored.content_hash.as_deref() == Some(hash)).then_some(None)
}

/// Serialises a tenant's ingestions across replicas for the rest of the
/// transaction (SQLite's writes already take turns): two deliveries of one
/// incident cannot both create it, and the tenant's ingestion log commits in
/// id order, so "everything after my last id" is complete for its watchers.
async fn lock_tenant_ingestion(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    if let Link::Postgres(c) = &mut conn.link {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('casebook ingest ' || $1, 0))")
            .bind::<Text, _>(tenant)
            .execute(*c)
            .await?;
    }
    Ok(())
}

/// One entry of the tenant's ingestion log: an incident an ingestion
/// created or updated.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incident_ingestions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Ingestion {
    pub id: i64,
    pub incident_id: i64,
    pub outcome: IngestOutcome,
    pub actor_id: String,
    pub at: NaiveDateTime,
}

/// The tenant's ingestion log after `after`, oldest first, at most `limit`.
pub async fn ingestions_since(conn: &mut Conn<'_>, tenant: &str, after: i64, limit: i64) -> AppResult<Vec<Ingestion>> {
    let rows = with_conn!(conn, c => {
        incident_ingestions::table
            .filter(incident_ingestions::tenant_id.eq(tenant))
            .filter(incident_ingestions::id.gt(after))
            .order(incident_ingestions::id.asc())
            .limit(limit)
            .select(Ingestion::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Where the tenant's ingestion log stands (0 when empty).
pub async fn last_ingestion(conn: &mut Conn<'_>, tenant: &str) -> AppResult<i64> {
    let last: Option<i64> = with_conn!(conn, c => {
        incident_ingestions::table
            .filter(incident_ingestions::tenant_id.eq(tenant))
            .select(diesel::dsl::max(incident_ingestions::id))
            .first(c)
            .await
    })?;
    Ok(last.unwrap_or(0))
}

/// The incident row's ingested columns.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = incidents, treat_none_as_default_value = false, treat_none_as_null = true)]
struct IngestedRow {
    title: String,
    search_text: String,
    severity: IncidentSeverity,
    status: IncidentStatus,
    updated_at: NaiveDateTime,
    source_updated_at: Option<NaiveDateTime>,
    content_hash: Option<String>,
    web_url: Option<String>,
    classification: Option<Classification>,
    determination: Option<Determination>,
    assigned_to: Option<String>,
    tags: Json<Vec<String>>,
    first_activity_at: Option<NaiveDateTime>,
    last_activity_at: Option<NaiveDateTime>,
    redirected_to: Option<String>,
    alert_count: i32,
    sync_back: bool,
    severity_rank: i32,
    activity_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = incidents, treat_none_as_default_value = false)]
struct NewRow {
    tenant_id: String,
    source: Option<String>,
    source_id: Option<String>,
    created_at: NaiveDateTime,
    #[diesel(embed)]
    ingested: IngestedRow,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = incident_ingestions, treat_none_as_default_value = false)]
struct IngestionRow {
    tenant_id: String,
    incident_id: i64,
    outcome: IngestOutcome,
    actor_id: String,
    at: NaiveDateTime,
}

fn row_of(item: &Checked, hash: &str, sync_back: bool, at: NaiveDateTime) -> IngestedRow {
    IngestedRow {
        title: item.title.clone(),
        search_text: search_text(&[Some(&item.title), Some(&item.external_id)]),
        severity: item.severity,
        status: item.status,
        updated_at: at,
        source_updated_at: Some(item.last_updated_at),
        content_hash: Some(hash.to_owned()),
        web_url: item.web_url.clone(),
        classification: item.classification,
        determination: item.determination,
        assigned_to: item.assigned_to.clone(),
        tags: Json(item.tags.clone()),
        first_activity_at: item.first_activity_at,
        last_activity_at: item.last_activity_at,
        redirected_to: item.redirected_to.clone(),
        alert_count: item.alerts.len() as i32,
        sync_back,
        severity_rank: item.severity.rank(),
        activity_at: item.last_activity_at.unwrap_or(item.last_updated_at),
    }
}

async fn write(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, IngestIncidents>,
    source: &str,
    sync_back: bool,
    checked: Vec<(usize, Checked, String)>,
) -> AppResult<Vec<ItemReport>> {
    let tenant = actor.tenant();
    lock_tenant_ingestion(conn, tenant).await?;
    let ids: Vec<&str> = checked.iter().map(|(_, c, _)| c.external_id.as_str()).collect();
    let stored = stored_states(conn, tenant, source, &ids).await?;
    let at = now();
    let mut reports = Vec::with_capacity(checked.len());
    let (mut fresh, mut changed) = (Vec::new(), Vec::new());
    for (index, item, hash) in checked {
        let state = stored.get(&item.external_id);
        match (state, is_current(state, item.last_updated_at, &hash)) {
            (_, Some(reason)) => {
                reports.push(unchanged(index, item.external_id, state.map(|s| IncidentId(s.id)), reason))
            }
            (Some(state), None) => changed.push((index, item, hash, state.id)),
            (None, None) => fresh.push((index, item, hash)),
        }
    }
    let new_rows: Vec<NewRow> = fresh
        .iter()
        .map(|(_, item, hash)| NewRow {
            tenant_id: tenant.to_owned(),
            source: Some(source.to_owned()),
            source_id: Some(item.external_id.clone()),
            created_at: at,
            ingested: row_of(item, hash, sync_back, at),
        })
        .collect();
    let mut new_ids = Vec::with_capacity(new_rows.len());
    for chunk in new_rows.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<i64> = crate::bulk_insert!(conn, incidents::table, chunk, returning incidents::id)?;
        new_ids.extend(ids);
    }
    for (_, item, hash, id) in &changed {
        let row = row_of(item, hash, sync_back, at);
        with_conn!(conn, c => diesel::update(incidents::table.find(id)).set(&row).execute(c).await)?;
    }
    let changed_ids: Vec<i64> = changed.iter().map(|(.., id)| *id).collect();
    if !changed_ids.is_empty() {
        with_conn!(conn, c => {
            diesel::delete(incident_alerts::table.filter(incident_alerts::incident_id.eq_any(&changed_ids)))
                .execute(c)
                .await
        })?;
        with_conn!(conn, c => {
            diesel::delete(
                incident_observables::table
                    .filter(incident_observables::tenant_id.eq(tenant))
                    .filter(incident_observables::incident_id.eq_any(&changed_ids)),
            )
            .execute(c)
            .await
        })?;
    }
    let written: Vec<(usize, Checked, i64, IngestOutcome)> = fresh
        .into_iter()
        .zip(new_ids)
        .map(|((index, item, _), id)| (index, item, id, IngestOutcome::Created))
        .chain(changed.into_iter().map(|(index, item, _, id)| (index, item, id, IngestOutcome::Updated)))
        .collect();
    let mut alerts = Vec::new();
    let mut observables = Vec::new();
    let mut ingestions = Vec::new();
    for (_, item, id, outcome) in &written {
        for (position, alert) in item.alerts.iter().enumerate() {
            alerts.push(AlertInsert {
                tenant_id: tenant.to_owned(),
                incident_id: *id,
                position: position as i32,
                external_id: alert.external_id.clone(),
                title: alert.title.clone(),
                severity: alert.severity,
                category: alert.category.clone(),
                detection_source: alert.detection_source.clone(),
                first_activity_at: alert.first_activity_at,
                last_activity_at: alert.last_activity_at,
                techniques: Json(alert.techniques.clone()),
                evidence: Json(alert.evidence.clone()),
                problems: Json(alert.problems.clone()),
                raw: Json(alert.raw.clone()),
            });
        }
        for (kind, normalized, value) in &item.observables {
            observables.push(IncidentObservableInsert {
                tenant_id: tenant.to_owned(),
                incident_id: *id,
                kind: *kind,
                normalized_value: normalized.clone(),
                value: value.clone(),
            });
        }
        ingestions.push(IngestionRow {
            tenant_id: tenant.to_owned(),
            incident_id: *id,
            outcome: *outcome,
            actor_id: actor.user_id.clone(),
            at,
        });
    }
    for chunk in alerts.chunks(ROWS_PER_STATEMENT) {
        crate::bulk_insert!(conn, incident_alerts::table, chunk)?;
    }
    for chunk in observables.chunks(ROWS_PER_STATEMENT * 2) {
        crate::bulk_insert!(conn, incident_observables::table, chunk)?;
    }
    for chunk in ingestions.chunks(ROWS_PER_STATEMENT) {
        crate::bulk_insert!(conn, incident_ingestions::table, chunk)?;
    }
    if !ingestions.is_empty() {
        conn.ingested(tenant)?;
    }
    let incident_ids: Vec<IncidentId> = written.iter().map(|(_, _, id, _)| IncidentId(*id)).collect();
    if !incident_ids.is_empty() {
        conn.record(IncidentsIngested { actor: actor.principal().clone(), incident_ids })?;
    }
    for (index, item, id, outcome) in written {
        reports.push(ItemReport {
            index,
            external_id: Some(item.external_id),
            outcome,
            incident_id: Some(IncidentId(id)),
            reason: None,
            warnings: item.warnings,
        });
    }
    Ok(reports)
}
