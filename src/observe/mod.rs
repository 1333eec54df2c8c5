//! What operators see inside a running replica: Prometheus metrics, served
//! on a listener of their own (`CASEBOOK_METRICS_LISTEN`, off by default).
//! Recording goes through the `metrics` facade: without a listener nothing
//! is installed and every record is a no-op.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

/// Operation names labelled at once (see [`OperationLabels`]); the others share `other`.
const MAX_OPERATION_NAMES: usize = 200;
/// The longest operation name used as a label.
const MAX_OPERATION_NAME_CHARS: usize = 100;
/// Counters and histograms not touched for this long leave `/metrics`, so
/// the series of names no longer used go away.
const IDLE_SERIES: Duration = Duration::from_secs(15 * 60);
/// How often the exporter drops idle series when nobody scrapes.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Seconds: from a quick read to the request time-out.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once) and returns the handle that renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .idle_timeout(MetricKindMask::COUNTER | MetricKindMask::HISTOGRAM, Some(IDLE_SERIES))
        .build_recorder();
    let handle = recorder.handle();
    // Another server of this process (tests) may have won the race: use its handle.
    if metrics::set_global_recorder(recorder).is_err() {
        return HANDLE.get().cloned().ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed"));
    }
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The metrics' help texts (their names are the contract).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("casebook_http_requests_total", "HTTP requests answered, by route and status.");
    describe_histogram!("casebook_http_request_duration_seconds", Unit::Seconds, "HTTP request latency, by route.");
    describe_counter!(
        "casebook_graphql_operations_total",
        "GraphQL operations, by operation name (anonymous ones share one), type and outcome (OK or the first error code)."
    );
    describe_histogram!(
        "casebook_graphql_operation_duration_seconds",
        Unit::Seconds,
        "GraphQL operation latency, by operation name and type."
    );
    describe_gauge!("casebook_websockets", "Open WebSocket connections.");
    describe_gauge!("casebook_subscriptions", "Live GraphQL subscriptions.");
    describe_gauge!("casebook_watched_cases", "Cases with at least one live watcher in this process.");
    describe_counter!("casebook_activity_events_delivered_total", "Activity entries sent to subscribers.");
    describe_histogram!(
        "casebook_activity_delivery_lag_seconds",
        Unit::Seconds,
        "From an activity entry's commit to its broadcast to the case's subscribers (NOTIFY or commit path)."
    );
    describe_gauge!("casebook_db_pool_size", "Database connections the pool holds.");
    describe_gauge!("casebook_db_pool_in_use", "Database connections in use.");
    describe_histogram!("casebook_db_pool_wait_seconds", Unit::Seconds, "Time spent waiting for a pooled connection.");
    describe_histogram!(
        "casebook_db_write_wait_seconds",
        Unit::Seconds,
        "SQLite: time a write waited for its turn (writes go one at a time, in arrival order)."
    );
    describe_counter!("casebook_rate_limited_total", "Requests refused because the caller's budget was spent.");
    describe_counter!(
        "casebook_refused_total",
        "Requests refused before execution, by reason (code: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT...)."
    );
    describe_counter!("casebook_webhook_attempts_total", "Webhook delivery attempts, by outcome (delivered, failed).");
}

/// `GET /metrics` in the Prometheus text format, on its own listener.
pub async fn serve(listener: tokio::net::TcpListener, handle: PrometheusHandle) -> std::io::Result<()> {
    let pruned = handle.clone();
    // Rendering is what drops idle series; do it even when nobody scrapes.
    let pruning = async move {
        let mut ticks = tokio::time::interval(PRUNE_EVERY);
        loop {
            ticks.tick().await;
            pruned.run_upkeep();
            let _ = pruned.render_to_write(&mut std::io::sink());
        }
    };
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
            }
        }),
    );
    tokio::select! {
        served = axum::serve(listener, app).into_future() => served,
        never = pruning => never,
    }
}

/// The label of an admitted operation (authenticated, and named by its own
/// document): anonymous ones share one; a name too long to be a label, or
/// one that finds no free place, is `other`. Operations refused before they
/// ran are `refused`, whatever name they gave.
pub fn operation_label(name: Option<&str>) -> String {
    static LABELS: OnceLock<Mutex<OperationLabels>> = OnceLock::new();
    let Some(name) = name.filter(|n| !n.is_empty()) else { return "anonymous".to_owned() };
    let mut labels = LABELS.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    labels.label(name, Instant::now())
}

/// The label of every operation refused before it ran.
pub const REFUSED_OPERATION: &str = "refused";

/// The operation names used as labels: at most [`MAX_OPERATION_NAMES`], each
/// with when it was last used. A new name takes a free place, or the place
/// of a name unused for longer than the exporter keeps idle series (so that
/// name's series have left `/metrics` already): a burst of names fills the
/// places for a while, never for good, and names in use keep theirs.
#[derive(Default)]
struct OperationLabels {
    last_used: HashMap<String, Instant>,
}

impl OperationLabels {
    /// A place is given up only once its name's series are gone for sure.
    const REUSE_AFTER: Duration = IDLE_SERIES.saturating_add(PRUNE_EVERY).saturating_add(PRUNE_EVERY);

    fn label(&mut self, name: &str, now: Instant) -> String {
        let labelable = name.chars().count() <= MAX_OPERATION_NAME_CHARS
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !labelable {
            return "other".to_owned();
        }
        if let Some(used) = self.last_used.get_mut(name) {
            *used = now;
            return name.to_owned();
        }
        if self.last_used.len() >= MAX_OPERATION_NAMES {
            let stalest = self.last_used.iter().min_by_key(|(_, used)| **used).map(|(n, used)| (n.clone(), *used));
            match stalest {
                Some((stale, used)) if now.saturating_duration_since(used) >= Self::REUSE_AFTER => {
                    self.last_used.remove(&stale);
                }
                _ => return "other".to_owned(),
            }
        }
        self.last_used.insert(name.to_owned(), now);
        name.to_owned()
    }
}

/// An HTTP request answered.
pub fn http_request(route: &str, status: u16, elapsed: Duration) {
    metrics::counter!("casebook_http_requests_total", "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("casebook_http_request_duration_seconds", "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
}

/// A GraphQL operation executed (or refused before it ran).
pub fn graphql_operation(name: &str, kind: &'static str, outcome: &str, elapsed: Duration) {
    metrics::counter!(
        "casebook_graphql_operations_total",
        "operation" => name.to_owned(),
        "type" => kind,
        "outcome" => outcome.to_owned()
    )
    .increment(1);
    metrics::histogram!("casebook_graphql_operation_duration_seconds", "operation" => name.to_owned(), "type" => kind)
        .record(elapsed.as_secs_f64());
}

/// The slow-operation log line: which operation, how long, how many SQL
/// statements it ran (an N+1 shows as a count that grows with the page).
pub fn slow_operation(name: Option<&str>, kind: &'static str, outcome: &str, elapsed: Duration, statements: u64) {
    let name: String = name.filter(|n| !n.is_empty()).unwrap_or("anonymous").chars().take(200).collect();
    tracing::warn!(
        target: "casebook::slow",
        operation = %name,
        r#type = kind,
        outcome,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        statements,
        "slow operation"
    );
}

/// A request refused before it ran, by its error code (rate-limited ones
/// counted apart too).
pub fn refused(code: &str) {
    if code == "RATE_LIMITED" {
        metrics::counter!("casebook_rate_limited_total").increment(1);
    }
    metrics::counter!("casebook_refused_total", "reason" => code.to_owned()).increment(1);
}

/// HTTP requests by route (the route's pattern, so ids in paths do not
/// make series) and status. A layer on the router's routes.
pub async fn track_http(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    http_request(&route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_names_fills_the_places_but_not_for_good() {
        let mut labels = OperationLabels::default();
        let start = Instant::now();
        assert_eq!(labels.label("Dashboard", start), "Dashboard");
        for n in 0..10_000 {
            let label = labels.label(&format!("Junk{n}"), start);
            assert!(label == format!("Junk{n}") || label == "other");
        }
        assert_eq!(labels.last_used.len(), MAX_OPERATION_NAMES, "the places are bounded");
        // The name in use keeps its place during the burst; a new one waits.
        let later = start + Duration::from_secs(60);
        assert_eq!(labels.label("Dashboard", later), "Dashboard");
        assert_eq!(labels.label("CasePage", later), "other");
        // Once the junk has been idle past the exporter's window, its places are free again.
        let much_later = start + OperationLabels::REUSE_AFTER + Duration::from_secs(1);
        assert_eq!(labels.label("CasePage", much_later), "CasePage");
        assert_eq!(labels.label("Dashboard", much_later), "Dashboard");
        assert_eq!(labels.last_used.len(), MAX_OPERATION_NAMES);
    }

    #[test]
    fn long_or_strange_names_are_not_labels() {
        let mut labels = OperationLabels::default();
        let now = Instant::now();
        assert_eq!(labels.label(&"A".repeat(MAX_OPERATION_NAME_CHARS + 1), now), "other");
        assert_eq!(labels.label("drop table", now), "other");
        assert!(labels.last_used.is_empty());
    }
}
