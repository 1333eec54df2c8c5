//! GraphQL over WebSocket at `/graphql`: `graphql-transport-ws` (the graphql-ws
//! library) and the legacy `graphql-ws` (subscriptions-transport-ws).
//!
//! async-graphql runs the protocol; this layer in front of it authenticates
//! `connection_init` and closes with the protocol's codes, which the library
//! does not: 4400 for an unreadable message, 4401 for a subscribe before the
//! handshake, 4403 for a refused or expired token, 4408 when no
//! `connection_init` comes in time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::Data;
use async_graphql::http::{WebSocket, WebSocketProtocols as Protocols, WsMessage};
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket as Socket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use crate::auth::{Auth, Principal};

pub(crate) struct WsSettings {
    pub init_timeout: Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        WsSettings { init_timeout: Duration::from_secs(10) }
    }
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
        .on_upgrade(move |socket| serve(state, socket, protocol))
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

async fn serve(state: AppState, socket: Socket, protocol: Protocols) {
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

    let init_deadline = Instant::now() + state.inner.ws.init_timeout;
    let mut expires_at: Option<Instant> = None;
    let close = loop {
        tokio::select! {
            incoming = source.next() => {
                let bytes = match incoming {
                    Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                };
                // Boxed: the handshake's future (token check, recording the user) is
                // large and short-lived; inline, every idle connection would keep its room.
                match Box::pin(admit(&state, protocol, &bytes, expires_at.is_some(), &handshake)).await {
                    Admit::Forward(principal) => {
                        if let Some(principal) = principal {
                            expires_at = Some(expiry(&principal));
                        }
                        if forward.send(bytes).await.is_err() {
                            break None;
                        }
                    }
                    Admit::Refuse { notice, close } => {
                        if let Some(notice) = notice {
                            let _ = sink.send(Message::Text(notice.to_string().into())).await;
                        }
                        break Some(close);
                    }
                }
            }
            outgoing = lib.next() => match outgoing {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
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
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

enum Admit {
    /// Pass the message to the protocol; with the principal when it completed the handshake.
    Forward(Option<Principal>),
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
    let Ok(message) = serde_json::from_slice::<Value>(bytes) else {
        return Admit::Refuse { notice: None, close: Close::new(4400, "Invalid message received") };
    };
    let kind = message["type"].as_str().unwrap_or_default();
    if initialised {
        return Admit::Forward(None);
    }
    match kind {
        "connection_init" => {
            let payload = &message["payload"];
            let authorization = payload["Authorization"].as_str().or_else(|| payload["authorization"].as_str());
            match Auth::from_header(state.verifier(), authorization) {
                Auth::Authenticated(principal) => {
                    if let Err(e) = state.record(&principal).await {
                        tracing::error!(error = %e, "recording the caller failed");
                        return Admit::Refuse { notice: None, close: Close::new(4500, "Internal error") };
                    }
                    let mut data = Data::default();
                    data.insert(state.subscription_loaders(&principal.tenant));
                    data.insert(Auth::Authenticated(principal.clone()));
                    if let Ok(mut slot) = handshake.lock() {
                        *slot = Some(data);
                    }
                    Admit::Forward(Some(principal))
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
        _ => Admit::Forward(None),
    }
}

/// When the token stops being valid, as an instant.
fn expiry(principal: &Principal) -> Instant {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // Capped: a far-future `exp` must not overflow the clock.
    let left = Duration::from_secs(principal.expires_at.saturating_sub(now).min(366 * 86_400));
    Instant::now() + left
}
