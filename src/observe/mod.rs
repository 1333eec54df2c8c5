//! What operators see inside a running replica: Prometheus metrics, served
//! on a listener of their own (`CASEBOOK_METRICS_LISTEN`, off by default).
//! Recording goes through the `metrics` facade: without a listener nothing
//! is installed and every record is a no-op.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Operation names kept as labels; later names share `other`, so a client
/// inventing names cannot grow the series without bound.
const MAX_OPERATION_NAMES: usize = 200;
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
    describe_counter!("casebook_rate_limited_total", "Requests refused because the caller's budget was spent.");
    describe_counter!(
        "casebook_refused_total",
        "Requests refused before execution, by reason (code: UNAUTHENTICATED, FORBIDDEN, BAD_USER_INPUT...)."
    );
    describe_counter!("casebook_webhook_attempts_total", "Webhook delivery attempts, by outcome (delivered, failed).");
}

/// `GET /metrics` in the Prometheus text format, on its own listener.
pub async fn serve(listener: tokio::net::TcpListener, handle: PrometheusHandle) -> std::io::Result<()> {
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
    axum::serve(listener, app).await
}

/// The label of an operation name: anonymous ones share one, and past
/// [`MAX_OPERATION_NAMES`] distinct names the rest share `other`.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name.filter(|n| !n.is_empty()) else { return "anonymous".to_owned() };
    let mut seen = SEEN.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() < MAX_OPERATION_NAMES {
        seen.insert(name.to_owned());
        return name.to_owned();
    }
    "other".to_owned()
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
