//! Every operation, over HTTP or WebSocket, runs through [`CasebookExecutor`]:
//! admission first (limits, `@requiresPermission`, cost; see
//! [`super::admission`]), then the caller's rate budget, then execution; every
//! error leaves with a code.
//!
//! These are not async-graphql extensions on purpose: as soon as a schema has
//! one extension, async-graphql wraps the resolution of every field of every
//! response in extension hooks (boxed futures and a registry lookup per
//! field), which made a nested dashboard page far slower.

use std::any::TypeId;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use async_graphql::futures_util::stream::{self, BoxStream};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Request, Response, ServerError};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use futures_util::StreamExt;

use super::admission::{Admission, LIMITS, OperationKind, RateLimiter, RateStatus};
use super::errors::with_codes;
use super::setup::{Setup, SetupTracker};
use super::{CasebookSchema, Mutation, Query, Subscription};
use crate::auth::{Auth, Principal};
use crate::db::{Db, StatementTally};
use crate::error::AppError;

#[derive(Clone)]
pub struct CasebookExecutor {
    schema: CasebookSchema,
    admission: Arc<Admission>,
    limiter: Arc<RateLimiter>,
    /// Operations that take at least this long are logged (`casebook::slow`).
    slow_operation: Duration,
    /// For the loaders of each query or mutation over a WebSocket.
    db: Option<Db>,
}

/// Why an operation does not run: the errors, and the rate headers to send.
struct Refused {
    errors: Vec<ServerError>,
    rate: Option<RateStatus>,
}

impl CasebookExecutor {
    pub fn new(schema: CasebookSchema, limiter: RateLimiter, slow_operation: Duration, db: Option<Db>) -> Self {
        CasebookExecutor {
            schema,
            admission: Arc::new(Admission::of::<Query, Mutation, Subscription>(LIMITS)),
            limiter: Arc::new(limiter),
            slow_operation,
            db,
        }
    }

    /// Admits the request and charges the caller's budget. The request keeps
    /// the parsed document and the caller's rate status (for `rateLimit`).
    fn admit(&self, request: &mut Request, session: Option<&Data>) -> Result<Option<RateStatus>, Refused> {
        let auth = auth_in(&request.data).or_else(|| session.and_then(auth_in)).cloned().unwrap_or(Auth::Anonymous);
        let cost = self
            .admission
            .admit(request, &auth)
            .map_err(|refusal| Refused { errors: vec![refusal.into_server_error()], rate: None })?;
        let principal = auth.principal().map_err(|e| Refused { errors: vec![server_error(e)], rate: None })?;
        let Some(status) = self.limiter.charge(principal, cost.points()) else {
            return Ok(None);
        };
        if let Some(wait) = status.retry_after {
            let error = AppError::RateLimited {
                cost: status.cost,
                remaining: status.remaining,
                limit: status.limit,
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            };
            return Err(Refused { errors: vec![server_error(error)], rate: Some(status) });
        }
        request.data.insert(status);
        Ok(Some(status))
    }
}

impl CasebookExecutor {
    /// Charges a request made outside GraphQL (the ingestion endpoint) to
    /// its caller's budget, as one operation of `points`: the rate status to
    /// send back, or the refusal with it.
    pub fn charge(&self, principal: &Principal, points: u64) -> Result<Option<RateStatus>, (AppError, RateStatus)> {
        let Some(status) = self.limiter.charge(principal, points) else { return Ok(None) };
        match status.retry_after {
            Some(wait) => Err((
                AppError::RateLimited {
                    cost: status.cost,
                    remaining: status.remaining,
                    limit: status.limit,
                    retry_after_secs: wait.as_secs_f64().ceil() as u64,
                },
                status,
            )),
            None => Ok(Some(status)),
        }
    }

    /// Counts a request refused before it reached admission (no valid
    /// token), as [`Executor::execute`] counts its own refusals.
    pub fn refused_before_admission(&self, error: &AppError) {
        let code = error.code().as_str();
        crate::observe::graphql_operation(crate::observe::REFUSED_OPERATION, "unknown", code, Duration::ZERO);
        crate::observe::refused(code);
    }
}

/// Writes the slow-operation line for an operation that ran long, when it
/// answers and also when it is stopped before it could (a request timeout,
/// a client gone): those are the slowest of all.
struct SlowWatch {
    started: std::time::Instant,
    threshold: Duration,
    name: Option<String>,
    kind: &'static str,
    statements: StatementTally,
    finished: bool,
}

impl SlowWatch {
    fn finish(mut self, outcome: &str) {
        self.finished = true;
        self.log(outcome);
    }

    fn log(&self, outcome: &str) {
        let elapsed = self.started.elapsed();
        if elapsed >= self.threshold {
            let statements = self.statements.get();
            crate::observe::slow_operation(self.name.as_deref(), self.kind, outcome, elapsed, statements);
        }
    }
}

impl Drop for SlowWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.log("CANCELLED");
        }
    }
}

fn server_error(error: AppError) -> ServerError {
    super::admission::Refusal::new(error).into_server_error()
}

fn operation_kind(data: &Data) -> Option<OperationKind> {
    data.get(&TypeId::of::<OperationKind>()).and_then(|d| d.downcast_ref::<OperationKind>()).copied()
}

fn error_code(error: &ServerError) -> &str {
    match error.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) => code,
        _ => "UNKNOWN",
    }
}

fn auth_in(data: &Data) -> Option<&Auth> {
    data.get(&TypeId::of::<Auth>()).and_then(|d| d.downcast_ref::<Auth>())
}

/// GitHub's `x-ratelimit-*` headers, and `retry-after` when refused.
pub(crate) fn rate_headers(headers: &mut HeaderMap, status: &RateStatus) {
    let reset = status.reset_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs().max(1)).unwrap_or_default();
    let mut set = |name: &'static str, value: u64| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    };
    set("x-ratelimit-limit", status.limit);
    set("x-ratelimit-remaining", status.remaining);
    set("x-ratelimit-used", status.limit.saturating_sub(status.remaining));
    set("x-ratelimit-reset", reset);
    set("x-ratelimit-cost", status.cost);
    if let Some(wait) = status.retry_after {
        set("retry-after", wait.as_secs_f64().ceil() as u64);
    }
}

impl Executor for CasebookExecutor {
    async fn execute(&self, mut request: Request) -> Response {
        let started = std::time::Instant::now();
        let admitted = self.admit(&mut request, None);
        // Only an operation that was let in is labelled by its name (which its
        // own document defines): what a refused caller sends makes no series.
        let operation = match &admitted {
            Ok(_) => crate::observe::operation_label(request.operation_name.as_deref()),
            Err(_) => crate::observe::REFUSED_OPERATION.to_owned(),
        };
        let (response, kind) = match admitted {
            Err(refused) => {
                let mut response = with_codes(Response::from_errors(refused.errors));
                if let Some(status) = &refused.rate {
                    rate_headers(&mut response.http_headers, status);
                }
                (response, None)
            }
            Ok(rate) => {
                let kind = operation_kind(&request.data);
                let watch = SlowWatch {
                    started,
                    threshold: self.slow_operation,
                    name: request.operation_name.clone(),
                    kind: kind.map_or("unknown", OperationKind::label),
                    statements: StatementTally::default(),
                    finished: false,
                };
                let mut response = with_codes(watch.statements.count(self.schema.execute(request)).await);
                if let Some(status) = &rate {
                    rate_headers(&mut response.http_headers, status);
                }
                watch.finish(response.errors.first().map_or("OK", error_code));
                (response, kind)
            }
        };
        let outcome = response.errors.first().map_or("OK", error_code);
        let label = kind.map_or("unknown", OperationKind::label);
        crate::observe::graphql_operation(&operation, label, outcome, started.elapsed());
        if kind.is_none() {
            crate::observe::refused(outcome);
        }
        response
    }

    fn execute_stream(&self, mut request: Request, session: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let on_end = session
            .as_deref()
            .and_then(|d| d.get(&TypeId::of::<OnSubscriptionEnd>()))
            .and_then(|d| d.downcast_ref::<OnSubscriptionEnd>())
            .cloned();
        let setup = session
            .as_deref()
            .and_then(|d| d.get(&TypeId::of::<SetupTracker>()))
            .and_then(|d| d.downcast_ref::<SetupTracker>())
            .map(SetupTracker::take);
        let stream = if let Err(refused) = self.admit(&mut request, session.as_deref()) {
            stream::once(async move { with_codes(Response::from_errors(refused.errors)) }).boxed()
        } else {
            if let Some(setup) = &setup {
                // The subscription's resolver finishes it once its watch is registered.
                request.data.insert(setup.clone());
            }
            // A query or mutation over a WebSocket gets loaders of its own, whose
            // cache goes with it; only subscriptions use the socket's shared,
            // uncached ones.
            let one_shot = operation_kind(&request.data).is_some_and(|k| k.0 != OperationType::Subscription);
            if one_shot && let (Some(db), Some(auth)) = (&self.db, session.as_deref().and_then(auth_in)) {
                request = super::request_data(request, db, auth.clone());
            }
            self.schema.execute_stream_with_session_data(request, session.unwrap_or_default()).map(with_codes).boxed()
        };
        if on_end.is_none() && setup.is_none() {
            return stream;
        }
        Ended { stream, on_end, setup }.boxed()
    }
}

/// Called when a subscription's stream is dropped, however it ended: the
/// WebSocket layer gives back the place the subscription held.
#[derive(Clone)]
pub struct OnSubscriptionEnd(pub Arc<dyn Fn() + Send + Sync>);

/// A WebSocket operation's stream that calls [`OnSubscriptionEnd`] when
/// dropped, and finishes its setup with its first answer at the latest.
struct Ended {
    stream: BoxStream<'static, Response>,
    on_end: Option<OnSubscriptionEnd>,
    setup: Option<Setup>,
}

impl futures_util::Stream for Ended {
    type Item = Response;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Response>> {
        let next = self.stream.poll_next_unpin(cx);
        if next.is_ready()
            && let Some(setup) = self.setup.take()
        {
            setup.finish();
        }
        next
    }
}

impl Drop for Ended {
    fn drop(&mut self) {
        if let Some(on_end) = &self.on_end {
            (on_end.0)();
        }
    }
}
