//! `cargo bench --bench webhooks`: webhook delivery against a real
//! `casebook serve` and a receiver on 127.0.0.1 (allowed explicitly).
//! Prints the latency from a change to its arrival at the receiver (p50/p99,
//! one change at a time) and the throughput of one replica's delivery worker
//! draining a backlog (written by a replica that sends nothing, then sent by
//! a fresh one). Asserts nothing about time; it does check every message
//! arrived once.
//!
//! Environment: `CASEBOOK_BENCH_CHANGES` (300), `CASEBOOK_BENCH_BACKLOG`
//! (3000), `CASEBOOK_BENCH_POSTGRES_URL` (also PostgreSQL).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
use tokio::sync::mpsc;

const ALLOW_LOOPBACK: (&str, &str) = ("CASEBOOK_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1");

/// Arrivals: comment body and when it arrived.
struct Receiver {
    url: String,
    arrived: mpsc::UnboundedReceiver<(String, Instant)>,
}

async fn receiver() -> Receiver {
    let (sender, arrived) = mpsc::unbounded_channel();
    let sender = Arc::new(Mutex::new(sender));
    let handler = move |body: String| {
        let at = Instant::now();
        let sender = sender.clone();
        async move {
            let value: Value = serde_json::from_str(&body).unwrap();
            let text = value["data"]["activity"]["body"].as_str().unwrap_or_default().to_owned();
            let _ = sender.lock().unwrap().send((text, at));
            "ok"
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url: format!("http://127.0.0.1:{port}/hook"), arrived }
}

async fn gql(client: &reqwest::Client, server: &Server, token: &str, query: &str, variables: Value) -> Value {
    let endpoint = format!("http://{}/graphql", server.addr);
    let body = json!({ "query": query, "variables": variables });
    let value: Value = client.post(endpoint).bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap();
    assert!(value.get("errors").is_none(), "{value}");
    value["data"].clone()
}

async fn create_webhook(client: &reqwest::Client, server: &Server, tenant: &str, url: &str) {
    let query = "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }";
    gql(
        client,
        server,
        &token(tenant, "admin"),
        query,
        json!({ "i": { "url": url, "eventTypes": ["COMMENT_ADDED"] } }),
    )
    .await;
}

async fn create_cases(client: &reqwest::Client, server: &Server, tenant: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let data = gql(
            client,
            server,
            &token(tenant, "analyst"),
            "mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }",
            json!({ "i": { "title": format!("Webhook bench {i}") } }),
        )
        .await;
        ids.push(data["createCase"]["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn add_comment(client: &reqwest::Client, server: &Server, tenant: &str, case: &str, body: &str) {
    let query = "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }";
    gql(client, server, &token(tenant, "analyst"), query, json!({ "i": { "caseId": case, "body": body } })).await;
}

/// One comment at a time: from the request that commits it to its arrival.
async fn latency(url: &str, changes: usize) {
    let mut receiver = receiver().await;
    let server = Server::start_with_env(url, &[ALLOW_LOOPBACK]);
    let client = reqwest::Client::new();
    create_webhook(&client, &server, "latency", &receiver.url).await;
    let cases = create_cases(&client, &server, "latency", 10).await;
    let (mut to_arrival, mut to_answer) = (Vec::new(), Vec::new());
    for i in 0..changes {
        let body = format!("latency {i}");
        let sent = Instant::now();
        add_comment(&client, &server, "latency", &cases[i % cases.len()], &body).await;
        to_answer.push(sent.elapsed());
        let (text, at) = tokio::time::timeout(Duration::from_secs(30), receiver.arrived.recv()).await.unwrap().unwrap();
        assert_eq!(text, body, "in order, nothing else");
        to_arrival.push(at - sent);
    }
    to_arrival.sort();
    to_answer.sort();
    println!(
        "  latency, request to receiver ({changes} comments one at a time): p50 {:.1} ms, p99 {:.1} ms \
         (the mutation's own answer: p50 {:.1} ms, p99 {:.1} ms)",
        percentile_ms(&to_arrival, 50.0),
        percentile_ms(&to_arrival, 99.0),
        percentile_ms(&to_answer, 50.0),
        percentile_ms(&to_answer, 99.0),
    );
}

/// A backlog written by a replica that sends nothing, drained by a fresh one.
async fn throughput(url: &str, backlog: usize) {
    let mut receiver = receiver().await;
    let client = reqwest::Client::new();
    {
        let writer = Server::start_with_env(url, &[ALLOW_LOOPBACK, ("CASEBOOK_WEBHOOK_CONCURRENCY", "0")]);
        create_webhook(&client, &writer, "backlog", &receiver.url).await;
        let cases = create_cases(&client, &writer, "backlog", 100).await;
        let writes: Vec<_> = (0..8)
            .map(|w| {
                let (client, cases, writer) = (client.clone(), cases.clone(), &writer);
                async move {
                    for i in (w..backlog).step_by(8) {
                        add_comment(&client, writer, "backlog", &cases[i % cases.len()], &format!("backlog {i}")).await;
                    }
                }
            })
            .collect();
        futures_util::future::join_all(writes).await;
    }
    let sender = Server::start_with_env(url, &[ALLOW_LOOPBACK]);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut first, mut last) = (None, Instant::now());
    while seen.len() < backlog {
        let (text, at) = tokio::time::timeout(Duration::from_secs(60), receiver.arrived.recv()).await.unwrap().unwrap();
        *seen.entry(text).or_default() += 1;
        first.get_or_insert(at);
        last = at;
    }
    let elapsed = (last - first.unwrap_or(last)).as_secs_f64();
    assert!(seen.values().all(|n| *n == 1), "each once");
    assert!(tokio::time::timeout(Duration::from_millis(500), receiver.arrived.recv()).await.is_err(), "nothing twice");
    println!(
        "  throughput, one replica draining {backlog} deliveries over 100 cases (16 in flight): \
         {:.0} deliveries/s ({elapsed:.2} s from the first arrival to the last)",
        (backlog - 1) as f64 / elapsed
    );
    drop(sender);
}

async fn bench(name: &str, url: &str) {
    println!("\n== {name} ==");
    latency(url, env_number("CASEBOOK_BENCH_CHANGES", 300) as usize).await;
    throughput(url, env_number("CASEBOOK_BENCH_BACKLOG", 3000) as usize).await;
}

#[tokio::main]
async fn main() {
    let (sqlite, path) = sqlite_url("webhooks");
    bench("SQLite", &sqlite).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    match postgres_url("webhooks").await {
        Some(url) => {
            bench("PostgreSQL", &url).await;
            drop_postgres(&url).await;
        }
        None => println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        ),
    }
}
