//! Accepting connections so that slow or idle clients cannot take every
//! socket: a request's header must arrive within the header timeout (hyper
//! closes the connection otherwise), a POST's body within the body timeout
//! (see `read_body`), and a connection waiting for its next request is closed
//! after the idle timeout. The process holds at most `max_connections`; at
//! the cap, the connection that has waited longest for its client (for a
//! request, a header or a body) is closed to let the new one in. Connections
//! whose request is being served, and WebSockets, are never closed for it;
//! when every connection is being served, new ones wait in the listen queue.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;

/// Time and connection limits of the HTTP listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections one process holds (WebSockets included).
    pub max_connections: usize,
    /// The longest a request's header may take to arrive.
    pub header_timeout: Duration,
    /// The longest a request's body may take to arrive.
    pub body_timeout: Duration,
    /// The longest a connection may wait for its next request.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What a connection is doing, as far as the cap and the timeouts are concerned.
#[derive(Debug, Clone, Copy)]
struct State {
    /// Requests being served now (HTTP/2 may have several).
    serving: usize,
    /// Since when it has had none.
    waiting_since: Instant,
    /// When the first bytes of the next request's header came, if they did.
    head_since: Option<Instant>,
    /// A handler is waiting for a request's body (its own timeout applies).
    reading_body: bool,
    /// A WebSocket: it has its own limits (init timeout, send timeout).
    upgraded: bool,
}

impl State {
    /// Since when the connection has waited for its client (a request's
    /// header or body, or the next request), if it does.
    fn waiting(&self) -> Option<Instant> {
        (self.serving == 0 && !self.upgraded).then_some(self.waiting_since)
    }

    /// When the connection must close unless something happens first: a
    /// header started and not finished, or no request at all.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.serving > 0 || self.upgraded || self.reading_body {
            return None;
        }
        Some(match self.head_since {
            Some(since) => since + limits.header_timeout,
            None => self.waiting_since + limits.idle_timeout,
        })
    }
}

/// One accepted connection.
pub struct Slot {
    state: Mutex<State>,
    /// Told when the state changes.
    changed: Notify,
    /// Told when the connection must close (evicted at the cap).
    close: Notify,
}

impl Slot {
    fn new() -> Self {
        let now = Instant::now();
        let state = State { serving: 0, waiting_since: now, head_since: None, reading_body: false, upgraded: false };
        Slot { state: Mutex::new(state), changed: Notify::new(), close: Notify::new() }
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let serving = state.serving;
        change(&mut state);
        if serving > 0 && state.serving == 0 {
            state.waiting_since = Instant::now();
        }
        drop(state);
        self.changed.notify_one();
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request's header is in: it is being served.
    fn begin(&self) {
        self.update(|s| {
            s.serving += 1;
            s.head_since = None;
        });
    }

    fn end(&self, upgraded: bool) {
        self.update(|s| {
            s.serving = s.serving.saturating_sub(1);
            s.upgraded |= upgraded;
        });
    }

    /// Bytes came from the client: between requests, a header has started.
    fn saw_bytes(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.serving == 0 && !state.reading_body && !state.upgraded && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// The handler is reading the request's body: the connection waits for its client.
    pub fn reading_body(&self) {
        self.update(|s| {
            s.serving = s.serving.saturating_sub(1);
            s.reading_body = true;
        });
    }

    /// The body is in: the request is being served.
    pub fn serving(&self) {
        self.update(|s| {
            s.serving += 1;
            s.reading_body = false;
        });
    }
}

/// The connections of one listener. Bounded: at most `max` entries, each
/// removed when its connection ends.
struct Registry {
    max: usize,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
    /// Told when a connection ends (a place may be free).
    freed: Notify,
}

impl Registry {
    /// A place for a new connection: a free one, or the one of the connection
    /// that has waited longest for its client (told to close). `None` when
    /// every connection is being served.
    fn admit(&self) -> Option<(u64, Arc<Slot>)> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.max {
            let longest_waiting = open.iter().filter_map(|(id, slot)| Some((slot.state().waiting()?, *id))).min();
            let (_, evicted) = longest_waiting?;
            if let Some(slot) = open.remove(&evicted) {
                slot.close.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new());
        open.insert(id, slot.clone());
        Some((id, slot))
    }

    /// Whether a new connection would get a place now.
    fn has_place(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.len() < self.max || open.values().any(|slot| slot.state().waiting().is_some())
    }

    fn release(&self, id: u64) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        self.freed.notify_one();
    }

    fn count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Gives a connection's place back when it ends, however it ends (an
/// upgraded connection's IO moves to its WebSocket, and with it this).
struct Held {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.registry.release(self.id);
    }
}

/// Open connections of the listener being served (for tests and diagnostics).
#[derive(Clone)]
pub struct ConnectionCount(Arc<Registry>);

impl ConnectionCount {
    pub fn get(&self) -> usize {
        self.0.count()
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves; then
/// stops accepting, lets requests in flight finish and closes idle
/// connections, and returns once every HTTP connection has ended.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    count: Option<tokio::sync::oneshot::Sender<ConnectionCount>>,
) -> std::io::Result<()> {
    let registry = Arc::new(Registry {
        max: limits.max_connections.max(1),
        next_id: AtomicU64::new(0),
        open: Mutex::default(),
        freed: Notify::new(),
    });
    if let Some(count) = count {
        let _ = count.send(ConnectionCount(registry.clone()));
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    'serving: loop {
        // Every place is taken by a connection being served: new ones wait in
        // the listen queue until one ends.
        while !registry.has_place() {
            let freed = registry.freed.notified();
            if registry.has_place() {
                break;
            }
            tokio::select! {
                () = freed => {}
                () = &mut shutdown => break 'serving,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (id, slot) = loop {
            let freed = registry.freed.notified();
            if let Some(place) = registry.admit() {
                break place;
            }
            tokio::select! {
                () = freed => {}
                () = &mut shutdown => break 'serving,
            }
        };
        let held = Held { registry: registry.clone(), id };
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection(stream, app.clone(), limits, slot, held, stopping.clone()));
        while tasks.try_join_next().is_some() {}
    }
    // No new connections from here on; those open finish what they serve.
    drop(listener);
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Serves one connection until it ends, is evicted, idles too long, or the
/// server stops (then in-flight requests finish first).
async fn connection(
    stream: tokio::net::TcpStream,
    app: Router,
    limits: ConnectionLimits,
    slot: Arc<Slot>,
    held: Held,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let io = TokioIo::new(Holding { stream, slot: slot.clone(), _held: held });
    let service_slot = slot.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let (app, slot) = (app.clone(), service_slot.clone());
        async move {
            slot.begin();
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(SlotHandle(slot.clone()));
            let response = app.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
            slot.end(response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The header and idle timeouts are this task's (hyper's header timer also
    // runs while a kept-alive connection waits, which would cut idle ones short).
    builder.http1().header_read_timeout(None).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut draining = false;
    loop {
        let changed = slot.changed.notified();
        let deadline = slot.state().deadline(&limits);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = slot.close.notified() => return,
            () = changed => {}
            stopped = stopping.changed(), if !draining => {
                draining = true;
                if stopped.is_err() || *stopping.borrow() {
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                // Waited for its client all this time (else the state changed, and we look again).
                if slot.state().deadline(&limits).is_some_and(|at| at <= Instant::now()) {
                    return;
                }
            }
        }
    }
}

/// The connection's slot, in each request's extensions: a handler reading a
/// body says so (see [`Slot::reading_body`]).
#[derive(Clone)]
pub struct SlotHandle(pub Arc<Slot>);

/// A TCP stream that holds its connection's place while it lives, and tells
/// its slot when bytes come (a header starting).
struct Holding {
    stream: tokio::net::TcpStream,
    slot: Arc<Slot>,
    _held: Held,
}

impl tokio::io::AsyncRead for Holding {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.slot.saw_bytes();
        }
        read
    }
}

impl tokio::io::AsyncWrite for Holding {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
