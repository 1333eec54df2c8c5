//! The webhook delivery worker: each replica claims due deliveries from the
//! outbox (see `domain::webhook::delivery`), POSTs them, and records how
//! each attempt went. It wakes when a change commits (any replica's, through
//! the activity bus) and otherwise looks every `interval`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::Job;
use crate::db::Db;
use crate::domain::now;
use crate::domain::webhook::TargetPolicy;
use crate::domain::webhook::delivery::{self, Attempt, Claimed, KEPT_RESPONSE_CHARS, Recorded, RetryPolicy, Shares};
use crate::domain::webhook::sealed::SealingKeys;
use crate::error::{AppResult, OrInternal};

/// How often old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The most of a response body read (the rest is not waited for).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Addresses deliveries may connect to.
    pub targets: TargetPolicy,
    /// Retries, backoff, and when a webhook is given up on.
    pub retry: RetryPolicy,
    /// The longest one request may take, answer included.
    pub timeout: Duration,
    /// How often the worker looks when nothing wakes it.
    pub interval: Duration,
    /// Requests in flight at once per replica (0: this replica sends none).
    pub concurrency: usize,
    /// Requests in flight at once to one endpoint, across replicas; at most
    /// half of one replica's (so one endpoint never takes them all).
    pub per_endpoint: usize,
    /// Opens the webhooks' sealed secrets; `None`: nothing can be signed.
    pub keys: Option<Arc<SealingKeys>>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            targets: TargetPolicy::default(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            interval: Duration::from_secs(1),
            concurrency: 16,
            per_endpoint: 4,
            keys: None,
        }
    }
}

impl WebhookSettings {
    /// How long a claim is left to its worker: longer than any request may
    /// take (its timeout), with room to record the attempt, so no other
    /// replica sends it meanwhile.
    pub fn lease(&self) -> Duration {
        self.timeout.saturating_mul(2) + Duration::from_secs(30)
    }

    fn shares(&self) -> Shares {
        let half = (self.concurrency / 2).max(1);
        Shares { per_endpoint: self.per_endpoint.clamp(1, half) as i64, total: self.concurrency as i64 }
    }
}

/// Starts the worker.
pub fn start(db: Db, wake: Arc<Notify>, settings: WebhookSettings) -> Job {
    Job(tokio::spawn(async move {
        if settings.concurrency == 0 {
            tracing::info!("webhook delivery is left to other replicas (concurrency 0)");
            return;
        }
        let client = match client(&settings) {
            Ok(client) => client,
            Err(error) => {
                // Nothing is lost: the deliveries wait in the outbox for a replica that can send.
                tracing::error!(%error, "webhook delivery worker cannot start");
                return;
            }
        };
        run(db, wake, client, Arc::new(settings)).await;
    }))
}

async fn run(db: Db, wake: Arc<Notify>, client: reqwest::Client, settings: Arc<WebhookSettings>) {
    let mut in_flight = JoinSet::new();
    let mut pruned_at: Option<Instant> = None;
    loop {
        if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(Instant::now());
            prune(&db).await;
        }
        let free = settings.concurrency.saturating_sub(in_flight.len());
        let claimed = if free > 0 { claim(&db, free, &settings).await } else { Vec::new() };
        let got_some = !claimed.is_empty();
        for claimed in claimed {
            in_flight.spawn(deliver(db.clone(), client.clone(), settings.clone(), claimed));
        }
        if got_some && in_flight.len() < settings.concurrency {
            continue;
        }
        tokio::select! {
            () = wake.notified() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            () = tokio::time::sleep(settings.interval) => {}
        }
        // Whatever else finished meanwhile frees its slot too: one claim fills them all.
        while in_flight.try_join_next().is_some() {}
    }
}

async fn claim(db: &Db, limit: usize, settings: &WebhookSettings) -> Vec<Claimed> {
    let claimed = async {
        if !delivery::any_due(&mut db.get().await?.conn(), now()).await? {
            return Ok(Vec::new());
        }
        let mut tx = db.begin().await?;
        let limit = i64::try_from(limit).unwrap_or(1);
        let keys = settings.keys.as_deref();
        let result =
            delivery::claim(&mut tx.conn(), limit, settings.shares(), &settings.retry, settings.lease(), keys).await;
        tx.finish(result).await
    };
    claimed.await.unwrap_or_else(|error| {
        tracing::warn!(%error, "webhook delivery worker: claiming failed");
        Vec::new()
    })
}

/// Removes old deliveries that are done (every replica does; it is idempotent).
async fn prune(db: &Db) {
    let pruned = async {
        let mut tx = db.begin().await?;
        let result = delivery::prune(&mut tx.conn(), now()).await;
        tx.finish(result).await
    };
    match pruned.await {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "webhook deliveries past retention removed"),
        Err(error) => tracing::warn!(%error, "webhook delivery worker: pruning failed"),
    }
}

/// Sends one claimed delivery and records the attempt. When recording fails
/// the claim runs out and another attempt is made: a receiver may see a
/// message twice (the same `webhook-id`), never miss one.
async fn deliver(db: Db, client: reqwest::Client, settings: Arc<WebhookSettings>, claimed: Claimed) {
    let attempt = send(&client, &settings, &claimed).await;
    let outcome = if attempt.succeeded() { "delivered" } else { "failed" };
    metrics::counter!("casebook_webhook_attempts_total", "outcome" => outcome).increment(1);
    let recorded = async {
        let mut tx = db.begin().await?;
        let result = delivery::record(&mut tx.conn(), &claimed, &attempt, &settings.retry).await;
        tx.finish(result).await
    };
    match recorded.await {
        Ok(Recorded::Written { .. }) => {}
        Ok(Recorded::LeaseLost) => {
            tracing::warn!(
                delivery = claimed.id.0,
                "webhook delivery worker: the lease ran out before the attempt was recorded"
            )
        }
        Err(error) => {
            tracing::warn!(%error, delivery = claimed.id.0, "webhook delivery worker: recording an attempt failed")
        }
    }
}

/// One attempt: POST the message, read the start of the answer.
pub async fn send(client: &reqwest::Client, settings: &WebhookSettings, claimed: &Claimed) -> Attempt {
    let started = Instant::now();
    let failed = |error: String, status: Option<u16>, body: Option<String>| Attempt {
        status,
        duration: started.elapsed(),
        body,
        error: Some(error),
    };
    let url = match reqwest::Url::parse(&claimed.url) {
        Ok(url) => url,
        Err(e) => return failed(format!("the stored URL does not parse: {e}"), None, None),
    };
    // Names are checked by the resolver as they are looked up; literal
    // addresses never reach it.
    if let Some(ip) = literal_address(&url)
        && !settings.targets.permits(ip)
    {
        return failed(format!("refused: {ip} is not an address webhooks may reach"), None, None);
    }
    let headers = match claimed.headers(chrono::Utc::now().timestamp()) {
        Ok(headers) => headers,
        Err(e) => return failed(e.to_string(), None, None),
    };
    let mut request =
        client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(claimed.payload.clone());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return failed(describe(&e, settings.timeout), None, None),
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut read_error = None;
    while body.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                read_error = Some(describe(&e, settings.timeout));
                break;
            }
        }
    }
    let text: String = String::from_utf8_lossy(&body).chars().take(KEPT_RESPONSE_CHARS).collect();
    let body = (!text.is_empty()).then_some(text);
    let error = match (status, read_error) {
        (200..=299, None) => None,
        (200..=299, Some(e)) => Some(e),
        (300..=399, _) => Some(format!("HTTP {status}: redirects are not followed")),
        (_, _) => Some(format!("HTTP {status}")),
    };
    Attempt { status: Some(status), duration: started.elapsed(), body, error }
}

fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// A request error as the delivery shows it, with its causes.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The HTTP client of deliveries: no redirects, no proxies (they would
/// resolve the target instead of us), every looked-up address checked.
pub fn client(settings: &WebhookSettings) -> AppResult<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("casebook-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver { targets: settings.targets.clone() }))
        .build()
        .or_internal("building the webhook client")
}

/// Resolves names and keeps only the addresses webhooks may reach: checked
/// at connect time, so a name that changes where it points is caught.
struct GuardedResolver {
    targets: TargetPolicy,
}

/// A name that resolves only to addresses webhooks may not reach. Which
/// ones is logged, not shown in the delivery (which tenants' admins read).
#[derive(Debug)]
struct RefusedAddresses {
    host: String,
}

impl std::fmt::Display for RefusedAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {} resolves only to addresses that are not public", self.host)
    }
}

impl std::error::Error for RefusedAddresses {}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = self.targets.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|a| targets.permits(a.ip()));
            if allowed.is_empty() {
                let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
                tracing::warn!(%host, refused = refused.join(", "), "a webhook's host resolves to no public address");
                return Err(Box::new(RefusedAddresses { host }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
