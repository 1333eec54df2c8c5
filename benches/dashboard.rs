//! `cargo bench --bench dashboard`: the dashboard page and the case detail from
//! concurrent HTTP clients against a real `casebook serve`, beside the floor
//! (the same reads as hand-written SQL, no GraphQL). Prints figures; asserts
//! nothing about time.
//!
//! Environment: `CASEBOOK_BENCH_CASES` (2000), `CASEBOOK_BENCH_SECONDS` per run
//! (5), `CASEBOOK_BENCH_POSTGRES_URL` (also runs on PostgreSQL when set).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use casebook::config::DatabaseUrl;
use casebook::db::Db;
use casebook::demo::{DemoSize, PerCase, seed};
use casebook::domain::case::CaseId;
use casebook::domain::queue::{self, CaseFilter, CaseOrderField, OrderDirection};
use casebook::domain::status::StatusId;
use casebook::domain::{activity, incident, status, task, user};
use serde_json::json;
use support::*;

const DASHBOARD: &str = "query Dashboard {
  cases(first: 50, orderBy: { field: UPDATED_AT, direction: DESC }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title priority dueOn updatedAt version
      status { id name category }
      assignee { id displayName }
      tasks { id title status owner { id displayName } }
      incidents { id title severity status }
      activity(first: 5) {
        totalCount
        nodes { __typename id createdAt actor { id displayName } ... on Comment { body } ... on AuditEvent { action changes { field oldValue newValue } } }
      }
    }
  }
}";

const DETAIL: &str = "query Detail($id: ID!) {
  case(id: $id) {
    id title description priority dueOn version createdAt updatedAt
    status { id name } assignee { id displayName } createdBy { id displayName } updatedBy { id displayName }
    tasks { id title description status priority dueOn closingNotes owner { id displayName } }
    incidents { id externalId title severity status }
    activity(first: 100) {
      totalCount
      edges { cursor node { __typename id createdAt actor { id displayName } ... on Comment { body } ... on AuditEvent { action changes { field oldValue newValue } task { id title } incident { id title } } } }
    }
  }
}";

struct Run {
    requests: u64,
    failed: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    fn print(&self, label: &str, extra: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        println!(
            "  {label:<34} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  failed {}{extra}",
            self.requests as f64 / self.elapsed.as_secs_f64(),
            percentile_ms(&sorted, 50.0),
            percentile_ms(&sorted, 99.0),
            self.failed,
        );
    }
}

/// Runs `work` from `clients` concurrent loops for `secs` seconds.
async fn drive<F, Fut>(clients: usize, secs: u64, work: F) -> Run
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (work, stop, failed) = (work.clone(), stop.clone(), failed.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if work().await {
                    latencies.push(t.elapsed());
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    Run {
        requests: latencies.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        latencies,
        elapsed: started.elapsed(),
    }
}

/// One GraphQL request; served only when the body carries no `errors`.
async fn graphql(client: &reqwest::Client, url: &str, token: &str, query: &str, variables: serde_json::Value) -> bool {
    let response =
        client.post(url).bearer_auth(token).json(&json!({ "query": query, "variables": variables })).send().await;
    match response {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(body) => !body.windows(10).any(|w| w == b"\"errors\":[") && body.starts_with(b"{\"data\":{"),
            Err(_) => false,
        },
        _ => false,
    }
}

/// The dashboard's reads as plain domain SQL: the floor under the GraphQL layer.
async fn floor_dashboard(db: &Db, tenant: &str) -> bool {
    let Ok(mut pooled) = db.get().await else { return false };
    let conn = &mut pooled.conn();
    let result: casebook::error::AppResult<()> = async {
        let cases = queue::page(
            conn,
            tenant,
            &CaseFilter::default(),
            CaseOrderField::UpdatedAt,
            OrderDirection::Desc,
            None,
            51,
        )
        .await?;
        queue::count(conn, tenant, &CaseFilter::default()).await?;
        let ids: Vec<CaseId> = cases.iter().map(|c| CaseId(c.id)).collect();
        let status_ids: Vec<StatusId> = cases.iter().map(|c| StatusId(c.status_id)).collect();
        status::find_many(conn, tenant, &status_ids).await?;
        let tasks = task::of_cases(conn, tenant, &ids).await?;
        incident::of_cases(conn, tenant, &ids).await?;
        let heads: Vec<activity::LogHead> =
            cases.iter().map(|c| activity::LogHead { case_id: CaseId(c.id), newest_seq: c.activity_seq }).collect();
        let entries = activity::newest_of_cases(conn, tenant, &heads, &[], 6).await?;
        let mut users: Vec<String> = cases.iter().filter_map(|c| c.assignee_id.clone()).collect();
        users.extend(tasks.iter().filter_map(|t| t.owner_id.clone()));
        users.extend(entries.iter().map(|e| e.actor_id.clone()));
        users.sort();
        users.dedup();
        user::find_many(conn, tenant, &users).await?;
        Ok(())
    }
    .await;
    result.is_ok()
}

async fn bench(name: &str, url: &str, cases: u32, secs: u64) {
    println!("\n== {name}: {cases} cases (10 tasks, 3 incidents, ~20 activity entries each) ==");
    let database: DatabaseUrl = url.parse().unwrap();
    casebook::db::run_migrations(&database).await.unwrap();
    let db = Db::connect(&database).unwrap();
    let started = Instant::now();
    let size = DemoSize { cases, fixed: Some(PerCase { tasks: 10, incidents: 3, comments: 6 }) };
    seed(&db, "bench", &size, |_| {}).await.unwrap();
    let detail = DemoSize { cases: 1, fixed: Some(PerCase { tasks: 20, incidents: 3, comments: 76 }) };
    seed(&db, "detail", &detail, |_| {}).await.unwrap();
    println!("  seeded in {:.1}s", started.elapsed().as_secs_f64());

    let server = Server::start(url);
    let endpoint = format!("http://{}/graphql", server.addr);
    let client = reqwest::Client::builder().pool_max_idle_per_host(128).build().unwrap();
    let (token, detail_token) = (token("bench", "reader"), token("detail", "reader"));
    // Warm up: records the callers, fills the pools.
    for _ in 0..20 {
        assert!(graphql(&client, &endpoint, &token, DASHBOARD, json!({})).await, "the dashboard query works");
        assert!(graphql(&client, &endpoint, &detail_token, DETAIL, json!({ "id": "1000" })).await);
    }
    let size = client.post(&endpoint).bearer_auth(&token).json(&json!({ "query": DASHBOARD })).send().await.unwrap();
    let bytes = size.bytes().await.unwrap().len();
    println!("  dashboard response: {} KB; server idle RSS {} MiB", bytes / 1000, server.rss_kib() / 1024);

    let mut peak_rss = 0;
    for clients in [1usize, 16, 64] {
        let (c, e, t) = (client.clone(), endpoint.clone(), token.clone());
        let (cpu0, pg0) = (server.cpu_seconds(), postgres_cpu_seconds());
        let run = drive(clients, secs, move || {
            let (c, e, t) = (c.clone(), e.clone(), t.clone());
            async move { graphql(&c, &e, &t, DASHBOARD, json!({})).await }
        })
        .await;
        peak_rss = peak_rss.max(server.rss_kib());
        let cpu = server.cpu_seconds() - cpu0;
        let pg = if name == "PostgreSQL" { postgres_cpu_seconds() - pg0 } else { 0.0 };
        let per_request = (cpu + pg) * 1000.0 / run.requests.max(1) as f64;
        run.print(
            &format!("dashboard, {clients} clients"),
            &format!(
                "  cpu/req {per_request:.2} ms (server {:.2}, db {:.2})",
                cpu * 1000.0 / run.requests.max(1) as f64,
                pg * 1000.0 / run.requests.max(1) as f64
            ),
        );
    }
    let (c, e, t) = (client.clone(), endpoint.clone(), detail_token.clone());
    let run = drive(16, secs, move || {
        let (c, e, t) = (c.clone(), e.clone(), t.clone());
        async move { graphql(&c, &e, &t, DETAIL, json!({ "id": "1000" })).await }
    })
    .await;
    peak_rss = peak_rss.max(server.rss_kib());
    run.print("case detail (20 tasks, 100 entries), 16", "");
    println!("  server RSS peak {} MiB", peak_rss / 1024);

    for clients in [1usize, 16] {
        let db = db.clone();
        let run = drive(clients, secs, move || {
            let db = db.clone();
            async move { floor_dashboard(&db, "bench").await }
        })
        .await;
        run.print(&format!("floor: same reads as SQL, {clients} clients"), "");
    }
}

#[tokio::main]
async fn main() {
    let cases = env_number("CASEBOOK_BENCH_CASES", 2000) as u32;
    let secs = env_number("CASEBOOK_BENCH_SECONDS", 5);
    let (sqlite, path) = sqlite_url("dashboard");
    bench("SQLite", &sqlite, cases, secs).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    match postgres_url("dashboard").await {
        Some(url) => bench("PostgreSQL", &url, cases, secs).await,
        None => println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        ),
    }
}
