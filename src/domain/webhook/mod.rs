//! Webhooks: endpoints that hear about a tenant's changes. Every activity
//! entry a change writes becomes, in the same transaction, one delivery per
//! enabled webhook that takes its event type (the outbox: nothing is sent for
//! a change that rolled back, nothing is lost for one that committed). The
//! delivery workers (`jobs::webhooks`) send them, signed per the Standard
//! Webhooks specification.

pub mod delivery;
pub mod sealed;
pub mod signature;
pub mod target;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::auth::{Granted, ManageSettings, Principal};
use crate::db::schema::{webhook_deliveries, webhooks};
use crate::db::{Conn, Json};
use crate::domain::activity::{Activity, AuditAction, Entry, EntryJson};
use crate::domain::case::{Case, CaseId};
use crate::domain::incident::{self, IncidentId};
use crate::domain::values::{CasePriority, IdText, IncidentStatus, TimeText, text_enum};
use crate::domain::verdict::{Classification, Determination};
use crate::domain::{now, parse_text};
use crate::error::{AppError, AppResult, OrInternal};
use crate::with_conn;

pub use delivery::{Delivery, DeliveryId, WebhookDeliveryStatus};
pub use sealed::{SealingKey, SealingKeys};
pub use target::TargetPolicy;

/// The most webhooks a tenant keeps.
pub const MAX_WEBHOOKS_PER_TENANT: i64 = 20;
const MAX_DESCRIPTION_CHARS: usize = 500;

text_enum! {
    /// What a webhook hears about.
    pub enum WebhookEventType {
        /// Every event type, those added later too.
        All => "ALL",
        /// A case was opened.
        CaseCreated => "CASE_CREATED",
        /// A case changed: its fields, tags, techniques, observables or attachments (a
        /// change that closes it is CASE_CLOSED to webhooks that take that).
        CaseUpdated => "CASE_UPDATED",
        /// A case moved to a closed status.
        CaseClosed => "CASE_CLOSED",
        /// A task of a case was added, changed or removed (templates' tasks too).
        TaskChanged => "TASK_CHANGED",
        /// A comment was added to a case.
        CommentAdded => "COMMENT_ADDED",
        /// An incident was linked to a case.
        IncidentLinked => "INCIDENT_LINKED",
        /// An incident was unlinked from a case.
        IncidentUnlinked => "INCIDENT_UNLINKED",
        /// A linked incident took the case's verdict as it closed, or was
        /// reopened with it: `data.incident` names its source and the
        /// source's id, for a connector to write the change back there.
        IncidentUpdated => "INCIDENT_UPDATED",
        /// A case's SLA deadline became at risk.
        SlaAtRisk => "SLA_AT_RISK",
        /// A case's SLA deadline passed unmet.
        SlaBreached => "SLA_BREACHED",
        /// Sent by an automation rule's SEND_WEBHOOK action to its webhook,
        /// whatever the webhook's event types (not subscribed to).
        AutomationRule => "AUTOMATION_RULE",
        /// An automation rule could not act on a case (its AUTOMATION_FAILED
        /// entry names the rule, the action and the reason).
        AutomationFailed => "AUTOMATION_FAILED",
    }
}

/// A webhook's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebhookId(pub i64);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct WebhookRow {
    id: i64,
    url: String,
    description: Option<String>,
    event_types: Json<Vec<WebhookEventType>>,
    enabled: bool,
    consecutive_failures: i32,
    disabled_at: Option<NaiveDateTime>,
    disabled_reason: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    circuit_open_until: Option<NaiveDateTime>,
    previous_secret_expires_at: Option<NaiveDateTime>,
}

/// A webhook as clients see it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<WebhookEventType>,
    pub enabled: bool,
    /// Failed attempts since the last success.
    pub consecutive_failures: i32,
    /// When it was last disabled (by a person or, after a run of failures, automatically).
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Until then nothing is sent to it (it failed too often in a row).
    pub circuit_open_until: Option<NaiveDateTime>,
    /// Until then its replaced secret signs too.
    pub previous_secret_expires_at: Option<NaiveDateTime>,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = AppError;

    fn try_from(row: WebhookRow) -> AppResult<Webhook> {
        Ok(Webhook {
            id: WebhookId(row.id),
            event_types: row.event_types.0,
            url: row.url,
            description: row.description,
            enabled: row.enabled,
            consecutive_failures: row.consecutive_failures,
            disabled_at: row.disabled_at,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
            circuit_open_until: row.circuit_open_until,
            previous_secret_expires_at: row.previous_secret_expires_at,
        })
    }
}

impl Webhook {
    /// Whether the webhook takes events of this type.
    pub fn takes(&self, kind: WebhookEventType) -> bool {
        takes(&self.event_types, kind)
    }
}

fn takes(types: &[WebhookEventType], kind: WebhookEventType) -> bool {
    kind != WebhookEventType::AutomationRule && types.iter().any(|t| *t == kind || *t == WebhookEventType::All)
}

/// A webhook as a client gives it; `None` leaves a field alone (on create: the default).
#[derive(Debug, Default)]
pub struct WebhookInput {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<WebhookEventType>>,
    pub enabled: Option<bool>,
}

fn parse_types(mut types: Vec<WebhookEventType>) -> AppResult<Json<Vec<WebhookEventType>>> {
    if types.is_empty() {
        return Err(AppError::bad_input("eventTypes", "name at least one event type (ALL for every one)"));
    }
    if types.contains(&WebhookEventType::AutomationRule) {
        return Err(AppError::bad_input(
            "eventTypes",
            "AUTOMATION_RULE is sent by rules' SEND_WEBHOOK actions; it is not subscribed to",
        ));
    }
    types.sort_unstable_by_key(|t| t.as_str());
    types.dedup();
    Ok(Json(types))
}

fn parse_description(description: Option<String>) -> AppResult<Option<String>> {
    match description.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_text("description", text, MAX_DESCRIPTION_CHARS).map(Some),
    }
}

async fn parse_url(policy: &TargetPolicy, text: &str) -> AppResult<String> {
    let url = policy.parse_url("url", text)?;
    policy.check_resolved("url", &url).await?;
    Ok(url.to_string())
}

/// The keys that seal secrets, or why there are none.
fn sealing(keys: Option<&SealingKeys>) -> AppResult<&SealingKeys> {
    keys.ok_or_else(|| {
        AppError::NotConfigured(
            "webhooks keep their signing secrets sealed at rest, and the operator has not set \
             CASEBOOK_SECRET_KEY: webhooks cannot be created until it is"
                .into(),
        )
    })
}

/// Creates a webhook; returns it and its signing secret (shown this once,
/// stored sealed).
pub async fn create(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    policy: &TargetPolicy,
    keys: Option<&SealingKeys>,
    input: WebhookInput,
) -> AppResult<(Webhook, String)> {
    let keys = sealing(keys)?;
    let tenant = actor.tenant();
    let url = parse_url(policy, input.url.as_deref().unwrap_or_default()).await?;
    let event_types = parse_types(input.event_types.unwrap_or_default())?;
    let description = parse_description(input.description.flatten())?;
    // The cap is counted, then written: the tenant's writes of this kind take turns.
    crate::domain::tenant::lock(conn, tenant).await?;
    let count: i64 = with_conn!(conn, c => {
        webhooks::table.filter(webhooks::tenant_id.eq(tenant)).count().get_result(c).await
    })?;
    if count >= MAX_WEBHOOKS_PER_TENANT {
        return Err(AppError::bad_input("url", format!("a tenant has at most {MAX_WEBHOOKS_PER_TENANT} webhooks")));
    }
    let secret = signature::new_secret();
    let sealed = keys.seal(tenant, &secret)?;
    let now = now();
    let values = (
        webhooks::tenant_id.eq(tenant),
        webhooks::url.eq(&url),
        webhooks::description.eq(&description),
        webhooks::event_types.eq(&event_types),
        webhooks::enabled.eq(input.enabled.unwrap_or(true)),
        webhooks::secret.eq(&sealed),
        webhooks::created_by.eq(&actor.user_id),
        webhooks::created_at.eq(now),
        webhooks::updated_by.eq(&actor.user_id),
        webhooks::updated_at.eq(now),
    );
    let row: WebhookRow = with_conn!(conn, c => {
        diesel::insert_into(webhooks::table).values(values).returning(WebhookRow::as_returning()).get_result(c).await
    })?;
    Ok((row.try_into()?, secret))
}

/// Changes a webhook. Enabling it again clears its failure run and resumes
/// its pending deliveries; disabling it holds them.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    policy: &TargetPolicy,
    id: WebhookId,
    input: WebhookInput,
) -> AppResult<Webhook> {
    let tenant = actor.tenant();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("webhook", id.0))?;
    let url = match &input.url {
        Some(url) => parse_url(policy, url).await?,
        None => current.url.clone(),
    };
    let event_types = match input.event_types {
        Some(types) => parse_types(types)?,
        None => parse_types(current.event_types.clone())?,
    };
    let description = match input.description {
        Some(d) => parse_description(d)?,
        None => current.description.clone(),
    };
    let enabled = input.enabled.unwrap_or(current.enabled);
    let now = now();
    let (failures, disabled_at, disabled_reason) = match (current.enabled, enabled) {
        (false, true) => (0, None, None),
        (true, false) => (current.consecutive_failures, Some(now), Some(format!("disabled by {}", actor.name()))),
        _ => (current.consecutive_failures, current.disabled_at, current.disabled_reason.clone()),
    };
    let values = (
        webhooks::url.eq(&url),
        webhooks::description.eq(&description),
        webhooks::event_types.eq(&event_types),
        webhooks::enabled.eq(enabled),
        webhooks::consecutive_failures.eq(failures),
        webhooks::disabled_at.eq(disabled_at),
        webhooks::disabled_reason.eq(&disabled_reason),
        webhooks::updated_by.eq(&actor.user_id),
        webhooks::updated_at.eq(now),
    );
    let target = webhooks::table.filter(webhooks::tenant_id.eq(tenant)).filter(webhooks::id.eq(id.0));
    let row: WebhookRow = with_conn!(conn, c => {
        diesel::update(target).set(values).returning(WebhookRow::as_returning()).get_result(c).await
    })?;
    row.try_into()
}

/// How long a replaced secret keeps signing beside the new one, so
/// receivers can move to the new one without missing a message.
pub const PREVIOUS_SECRET_GRACE_HOURS: i64 = 24;

/// Replaces a webhook's signing secret; returns the new one (shown this
/// once). Messages not yet sent are signed with it, and for
/// [`PREVIOUS_SECRET_GRACE_HOURS`] with the replaced one as well.
pub async fn rotate_secret(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    keys: Option<&SealingKeys>,
    id: WebhookId,
) -> AppResult<(Webhook, String)> {
    let keys = sealing(keys)?;
    let tenant = actor.tenant();
    let current: Option<String> = with_conn!(conn, c => {
        webhooks::table
            .filter(webhooks::tenant_id.eq(tenant))
            .filter(webhooks::id.eq(id.0))
            .select(webhooks::secret)
            .first(c)
            .await
            .optional()
    })?;
    let current = current.ok_or_else(|| AppError::not_found("webhook", id.0))?;
    let secret = signature::new_secret();
    let now = now();
    let values = (
        webhooks::secret.eq(keys.seal(tenant, &secret)?),
        webhooks::previous_secret.eq(Some(current)),
        webhooks::previous_secret_expires_at.eq(Some(now + chrono::Duration::hours(PREVIOUS_SECRET_GRACE_HOURS))),
        webhooks::updated_by.eq(&actor.user_id),
        webhooks::updated_at.eq(now),
    );
    let target = webhooks::table.filter(webhooks::tenant_id.eq(tenant)).filter(webhooks::id.eq(id.0));
    let row: WebhookRow = with_conn!(conn, c => {
        diesel::update(target).set(values).returning(WebhookRow::as_returning()).get_result(c).await
    })?;
    Ok((row.try_into()?, secret))
}

/// Stops signing with a webhook's replaced secret now (its receivers use the new one).
pub async fn expire_previous_secret(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    id: WebhookId,
) -> AppResult<Webhook> {
    let tenant = actor.tenant();
    let values = (
        webhooks::previous_secret.eq(None::<String>),
        webhooks::previous_secret_expires_at.eq(None::<NaiveDateTime>),
        webhooks::updated_by.eq(&actor.user_id),
        webhooks::updated_at.eq(now()),
    );
    let target = webhooks::table.filter(webhooks::tenant_id.eq(tenant)).filter(webhooks::id.eq(id.0));
    let row: Option<WebhookRow> = with_conn!(conn, c => {
        diesel::update(target).set(values).returning(WebhookRow::as_returning()).get_result(c).await.optional()
    })?;
    row.ok_or_else(|| AppError::not_found("webhook", id.0))?.try_into()
}

/// Webhooks whose secrets are stored, and of those how many are sealed
/// under the current key.
pub struct StoredSecrets {
    pub webhooks: usize,
    pub resealed: usize,
}

/// Brings every stored secret under the current key when the service
/// starts: secrets written before they were sealed, and those sealed under
/// a previous key (a key rotation), are sealed again. Fails, naming the
/// key, when a secret is sealed under a key the configuration lacks. Call
/// in a transaction.
pub async fn reseal_all(conn: &mut Conn<'_>, keys: &SealingKeys) -> AppResult<StoredSecrets> {
    type Secrets = (i64, String, String, Option<String>);
    let rows: Vec<Secrets> = with_conn!(conn, c => {
        webhooks::table
            .select((webhooks::id, webhooks::tenant_id, webhooks::secret, webhooks::previous_secret))
            .load(c)
            .await
    })?;
    let webhooks_stored = rows.len();
    let mut resealed = 0;
    for (id, tenant, secret, previous) in rows {
        let again = |stored: &str| -> AppResult<Option<String>> {
            if keys.is_current(stored) {
                return Ok(None);
            }
            let plain = match sealed::split(stored) {
                Some(_) => keys.open(&tenant, stored)?,
                None => stored.to_owned(),
            };
            keys.seal(&tenant, &plain).map(Some)
        };
        let (secret, previous) = (again(&secret)?, previous.as_deref().map(again).transpose()?.flatten());
        if secret.is_none() && previous.is_none() {
            continue;
        }
        let target = webhooks::table.filter(webhooks::id.eq(id));
        if let Some(secret) = secret {
            with_conn!(conn, c => diesel::update(target).set(webhooks::secret.eq(&secret)).execute(c).await)?;
        }
        if let Some(previous) = previous {
            with_conn!(conn, c => {
                diesel::update(target).set(webhooks::previous_secret.eq(Some(&previous))).execute(c).await
            })?;
        }
        resealed += 1;
    }
    Ok(StoredSecrets { webhooks: webhooks_stored, resealed })
}

/// How many webhooks store a secret (a deployment with any needs a key).
pub async fn count_all(conn: &mut Conn<'_>) -> AppResult<i64> {
    Ok(with_conn!(conn, c => webhooks::table.count().get_result(c).await)?)
}

/// Removes a webhook and its deliveries (sent or not).
pub async fn delete(conn: &mut Conn<'_>, actor: &Granted<'_, ManageSettings>, id: WebhookId) -> AppResult<()> {
    let tenant = actor.tenant();
    find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("webhook", id.0))?;
    let deliveries = webhook_deliveries::table
        .filter(webhook_deliveries::tenant_id.eq(tenant))
        .filter(webhook_deliveries::webhook_id.eq(id.0));
    let target = webhooks::table.filter(webhooks::tenant_id.eq(tenant)).filter(webhooks::id.eq(id.0));
    with_conn!(conn, c => diesel::delete(deliveries).execute(c).await)?;
    with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    Ok(())
}

/// The tenant's webhook with this id.
pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: WebhookId) -> AppResult<Option<Webhook>> {
    let row: Option<WebhookRow> = with_conn!(conn, c => {
        webhooks::table
            .filter(webhooks::tenant_id.eq(tenant))
            .filter(webhooks::id.eq(id.0))
            .select(WebhookRow::as_select())
            .first(c)
            .await
            .optional()
    })?;
    row.map(Webhook::try_from).transpose()
}

/// The tenant's webhooks, oldest first.
pub async fn list(conn: &mut Conn<'_>, tenant: &str) -> AppResult<Vec<Webhook>> {
    let rows: Vec<WebhookRow> = with_conn!(conn, c => {
        webhooks::table
            .filter(webhooks::tenant_id.eq(tenant))
            .order(webhooks::id.asc())
            .select(WebhookRow::as_select())
            .load(c)
            .await
    })?;
    rows.into_iter().map(Webhook::try_from).collect()
}

/// A webhook a rule's SEND_WEBHOOK action names: one of the tenant's.
pub async fn usable(conn: &mut Conn<'_>, tenant: &str, field: &str, id: WebhookId) -> AppResult<Webhook> {
    find(conn, tenant, id).await?.ok_or_else(|| AppError::bad_input(field, format!("webhook {} does not exist", id.0)))
}

/// An activity entry about to be told to webhooks, and whether it closed the case.
pub struct Happened<'a> {
    pub entry: &'a Activity,
    pub closes_case: bool,
}

/// The event type of an activity entry.
fn event_type(entry: &Activity) -> WebhookEventType {
    use AuditAction as A;
    use WebhookEventType as W;
    match &entry.entry {
        Entry::Comment { .. } => W::CommentAdded,
        Entry::Audit { action, .. } => match action {
            A::CaseCreated => W::CaseCreated,
            A::TaskCreated | A::TaskUpdated | A::TaskDeleted | A::TemplateApplied => W::TaskChanged,
            A::IncidentLinked => W::IncidentLinked,
            A::IncidentUnlinked => W::IncidentUnlinked,
            A::SlaAtRisk => W::SlaAtRisk,
            A::SlaBreached => W::SlaBreached,
            A::AutomationFailed => W::AutomationFailed,
            A::IncidentUpdated => W::IncidentUpdated,
            A::CaseUpdated
            | A::ObservablesAdded
            | A::ObservableUpdated
            | A::ObservableRemoved
            | A::TagsAdded
            | A::TagsRemoved
            | A::TechniquesChanged
            | A::AttachmentAdded
            | A::AttachmentUpdated
            | A::AttachmentRemoved
            | A::RelationAdded
            | A::RelationRemoved
            | A::CasesMerged
            | A::MergedInto => W::CaseUpdated,
        },
    }
}

/// A webhook message body: `type`, `timestamp` and `data` (Standard Webhooks).
fn body(kind: WebhookEventType, at: NaiveDateTime, data: impl Serialize) -> AppResult<String> {
    #[derive(Serialize)]
    struct Message<T> {
        #[serde(rename = "type")]
        kind: WebhookEventType,
        timestamp: TimeText,
        data: T,
    }
    serde_json::to_string(&Message { kind, timestamp: TimeText(at), data }).or_internal("encoding a webhook message")
}

/// The `data` of a message about an activity entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryData<'a> {
    tenant: &'a str,
    case_id: IdText,
    activity: &'a EntryJson<'a>,
    /// The incident an INCIDENT_UPDATED entry names, as it stands now.
    #[serde(skip_serializing_if = "Option::is_none")]
    incident: Option<&'a IncidentJson<'a>>,
}

/// An incident as a connector needs it to write a change back to its source.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IncidentJson<'a> {
    id: IdText,
    source: Option<&'a str>,
    external_id: Option<&'a str>,
    web_url: Option<&'a str>,
    status: IncidentStatus,
    classification: Option<Classification>,
    determination: Option<Determination>,
}

/// The `data` of a message a rule sends about a case.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleData<'a> {
    tenant: &'a str,
    case_id: IdText,
    rule: RuleJson<'a>,
    case: CaseJson<'a>,
}

#[derive(Serialize)]
struct RuleJson<'a> {
    id: IdText,
    name: &'a str,
    trigger: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CaseJson<'a> {
    id: IdText,
    title: &'a str,
    priority: Option<CasePriority>,
    status: &'a str,
    assignee_id: Option<&'a str>,
}

/// A delivery to write to the outbox.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_deliveries)]
struct NewDelivery {
    tenant_id: String,
    webhook_id: i64,
    case_id: Option<i64>,
    message_id: String,
    event_type: WebhookEventType,
    payload: String,
    status: WebhookDeliveryStatus,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

impl NewDelivery {
    fn new(tenant: &str, webhook: WebhookId, case_id: CaseId, kind: WebhookEventType, payload: String) -> Self {
        let now = now();
        NewDelivery {
            tenant_id: tenant.to_owned(),
            webhook_id: webhook.0,
            case_id: Some(case_id.0),
            message_id: signature::new_message_id(),
            event_type: kind,
            payload,
            status: WebhookDeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        }
    }
}

/// The tenant's enabled webhooks (what the outbox writes for).
async fn enabled(conn: &mut Conn<'_>, tenant: &str) -> AppResult<Vec<(WebhookId, Vec<WebhookEventType>)>> {
    let key = ("webhooks", tenant.to_owned());
    if let Some(hooks) = conn.recall(&key) {
        return Ok(hooks);
    }
    let rows: Vec<(i64, Json<Vec<WebhookEventType>>)> = with_conn!(conn, c => {
        webhooks::table
            .filter(webhooks::tenant_id.eq(tenant))
            .filter(webhooks::enabled.eq(true))
            .select((webhooks::id, webhooks::event_types))
            .load(c)
            .await
    })?;
    let hooks: Vec<(WebhookId, Vec<WebhookEventType>)> =
        rows.into_iter().map(|(id, types)| (WebhookId(id), types.0)).collect();
    conn.remember(key, &hooks);
    Ok(hooks)
}

/// Writes the deliveries of entries `actor` just wrote to a case, in that
/// change's transaction: one per entry and enabled webhook that takes its
/// type. A closing update goes as CASE_CLOSED to webhooks that take that,
/// else as CASE_UPDATED. Returns how many deliveries were written.
pub async fn enqueue(
    conn: &mut Conn<'_>,
    actor: &Principal,
    case_id: CaseId,
    entries: &[Happened<'_>],
) -> AppResult<usize> {
    if entries.is_empty() {
        return Ok(0);
    }
    let tenant = actor.tenant.as_str();
    let hooks = enabled(conn, tenant).await?;
    if hooks.is_empty() {
        return Ok(0);
    }
    let named: Vec<IncidentId> = entries
        .iter()
        .filter(|h| event_type(h.entry) == WebhookEventType::IncidentUpdated)
        .filter_map(|h| h.entry.incident_id().map(IncidentId))
        .collect();
    let incidents = if named.is_empty() { Vec::new() } else { incident::find_many(conn, tenant, &named).await? };
    let mut rows = Vec::new();
    for happened in entries {
        let base = event_type(happened.entry);
        let activity = happened.entry.json(actor.display_name.as_deref());
        let incident = (base == WebhookEventType::IncidentUpdated)
            .then(|| incidents.iter().find(|i| Some(i.id) == happened.entry.incident_id()))
            .flatten()
            .map(|i| IncidentJson {
                id: IdText(i.id),
                source: i.source.as_deref(),
                external_id: i.external(),
                web_url: i.web_url.as_deref(),
                status: i.status,
                classification: i.classification,
                determination: i.determination,
            });
        for (id, types) in &hooks {
            let kind = if happened.closes_case && takes(types, WebhookEventType::CaseClosed) {
                WebhookEventType::CaseClosed
            } else if takes(types, base) {
                base
            } else {
                continue;
            };
            let data =
                EntryData { tenant, case_id: IdText(case_id.0), activity: &activity, incident: incident.as_ref() };
            rows.push(NewDelivery::new(tenant, *id, case_id, kind, body(kind, happened.entry.created_at, data)?));
        }
    }
    if !rows.is_empty() {
        crate::bulk_insert!(conn, webhook_deliveries::table, rows)?;
    }
    Ok(rows.len())
}

/// What a rule that sends a webhook event names in it.
pub struct RuleMessage<'a> {
    pub rule_id: i64,
    pub rule_name: &'a str,
    pub trigger: &'a str,
    pub case: &'a Case,
    pub status_name: &'a str,
}

/// Writes an AUTOMATION_RULE delivery to a webhook for a rule that acted on
/// a case (a disabled or removed webhook gets none). Returns whether one was written.
pub async fn enqueue_for_rule(
    conn: &mut Conn<'_>,
    tenant: &str,
    id: WebhookId,
    message: RuleMessage<'_>,
) -> AppResult<bool> {
    let Some(webhook) = find(conn, tenant, id).await? else { return Ok(false) };
    if !webhook.enabled {
        return Ok(false);
    }
    let case = message.case;
    let data = RuleData {
        tenant,
        case_id: IdText(case.id),
        rule: RuleJson { id: IdText(message.rule_id), name: message.rule_name, trigger: message.trigger },
        case: CaseJson {
            id: IdText(case.id),
            title: &case.title,
            priority: CasePriority::from_rank(case.priority),
            status: message.status_name,
            assignee_id: case.assignee_id.as_deref(),
        },
    };
    let kind = WebhookEventType::AutomationRule;
    let row = NewDelivery::new(tenant, id, case.case_id(), kind, body(kind, now(), data)?);
    crate::bulk_insert!(conn, webhook_deliveries::table, [row])?;
    Ok(true)
}
