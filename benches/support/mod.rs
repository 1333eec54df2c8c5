//! Shared by the benchmarks: a real `casebook serve` process, tokens, figures.
#![allow(dead_code, clippy::unwrap_used, clippy::print_stdout)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use casebook::auth::{TokenRequest, issue_token};

pub const SECRET: &str = "casebook-bench-secret";

/// A server process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `casebook serve` on a free port against `database_url` and waits until it is ready.
    pub fn start(database_url: &str) -> Server {
        Server::start_binary(env!("CARGO_BIN_EXE_casebook"), database_url)
    }

    /// [`Server::start`] with more environment (`CASEBOOK_*` settings).
    pub fn start_with_env(database_url: &str, env: &[(&str, &str)]) -> Server {
        Server::start_binary_with_env(env!("CARGO_BIN_EXE_casebook"), database_url, env)
    }

    /// [`Server::start`] with another `casebook` binary (an earlier build).
    pub fn start_binary(binary: &str, database_url: &str) -> Server {
        Server::start_binary_with_env(binary, database_url, &[])
    }

    pub fn start_binary_with_env(binary: &str, database_url: &str, env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .args(["serve", "--listen", &addr, "--database-url", database_url])
            .env("CASEBOOK_JWT_SECRET", SECRET)
            .env("CASEBOOK_SECRET_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
            .env("CASEBOOK_LOG", "warn")
            // The benchmarks load the server from a handful of tokens: lift the
            // per-caller limits that exist to stop exactly that.
            .env("CASEBOOK_RATE_LIMIT", "0")
            .env("CASEBOOK_MAX_SUBSCRIPTIONS_PER_CALLER", "1000000")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start casebook serve");
        let started = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, addr }
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib_of(self.child.id())
    }

    /// CPU time the server process used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks of /proc/PID/stat fields, by their index after the command name.
fn stat_seconds(pid: u32, fields: [usize; 2]) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let values: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| values.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(fields[0]) + ticks(fields[1])) / 100.0
}

/// CPU seconds (user + system) of a process, from /proc.
pub fn cpu_seconds_of(pid: u32) -> f64 {
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 here.
    stat_seconds(pid, [11, 12])
}

/// Resident memory of a process, in KiB.
pub fn rss_kib_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds of every PostgreSQL backend process (for per-request database cost).
pub fn postgres_cpu_seconds() -> f64 {
    let mut total = 0.0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "postgres" {
                total += cpu_seconds_of(pid);
            }
        }
    }
    total
}

pub fn token(tenant: &str, role: &str) -> String {
    let roles = [role.to_owned()];
    issue_token(
        SECRET,
        &TokenRequest {
            sub: &format!("bench-{role}"),
            name: Some("Bench"),
            email: None,
            tenant,
            roles: &roles,
            ttl: Duration::from_secs(6 * 3600),
            issuer: None,
            audience: None,
        },
    )
    .unwrap()
}

/// The p-th percentile (0-100) of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// A temp SQLite URL (removed by the caller) and PostgreSQL URLs from the environment.
pub fn sqlite_url(name: &str) -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("casebook-bench-{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    (format!("sqlite://{}", path.display()), path)
}

/// A fresh PostgreSQL database on the server `CASEBOOK_BENCH_POSTGRES_URL` names.
pub async fn postgres_url(name: &str) -> Option<String> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let admin = std::env::var("CASEBOOK_BENCH_POSTGRES_URL").ok()?;
    let db = format!("casebook_bench_{name}_{}", std::process::id());
    let mut conn = AsyncPgConnection::establish(&admin).await.expect("CASEBOOK_BENCH_POSTGRES_URL connects");
    conn.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await.unwrap();
    conn.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
    Some(format!("{base}/{db}"))
}

/// Drops a database `postgres_url` made (the benchmarks' data is large).
pub async fn drop_postgres(url: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let (Ok(admin), Some((_, db))) = (std::env::var("CASEBOOK_BENCH_POSTGRES_URL"), url.rsplit_once('/')) else {
        return;
    };
    if let Ok(mut conn) = AsyncPgConnection::establish(&admin).await {
        let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    }
}

/// The `casebook` binary to seed and serve: `CASEBOOK_BENCH_BINARY` (an
/// earlier build, for before and after), else this build's.
pub fn casebook() -> String {
    std::env::var("CASEBOOK_BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_casebook").to_owned())
}

/// Posts one GraphQL request and returns its JSON answer.
pub async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    query: &str,
    variables: &serde_json::Value,
) -> serde_json::Value {
    let body = serde_json::json!({ "query": query, "variables": variables });
    client.post(endpoint).bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap()
}

/// Seeds `cases` demo cases into `tenant` with `binary`'s `casebook demo`;
/// returns what it printed.
pub fn seed_demo(binary: &str, url: &str, tenant: &str, cases: u64) -> String {
    let seeded = Command::new(binary)
        .args(["demo", "--cases", &cases.to_string(), "--tenant", tenant, "--database-url", url])
        .env("CASEBOOK_LOG", "warn")
        .output()
        .expect("run casebook demo");
    assert!(seeded.status.success(), "demo: {}", String::from_utf8_lossy(&seeded.stderr));
    String::from_utf8_lossy(&seeded.stdout).trim().to_owned()
}

/// A number from the environment, or the default.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The page the peers answer too (`benches/peer/dashboard-*.graphql`): 50
/// cases by last change with status, assignee, tasks and their owners,
/// linked incidents and the newest 5 activity entries with their actors.
pub const DASHBOARD: &str = "query Dashboard {
  cases(first: 50, orderBy: { field: UPDATED_AT, direction: DESC }) {
    totalCount
    nodes {
      id title priority dueOn updatedAt
      status { name category }
      assignee { id displayName }
      tasks { id title status priority dueOn owner { id displayName } }
      incidents { id title severity status }
      activity(first: 5) { nodes { __typename createdAt actor { displayName } ... on Comment { body } ... on AuditEvent { action } } }
    }
  }
}";
