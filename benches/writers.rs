//! `cargo bench --bench writers`: concurrent writers against a real
//! `casebook serve` on the demo's data (2,000 cases): `addComment` on random
//! cases from 1, 4 and 16 clients at once, each sending its next write when
//! the last one answered; then the dashboard read alone and beside 16
//! writers; then single writers beside the largest write one change can cause
//! (an update that 100 rules of 20 comments act on). Prints requests per
//! second, p50, p90 and p99; asserts nothing about time.
//!
//! Environment:
//! - `CASEBOOK_BENCH_SECONDS` (10): length of each measured run.
//! - `CASEBOOK_BENCH_CASES` (2000): cases in the tenant.
//! - `CASEBOOK_BENCH_POSTGRES_URL`: also runs on PostgreSQL (an admin URL).
//! - `CASEBOOK_BENCH_BINARY`: another `casebook` binary to seed and serve
//!   (an earlier build, for before and after).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

const TENANT: &str = "default";
const COMMENT: &str = "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }";
const UPDATE: &str = "mutation($i: UpdateCaseInput!) { updateCase(input: $i) { id } }";

/// What a client sends as its n-th request: the document and its variables.
type Requests = Box<dyn Fn(u64) -> (&'static str, Value) + Send>;

/// Latencies of one client's requests, and how many answered with errors.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
}

impl Tally {
    fn merge(tallies: Vec<Tally>) -> Tally {
        let mut all = Tally::default();
        for t in tallies {
            all.latencies.extend(t.latencies);
            all.errors += t.errors;
        }
        all.latencies.sort();
        all
    }

    fn row(&self, label: &str, seconds: f64) {
        let l = &self.latencies;
        println!(
            "  {label:<44} {:>7.0} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            l.len() as f64 / seconds,
            percentile_ms(l, 50.0),
            percentile_ms(l, 90.0),
            percentile_ms(l, 99.0),
            self.errors
        );
    }
}

/// One client sending `next(n)`'s request after the last one answered, until `stop`.
async fn client_loop(
    endpoint: String,
    token: String,
    stop: Arc<AtomicBool>,
    next: impl Fn(u64) -> (&'static str, Value),
) -> Tally {
    let client = reqwest::Client::new();
    let mut tally = Tally::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let (query, variables) = next(n);
        n += 1;
        let started = Instant::now();
        let answer = post(&client, &endpoint, &token, query, &variables).await;
        tally.latencies.push(started.elapsed());
        if answer.get("errors").is_some() {
            tally.errors += 1;
        }
    }
    tally
}

/// A comment on one of `cases`, picked by a cheap generator seeded per client.
fn commenting(cases: Arc<Vec<Value>>, seed: u64) -> impl Fn(u64) -> (&'static str, Value) {
    move |n| {
        let pick = (seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(n.wrapping_mul(1_442_695_040_888_963_407))
            >> 33) as usize
            % cases.len();
        let note = json!({ "caseId": cases[pick], "body": format!("Writer {seed}, note {n}: host isolated.") });
        (COMMENT, json!({ "i": note }))
    }
}

/// Runs `writers` commenting clients (and `others`) for `seconds`; returns
/// the writers' tally and each other client's.
async fn run(
    endpoint: &str,
    cases: &Arc<Vec<Value>>,
    writers: usize,
    others: Vec<(String, Requests)>,
    seconds: u64,
) -> (Tally, Vec<Tally>) {
    let stop = Arc::new(AtomicBool::new(false));
    let writer_tasks: Vec<_> = (0..writers)
        .map(|w| {
            let next = commenting(cases.clone(), w as u64 + 1);
            tokio::spawn(client_loop(endpoint.to_owned(), token(TENANT, "analyst"), stop.clone(), next))
        })
        .collect();
    let other_tasks: Vec<_> = others
        .into_iter()
        .map(|(token, next)| tokio::spawn(client_loop(endpoint.to_owned(), token, stop.clone(), next)))
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = Vec::new();
    for task in writer_tasks {
        writes.push(task.await.unwrap());
    }
    let mut rest = Vec::new();
    for task in other_tasks {
        rest.push(Tally::merge(vec![task.await.unwrap()]));
    }
    (Tally::merge(writes), rest)
}

async fn bench(name: &str, url: &str, cases: u64, seconds: u64, writer_counts: &[usize]) {
    println!("\n== {name}: {cases} cases (casebook demo's mix), {seconds} s per run ==");
    seed_demo(&casebook(), url, TENANT, cases);
    let server = Server::start_binary(&casebook(), url);
    let endpoint = format!("http://{}/graphql", server.addr);
    let client = reqwest::Client::new();
    let reader = token(TENANT, "reader");
    let listed = post(&client, &endpoint, &reader, "{ cases(first: 100) { nodes { id } } }", &json!({})).await;
    let ids: Vec<Value> =
        listed["data"]["cases"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect();
    let ids = Arc::new(ids);

    println!("  {:<44} {:>7} {:>8} {:>8} {:>8} {:>7}", "run", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors");
    for &writers in writer_counts {
        let (writes, _) = run(&endpoint, &ids, writers, Vec::new(), seconds).await;
        writes.row(&format!("addComment, {writers} writers"), seconds as f64);
    }

    // The dashboard read alone, then beside 16 writers.
    let dashboard = || -> Requests { Box::new(|_| (DASHBOARD, json!({}))) };
    let (_, alone) = run(&endpoint, &ids, 0, vec![(reader.clone(), dashboard())], seconds).await;
    alone[0].row("dashboard read alone", seconds as f64);
    let (writes, beside) = run(&endpoint, &ids, 16, vec![(reader.clone(), dashboard())], seconds).await;
    beside[0].row("dashboard read beside 16 writers", seconds as f64);
    writes.row("  (the 16 writers)", seconds as f64);

    // The largest write one change can cause, beside single writers: a
    // tenant's 100 rules of 20 comments each, all acting on one update.
    let admin = token(TENANT, "admin");
    for n in 0..100 {
        let actions: Vec<Value> =
            (0..20).map(|a| json!({ "type": "ADD_COMMENT", "body": format!("Rule {n}, step {a}.") })).collect();
        let input = json!({ "name": format!("Bench rule {n}"), "trigger": "CASE_UPDATED", "actions": actions });
        let rule = "mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }";
        let answer = post(&client, &endpoint, &admin, rule, &json!({ "i": input })).await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let bulk_case = ids[0].clone();
    let bulk: Requests = Box::new(move |n| {
        let priority = if n % 2 == 0 { "LOW" } else { "HIGH" };
        (UPDATE, json!({ "i": { "id": bulk_case, "priority": priority } }))
    });
    let (writes, bulk) = run(&endpoint, &ids, 4, vec![(token(TENANT, "analyst"), bulk)], seconds).await;
    bulk[0].row("update 100 rules act on (2,000 comments)", seconds as f64);
    writes.row("  beside it: addComment, 4 writers", seconds as f64);
}

#[tokio::main]
async fn main() {
    let seconds = env_number("CASEBOOK_BENCH_SECONDS", 10);
    let cases = env_number("CASEBOOK_BENCH_CASES", 2000);
    let (sqlite, path) = sqlite_url("writers");
    bench("SQLite", &sqlite, cases, seconds, &[1, 4, 16]).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    match postgres_url("writers").await {
        Some(url) => {
            bench("PostgreSQL", &url, cases, seconds, &[1, 4, 16]).await;
            drop_postgres(&url).await;
        }
        None => println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        ),
    }
}
