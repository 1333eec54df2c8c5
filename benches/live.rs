//! `cargo bench --bench live`: many WebSocket watchers of case activity against
//! a real `casebook serve`, comments written through the API at a fixed rate.
//! Prints deliveries per second, latency from the write to the watcher
//! (p50/p99), lost and duplicated events (must be 0), and server RSS per idle
//! subscription. Asserts nothing about time.
//!
//! Environment: `CASEBOOK_BENCH_WATCHERS` (1000), `CASEBOOK_BENCH_RATE`
//! comments/s (20), `CASEBOOK_BENCH_SECONDS` (10), `CASEBOOK_BENCH_IDLE` idle
//! subscriptions (10000), `CASEBOOK_BENCH_POSTGRES_URL` (also PostgreSQL).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WATCH: &str = "subscription($caseId: ID!, $after: String) { caseActivity(caseId: $caseId, after: $after) { ... on Comment { body } } }";

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

async fn gql(client: &reqwest::Client, endpoint: &str, token: &str, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables });
    let value: Value = client.post(endpoint).bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap();
    assert!(value.get("errors").is_none(), "{value}");
    value["data"].clone()
}

async fn latest_cursor(client: &reqwest::Client, endpoint: &str, token: &str, case: &str) -> Value {
    let data = gql(
        client,
        endpoint,
        token,
        "query($id: ID!) { case(id: $id) { activity(first: 1) { edges { cursor } } } }",
        json!({ "id": case }),
    )
    .await;
    data["case"]["activity"]["edges"][0]["cursor"].clone()
}

/// Opens a graphql-transport-ws connection and subscribes to a case.
async fn watch(addr: &str, token: &str, case: &str, after: &Value) -> Socket {
    let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string().into())).await.unwrap();
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await
            && t.contains("connection_ack")
        {
            break;
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": WATCH, "variables": { "caseId": case, "after": after } } });
    ws.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    ws
}

/// What one watcher saw: comment index and latency.
struct Seen {
    received: Vec<(u64, Duration)>,
}

async fn scenario(addr: &str, label: &str, watchers: usize, cases: usize, rate: u64, secs: u64) {
    let client = reqwest::Client::new();
    let endpoint = format!("http://{addr}/graphql");
    let analyst = token("bench", "analyst");
    let reader = token("bench", "reader");
    let mut case_ids = Vec::new();
    for n in 0..cases {
        let data = gql(
            &client,
            &endpoint,
            &analyst,
            "mutation($t: String!) { createCase(input: { title: $t }) { id } }",
            json!({ "t": format!("{label} {n}") }),
        )
        .await;
        case_ids.push(data["createCase"]["id"].as_str().unwrap().to_owned());
    }
    let mut cursors = Vec::new();
    for case in &case_ids {
        cursors.push(latest_cursor(&client, &endpoint, &reader, case).await);
    }
    // Open the watchers, a few hundred at a time.
    let mut sockets = Vec::with_capacity(watchers);
    for chunk in (0..watchers).collect::<Vec<_>>().chunks(200) {
        let opened = futures_util::future::join_all(chunk.iter().map(|&w| {
            let (case, after) = (&case_ids[w % cases], &cursors[w % cases]);
            let (addr, reader) = (addr.to_owned(), reader.clone());
            async move { (w % cases, watch(&addr, &reader, case, after).await) }
        }))
        .await;
        sockets.extend(opened);
    }
    let total = (rate * secs) as usize;
    let deadline = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let mut tasks = Vec::new();
    for (case_index, mut ws) in sockets {
        let expected = (0..total).filter(|i| i % cases == case_index).count();
        let deadline = deadline.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen { received: Vec::with_capacity(expected) };
            while seen.received.len() < expected {
                let limit = deadline.lock().unwrap().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
                let frame = match tokio::time::timeout_at(limit.into(), ws.next()).await {
                    Ok(Some(Ok(frame))) => frame,
                    _ => break,
                };
                let Message::Text(text) = frame else { continue };
                let Some(start) = text.find("bench ") else { continue };
                let mut parts = text[start + 6..].split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
                let (Some(index), Some(sent)) = (parts.next(), parts.next()) else { continue };
                let (index, sent): (u64, u128) = (index.parse().unwrap(), sent.parse().unwrap());
                let latency = Duration::from_nanos(now_nanos().saturating_sub(sent) as u64);
                seen.received.push((index, latency));
            }
            (case_index, seen)
        }));
    }

    // Write comments at a fixed rate, round robin over the cases.
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    let mut writes = Vec::new();
    for i in 0..total {
        ticker.tick().await;
        let (client, endpoint, analyst) = (client.clone(), endpoint.clone(), analyst.clone());
        let case = case_ids[i % cases].clone();
        writes.push(tokio::spawn(async move {
            let body = format!("bench {i} {}", now_nanos());
            gql(
                &client,
                &endpoint,
                &analyst,
                "mutation($c: ID!, $b: String!) { addComment(input: { caseId: $c, body: $b }) { id } }",
                json!({ "c": case, "b": body }),
            )
            .await;
        }));
    }
    for w in writes {
        w.await.unwrap();
    }
    let writing = started.elapsed();
    *deadline.lock().unwrap() = Some(Instant::now() + Duration::from_secs(10));

    let mut latencies = Vec::new();
    let (mut lost, mut duplicated, mut delivered) = (0usize, 0usize, 0usize);
    for task in tasks {
        let (case_index, seen) = task.await.unwrap();
        let expected: HashSet<u64> = (0..total as u64).filter(|i| *i as usize % cases == case_index).collect();
        let mut unique = HashSet::new();
        for (index, latency) in &seen.received {
            if !unique.insert(*index) {
                duplicated += 1;
            }
            latencies.push(*latency);
        }
        delivered += seen.received.len();
        lost += expected.difference(&unique).count();
    }
    latencies.sort_unstable();
    let last = latencies.last().copied().unwrap_or_default();
    println!(
        "  {label:<28} {watchers} watchers / {cases} case(s), {rate} comments/s: {:>7.0} deliveries/s  p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms  lost {lost}  duplicated {duplicated}",
        delivered as f64 / writing.as_secs_f64(),
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        last.as_secs_f64() * 1000.0,
    );
}

async fn idle(server: &Server, count: usize) {
    let client = reqwest::Client::new();
    let endpoint = format!("http://{}/graphql", server.addr);
    let analyst = token("idle", "analyst");
    let reader = token("idle", "reader");
    let data =
        gql(&client, &endpoint, &analyst, "mutation { createCase(input: { title: \"Idle\" }) { id } }", json!({}))
            .await;
    let case = data["createCase"]["id"].as_str().unwrap().to_owned();
    let after = latest_cursor(&client, &endpoint, &reader, &case).await;
    // A few connections first, so one-off allocations (buffers, the feed) are not counted.
    let mut sockets = Vec::with_capacity(count + 50);
    for _ in 0..50 {
        sockets.push(watch(&server.addr, &reader, &case, &after).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    for _ in 0..count / 200 {
        let opened =
            futures_util::future::join_all((0..200).map(|_| watch(&server.addr, &reader, &case, &after))).await;
        sockets.extend(opened);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_rss = server.rss_kib();
    let per = (after_rss.saturating_sub(before)) as f64 / (sockets.len() - 50) as f64;
    println!(
        "  {} idle subscriptions (one WebSocket each): server RSS {} MiB -> {} MiB, {per:.1} KiB per subscription",
        sockets.len() - 50,
        before / 1024,
        after_rss / 1024
    );
    drop(sockets);
}

/// Idle subscriptions multiplexed, as a browser tab runs all of its
/// subscriptions over one graphql-ws socket.
async fn idle_multiplexed(server: &Server, count: usize, per_socket: usize) {
    let client = reqwest::Client::new();
    let endpoint = format!("http://{}/graphql", server.addr);
    let analyst = token("multi", "analyst");
    let reader = token("multi", "reader");
    let data =
        gql(&client, &endpoint, &analyst, "mutation { createCase(input: { title: \"Idle\" }) { id } }", json!({}))
            .await;
    let case = data["createCase"]["id"].as_str().unwrap().to_owned();
    let after = latest_cursor(&client, &endpoint, &reader, &case).await;
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(watch(&server.addr, &reader, &case, &after).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    for _ in 0..count / per_socket {
        let mut ws = watch(&server.addr, &reader, &case, &after).await;
        for id in 2..=per_socket {
            let subscribe = json!({ "id": id.to_string(), "type": "subscribe", "payload": { "query": WATCH, "variables": { "caseId": case, "after": after } } });
            ws.send(Message::Text(subscribe.to_string().into())).await.unwrap();
        }
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_rss = server.rss_kib();
    let per = (after_rss.saturating_sub(before)) as f64 / count as f64;
    println!(
        "  {count} idle subscriptions ({per_socket} per WebSocket): server RSS {} MiB -> {} MiB, {per:.1} KiB per subscription",
        before / 1024,
        after_rss / 1024
    );
}

async fn bench(name: &str, url: &str) {
    let watchers = env_number("CASEBOOK_BENCH_WATCHERS", 1000) as usize;
    let rate = env_number("CASEBOOK_BENCH_RATE", 20);
    let secs = env_number("CASEBOOK_BENCH_SECONDS", 10);
    let idle_count = env_number("CASEBOOK_BENCH_IDLE", 10_000) as usize;
    println!("\n== {name} ==");
    {
        let server = Server::start(url);
        scenario(&server.addr, "one case", watchers, 1, rate, secs).await;
        scenario(&server.addr, "spread", watchers, 100, rate, secs).await;
        println!("  server RSS after the runs {} MiB", server.rss_kib() / 1024);
    }
    let server = Server::start(url);
    idle(&server, idle_count).await;
    drop(server);
    let server = Server::start(url);
    idle_multiplexed(&server, idle_count, 10).await;
}

#[tokio::main]
async fn main() {
    let (sqlite, path) = sqlite_url("live");
    bench("SQLite", &sqlite).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    match postgres_url("live").await {
        Some(url) => {
            bench("PostgreSQL", &url).await;
            drop_postgres(&url).await;
        }
        None => println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        ),
    }
}
