//! `casebook serve` as a separate process, as operators run it: listening on
//! ports the system picks, logging JSON lines the tests read.

use serde_json::{Value, json};

use super::{Backend, SECRET, TestDatabase};

/// A `casebook serve` process on a test database.
pub struct Process {
    pub child: tokio::process::Child,
    pub addr: String,
    /// Where `/metrics` is served, when asked for.
    pub metrics_addr: Option<String>,
    /// What it printed before serving that is not a log line (`--dev`'s tokens).
    pub printed: Vec<String>,
    /// The log lines before `serving`, as JSON.
    pub startup: Vec<Value>,
    /// The log lines after `serving`, as JSON.
    logs: tokio::sync::mpsc::UnboundedReceiver<Value>,
    pub database: TestDatabase,
}

/// The `addr` field of a JSON log line with this message.
pub fn logged_addr(entry: &Value, message: &str) -> Option<String> {
    (entry["fields"]["message"] == message).then(|| entry["fields"]["addr"].as_str().unwrap().to_owned())
}

impl Process {
    pub async fn start(backend: Backend) -> Process {
        Process::start_with(backend, false).await
    }

    /// Listens on ports the system picks (read back from the log: no port is
    /// guessed and raced for); with `metrics`, a metrics listener too.
    pub async fn start_with(backend: Backend, metrics: bool) -> Process {
        Process::start_configured(backend, metrics, &[], &[]).await
    }

    /// With more environment and arguments for the process.
    pub async fn start_configured(backend: Backend, metrics: bool, env: &[(&str, &str)], args: &[&str]) -> Process {
        Process::start_url_query(backend, metrics, env, args, "").await
    }

    /// With `query` (such as `password=...`) added to the database URL.
    pub async fn start_url_query(
        backend: Backend,
        metrics: bool,
        env: &[(&str, &str)],
        args: &[&str],
        query: &str,
    ) -> Process {
        use tokio::io::AsyncBufReadExt;
        let database = TestDatabase::create(backend).await;
        let mut url = database_url(&database);
        if !query.is_empty() {
            url = format!("{url}{}{query}", if url.contains('?') { '&' } else { '?' });
        }
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
            .args(args)
            .env("CASEBOOK_JWT_SECRET", SECRET)
            .env("CASEBOOK_SECRET_KEY", super::SEALING_KEY)
            .env("CASEBOOK_LOG", "info")
            .env("CASEBOOK_LOG_FORMAT", "json")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        if metrics {
            command.env("CASEBOOK_METRICS_LISTEN", "127.0.0.1:0");
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut metrics_addr = None;
        let mut printed = Vec::new();
        let mut startup = Vec::new();
        let addr = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
                .await
                .expect("the server logs that it serves")
                .unwrap()
                .expect("the server exited before serving");
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                printed.push(line);
                continue;
            };
            metrics_addr = metrics_addr.or_else(|| logged_addr(&entry, "metrics at /metrics"));
            if let Some(addr) = logged_addr(&entry, "serving") {
                break addr;
            }
            startup.push(entry);
        };
        // Keep reading, or a full pipe would stall the server's logging.
        let (sender, logs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(entry) = serde_json::from_str(&line) {
                    let _ = sender.send(entry);
                }
            }
        });
        Process { child, addr, metrics_addr, printed, startup, logs, database }
    }

    /// The next log line the predicate picks (others are passed over).
    pub async fn logged(&mut self, mut pick: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let entry = tokio::time::timeout(std::time::Duration::from_secs(30), self.logs.recv())
                .await
                .expect("the expected log line within 30 s")
                .expect("the server's log ended");
            if pick(&entry) {
                return entry;
            }
        }
    }

    pub fn terminate(&self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }
}

/// A test database's URL as the command line takes it.
pub fn database_url(database: &TestDatabase) -> String {
    match &database.url {
        casebook::config::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        casebook::config::DatabaseUrl::Postgres(url) => url.clone(),
    }
}

/// POSTs a query to a process at `addr`; panics on errors and returns `data`.
pub async fn gql_at(addr: &str, token: &str, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables });
    let client = reqwest::Client::new();
    let answer: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON answer");
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"].clone()
}
