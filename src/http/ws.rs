//! GraphQL over WebSocket at `/graphql`: `graphql-transport-ws` (the graphql-ws
//! library) and the legacy `graphql-ws` (subscriptions-transport-ws).
//!
//! async-graphql runs the protocol; this layer in front of it authenticates
//! `connection_init` and closes with the protocol's codes, which the library
//! does not: 4400 for an unreadable message (not JSON, or no message of the
//! protocol), 4401 for a subscribe before the
//! handshake, 4403 for a refused or expired token, 4408 when no
//! `connection_init` comes in time, 4409 for a second subscription with an id
//! already in use.
//!
//! It also keeps one socket from hurting others: subscriptions per socket and
//! per caller are capped (past a cap the `subscribe` gets an `error`, the
//! socket and its other subscriptions stay), a client that stops reading is
//! disconnected instead of stalling its subscriptions, and a burst of messages
//! waits on the socket (TCP back-pressure) instead of on the protocol.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::Data;
use async_graphql::http::{ClientMessage, WebSocket, WebSocketProtocols as Protocols, WsMessage};
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket as Socket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use super::AppState;
use super::persisted;
use super::request_id::RequestId;
use crate::auth::{Auth, Principal, ReadData};
use crate::graphql::{OnSubscriptionEnd, SetupTracker};

/// How long one outgoing message may wait for a client that does not read.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Live subscriptions per caller (tenant, user) in this process; an entry
/// lives while its caller has one (bounded by the live subscriptions).
#[derive(Default)]
pub(crate) struct SubscriptionCounts(Mutex<HashMap<(String, String), usize>>);

impl SubscriptionCounts {
    /// Takes one of the caller's `limit` places, if one is free.
    fn take(&self, caller: &(String, String), limit: usize) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(caller.clone()).or_default();
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    fn give_back(&self, caller: &(String, String)) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(caller);
            }
        }
    }
}

/// One socket's subscriptions. A place (on the socket and of the caller) is
/// taken here when a `subscribe` is let through, and given back when the
/// library drops that subscription's stream, whatever ended it (see
/// [`OnSubscriptionEnd`]), so the counts cannot drift.
struct Live {
    protocol: Protocols,
    /// Subscriptions let through and not yet live (see [`SetupTracker`]).
    setups: SetupTracker,
    caller: Option<(String, String)>,
    /// Places this socket holds.
    places: Arc<AtomicUsize>,
    /// Ids in use, for 4409 (best effort: an id is free again once the
    /// client or the server completed it, or the server ended it with an
    /// error). Bounded like the socket's places: an id enters only with one.
    ids: HashSet<String>,
}

impl Live {
    /// What the session data carries so the executor can give places back.
    fn on_end(&self, state: &AppState, caller: (String, String)) -> OnSubscriptionEnd {
        let (places, counts) = (self.places.clone(), state.inner.subscriptions.clone());
        OnSubscriptionEnd(Arc::new(move || {
            places.fetch_sub(1, Ordering::Relaxed);
            counts.give_back(&caller);
            metrics::gauge!("casebook_subscriptions").decrement(1);
        }))
    }

    /// The library told the client a subscription ended (completed, or
    /// failed with an `error` message): its id is free.
    fn observe_outgoing(&mut self, text: &str) {
        // async-graphql writes the tag first; only the rare endings are parsed.
        if (text.starts_with("{\"type\":\"complete\"") || text.starts_with("{\"type\":\"error\""))
            && let Ok(message) = serde_json::from_str::<Value>(text)
            && let Some(id) = message["id"].as_str()
        {
            self.ids.remove(id);
        }
    }

    /// Decides on a client message once the handshake is done. A subscribe
    /// naming a persisted document gets the document's text put in.
    fn admit(&mut self, state: &AppState, message: &mut Value) -> Option<Refusal> {
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        let id = id.as_str();
        match message["type"].as_str().unwrap_or_default() {
            "subscribe" | "start" => {
                // Fail closed: past the handshake there is always a caller.
                let Some((tenant, _)) = self.caller.as_ref() else {
                    return Some(Refusal::Close(Close::new(4401, "Unauthorized")));
                };
                if let Err(refused) = resolve_document(state, tenant, &mut message["payload"]) {
                    let (code, text) = match refused {
                        persisted::Refused::NotFound => {
                            ("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound".to_owned())
                        }
                        persisted::Refused::BadInput(text) => ("BAD_USER_INPUT", text),
                    };
                    return Some(Refusal::Error(error(id, code, text)));
                }
                if self.ids.contains(id) {
                    return Some(match self.protocol {
                        Protocols::GraphQLWS => {
                            Refusal::Close(Close::new(4409, format!("Subscriber for {id} already exists")))
                        }
                        Protocols::SubscriptionsTransportWS => Refusal::Error(error(
                            id,
                            "BAD_USER_INPUT",
                            format!("subscription id {id} is already in use"),
                        )),
                    });
                }
                let settings = state.settings();
                if self.places.load(Ordering::Relaxed) >= settings.subscriptions_per_socket {
                    let limit = settings.subscriptions_per_socket;
                    let text = format!("too many live subscriptions on this socket (the limit is {limit})");
                    return Some(Refusal::Error(error(id, "RATE_LIMITED", text)));
                }
                // Fail closed: past the handshake there is always a caller.
                let Some(caller) = self.caller.as_ref() else {
                    return Some(Refusal::Close(Close::new(4401, "Unauthorized")));
                };
                if !state.inner.subscriptions.take(caller, settings.subscriptions_per_caller) {
                    let limit = settings.subscriptions_per_caller;
                    let text = format!("too many live subscriptions for this user (the limit is {limit})");
                    return Some(Refusal::Error(error(id, "RATE_LIMITED", text)));
                }
                self.places.fetch_add(1, Ordering::Relaxed);
                metrics::gauge!("casebook_subscriptions").increment(1);
                self.ids.insert(id.to_owned());
                None
            }
            "complete" | "stop" => {
                self.ids.remove(id);
                None
            }
            _ => None,
        }
    }
}

/// Puts the text of the document a subscribe names (trusted documents, or
/// an automatic persisted query) into its payload, as over HTTP: with a
/// trusted-documents manifest, nothing else runs here either.
fn resolve_document(state: &AppState, tenant: &str, payload: &mut Value) -> Result<(), persisted::Refused> {
    // Not a request at all: `admit` has closed the socket already (4400).
    let Some(payload) = payload.as_object_mut() else { return Ok(()) };
    let document_id =
        ["documentId", "doc_id", "id"].iter().find_map(|key| payload.get(*key)?.as_str().map(str::to_owned));
    let named = persisted::Named {
        // graphql-ws requires a string: a client naming a document sends "".
        query: payload.get("query").and_then(Value::as_str).filter(|q| !q.is_empty()).map(str::to_owned),
        extensions: payload.get("extensions").and_then(Value::as_object),
        document_id,
    };
    let query = state.inner.persisted.resolve(tenant, named)?;
    payload.insert("query".into(), Value::String(query));
    Ok(())
}

/// The protocol's `error` message for one subscription.
fn error(id: &str, code: &str, message: String) -> Value {
    json!({ "type": "error", "id": id, "payload": [{ "message": message, "extensions": { "code": code } }] })
}

/// What happens to a refused message: the socket closes, or the client is told.
enum Refusal {
    Close(Close),
    Error(Value),
}

/// The subprotocols, modern first.
const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

pub(super) async fn upgrade(state: AppState, parts: &mut Parts) -> Response {
    let request_id = parts.extensions.get::<RequestId>().cloned().unwrap_or_else(|| RequestId("".into()));
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let offered =
        parts.headers.get(axum::http::header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let protocol =
        offered.split(',').map(str::trim).find_map(|p| p.parse::<Protocols>().ok()).unwrap_or(Protocols::GraphQLWS);
    upgrade
        .protocols(PROTOCOLS)
        // Small buffers: an idle subscription should cost kilobytes, not the 128 KiB default.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(super::MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("websocket", request_id = %request_id.0);
            serve(state, socket, protocol, request_id).instrument(span)
        })
}

/// Why the server ends a connection.
struct Close {
    code: u16,
    reason: String,
}

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Close { code, reason: reason.into() }
    }
}

async fn serve(state: AppState, socket: Socket, protocol: Protocols, request_id: RequestId) {
    let mut live =
        Live { protocol, setups: SetupTracker::default(), caller: None, places: Arc::default(), ids: HashSet::new() };
    metrics::gauge!("casebook_websockets").increment(1);
    run(&state, socket, protocol, &mut live, &request_id).await;
    metrics::gauge!("casebook_websockets").decrement(1);
}

/// Puts the connection's request id into `extensions.requestId` of the
/// errors an outgoing message carries (most carry none and are left as they are).
fn stamp(text: String, request_id: &RequestId) -> String {
    if request_id.0.is_empty() || !(text.contains("\"errors\"") || text.starts_with("{\"type\":\"error\"")) {
        return text;
    }
    let Ok(mut message) = serde_json::from_str::<Value>(&text) else { return text };
    let payload = &mut message["payload"];
    let errors = if payload.is_array() { Some(payload) } else { payload.get_mut("errors") };
    let Some(Value::Array(errors)) = errors else { return text };
    for error in errors {
        if let Some(error) = error.as_object_mut() {
            let extensions = error.entry("extensions").or_insert_with(|| json!({}));
            if let Some(extensions) = extensions.as_object_mut() {
                extensions.insert("requestId".into(), json!(request_id.0.as_ref()));
            }
        }
    }
    message.to_string()
}

async fn run(state: &AppState, socket: Socket, protocol: Protocols, live: &mut Live, request_id: &RequestId) {
    let (mut sink, mut source) = socket.split();
    let (forward, lib_input) = mpsc::channel::<Vec<u8>>(16);
    // The data the handshake proved, handed to the library's init callback.
    let handshake: Arc<Mutex<Option<Data>>> = Arc::default();
    let slot = handshake.clone();
    let mut lib = WebSocket::new(state.executor().clone(), ReceiverStream::new(lib_input), protocol)
        .on_connection_init(move |_payload| {
            let data = slot.lock().ok().and_then(|mut d| d.take());
            async move { data.ok_or_else(|| async_graphql::Error::new("unauthorized")) }
        });

    let init_deadline = Instant::now() + state.settings().init_timeout;
    let mut expires_at: Option<Instant> = None;
    let mut draining = state.draining();
    // A client's ping waits here while subscriptions it sent before are being
    // set up; nothing after it is read meanwhile, so order is kept.
    let mut held_ping: Option<Vec<u8>> = None;
    let setups = live.setups.clone();
    let close = loop {
        tokio::select! {
            // A deploy: clients reconnect to another replica and resume from their cursor.
            () = async { drop(draining.wait_for(|draining| *draining).await) } => {
                break Some(Close::new(1001, "Going away: the server is shutting down"));
            }
            permit = async { setups.settled().await; forward.reserve().await }, if held_ping.is_some() => {
                let (Ok(permit), Some(ping)) = (permit, held_ping.take()) else { break None };
                permit.send(ping);
            }
            // Read only once the protocol can take the message (a place in its
            // queue is reserved first): a burst waits on the socket, and the
            // protocol (polled below) keeps serving meanwhile.
            read = async { (forward.reserve().await, source.next().await) }, if held_ping.is_none() => {
                let (Ok(permit), incoming) = read else { break None };
                let bytes = match incoming {
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                };
                // Boxed: the handshake's future (token check, recording the user) is
                // large and short-lived; inline, every idle connection would keep its room.
                match Box::pin(admit(state, protocol, &bytes, expires_at.is_some(), &handshake)).await {
                    Admit::Forward(principal, message) => {
                        if let Some(principal) = principal {
                            expires_at = Some(expiry(&principal));
                            let caller = (principal.tenant.clone(), principal.user_id.clone());
                            let on_end = live.on_end(state, caller.clone());
                            live.caller = Some(caller);
                            if let Ok(mut slot) = handshake.lock()
                                && let Some(data) = slot.as_mut()
                            {
                                data.insert(on_end);
                                data.insert(live.setups.clone());
                            }
                        }
                        let mut message = message;
                        let mut bytes = bytes;
                        if expires_at.is_some() {
                            match live.admit(state, &mut message) {
                                None if matches!(message["type"].as_str(), Some("subscribe" | "start")) => {
                                    bytes = message.to_string().into_bytes();
                                    live.setups.begin();
                                }
                                None if message["type"] == "ping" && live.setups.pending() > 0 => {
                                    held_ping = Some(bytes);
                                    continue;
                                }
                                None => {}
                                Some(Refusal::Close(close)) => break Some(close),
                                Some(Refusal::Error(notice)) => {
                                    let notice = stamp(notice.to_string(), request_id);
                                    if !send(&mut sink, Message::Text(notice.into())).await {
                                        break None;
                                    }
                                    continue;
                                }
                            }
                        }
                        permit.send(bytes);
                    }
                    Admit::Refuse { notice, close } => {
                        if let Some(notice) = notice {
                            send(&mut sink, Message::Text(stamp(notice.to_string(), request_id).into())).await;
                        }
                        break Some(close);
                    }
                }
            }
            outgoing = lib.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    live.observe_outgoing(&text);
                    if !send(&mut sink, Message::Text(stamp(text, request_id).into())).await {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => break Some(Close::new(code, reason)),
                None => break None,
            },
            () = sleep_until(init_deadline), if expires_at.is_none() => {
                break Some(Close::new(4408, "Connection initialisation timeout"));
            }
            () = sleep_until(expires_at.unwrap_or(init_deadline)), if expires_at.is_some() => {
                break Some(Close::new(4403, "Forbidden: the token has expired"));
            }
        }
    };
    if let Some(Close { code, reason }) = close {
        let frame = CloseFrame { code, reason: reason.into() };
        send(&mut sink, Message::Close(Some(frame))).await;
    }
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.close()).await;
}

/// Sends one message; false when the client is gone or has not read for
/// [`SEND_TIMEOUT`] (then the connection is dropped rather than left to stall).
async fn send(sink: &mut futures_util::stream::SplitSink<Socket, Message>, message: Message) -> bool {
    matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await, Ok(Ok(())))
}

enum Admit {
    /// Pass the message to the protocol; with the principal when it completed the handshake.
    Forward(Option<Principal>, Value),
    Refuse {
        notice: Option<Value>,
        close: Close,
    },
}

/// Decides what happens to a client message.
async fn admit(
    state: &AppState,
    protocol: Protocols,
    bytes: &[u8],
    initialised: bool,
    handshake: &Mutex<Option<Data>>,
) -> Admit {
    let unreadable = || Admit::Refuse { notice: None, close: Close::new(4400, "Invalid message received") };
    let Ok(message) = serde_json::from_slice::<Value>(bytes) else { return unreadable() };
    // JSON that is no message of the protocol (an unknown type, a subscribe
    // without its id or query): the library would close with 1002, the
    // protocol says 4400, before or after the handshake alike.
    if ClientMessage::deserialize(&message).is_err() {
        return unreadable();
    }
    let kind = message["type"].as_str().unwrap_or_default().to_owned();
    if initialised {
        return Admit::Forward(None, message);
    }
    match kind.as_str() {
        "connection_init" => {
            let payload = &message["payload"];
            let authorization = payload["Authorization"].as_str().or_else(|| payload["authorization"].as_str());
            let auth = match state.authenticate(authorization).await {
                Ok(auth) => auth,
                Err(e) => {
                    tracing::error!(error = %e, "authenticating the caller failed");
                    return Admit::Refuse { notice: None, close: Close::new(4500, "Internal error") };
                }
            };
            match auth {
                Auth::Authenticated(principal) => {
                    let mut data = Data::default();
                    if let Ok(reader) = principal.grant::<ReadData>() {
                        data.insert(state.subscription_loaders(&reader));
                    }
                    data.insert(Auth::Authenticated(principal.clone()));
                    if let Ok(mut slot) = handshake.lock() {
                        *slot = Some(data);
                    }
                    Admit::Forward(Some(principal), message)
                }
                refused => {
                    let reason = match refused.principal() {
                        Err(e) => e.to_string(),
                        Ok(_) => String::new(),
                    };
                    let notice = match protocol {
                        Protocols::SubscriptionsTransportWS => Some(json!({
                            "type": "connection_error",
                            "payload": { "message": reason, "extensions": { "code": "UNAUTHENTICATED" } }
                        })),
                        Protocols::GraphQLWS => None,
                    };
                    Admit::Refuse { notice, close: Close::new(4403, format!("Forbidden: {reason}")) }
                }
            }
        }
        "subscribe" | "start" => Admit::Refuse { notice: None, close: Close::new(4401, "Unauthorized") },
        _ => Admit::Forward(None, message),
    }
}

/// When the token stops being valid, as an instant.
fn expiry(principal: &Principal) -> Instant {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // Capped: a far-future `exp` must not overflow the clock.
    let left = Duration::from_secs(principal.expires_at.saturating_sub(now).min(366 * 86_400));
    Instant::now() + left
}
