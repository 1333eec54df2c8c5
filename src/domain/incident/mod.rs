//! Incidents raised by detection, and their links to cases. Incidents are
//! made by hand, or ingested from a source with their alerts and the
//! indicators their evidence names ([`ingest`], [`microsoft`]).

pub mod ingest;
pub mod microsoft;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts, Principal};
use crate::db::schema::{case_incidents, cases, incident_alerts, incident_observables, incidents};
use crate::db::{Conn, Json};
use crate::domain::activity::{self, AuditAction, FieldChange, NewAudit};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::facts::AutomationTrigger;
use crate::domain::now;
use crate::domain::observable::{Indicator, ObservableType};
use crate::domain::queue::OrderDirection;
use crate::domain::user::escape_like;
use crate::domain::values::text_enum;
use crate::domain::values::{
    IncidentSeverity, IncidentStatus, MAX_TITLE_CHARS, required_text, search_text, search_words,
};
use crate::domain::verdict::{Classification, Determination};
use crate::error::{AppError, AppResult, UniqueConstraint};
use crate::with_conn;

/// The most incidents one case links (the product limit).
pub const MAX_LINKS_PER_CASE: i64 = 100;
/// The most cases one incident is linked to (the product limit; it bounds
/// `Incident.cases`, which has no pages).
pub const MAX_CASES_PER_INCIDENT: i64 = 100;

pub use crate::domain::values::IncidentId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incidents, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Incident {
    pub id: i64,
    pub external_id: Option<String>,
    pub title: String,
    pub severity: IncidentSeverity,
    pub status: IncidentStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The source it was ingested from; `None` when made by hand.
    pub source: Option<String>,
    /// The source's id of it (ingested incidents).
    pub source_id: Option<String>,
    /// The source's `lastUpdatedAt` of what is stored.
    pub source_updated_at: Option<NaiveDateTime>,
    pub web_url: Option<String>,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub assigned_to: Option<String>,
    pub tags: Json<Vec<String>>,
    pub first_activity_at: Option<NaiveDateTime>,
    pub last_activity_at: Option<NaiveDateTime>,
    pub redirected_to: Option<String>,
    pub alert_count: i32,
    pub sync_back: bool,
    /// What LAST_ACTIVITY_AT orders by.
    pub activity_at: NaiveDateTime,
}

impl Incident {
    /// The detection system's id: the source's for an ingested incident.
    pub fn external(&self) -> Option<&str> {
        self.source_id.as_deref().or(self.external_id.as_deref())
    }
}

/// An alert of an ingested incident, as its source last sent it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incident_alerts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Alert {
    pub id: i64,
    pub incident_id: i64,
    pub external_id: String,
    pub title: String,
    pub severity: IncidentSeverity,
    pub category: Option<String>,
    pub detection_source: Option<String>,
    pub first_activity_at: Option<NaiveDateTime>,
    pub last_activity_at: Option<NaiveDateTime>,
    pub techniques: Json<Vec<String>>,
    pub evidence: Json<Vec<ingest::StoredEvidence>>,
    pub problems: Json<Vec<String>>,
    pub raw: Json<serde_json::Value>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = incident_alerts, treat_none_as_default_value = false)]
struct AlertInsert {
    tenant_id: String,
    incident_id: i64,
    position: i32,
    external_id: String,
    title: String,
    severity: IncidentSeverity,
    category: Option<String>,
    detection_source: Option<String>,
    first_activity_at: Option<NaiveDateTime>,
    last_activity_at: Option<NaiveDateTime>,
    techniques: Json<Vec<String>>,
    evidence: Json<Vec<ingest::StoredEvidence>>,
    problems: Json<Vec<String>>,
    raw: Json<serde_json::Value>,
}

/// An indicator an incident's evidence names, in its canonical form.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incident_observables, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct IncidentObservable {
    pub incident_id: i64,
    pub kind: ObservableType,
    pub normalized_value: String,
    pub value: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = incident_observables, treat_none_as_default_value = false)]
struct IncidentObservableInsert {
    tenant_id: String,
    incident_id: i64,
    kind: ObservableType,
    normalized_value: String,
    value: String,
}

/// The alerts of these incidents, in the order their source sent them.
pub async fn alerts_of(conn: &mut Conn<'_>, tenant: &str, ids: &[IncidentId]) -> AppResult<Vec<Alert>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let alerts = with_conn!(conn, c => {
        incident_alerts::table
            .filter(incident_alerts::tenant_id.eq(tenant))
            .filter(incident_alerts::incident_id.eq_any(&ids))
            .order((incident_alerts::incident_id, incident_alerts::position))
            .select(Alert::as_select())
            .load(c)
            .await
    })?;
    Ok(alerts)
}

/// The indicators of these incidents, by type and value.
pub async fn observables_of(
    conn: &mut Conn<'_>,
    tenant: &str,
    ids: &[IncidentId],
) -> AppResult<Vec<IncidentObservable>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let found = with_conn!(conn, c => {
        incident_observables::table
            .filter(incident_observables::tenant_id.eq(tenant))
            .filter(incident_observables::incident_id.eq_any(&ids))
            .order((incident_observables::incident_id, incident_observables::kind, incident_observables::normalized_value))
            .select(IncidentObservable::as_select())
            .load(c)
            .await
    })?;
    Ok(found)
}

/// A whole incident row, for bulk loading (the demo data set).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = incidents, treat_none_as_default_value = false)]
pub struct IncidentRow {
    pub tenant_id: String,
    pub external_id: Option<String>,
    pub title: String,
    pub search_text: String,
    pub severity: IncidentSeverity,
    pub status: IncidentStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub severity_rank: i32,
    pub activity_at: NaiveDateTime,
}

impl IncidentRow {
    /// A row as [`create`] writes it (its search text from the title and the
    /// external id), at `at`.
    pub fn new(
        tenant: &str,
        external_id: Option<String>,
        title: String,
        (severity, status): (IncidentSeverity, IncidentStatus),
        at: NaiveDateTime,
    ) -> Self {
        IncidentRow {
            tenant_id: tenant.to_owned(),
            search_text: search_text(&[Some(&title), external_id.as_deref()]),
            external_id,
            title,
            severity_rank: severity.rank(),
            severity,
            status,
            created_at: at,
            updated_at: at,
            activity_at: at,
        }
    }
}

/// A case-incident link row, for bulk loading.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = case_incidents, treat_none_as_default_value = false)]
pub struct LinkRow {
    pub tenant_id: String,
    pub case_id: i64,
    pub incident_id: i64,
    pub linked_by: String,
    pub linked_at: NaiveDateTime,
}

/// Inserts prepared incidents in one statement; returns their ids in order.
pub async fn insert_rows(conn: &mut Conn<'_>, rows: &[IncidentRow]) -> AppResult<Vec<i64>> {
    Ok(crate::bulk_insert!(conn, incidents::table, rows, returning incidents::id)?)
}

/// Inserts prepared links in one statement (no audit: bulk loading only).
pub async fn insert_links(conn: &mut Conn<'_>, rows: &[LinkRow]) -> AppResult<()> {
    crate::bulk_insert!(conn, case_incidents::table, rows)?;
    Ok(())
}

#[derive(Debug)]
pub struct NewIncident {
    pub external_id: Option<String>,
    pub title: String,
    pub severity: IncidentSeverity,
    pub status: Option<IncidentStatus>,
}

fn parse_external_id(value: Option<&str>) -> AppResult<Option<String>> {
    value.map(|v| required_text("externalId", v, MAX_TITLE_CHARS)).transpose()
}

const EXTERNAL_ID_UNIQUE: UniqueConstraint = UniqueConstraint {
    name: "incidents_external_id_unique",
    sqlite_columns: "incidents.tenant_id, incidents.external_id",
};

fn external_id_conflict(error: AppError, external_id: Option<&str>) -> AppError {
    if error.violates(&EXTERNAL_ID_UNIQUE) {
        AppError::Conflict(format!("an incident with externalId {:?} already exists", external_id.unwrap_or_default()))
    } else {
        error
    }
}

pub async fn create(conn: &mut Conn<'_>, actor: &Granted<'_, ManageAlerts>, input: NewIncident) -> AppResult<Incident> {
    let tenant = actor.tenant();
    let title = required_text("title", &input.title, MAX_TITLE_CHARS)?;
    let external_id = parse_external_id(input.external_id.as_deref())?;
    let status = input.status.unwrap_or(IncidentStatus::Active);
    let row = IncidentRow::new(tenant, external_id.clone(), title, (input.severity, status), now());
    with_conn!(conn, c => {
        diesel::insert_into(incidents::table).values(&row).returning(Incident::as_returning()).get_result(c).await
    })
    .map_err(|e| external_id_conflict(e.into(), external_id.as_deref()))
}

/// A change to an incident: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct IncidentChanges {
    pub external_id: Option<Option<String>>,
    pub title: Option<String>,
    pub severity: Option<IncidentSeverity>,
    pub status: Option<IncidentStatus>,
}

pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    id: IncidentId,
    input: IncidentChanges,
) -> AppResult<Incident> {
    let tenant = actor.tenant();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("incident", id))?;
    let title = match &input.title {
        Some(t) => required_text("title", t, MAX_TITLE_CHARS)?,
        None => current.title,
    };
    let external_id = match &input.external_id {
        // Its source knows it by its own id, which ingestion upserts by.
        Some(_) if current.source.is_some() => {
            return Err(AppError::bad_input("externalId", "an ingested incident keeps its source's id"));
        }
        Some(e) => parse_external_id(e.as_deref())?,
        None => current.external_id,
    };
    let values = (
        incidents::external_id.eq(&external_id),
        incidents::title.eq(&title),
        incidents::search_text.eq(search_text(&[Some(&title), external_id.as_deref()])),
        incidents::severity.eq(input.severity.unwrap_or(current.severity)),
        incidents::severity_rank.eq(input.severity.unwrap_or(current.severity).rank()),
        incidents::status.eq(input.status.unwrap_or(current.status)),
        incidents::updated_at.eq(now()),
    );
    with_conn!(conn, c => {
        diesel::update(incidents::table.find(id.0)).set(values).returning(Incident::as_returning()).get_result(c).await
    })
    .map_err(|e| external_id_conflict(e.into(), external_id.as_deref()))
}

pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: IncidentId) -> AppResult<Option<Incident>> {
    Ok(find_many(conn, tenant, &[id]).await?.pop())
}

pub async fn find_many(conn: &mut Conn<'_>, tenant: &str, ids: &[IncidentId]) -> AppResult<Vec<Incident>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let found = with_conn!(conn, c => {
        incidents::table
            .filter(incidents::tenant_id.eq(tenant))
            .filter(incidents::id.eq_any(&ids))
            .select(Incident::as_select())
            .load(c)
            .await
    })?;
    Ok(found)
}

/// The incident a source knows by `source_id`.
pub async fn find_by_source(
    conn: &mut Conn<'_>,
    tenant: &str,
    source: &str,
    source_id: &str,
) -> AppResult<Option<Incident>> {
    let found = with_conn!(conn, c => {
        incidents::table
            .filter(incidents::tenant_id.eq(tenant))
            .filter(incidents::source.eq(source))
            .filter(incidents::source_id.eq(source_id))
            .select(Incident::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(found)
}

/// Which incidents to list.
#[derive(Debug, Default, Clone)]
pub struct IncidentFilter {
    pub severities: Vec<IncidentSeverity>,
    pub statuses: Vec<IncidentStatus>,
    pub search: Option<String>,
    pub case_id: Option<CaseId>,
    /// Ingested from one of these sources.
    pub sources: Vec<String>,
    /// `Some(true)`: on no case; `Some(false)`: on at least one.
    pub unlinked: Option<bool>,
    /// Whose evidence names this indicator.
    pub observable: Option<Indicator>,
}

/// The tenant's incidents matching a filter, as a boxed query of the
/// surrounding backend.
macro_rules! filtered_incidents {
    ($tenant:expr, $filter:expr, $words:expr) => {{
        let filter: &IncidentFilter = $filter;
        let mut query = incidents::table.filter(incidents::tenant_id.eq($tenant)).into_boxed();
        if !filter.severities.is_empty() {
            let severities: Vec<&str> = filter.severities.iter().map(|s| s.as_str()).collect();
            query = query.filter(incidents::severity.eq_any(severities));
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            query = query.filter(incidents::status.eq_any(statuses));
        }
        for word in $words {
            query = query.filter(incidents::search_text.like(format!("%{}%", escape_like(word))).escape('\\'));
        }
        if !filter.sources.is_empty() {
            query = query.filter(incidents::source.eq_any(&filter.sources));
        }
        if let Some(unlinked) = filter.unlinked {
            let linked =
                case_incidents::table.filter(case_incidents::tenant_id.eq($tenant)).select(case_incidents::incident_id);
            query = if unlinked {
                query.filter(diesel::dsl::not(incidents::id.eq_any(linked)))
            } else {
                query.filter(incidents::id.eq_any(linked))
            };
        }
        if let Some(Indicator { kind, normalized: value }) = &filter.observable {
            query = query.filter(
                incidents::id.eq_any(
                    incident_observables::table
                        .filter(incident_observables::tenant_id.eq($tenant))
                        .filter(incident_observables::kind.eq(kind.as_str()))
                        .filter(incident_observables::normalized_value.eq(value))
                        .select(incident_observables::incident_id),
                ),
            );
        }
        if let Some(case_id) = filter.case_id {
            query = query.filter(
                incidents::id.eq_any(
                    case_incidents::table
                        .filter(case_incidents::tenant_id.eq($tenant))
                        .filter(case_incidents::case_id.eq(case_id.0))
                        .select(case_incidents::incident_id),
                ),
            );
        }
        query
    }};
}

text_enum! {
    /// What incidents are ordered by (then by number, the same way).
    pub enum IncidentOrderField {
        /// When it was recorded (its number).
        CreatedAt => "CREATED_AT",
        /// Its severity.
        Severity => "SEVERITY",
        /// The latest activity any of its alerts saw (for an incident without
        /// alert times: when its source last changed it, or when it was recorded).
        LastActivityAt => "LAST_ACTIVITY_AT",
    }
}

/// Where a page of incidents starts: the sort value of the last incident
/// seen (a severity rank, or a time in microseconds) and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentKey {
    pub value: i64,
    pub id: i64,
}

impl IncidentKey {
    /// The key of `incident` in `field`'s order.
    pub fn of(incident: &Incident, field: IncidentOrderField) -> IncidentKey {
        let value = match field {
            IncidentOrderField::CreatedAt => incident.id,
            IncidentOrderField::Severity => i64::from(incident.severity.rank()),
            IncidentOrderField::LastActivityAt => incident.activity_at.and_utc().timestamp_micros(),
        };
        IncidentKey { value, id: incident.id }
    }
}

/// A page of incidents in `order`, those after `after`.
pub async fn list(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &IncidentFilter,
    (field, direction): (IncidentOrderField, OrderDirection),
    after: Option<IncidentKey>,
    limit: i64,
) -> AppResult<Vec<Incident>> {
    use IncidentOrderField as F;
    use OrderDirection::{Asc, Desc};
    let words = match &filter.search {
        Some(s) => search_words("filter.search", s)?,
        None => Vec::new(),
    };
    let at = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()).unwrap_or_default();
    let found = with_conn!(conn, c => {
        let mut query = filtered_incidents!(tenant, filter, &words).limit(limit).select(Incident::as_select());
        query = match (field, direction) {
            (F::CreatedAt, Desc) => query.order(incidents::id.desc()),
            (F::CreatedAt, Asc) => query.order(incidents::id.asc()),
            (F::Severity, Desc) => query.order((incidents::severity_rank.desc(), incidents::id.desc())),
            (F::Severity, Asc) => query.order((incidents::severity_rank.asc(), incidents::id.asc())),
            (F::LastActivityAt, Desc) => query.order((incidents::activity_at.desc(), incidents::id.desc())),
            (F::LastActivityAt, Asc) => query.order((incidents::activity_at.asc(), incidents::id.asc())),
        };
        if let Some(IncidentKey { value, id }) = after {
            let rank = i32::try_from(value).unwrap_or_default();
            query = match (field, direction) {
                (F::CreatedAt, Desc) => query.filter(incidents::id.lt(id)),
                (F::CreatedAt, Asc) => query.filter(incidents::id.gt(id)),
                (F::Severity, Desc) => query.filter(
                    incidents::severity_rank.lt(rank).or(incidents::severity_rank.eq(rank).and(incidents::id.lt(id))),
                ),
                (F::Severity, Asc) => query.filter(
                    incidents::severity_rank.gt(rank).or(incidents::severity_rank.eq(rank).and(incidents::id.gt(id))),
                ),
                (F::LastActivityAt, Desc) => query.filter(
                    incidents::activity_at.lt(at(value)).or(incidents::activity_at.eq(at(value)).and(incidents::id.lt(id))),
                ),
                (F::LastActivityAt, Asc) => query.filter(
                    incidents::activity_at.gt(at(value)).or(incidents::activity_at.eq(at(value)).and(incidents::id.gt(id))),
                ),
            };
        }
        query.load(c).await
    })?;
    Ok(found)
}

pub async fn count(conn: &mut Conn<'_>, tenant: &str, filter: &IncidentFilter) -> AppResult<i64> {
    let words = match &filter.search {
        Some(s) => search_words("filter.search", s)?,
        None => Vec::new(),
    };
    let count = with_conn!(conn, c => filtered_incidents!(tenant, filter, &words).count().get_result(c).await)?;
    Ok(count)
}

/// The ids an input names, each one of the tenant's incidents.
async fn require_incidents(conn: &mut Conn<'_>, tenant: &str, ids: &[IncidentId]) -> AppResult<Vec<Incident>> {
    let found = find_many(conn, tenant, ids).await?;
    if let Some(missing) = ids.iter().find(|id| !found.iter().any(|i| i.id == id.0)) {
        return Err(AppError::bad_input("incidentIds", format!("incident {missing} does not exist")));
    }
    Ok(found)
}

/// Which way a link change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    Link,
    Unlink,
}

/// Links incidents to a case, or unlinks them. Linking a linked incident (or
/// unlinking one that is not) changes nothing; each real change is audited.
pub async fn change_links(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    ids: &[IncidentId],
    change: LinkChange,
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let current = case::lock_existing(conn, tenant, case_id).await?;
    let wanted = require_incidents(conn, tenant, ids).await?;
    let linked = linked_ids(conn, tenant, case_id).await?;
    let affected: Vec<&Incident> =
        wanted.iter().filter(|i| linked.contains(&i.id) == (change == LinkChange::Unlink)).collect();
    if affected.is_empty() {
        return Ok(current);
    }
    let affected_ids: Vec<i64> = affected.iter().map(|i| i.id).collect();
    match change {
        LinkChange::Link => {
            if (linked.len() + affected.len()) as i64 > MAX_LINKS_PER_CASE {
                return Err(AppError::bad_input(
                    "incidentIds",
                    format!("a case links at most {MAX_LINKS_PER_CASE} incidents; this one has {}", linked.len()),
                ));
            }
            let full = incidents_with_cases_at_least(conn, tenant, &affected_ids, MAX_CASES_PER_INCIDENT).await?;
            if let Some(incident) = affected.iter().find(|i| full.contains(&i.id)) {
                return Err(AppError::bad_input(
                    "incidentIds",
                    format!(
                        "incident {} is already linked to {MAX_CASES_PER_INCIDENT} cases, the most one incident links",
                        incident.id
                    ),
                ));
            }
            let now = now();
            let rows: Vec<LinkRow> = affected_ids
                .iter()
                .map(|&incident_id| LinkRow {
                    tenant_id: tenant.to_owned(),
                    case_id: case_id.0,
                    incident_id,
                    linked_by: actor.user_id.clone(),
                    linked_at: now,
                })
                .collect();
            insert_links(conn, &rows).await?;
        }
        LinkChange::Unlink => {
            let target = case_incidents::table
                .filter(case_incidents::tenant_id.eq(tenant))
                .filter(case_incidents::case_id.eq(case_id.0))
                .filter(case_incidents::incident_id.eq_any(&affected_ids));
            with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
        }
    }
    let audits: Vec<NewAudit> = affected
        .iter()
        .map(|i| {
            let title = Some(i.title.clone());
            let (action, old, new) = match change {
                LinkChange::Link => (AuditAction::IncidentLinked, None, title),
                LinkChange::Unlink => (AuditAction::IncidentUnlinked, title, None),
            };
            NewAudit { incident_id: Some(i.id), ..NewAudit::new(action, vec![FieldChange::new("incident", old, new)]) }
        })
        .collect();
    let (case, seq) = case::touch(conn, actor, case_id, audits.len() as i64).await?;
    activity::record_audits(conn, actor, case_id, seq, audits).await?;
    if change == LinkChange::Link {
        case::trigger(conn, actor, case_id, vec![AutomationTrigger::IncidentLinked])?;
    }
    Ok(case)
}

/// Those of `ids` already linked to `limit` cases or more.
async fn incidents_with_cases_at_least(
    conn: &mut Conn<'_>,
    tenant: &str,
    ids: &[i64],
    limit: i64,
) -> AppResult<Vec<i64>> {
    let counts: Vec<(i64, i64)> = with_conn!(conn, c => {
        case_incidents::table
            .filter(case_incidents::tenant_id.eq(tenant))
            .filter(case_incidents::incident_id.eq_any(ids))
            .group_by(case_incidents::incident_id)
            .select((case_incidents::incident_id, diesel::dsl::count_star()))
            .load(c)
            .await
    })?;
    Ok(counts.into_iter().filter(|&(_, n)| n >= limit).map(|(id, _)| id).collect())
}

async fn linked_ids(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<Vec<i64>> {
    let ids = with_conn!(conn, c => {
        case_incidents::table
            .filter(case_incidents::tenant_id.eq(tenant))
            .filter(case_incidents::case_id.eq(case_id.0))
            .select(case_incidents::incident_id)
            .load(c)
            .await
    })?;
    Ok(ids)
}

/// (case id, incident) pairs for these cases, in link order.
pub async fn of_cases(conn: &mut Conn<'_>, tenant: &str, case_ids: &[CaseId]) -> AppResult<Vec<(i64, Incident)>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let pairs = with_conn!(conn, c => {
        case_incidents::table
            .inner_join(incidents::table)
            .filter(case_incidents::tenant_id.eq(tenant))
            .filter(case_incidents::case_id.eq_any(&ids))
            .order((case_incidents::linked_at.asc(), case_incidents::incident_id.asc()))
            .select((case_incidents::case_id, Incident::as_select()))
            .load(c)
            .await
    })?;
    Ok(pairs)
}

/// (incident id, case) pairs for these incidents, newest case first.
pub async fn cases_of(conn: &mut Conn<'_>, tenant: &str, incident_ids: &[IncidentId]) -> AppResult<Vec<(i64, Case)>> {
    let ids: Vec<i64> = incident_ids.iter().map(|id| id.0).collect();
    let pairs = with_conn!(conn, c => {
        case_incidents::table
            .inner_join(cases::table.on(cases::tenant_id.eq(case_incidents::tenant_id).and(cases::id.eq(case_incidents::case_id))))
            .filter(case_incidents::tenant_id.eq(tenant))
            .filter(case_incidents::incident_id.eq_any(&ids))
            .order(case_incidents::case_id.desc())
            .select((case_incidents::incident_id, Case::as_select()))
            .load(c)
            .await
    })?;
    Ok(pairs)
}

/// Writes a case's verdict back to its linked incidents that sync back (from
/// the write pipeline, when the case closed or reopened): closed, each takes
/// status RESOLVED and the case's classification and determination;
/// reopened, each is ACTIVE again without a verdict. Each change is an
/// INCIDENT_UPDATED entry on the case naming the incident, written by who
/// closed or reopened the case, which webhooks tell the source's connector.
/// Ingestion writes no such entry, so a source's own changes never echo back.
pub async fn sync_back(conn: &mut Conn<'_>, actor: &Principal, case_id: CaseId, closed: bool) -> AppResult<()> {
    let tenant = actor.tenant.as_str();
    let linked: Vec<Incident> =
        of_cases(conn, tenant, &[case_id]).await?.into_iter().map(|(_, i)| i).filter(|i| i.sync_back).collect();
    if linked.is_empty() {
        return Ok(());
    }
    let case = case::find_many(conn, tenant, &[case_id])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal(format!("case {case_id} is missing")))?;
    let (status, classification, determination) = if closed {
        (IncidentStatus::Resolved, case.classification, case.determination)
    } else {
        (IncidentStatus::Active, None, None)
    };
    let label = |v: Option<&'static str>| v.map(str::to_owned);
    let mut audits = Vec::new();
    for incident in linked {
        let mut changes = Vec::new();
        if incident.status != status {
            changes.push(FieldChange::new(
                "status",
                label(Some(incident.status.as_str())),
                label(Some(status.as_str())),
            ));
        }
        if incident.classification != classification {
            changes.push(FieldChange::new(
                "classification",
                label(incident.classification.map(|c| c.as_str())),
                label(classification.map(|c| c.as_str())),
            ));
        }
        if incident.determination != determination {
            changes.push(FieldChange::new(
                "determination",
                label(incident.determination.map(|d| d.as_str())),
                label(determination.map(|d| d.as_str())),
            ));
        }
        if changes.is_empty() {
            continue;
        }
        let values = (
            incidents::status.eq(status),
            incidents::classification.eq(classification),
            incidents::determination.eq(determination),
            incidents::updated_at.eq(now()),
        );
        with_conn!(conn, c => diesel::update(incidents::table.find(incident.id)).set(values).execute(c).await)?;
        audits
            .push(NewAudit { incident_id: Some(incident.id), ..NewAudit::new(AuditAction::IncidentUpdated, changes) });
    }
    if audits.is_empty() {
        return Ok(());
    }
    let Some(seq) = case::reserve_activity(conn, tenant, case_id, audits.len() as i64).await? else { return Ok(()) };
    activity::record_audits(conn, actor, case_id, seq, audits).await
}

/// The newest open case of the tenant holding one of the incident's
/// indicators as an observable added since `since` (what
/// LINK_TO_MATCHING_CASE links to).
pub async fn open_case_holding_indicator(
    conn: &mut Conn<'_>,
    tenant: &str,
    incident_id: IncidentId,
    since: NaiveDateTime,
) -> AppResult<Option<CaseId>> {
    use crate::db::schema::observables;
    let found: Option<i64> = with_conn!(conn, c => {
        observables::table
            .inner_join(
                incident_observables::table.on(incident_observables::tenant_id
                    .eq(observables::tenant_id)
                    .and(incident_observables::kind.eq(observables::kind))
                    .and(incident_observables::normalized_value.eq(observables::normalized_value))),
            )
            .inner_join(cases::table.on(cases::tenant_id.eq(observables::tenant_id).and(cases::id.eq(observables::case_id))))
            .filter(observables::tenant_id.eq(tenant))
            .filter(incident_observables::incident_id.eq(incident_id.0))
            .filter(observables::added_at.ge(since))
            .filter(cases::closed_at.is_null())
            .order(cases::id.desc())
            .select(cases::id)
            .first(c)
            .await
            .optional()
    })?;
    Ok(found.map(CaseId))
}
