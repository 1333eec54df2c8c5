//! The outbox's deliveries: how workers claim them, record each attempt,
//! and schedule the next one. A claim is a lease (`locked_until`) written in
//! its own short transaction, so no transaction stays open while a request
//! is in flight; on PostgreSQL the claim skips rows another replica is
//! claiming (`FOR UPDATE SKIP LOCKED`). Deliveries of one case to one
//! webhook go in order: a later one waits while an earlier one is pending.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamp};
use diesel_async::RunQueryDsl;

use super::sealed::SealingKeys;
use super::{WebhookEventType, WebhookId, signature};
use crate::auth::{Granted, ManageSettings};
use crate::db::schema::{webhook_deliveries, webhooks};
use crate::db::{Conn, Link};
use crate::domain::now;
use crate::domain::values::text_enum;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Who automatic changes to webhooks are recorded as.
pub const WORKER_ID: &str = "system:webhooks";

/// The most of a response body a delivery keeps.
pub const KEPT_RESPONSE_CHARS: usize = 1024;

text_enum! {
    /// Where a delivery stands.
    pub enum WebhookDeliveryStatus {
        /// Not yet received (waiting for its first or next attempt).
        Pending => "PENDING",
        /// The endpoint answered 2xx.
        Delivered => "DELIVERED",
        /// Every attempt failed; no more will be made (redeliver to try again).
        Failed => "FAILED",
    }
}

/// A delivery's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryId(pub i64);

/// One event on its way to one webhook.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub case_id: Option<i64>,
    pub message_id: String,
    pub event_type: WebhookEventType,
    pub payload: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// When deliveries are tried again, when an endpoint is left alone for a
/// while (its circuit opens), and when a webhook gives up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; each next wait doubles
    /// (with up to a quarter more or less at random, so failures spread).
    pub first_backoff: Duration,
    /// Attempts of one delivery before it is FAILED. With the defaults
    /// (5 s, 15 attempts) the last is about a day after the first.
    pub max_attempts: i32,
    /// Failed attempts in a row after which an endpoint's circuit opens: no
    /// delivery of it is sent for a while (the first backoff, doubling with
    /// each further failure, at most an hour), then one at a time until one
    /// gets through.
    pub circuit_threshold: i32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { first_backoff: Duration::from_secs(5), max_attempts: 15, circuit_threshold: 5 }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), jittered.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
        let base = self.first_backoff.saturating_mul(1 << doublings);
        base.mul_f64(rand::random_range(0.75..1.25))
    }

    /// How long an endpoint is left alone after `failures` failed attempts
    /// in a row; `None` while under the threshold.
    fn circuit_open_for(&self, failures: i32) -> Option<Duration> {
        let over = failures.checked_sub(self.circuit_threshold)?;
        let doublings = u32::try_from(over).ok()?.min(16);
        Some(self.first_backoff.saturating_mul(1 << doublings).min(Duration::from_secs(3600)))
    }
}

/// How much of the sending one endpoint and one tenant may hold at once.
#[derive(Debug, Clone, Copy)]
pub struct Shares {
    /// Deliveries in flight at once to one endpoint (across replicas).
    pub per_endpoint: i64,
    /// Deliveries a worker sends at once: the tenants with deliveries to
    /// send share it equally (one tenant alone has all of it).
    pub total: i64,
}

/// A claimed delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: DeliveryId,
    pub tenant: String,
    pub webhook_id: WebhookId,
    pub url: String,
    /// The secrets it is signed with, opened (see `sealed`): the webhook's,
    /// then the one it replaced while that is still valid. An error when
    /// they cannot be opened (the attempt fails saying why).
    pub secrets: Result<Vec<String>, String>,
    pub message_id: String,
    pub payload: String,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    /// The lease this claim holds: the attempt is recorded only under it.
    pub lease_token: String,
}

impl Claimed {
    /// The Standard Webhooks headers for sending it at `timestamp` (seconds):
    /// one signature per secret, space-separated, as the specification allows
    /// while a secret is being rotated.
    pub fn headers(&self, timestamp: i64) -> AppResult<[(&'static str, String); 3]> {
        let secrets = self.secrets.as_ref().map_err(|why| AppError::internal(why.clone()))?;
        let signatures = secrets
            .iter()
            .map(|secret| signature::sign(secret, &self.message_id, timestamp, &self.payload))
            .collect::<AppResult<Vec<String>>>()?;
        Ok([
            ("webhook-id", self.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signatures.join(" ")),
        ])
    }
}

#[derive(Queryable)]
struct ClaimedRow {
    id: i64,
    tenant: String,
    webhook_id: i64,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<NaiveDateTime>,
    message_id: String,
    payload: String,
    attempt: i32,
}

#[derive(QueryableByName)]
struct DueId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Due deliveries to claim, fairly: of enabled webhooks whose circuit is
/// closed; none that an earlier pending delivery of the same case and
/// webhook holds back; each endpoint and each tenant within its share,
/// counting what it has in flight already (an endpoint coming out of an
/// open circuit gets one at a time; the tenants with deliveries waiting or
/// in flight share the total equally); tenants in turn (each tenant's first
/// before any tenant's second), oldest first within a turn.
/// Binds: $1 now, $2 per endpoint, $3 total, $4 failures that open a
/// circuit, $5 limit.
const FAIR_DUE: &str = "
WITH in_flight AS (
    SELECT webhook_id, tenant_id, count(*) AS n FROM webhook_deliveries
    WHERE status = 'PENDING' AND locked_until IS NOT NULL AND locked_until > $1
    GROUP BY webhook_id, tenant_id
), endpoint_load AS (
    SELECT webhook_id, sum(n) AS n FROM in_flight GROUP BY webhook_id
), tenant_load AS (
    SELECT tenant_id, sum(n) AS n FROM in_flight GROUP BY tenant_id
), due AS (
    SELECT d.id, d.tenant_id, d.webhook_id, d.next_attempt_at,
           ROW_NUMBER() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS endpoint_turn,
           CASE WHEN w.consecutive_failures >= $4 THEN 1 ELSE $2 END AS endpoint_share
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1
      AND (d.locked_until IS NULL OR d.locked_until <= $1)
      AND w.enabled AND (w.circuit_open_until IS NULL OR w.circuit_open_until <= $1)
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id
           AND e.case_id = d.case_id AND e.status = 'PENDING' AND e.id < d.id)
), eligible AS (
    SELECT due.id, due.tenant_id, due.next_attempt_at,
           ROW_NUMBER() OVER (PARTITION BY due.tenant_id ORDER BY due.next_attempt_at, due.id) AS tenant_turn
    FROM due LEFT JOIN endpoint_load el ON el.webhook_id = due.webhook_id
    WHERE due.endpoint_turn + coalesce(el.n, 0) <= due.endpoint_share
), tenants AS (
    SELECT count(*) AS n FROM (SELECT tenant_id FROM eligible UNION SELECT tenant_id FROM tenant_load) AS t
), share AS (
    SELECT CASE WHEN tenants.n > 1 AND $3 / tenants.n > 1 THEN $3 / tenants.n
                WHEN tenants.n > 1 THEN 1 ELSE $3 END AS per_tenant
    FROM tenants
)
SELECT eligible.id FROM eligible CROSS JOIN share LEFT JOIN tenant_load tl ON tl.tenant_id = eligible.tenant_id
WHERE eligible.tenant_turn + coalesce(tl.n, 0) <= share.per_tenant
ORDER BY eligible.tenant_turn, eligible.next_attempt_at, eligible.id
LIMIT $5";

/// Replicas claim one at a time (on PostgreSQL), so the shares hold across
/// them: a claim is one short query and one update.
const CLAIM_LOCK: i64 = 0x6361_7365_686f_6f6b;

/// Whether any delivery may be due at `now`: a plain read, so a worker
/// woken by a change opens no write transaction when there is nothing to send.
pub async fn any_due(conn: &mut Conn<'_>, now: NaiveDateTime) -> AppResult<bool> {
    let found: Option<i64> = with_conn!(conn, c => {
        webhook_deliveries::table
            // A literal, as the partial index's predicate is: a bound value would not match it.
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("status = 'PENDING'"))
            .filter(webhook_deliveries::next_attempt_at.le(now))
            .select(webhook_deliveries::id)
            .first(c)
            .await
            .optional()
    })?;
    Ok(found.is_some())
}

/// How long sent and failed deliveries are kept.
pub const RETENTION_DAYS: i64 = 30;

/// Removes deliveries done (delivered or failed) more than
/// [`RETENTION_DAYS`] before `now`; returns how many.
pub async fn prune(conn: &mut Conn<'_>, now: NaiveDateTime) -> AppResult<usize> {
    let done = [WebhookDeliveryStatus::Delivered, WebhookDeliveryStatus::Failed];
    let old = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq_any(done))
        .filter(webhook_deliveries::created_at.lt(now - chrono::Duration::days(RETENTION_DAYS)));
    Ok(with_conn!(conn, c => diesel::delete(old).execute(c).await)?)
}

/// Claims up to `limit` due deliveries (see [`FAIR_DUE`]) for `lease`,
/// counting the attempt, on the database's clock, and opens their secrets.
/// Call in a transaction of its own and commit before sending.
pub async fn claim(
    conn: &mut Conn<'_>,
    limit: i64,
    shares: Shares,
    policy: &RetryPolicy,
    lease: Duration,
    keys: Option<&SealingKeys>,
) -> AppResult<Vec<Claimed>> {
    if let Link::Postgres(c) = &mut conn.link {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({CLAIM_LOCK})")).execute(*c).await?;
    }
    let now = conn.clock().await?;
    let sql = crate::db::numbered(FAIR_DUE, conn.is_postgres()).into_owned();
    let ids: Vec<DueId> = with_conn!(conn, c => {
        diesel::sql_query(sql.as_str())
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(shares.per_endpoint.max(1))
            .bind::<BigInt, _>(shares.total.max(1))
            .bind::<Integer, _>(policy.circuit_threshold)
            .bind::<BigInt, _>(limit)
            .load(c)
            .await
    })?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = ids.into_iter().map(|d| d.id).collect();
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
    let token = signature::new_message_id().replacen("msg_", "lease_", 1);
    let target = webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids));
    let values = (
        webhook_deliveries::locked_until.eq(now + lease),
        webhook_deliveries::lease_token.eq(&token),
        webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
        webhook_deliveries::last_attempt_at.eq(now),
    );
    with_conn!(conn, c => diesel::update(target).set(values).execute(c).await)?;
    let rows: Vec<ClaimedRow> = with_conn!(conn, c => {
        webhook_deliveries::table
            .inner_join(webhooks::table)
            .filter(webhook_deliveries::id.eq_any(&ids))
            .order(webhook_deliveries::id.asc())
            .select((
                webhook_deliveries::id,
                webhook_deliveries::tenant_id,
                webhook_deliveries::webhook_id,
                webhooks::url,
                webhooks::secret,
                webhooks::previous_secret,
                webhooks::previous_secret_expires_at,
                webhook_deliveries::message_id,
                webhook_deliveries::payload,
                webhook_deliveries::attempts,
            ))
            .load(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let still_valid = row.previous_secret_expires_at.is_some_and(|until| until > now);
            let previous = row.previous_secret.filter(|_| still_valid);
            let secrets = open_secrets(keys, &row.tenant, &row.secret, previous.as_deref());
            Claimed {
                id: DeliveryId(row.id),
                tenant: row.tenant,
                webhook_id: WebhookId(row.webhook_id),
                url: row.url,
                secrets,
                message_id: row.message_id,
                payload: row.payload,
                attempt: row.attempt,
                lease_token: token.clone(),
            }
        })
        .collect())
}

/// A webhook's secret (and the previous one, still valid), opened.
fn open_secrets(
    keys: Option<&SealingKeys>,
    tenant: &str,
    secret: &str,
    previous: Option<&str>,
) -> Result<Vec<String>, String> {
    let keys = keys.ok_or("the webhook's secret is sealed and this replica has no CASEBOOK_SECRET_KEY to open it")?;
    std::iter::once(secret).chain(previous).map(|sealed| keys.open(tenant, sealed).map_err(|e| e.to_string())).collect()
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The HTTP status, when the endpoint answered.
    pub status: Option<u16>,
    pub duration: Duration,
    /// The start of the response body.
    pub body: Option<String>,
    /// Why it failed (a non-2xx answer, a timeout, a refused address).
    pub error: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// How recording an attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Written; whether the webhook was disabled by it.
    Written { disabled: bool },
    /// The lease ran out and another worker holds the delivery now: this
    /// attempt is not recorded (the other's will be).
    LeaseLost,
}

/// Records an attempt of a claimed delivery, if the claim still holds its
/// lease: delivered, or scheduled again with backoff, or FAILED after the
/// last attempt. A failure counts against the endpoint: past the policy's
/// threshold its circuit opens for a while; a success closes it. A webhook
/// whose delivery fails for good with no success since its first attempt (a
/// run of failures as long as the retry schedule) is disabled. Call in a
/// transaction; times are the database's.
pub async fn record(
    conn: &mut Conn<'_>,
    claimed: &Claimed,
    attempt: &Attempt,
    policy: &RetryPolicy,
) -> AppResult<Recorded> {
    let now = conn.clock().await?;
    let succeeded = attempt.succeeded();
    let last = !succeeded && claimed.attempt >= policy.max_attempts;
    let status = match (succeeded, last) {
        (true, _) => WebhookDeliveryStatus::Delivered,
        (false, true) => WebhookDeliveryStatus::Failed,
        (false, false) => WebhookDeliveryStatus::Pending,
    };
    let backoff = chrono::Duration::from_std(policy.backoff(claimed.attempt)).unwrap_or(chrono::Duration::hours(1));
    let values = (
        webhook_deliveries::status.eq(status.as_str()),
        webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
        webhook_deliveries::lease_token.eq(None::<String>),
        webhook_deliveries::next_attempt_at.eq(now + backoff),
        webhook_deliveries::response_status.eq(attempt.status.map(i32::from)),
        webhook_deliveries::duration_ms.eq(i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX)),
        webhook_deliveries::response_body.eq(&attempt.body),
        webhook_deliveries::error.eq(&attempt.error),
        webhook_deliveries::delivered_at.eq(succeeded.then_some(now)),
    );
    let target = webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(claimed.id.0))
        .filter(webhook_deliveries::lease_token.eq(&claimed.lease_token));
    let held = with_conn!(conn, c => diesel::update(target).set(values).execute(c).await)?;
    if held == 0 {
        return Ok(Recorded::LeaseLost);
    }
    let hook = webhooks::table.filter(webhooks::id.eq(claimed.webhook_id.0));
    if succeeded {
        // Only a webhook coming out of a failure run is written: concurrent
        // successes do not queue on its row.
        let failing = hook.filter(webhooks::consecutive_failures.ne(0));
        let closed = (webhooks::consecutive_failures.eq(0), webhooks::circuit_open_until.eq(None::<NaiveDateTime>));
        with_conn!(conn, c => diesel::update(failing).set(closed).execute(c).await)?;
        return Ok(Recorded::Written { disabled: false });
    }
    let failures: Option<i32> = with_conn!(conn, c => {
        diesel::update(hook)
            .set(webhooks::consecutive_failures.eq(webhooks::consecutive_failures + 1))
            .returning(webhooks::consecutive_failures)
            .get_result(c)
            .await
            .optional()
    })?;
    if let Some(open_for) = failures.and_then(|f| policy.circuit_open_for(f)) {
        let until = now + chrono::Duration::from_std(open_for).unwrap_or(chrono::Duration::hours(1));
        with_conn!(conn, c => diesel::update(hook).set(webhooks::circuit_open_until.eq(Some(until))).execute(c).await)?;
    }
    if !last || failures.is_none_or(|f| f < policy.max_attempts) {
        return Ok(Recorded::Written { disabled: false });
    }
    let reason = format!(
        "disabled automatically after {} failed attempts in a row; the last: {}",
        failures.unwrap_or_default(),
        attempt.error.as_deref().unwrap_or("no answer")
    );
    let values = (
        webhooks::enabled.eq(false),
        webhooks::disabled_at.eq(Some(now)),
        webhooks::disabled_reason.eq(Some(&reason)),
        webhooks::updated_by.eq(WORKER_ID),
        webhooks::updated_at.eq(now),
    );
    let hook = webhooks::table.filter(webhooks::id.eq(claimed.webhook_id.0)).filter(webhooks::enabled.eq(true));
    let disabled = with_conn!(conn, c => diesel::update(hook).set(values).execute(c).await)?;
    if disabled > 0 {
        tracing::warn!(
            target: "casebook::audit",
            tenant = %claimed.tenant,
            webhook = claimed.webhook_id.0,
            %reason,
            "webhook disabled"
        );
    }
    Ok(Recorded::Written { disabled: disabled > 0 })
}

/// A page of a webhook's deliveries, newest first: those older than `before`.
pub async fn page(
    conn: &mut Conn<'_>,
    tenant: &str,
    webhook: WebhookId,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<Delivery>> {
    let rows = with_conn!(conn, c => {
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::tenant_id.eq(tenant))
            .filter(webhook_deliveries::webhook_id.eq(webhook.0))
            .order(webhook_deliveries::id.desc())
            .limit(limit)
            .select(Delivery::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(webhook_deliveries::id.lt(before));
        }
        query.load(c).await
    })?;
    Ok(rows)
}

/// How many deliveries a webhook has.
pub async fn count(conn: &mut Conn<'_>, tenant: &str, webhook: WebhookId) -> AppResult<i64> {
    let count = with_conn!(conn, c => {
        webhook_deliveries::table
            .filter(webhook_deliveries::tenant_id.eq(tenant))
            .filter(webhook_deliveries::webhook_id.eq(webhook.0))
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

/// The tenant's delivery with this id.
pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: DeliveryId) -> AppResult<Option<Delivery>> {
    let row = with_conn!(conn, c => {
        webhook_deliveries::table
            .filter(webhook_deliveries::tenant_id.eq(tenant))
            .filter(webhook_deliveries::id.eq(id.0))
            .select(Delivery::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

/// Sends a delivery's message again as a new delivery (same `webhook-id`,
/// so receivers can tell a repeat), due now; the old one keeps its history.
pub async fn redeliver(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    id: DeliveryId,
) -> AppResult<Delivery> {
    let tenant = actor.tenant();
    let old = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("webhook delivery", id.0))?;
    let now = now();
    let values = (
        webhook_deliveries::tenant_id.eq(tenant),
        webhook_deliveries::webhook_id.eq(old.webhook_id),
        webhook_deliveries::case_id.eq(old.case_id),
        webhook_deliveries::message_id.eq(&old.message_id),
        webhook_deliveries::event_type.eq(old.event_type),
        webhook_deliveries::payload.eq(&old.payload),
        webhook_deliveries::status.eq(WebhookDeliveryStatus::Pending),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(now),
        webhook_deliveries::created_at.eq(now),
    );
    let row = with_conn!(conn, c => {
        diesel::insert_into(webhook_deliveries::table)
            .values(values)
            .returning(Delivery::as_returning())
            .get_result(c)
            .await
    })?;
    Ok(row)
}
