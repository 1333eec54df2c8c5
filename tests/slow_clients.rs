//! Slow clients cannot hold the server: a request's header and body must
//! arrive in time, an idle connection is closed, and at the connection cap
//! the connection that waited longest for its client makes room, so others
//! stay served during a slow-loris attack.

use std::time::Duration;

use crate::common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; what it sent.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection in time")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

fn limits(adjust: impl FnOnce(&mut casebook::http::ConnectionLimits)) -> impl FnOnce(&mut casebook::http::Settings) {
    move |settings| adjust(&mut settings.connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_that_trickles_is_cut_off() {
    let server = TestServer::start_with(Backend::Sqlite, limits(|l| l.header_timeout = Duration::from_secs(1))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"POST /graphql HTTP/1.1\r\nHost: casebook\r\n").await.unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_come_gets_408() {
    let server = TestServer::start_with(Backend::Sqlite, limits(|l| l.body_timeout = Duration::from_secs(1))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head =
        "POST /graphql HTTP/1.1\r\nHost: casebook\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
}

/// A kept-alive connection waits for its next request as long as the idle
/// timeout allows, longer than a header may take once it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_waits_the_idle_timeout_not_the_header_timeout() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        limits(|l| {
            l.idle_timeout = Duration::from_secs(3);
            l.header_timeout = Duration::from_secs(1);
        }),
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: casebook\r\n\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Not a timing assertion on the server's speed: it may not close before its own deadline.
    assert!(started.elapsed() >= Duration::from_secs(2), "closed after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed() {
    let server = TestServer::start_with(
        Backend::Sqlite,
        limits(|l| {
            l.idle_timeout = Duration::from_secs(1);
            l.header_timeout = Duration::from_secs(60);
        }),
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: casebook\r\n\r\n").await.unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the request is answered, then the idle connection closed: {answer}");
}

/// 100 connections trickle their headers against a cap of 20: each new one
/// takes the place of the one that waited longest, the server never holds
/// more than 20, and a client that sends its request is served throughout.
async fn a_slow_loris_cannot_take_every_socket(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        limits(|l| {
            l.max_connections = 20;
            l.header_timeout = Duration::from_secs(60);
            l.idle_timeout = Duration::from_secs(60);
        }),
    )
    .await;
    let mut attackers = Vec::new();
    for round in 0..5 {
        for _ in 0..20 {
            let mut stream = TcpStream::connect(server.addr).await.unwrap();
            stream.write_all(b"POST /graphql HTTP/1.1\r\nHost: cas").await.unwrap();
            attackers.push(stream);
        }
        assert!(server.connections.get() <= 20, "at most the cap: {}", server.connections.get());
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let answer = client
            .post(server.url("/graphql"))
            .bearer_auth(reader("acme"))
            .json(&json!({ "query": "{ me { tenant } }" }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: a client is served during the attack: {e}"));
        assert_eq!(answer.json::<serde_json::Value>().await.unwrap()["data"]["me"]["tenant"], "acme");
    }
    // The oldest attackers were let go to make room.
    let mut closed = 0;
    for stream in attackers.iter_mut().take(60) {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 60, "the connections that waited longest were closed");
    assert!(server.connections.get() <= 20);
}

both_backends!(a_slow_loris_cannot_take_every_socket);
