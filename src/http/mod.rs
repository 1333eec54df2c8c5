//! The HTTP surface: `/graphql` (POST, and GET for queries), GraphiQL at `/`,
//! `/healthz` and `/readyz`.

mod attachments;
mod connections;
mod graphiql;
mod ingest;
mod media;
pub mod persisted;
pub mod request_id;
mod upload_slots;
mod ws;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Executor;
use async_graphql::parser::types::OperationType;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sha2::Digest;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Auth, Credential, Granted, Principal, ReadData, TokenVerifier};
use crate::config::DatabaseUrl;
use crate::db::Db;
use crate::domain::api_key::{self, KeyCheck};
use crate::domain::{status, user};
use crate::error::AppError;
use crate::events::ActivityBus;
use crate::graphql::admission::{RateLimiter, Refusal};
use crate::graphql::errors::ErrorCode;
use crate::graphql::{CasebookExecutor, Loaders};

pub use connections::{ConnectionCount, ConnectionLimits, serve as serve_connections};

/// How long `/readyz` reports a full storage before it tries a write of its own.
const STORAGE_FULL_HOLD: Duration = Duration::from_secs(30);

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The service's limits (README, "Limits"); `serve` reads them from its
/// configuration, tests adjust them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cost points each caller may spend per minute (0: no limit).
    pub rate_limit_per_minute: u64,
    /// Live subscriptions on one WebSocket.
    pub subscriptions_per_socket: usize,
    /// Live subscriptions of one caller (tenant and user) across this process's sockets.
    pub subscriptions_per_caller: usize,
    /// How long a WebSocket may wait before `connection_init`.
    pub init_timeout: Duration,
    /// The longest an HTTP request may run.
    pub request_timeout: Duration,
    /// Answer lists of cases through the compiled path where it applies
    /// (off: only the generic resolvers, the reference it is tested against).
    pub compiled_reads: bool,
    /// How often the SLA monitor looks for events due (see `jobs::sla`).
    pub sla_interval: Duration,
    /// Webhook delivery: where to, retries, timeouts (see `jobs::webhooks`).
    pub webhooks: crate::jobs::webhooks::WebhookSettings,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// The only documents that run, by id (`CASEBOOK_TRUSTED_DOCUMENTS`);
    /// `None`: any document, and automatic persisted queries.
    pub trusted_documents: Option<Arc<HashMap<String, String>>>,
    /// Operations at least this long get a `slow operation` log line.
    pub slow_operation: Duration,
    /// `--dev`: the printed tokens, (role, token), offered by GraphiQL's picker.
    pub dev_tokens: Vec<(String, String)>,
    /// Connections per process, and how long a client may take to send a
    /// request's header and body, or to send its next request.
    pub connections: ConnectionLimits,
    /// Where attachments' bytes live, and their limits.
    pub attachments: crate::domain::attachment::AttachmentSettings,
    /// How many matches of a text search `totalCount` counts exactly.
    pub search_count_limit: crate::domain::search::CountLimit,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rate_limit_per_minute: 1_000,
            subscriptions_per_socket: 100,
            subscriptions_per_caller: 500,
            init_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            compiled_reads: true,
            sla_interval: Duration::from_secs(1),
            webhooks: Default::default(),
            shutdown_timeout: Duration::from_secs(25),
            trusted_documents: None,
            slow_operation: Duration::from_secs(1),
            dev_tokens: Vec::new(),
            connections: ConnectionLimits::default(),
            attachments: Default::default(),
            search_count_limit: Default::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    executor: CasebookExecutor,
    db: Db,
    bus: ActivityBus,
    verifier: Arc<TokenVerifier>,
    seen: SeenUsers,
    settings: Settings,
    subscriptions: Arc<ws::SubscriptionCounts>,
    /// Per tenant, shared by the WebSocket connections that hold them: they
    /// never cache, so sharing is safe, costs one set per tenant instead of
    /// one per socket, and batches the lookups of many watchers resolving the
    /// same event. Bounded by the tenants with a live socket: a set lives as
    /// long as a socket holds it, and dead entries go whenever one is added.
    subscription_loaders: Mutex<HashMap<String, std::sync::Weak<Loaders>>>,
    /// Stops with the state.
    _sla_monitor: crate::jobs::Job,
    _key_watcher: crate::jobs::Job,
    _webhook_worker: crate::jobs::Job,
    _attachment_sweeper: Option<crate::jobs::Job>,
    attachments: crate::domain::attachment::Attachments,
    uploads: upload_slots::UploadSlots,
    /// True once the process is shutting down: not ready, WebSockets told to go.
    draining: tokio::sync::watch::Sender<bool>,
    persisted: persisted::Persisted,
}

impl AppState {
    pub fn new(db: Db, database_url: &DatabaseUrl, verifier: TokenVerifier) -> Self {
        AppState::with_settings(db, database_url, verifier, Settings::default())
    }

    pub fn with_settings(db: Db, database_url: &DatabaseUrl, verifier: TokenVerifier, settings: Settings) -> Self {
        let bus = ActivityBus::start(db.clone(), database_url);
        let sla_monitor = crate::jobs::sla::start(db.clone(), settings.sla_interval);
        let verifier = Arc::new(verifier);
        let key_watcher = crate::jobs::keys::start(verifier.clone());
        let limiter = RateLimiter::new(settings.rate_limit_per_minute);
        let webhook_worker = crate::jobs::webhooks::start(db.clone(), bus.outbox_signal(), settings.webhooks.clone());
        let attachments = crate::domain::attachment::Attachments {
            store: settings.attachments.store.clone(),
            settings: settings.attachments.clone(),
            // Derived from CASEBOOK_SECRET_KEY, so every replica checks the
            // others' links; without one, links work on this replica alone.
            link_key: match &settings.webhooks.keys {
                Some(keys) => crate::domain::attachment::link::LinkKey::new(keys.current.link_key()),
                None => crate::domain::attachment::link::LinkKey::random(),
            },
            sweep: Arc::default(),
        };
        let attachment_sweeper = attachments.store.clone().map(|store| {
            let a = &settings.attachments;
            // A staged upload older than the longest upload and its run is abandoned.
            let abandoned_after = a.upload_timeout + settings.request_timeout + Duration::from_secs(60);
            crate::jobs::attachments::start(
                db.clone(),
                store,
                a.sweep_interval,
                abandoned_after,
                attachments.sweep.clone(),
            )
        });
        let services = crate::graphql::Services {
            attachments: attachments.clone(),
            db: db.clone(),
            bus: bus.clone(),
            webhook_targets: settings.webhooks.targets.clone(),
            webhook_keys: crate::graphql::WebhookKeys(settings.webhooks.keys.clone()),
            search_count_limit: settings.search_count_limit,
        };
        let executor = CasebookExecutor::new(
            crate::graphql::build_schema(Some(services)),
            limiter,
            settings.slow_operation,
            Some(db.clone()),
        );
        let persisted = match &settings.trusted_documents {
            Some(manifest) => persisted::Persisted::trusted(manifest.as_ref().clone()),
            None => persisted::Persisted::default(),
        };
        AppState {
            inner: Arc::new(Inner {
                executor,
                db,
                bus,
                verifier,
                seen: SeenUsers::default(),
                settings,
                subscriptions: Arc::default(),
                subscription_loaders: Mutex::default(),
                _sla_monitor: sla_monitor,
                _key_watcher: key_watcher,
                _webhook_worker: webhook_worker,
                _attachment_sweeper: attachment_sweeper,
                attachments,
                uploads: Default::default(),
                draining: tokio::sync::watch::Sender::new(false),
                persisted,
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Starts shutting down: `/readyz` answers 503 from now on and every
    /// WebSocket is closed with 1001 "going away".
    pub fn drain(&self) {
        self.inner.draining.send_replace(true);
    }

    /// Whether the process is shutting down, and a way to wait for it.
    pub(crate) fn draining(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.draining.subscribe()
    }

    pub fn bus(&self) -> &ActivityBus {
        &self.inner.bus
    }

    pub(crate) fn subscription_loaders(&self, reader: &Granted<'_, ReadData>) -> Arc<Loaders> {
        let mut shared = self.inner.subscription_loaders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(loaders) = shared.get(reader.tenant()).and_then(std::sync::Weak::upgrade) {
            return loaders;
        }
        shared.retain(|_, loaders| loaders.strong_count() > 0);
        let loaders = Arc::new(Loaders::uncached(self.inner.db.clone(), reader));
        shared.insert(reader.tenant().to_owned(), Arc::downgrade(&loaders));
        loaders
    }

    /// Tenants whose WebSocket connections hold shared subscription loaders now.
    pub fn tenants_with_shared_loaders(&self) -> usize {
        let shared = self.inner.subscription_loaders.lock().unwrap_or_else(|p| p.into_inner());
        shared.values().filter(|loaders| loaders.strong_count() > 0).count()
    }

    /// Reads the token verifier's public keys again (SIGHUP).
    pub fn reload_token_keys(&self, why: &str) {
        crate::jobs::keys::reload(&self.inner.verifier, why);
    }

    /// The attachment store, limits and link key.
    pub fn attachments(&self) -> &crate::domain::attachment::Attachments {
        &self.inner.attachments
    }

    /// Deletes now what the sweeper would (tests: nothing left behind).
    pub async fn sweep_attachments(&self) -> Result<usize, AppError> {
        let Some(store) = &self.inner.attachments.store else { return Ok(0) };
        let a = &self.inner.settings.attachments;
        let abandoned_after = a.upload_timeout + self.inner.settings.request_timeout + Duration::from_secs(60);
        crate::jobs::attachments::sweep(&self.inner.db, store, abandoned_after).await
    }

    pub fn executor(&self) -> &CasebookExecutor {
        &self.inner.executor
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Verifies an `Authorization` value (a JWT, or an API key looked up in
    /// the database) and records a newly seen user.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Auth, AppError> {
        let auth = match Auth::credential(authorization) {
            Err(reason) => Auth::Invalid(reason),
            Ok(Credential::None) => Auth::Anonymous,
            Ok(Credential::Jwt(token)) => Auth::from_jwt(&self.inner.verifier, token),
            Ok(Credential::ApiKey(secret)) => self.check_api_key(secret).await?,
        };
        if let Auth::Authenticated(principal) = &auth {
            self.record(principal).await?;
        }
        Ok(auth)
    }

    async fn check_api_key(&self, secret: &str) -> Result<Auth, AppError> {
        let check = {
            let mut conn = self.inner.db.get().await?;
            api_key::check(&mut conn.conn(), secret).await?
        };
        match check {
            KeyCheck::Refused(reason) => Ok(Auth::Invalid(reason.into())),
            KeyCheck::Valid { principal, key, stale_use } => {
                if stale_use {
                    let mut tx = self.inner.db.begin().await?;
                    let result = api_key::mark_used(&mut tx.conn(), key).await;
                    tx.finish(result).await?;
                }
                Ok(Auth::Authenticated(principal))
            }
        }
    }

    /// Records the caller in its tenant (creating the tenant with its default
    /// statuses) the first time this process sees it, or when its token's name
    /// or email changed.
    pub(crate) async fn record(&self, principal: &Principal) -> Result<(), AppError> {
        if self.inner.seen.contains(principal) {
            return Ok(());
        }
        let mut tx = self.inner.db.begin().await?;
        let result = async {
            status::ensure_tenant(&mut tx.conn(), &principal.tenant).await?;
            user::record_seen(&mut tx.conn(), principal).await
        }
        .await;
        tx.finish(result).await?;
        self.inner.seen.insert(principal);
        Ok(())
    }
}

/// Users already recorded by this process, so a request costs no write.
/// Bounded: at [`SeenUsers::CAPACITY`] entries it starts over (a user then
/// costs one write again).
#[derive(Default)]
struct SeenUsers(Mutex<HashMap<SeenKey, SeenDetails>>);

/// (tenant, user id)
type SeenKey = (String, String);
/// (display name, email) as the token last carried them
type SeenDetails = (Option<String>, Option<String>);

impl SeenUsers {
    const CAPACITY: usize = 100_000;

    fn contains(&self, p: &Principal) -> bool {
        let Ok(seen) = self.0.lock() else {
            return false;
        };
        seen.get(&(p.tenant.clone(), p.user_id.clone()))
            .is_some_and(|(name, email)| *name == p.display_name && *email == p.email)
    }

    fn insert(&self, p: &Principal) {
        if let Ok(mut seen) = self.0.lock() {
            if seen.len() >= Self::CAPACITY {
                seen.clear();
            }
            seen.insert((p.tenant.clone(), p.user_id.clone()), (p.display_name.clone(), p.email.clone()));
        }
    }
}

/// The whole application; tests serve exactly this.
pub fn app(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("apollo-require-preflight"),
            header::HeaderName::from_static("x-apollo-operation-name"),
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("x-request-id"),
            header::RANGE,
        ])
        // Browsers show these to a page only when listed.
        .expose_headers(
            [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-used",
                "x-ratelimit-reset",
                "x-ratelimit-cost",
                "retry-after",
                "etag",
                "x-request-id",
                "content-disposition",
                "content-range",
                "accept-ranges",
            ]
            .map(header::HeaderName::from_static),
        )
        .max_age(Duration::from_secs(3600));
    Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/graphql", get(graphql_get_or_ws).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/attachments/{id}", get(attachments::download))
        .route(
            "/ingest/microsoft-graph",
            axum::routing::post(ingest::microsoft_graph).layer(DefaultBodyLimit::max(ingest::MAX_INGEST_BODY_BYTES)),
        )
        .route_layer(axum::middleware::from_fn(crate::observe::track_http))
        // Bodies are read (and refused past the limit, as JSON) by `read_body`.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    if *state.draining().borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    // A full storage is reported until a write commits again: a client's, or
    // (after a while, so a small write that fits does not hide it at once)
    // readiness's own probe.
    if let Some(since) = state.db().storage_full_since() {
        let probed = since.elapsed() >= STORAGE_FULL_HOLD
            && matches!(tokio::time::timeout(Duration::from_secs(3), state.db().probe_write()).await, Ok(Ok(())));
        if !probed {
            return (StatusCode::SERVICE_UNAVAILABLE, "storage full: writes fail until space is freed").into_response();
        }
    }
    if let Some(store) = &state.attachments().store {
        match tokio::time::timeout(Duration::from_secs(3), store.ready()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "readiness: the attachment store failed");
                return (StatusCode::SERVICE_UNAVAILABLE, "attachment store unavailable").into_response();
            }
            Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "attachment store timed out").into_response(),
        }
    }
    match tokio::time::timeout(Duration::from_secs(3), state.db().ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timed out").into_response(),
    }
}

/// Reads a request's body, at most [`MAX_BODY_BYTES`] within the body
/// timeout; while it arrives the connection counts as waiting for its client.
async fn read_body(state: &AppState, request: axum::extract::Request) -> Result<(HeaderMap, Bytes), Response> {
    read_body_within(state, request, MAX_BODY_BYTES).await
}

/// Like [`read_body`], at most `max_bytes`.
async fn read_body_within(
    state: &AppState,
    request: axum::extract::Request,
    max_bytes: usize,
) -> Result<(HeaderMap, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let too_large = || {
        let message = format!("the request body is over the limit of {max_bytes} bytes");
        error_response(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BadUserInput, &message)
    };
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    let slot = parts.extensions.get::<connections::SlotHandle>().cloned();
    if let Some(slot) = &slot {
        slot.0.reading_body();
    }
    let limit = state.settings().connections.body_timeout;
    let read = tokio::time::timeout(limit, axum::body::to_bytes(body, max_bytes)).await;
    if let Some(slot) = &slot {
        slot.0.serving();
    }
    match read {
        Ok(Ok(bytes)) => Ok((parts.headers, bytes)),
        Ok(Err(error)) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            let over = std::iter::from_fn(|| {
                let current = cause?;
                cause = current.source();
                Some(current)
            })
            .any(|e| e.is::<http_body_util::LengthLimitError>());
            if over {
                return Err(too_large());
            }
            Err(error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, "the request body could not be read"))
        }
        Err(_) => {
            let message = format!("the request body did not arrive within {} s", limit.as_secs());
            let mut response = error_response(StatusCode::REQUEST_TIMEOUT, ErrorCode::BadUserInput, &message);
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        }
    }
}

/// POST: one JSON request. Batches are refused, and so are "simple" content
/// types a browser form could send cross-site (CSRF), as Apollo Server does.
async fn graphql_post(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    if attachments::is_multipart(request.headers()) {
        return attachments::graphql_multipart(&state, request).await;
    }
    let (headers, body) = match read_body(&state, request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    if !is_json(&headers) && !has_preflight_header(&headers) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadUserInput,
            "POST /graphql needs `Content-Type: application/json` (or an `Apollo-Require-Preflight` header)",
        );
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return error_response(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadUserInput,
            "batched requests are not supported: send one operation per request",
        );
    }
    let sent = match parse_post(&body) {
        Ok(sent) => sent,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, &message),
    };
    respond(&state, &headers, sent, Method::POST).await
}

/// A POST body: `query` a string, `operationName` a string or null,
/// `variables` and `extensions` maps or null; other keys are ignored.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostBody {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<serde_json::Map<String, serde_json::Value>>,
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
    /// A persisted document's id (graphql-codegen; Relay's `doc_id` or `id`).
    #[serde(alias = "doc_id", alias = "id")]
    document_id: Option<String>,
}

/// A request as it came, before a persisted document is looked up.
struct Sent {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<JsonMap>,
    extensions: Option<JsonMap>,
    document_id: Option<String>,
}

fn parse_post(body: &[u8]) -> Result<Sent, String> {
    let body: PostBody = serde_json::from_slice(body).map_err(|e| format!("the body is not a GraphQL request: {e}"))?;
    Ok(Sent {
        query: body.query,
        operation_name: body.operation_name,
        variables: body.variables,
        extensions: body.extensions,
        document_id: body.document_id,
    })
}

/// The request to run: its document given, or persisted and named (looked
/// up in the caller's tenant: only an authenticated caller gets this far).
fn build(state: &AppState, sent: Sent, tenant: &str) -> Result<async_graphql::Request, Box<Response>> {
    let named =
        persisted::Named { query: sent.query, extensions: sent.extensions.as_ref(), document_id: sent.document_id };
    let query = match state.inner.persisted.resolve(tenant, named) {
        Ok(query) => query,
        // Apollo's clients look for this message and code, then send the text.
        Err(persisted::Refused::NotFound) => {
            return Err(Box::new(error_response(
                StatusCode::OK,
                ErrorCode::PersistedQueryNotFound,
                "PersistedQueryNotFound",
            )));
        }
        Err(persisted::Refused::BadInput(message)) => {
            return Err(Box::new(error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, &message)));
        }
    };
    graphql_request(query, sent.operation_name, sent.variables, sent.extensions)
        .map_err(|message| Box::new(error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, &message)))
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

/// A request from its parts, the same for POST and GET.
fn graphql_request(
    query: String,
    operation_name: Option<String>,
    variables: Option<JsonMap>,
    extensions: Option<JsonMap>,
) -> Result<async_graphql::Request, String> {
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = variables {
        request = request.variables(async_graphql::Variables::from_json(serde_json::Value::Object(variables)));
    }
    if let Some(extensions) = extensions {
        request.extensions =
            serde_json::from_value(serde_json::Value::Object(extensions)).map_err(|e| format!("extensions: {e}"))?;
    }
    Ok(request)
}

/// GET is a query, or a WebSocket upgrade for subscriptions.
async fn graphql_get_or_ws(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if ws::is_upgrade(&parts.headers) {
        return ws::upgrade(state, &mut parts).await;
    }
    let query = RawQuery::from_request_parts(&mut parts, &state).await.unwrap_or(RawQuery(None));
    graphql_get(State(state), parts.headers, query).await
}

/// GET: queries only; a mutation (or subscription) must not ride on a link.
async fn graphql_get(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let sent = match parse_get(query.as_deref().unwrap_or_default()) {
        Ok(sent) => sent,
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, ErrorCode::BadUserInput, &message);
        }
    };
    with_etag(&headers, respond(&state, &headers, sent, Method::GET).await).await
}

/// A GET answer carries an `ETag` (a hash of its body); a client whose
/// `If-None-Match` names it gets 304 and no body.
async fn with_etag(headers: &HeaderMap, response: Response) -> Response {
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "internal error");
    };
    let digest = sha2::Sha256::digest(&bytes);
    let tag = format!("\"{}\"", digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|t| t.trim().trim_start_matches("W/") == tag || t.trim() == "*"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, value);
    }
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Authenticates the caller, finds the document the request runs, and runs it.
async fn respond(state: &AppState, headers: &HeaderMap, sent: Sent, method: Method) -> Response {
    let Some(media) = media::negotiate(headers) else {
        return not_acceptable();
    };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let auth = match state.authenticate(authorization).await {
        Ok(auth) => auth,
        Err(e) => {
            tracing::error!(error = %e, "recording the caller failed");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "internal error");
        }
    };
    // Who asks comes first: a caller without a valid token learns nothing of
    // the persisted documents (not whether a hash is known) and stores none.
    let tenant = match auth.principal() {
        Ok(principal) => principal.tenant.clone(),
        Err(refusal) => return refused_caller(state, media, refusal),
    };
    let request = match build(state, sent, &tenant) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    if method == Method::GET
        && let Some(kind) = operation_type(&request)
        && kind != OperationType::Query
    {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadUserInput,
            &format!("{kind} operations are not allowed over GET: use POST"),
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(state, request, auth, media).await
}

/// A caller without a valid credential, answered as a GraphQL response.
fn refused_caller(state: &AppState, media: media::Media, refusal: AppError) -> Response {
    state.executor().refused_before_admission(&refusal);
    let mut response = async_graphql::Response::from_errors(vec![Refusal::new(refusal).into_server_error()]);
    if let Some(id) = request_id::current() {
        request_id::stamp(&mut response.errors, &id);
    }
    media::respond(media, response)
}

async fn execute(state: &AppState, request: async_graphql::Request, auth: Auth, media: media::Media) -> Response {
    let mut request = crate::graphql::request_data(request, state.db(), auth);
    if state.settings().compiled_reads {
        // `media::respond` writes the response with `response_json`.
        request = request.data(crate::graphql::CompiledReads);
    }
    let limit = state.settings().request_timeout;
    // On time-out the execution is dropped: an open write transaction rolls back.
    let mut response = match tokio::time::timeout(limit, state.executor().execute(request)).await {
        Ok(response) => response,
        Err(_) => {
            let error = Refusal::new(AppError::TimedOut(limit.as_secs())).into_server_error();
            async_graphql::Response::from_errors(vec![error])
        }
    };
    if let Some(id) = request_id::current() {
        request_id::stamp(&mut response.errors, &id);
    }
    media::respond(media, response)
}

/// GraphQL over HTTP's GET parameters. (async-graphql's own parser expects
/// `operation_name`, not the spec's `operationName`.)
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
    document_id: Option<String>,
}

fn parse_get(query_string: &str) -> Result<Sent, String> {
    let params: GetParams =
        serde_urlencoded::from_str(query_string).map_err(|e| format!("invalid query string: {e}"))?;
    let query = params.query.filter(|q| !q.trim().is_empty());
    // Empty (or null) parameters count as absent; others must be JSON maps, as in a POST body.
    let map = |name: &str, text: Option<String>| -> Result<Option<JsonMap>, String> {
        let parsed = text.filter(|t| !t.is_empty()).map(|t| serde_json::from_str::<Option<JsonMap>>(&t));
        parsed.transpose().map(Option::flatten).map_err(|e| format!("{name}: {e}"))
    };
    let variables = map("variables", params.variables)?;
    let extensions = map("extensions", params.extensions)?;
    if query.is_none()
        && params.document_id.is_none()
        && extensions.as_ref().is_none_or(|e| !e.contains_key("persistedQuery"))
    {
        return Err("the `query` parameter is required".into());
    }
    Ok(Sent {
        query,
        operation_name: params.operation_name.filter(|n| !n.is_empty()),
        variables,
        extensions,
        document_id: params.document_id.filter(|d| !d.is_empty()),
    })
}

/// The type of the operation the request would run, when it parses.
fn operation_type(request: &async_graphql::Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operation = match &request.operation_name {
        Some(name) => document.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None => document.operations.iter().next(),
    }?;
    Some(operation.1.node.ty)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v == "application/graphql-response+json")
}

fn has_preflight_header(headers: &HeaderMap) -> bool {
    ["apollo-require-preflight", "x-apollo-operation-name"]
        .iter()
        .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()))
}

/// The answer to an `Accept` that names no media type the server writes.
fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        ErrorCode::BadUserInput,
        "Accept: the server answers application/graphql-response+json or application/json",
    )
}

fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let mut extensions = json!({ "code": code.as_str() });
    if let Some(id) = request_id::current() {
        extensions["requestId"] = json!(id.0.as_ref());
    }
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    (status, axum::Json(body)).into_response()
}

/// An error as the non-GraphQL endpoints answer it (ingestion, attachments):
/// the HTTP status of its code, and the body GraphQL errors have.
fn refusal(error: &AppError) -> Response {
    let code = error.code();
    let status = match code {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => match error {
            AppError::Busy(_) | AppError::WriteBusy(_) | AppError::StorageFull(_) | AppError::StoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    };
    if code == ErrorCode::Internal {
        tracing::error!(error = %error, cause = ?std::error::Error::source(error), "request failed");
    }
    error_response(status, code, &error.public_message())
}
