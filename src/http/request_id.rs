//! Request ids: every HTTP request (a WebSocket's upgrade too) gets one: the
//! caller's `x-request-id` when it is a sensible token, else a fresh one. It
//! is on every log line of the request (its span), in the response's
//! `x-request-id` header, and in `extensions.requestId` of every GraphQL
//! error, so an `INTERNAL` answer can be found in the log.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";
/// The longest id taken from a caller.
const MAX_LEN: usize = 128;

/// The id of the request being handled.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request this task is handling, if any.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

fn acceptable(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'='))
}

fn fresh() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware: assigns the id, runs the request in its span, answers with it.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let given = request.headers().get(HEADER).and_then(|v| v.to_str().ok()).filter(|id| acceptable(id));
    let id: Arc<str> = given.map(str::to_owned).unwrap_or_else(fresh).into();
    let request_id = RequestId(id.clone());
    request.extensions_mut().insert(request_id.clone());
    let span = tracing::info_span!("http", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = CURRENT.scope(request_id, next.run(request)).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// Puts the id into `extensions.requestId` of each error.
pub fn stamp(errors: &mut [async_graphql::ServerError], id: &RequestId) {
    for error in errors {
        error.extensions.get_or_insert_with(Default::default).set("requestId", id.0.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_ids_are_kept_only_when_sensible() {
        assert!(acceptable("3f2a-req_1.2:abc"));
        assert!(acceptable(&"a".repeat(128)));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(129)));
        assert!(!acceptable("has space"));
        assert!(!acceptable("line\nbreak"));
        assert_eq!(fresh().len(), 32);
        assert_ne!(fresh(), fresh());
    }
}
