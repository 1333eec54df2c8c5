//! Test support: the real server on an ephemeral port against a fresh database
//! (a temp SQLite file, or a new PostgreSQL database), and a GraphQL client.
#![allow(dead_code)]

pub mod process;
pub mod s3;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use casebook::auth::{TokenRequest, issue_token};
use casebook::config::{DatabaseUrl, JwtArgs, Secret};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use serde_json::{Value, json};

pub const SECRET: &str = "casebook-test-secret";
/// Seals webhook secrets at rest (`CASEBOOK_SECRET_KEY`); every test server uses it.
pub const SEALING_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The sealing keys of test servers.
pub fn sealing_keys() -> std::sync::Arc<casebook::domain::webhook::SealingKeys> {
    let current = casebook::domain::webhook::SealingKey::parse(SEALING_KEY).expect("the test key parses");
    std::sync::Arc::new(casebook::domain::webhook::SealingKeys { current, previous: Vec::new() })
}

/// PostgreSQL server for tests; `.ci/run` sets it. Never skipped: an
/// unreachable server fails the PostgreSQL tests.
pub fn postgres_admin_url() -> String {
    std::env::var("CASEBOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `both_backends!(name);` expects
/// `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            }
        )+
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Folds the tenant's counters now, as one write in 32 does.
pub async fn fold_counts(server: &TestServer, tenant: &str) {
    let mut tx = server.state.db().begin().await.unwrap();
    let result = casebook::domain::counts::fold(&mut tx.conn(), tenant).await;
    tx.finish(result).await.unwrap();
}

pub fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("casebook_test_{}_{}_{}", std::process::id(), n, nanos)
}

/// A fresh database; removed when dropped.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    /// A database, and the tablespace it was made in, if any.
    Postgres {
        admin_url: String,
        name: String,
        tablespace: Option<String>,
    },
}

/// The admin connection to the tests' PostgreSQL server, started first if it
/// is local and down.
async fn postgres_admin() -> (AsyncPgConnection, String) {
    let admin_url = postgres_admin_url();
    let admin = match AsyncPgConnection::establish(&admin_url).await {
        Ok(admin) => admin,
        Err(_) => {
            tokio::task::spawn_blocking(ensure_local_postgres).await.unwrap();
            AsyncPgConnection::establish(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is required for the tests: {e}"))
        }
    };
    (admin, admin_url)
}

/// The URL of database `name` on the admin URL's server.
fn postgres_database_url(admin_url: &str, name: &str) -> String {
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

/// A PostgreSQL database with every migration applied, made once per test
/// process: test servers start from copies of it rather than migrating each
/// new database (about half a second each, some 180 times a run).
static MIGRATED_TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

const TEMPLATE_PREFIX: &str = "casebook_template_";

async fn migrated_template() -> &'static str {
    MIGRATED_TEMPLATE
        .get_or_init(|| async {
            let (mut admin, admin_url) = postgres_admin().await;
            drop_templates_of_ended_runs(&mut admin).await;
            let name = format!("{TEMPLATE_PREFIX}{}", std::process::id());
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.expect("drop an old template");
            admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create the template");
            let url = DatabaseUrl::Postgres(postgres_database_url(&admin_url, &name));
            casebook::server::migrate(&url).await.expect("migrate the template");
            name
        })
        .await
}

/// Drops the templates of test processes that have ended (a process cannot
/// drop its own when it exits).
async fn drop_templates_of_ended_runs(admin: &mut AsyncPgConnection) {
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let names: Vec<Name> = diesel::sql_query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind::<Text, _>(TEMPLATE_PREFIX)
        .load(admin)
        .await
        .expect("list templates");
    for Name { datname } in names {
        let ended = datname
            .strip_prefix(TEMPLATE_PREFIX)
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        if ended {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)")).await;
        }
    }
}

impl TestDatabase {
    /// A fresh, empty database.
    pub async fn create(backend: Backend) -> TestDatabase {
        TestDatabase::made(backend, None).await
    }

    /// A fresh database with every migration applied (on PostgreSQL, a copy
    /// of one migrated once per test process).
    pub async fn migrated(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase::made(backend, None).await,
            Backend::Postgres => TestDatabase::made(backend, Some(migrated_template().await)).await,
        }
    }

    async fn made(backend: Backend, template: Option<&str>) -> TestDatabase {
        let name = unique_name();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                TestDatabase { url: DatabaseUrl::Sqlite(path.clone()), cleanup: Cleanup::File(path) }
            }
            Backend::Postgres => {
                let (mut admin, admin_url) = postgres_admin().await;
                let template = template.map(|t| format!(" TEMPLATE {t}")).unwrap_or_default();
                admin.batch_execute(&format!("CREATE DATABASE {name}{template}")).await.expect("create database");
                let url = postgres_database_url(&admin_url, &name);
                let cleanup = Cleanup::Postgres { admin_url, name, tablespace: None };
                TestDatabase { url: DatabaseUrl::Postgres(url), cleanup }
            }
        }
    }

    /// A fresh database whose data lives in `directory`: a SQLite file there,
    /// or a PostgreSQL database in a tablespace there (the directory must be
    /// empty and the server's to write).
    pub async fn in_directory(backend: Backend, directory: &std::path::Path) -> TestDatabase {
        let name = unique_name();
        match backend {
            Backend::Sqlite => {
                let path = directory.join(format!("{name}.db"));
                TestDatabase { url: DatabaseUrl::Sqlite(path.clone()), cleanup: Cleanup::File(path) }
            }
            Backend::Postgres => {
                let (mut admin, admin_url) = postgres_admin().await;
                let location = directory.display();
                admin
                    .batch_execute(&format!("CREATE TABLESPACE {name} LOCATION '{location}'"))
                    .await
                    .expect("tablespace");
                admin.batch_execute(&format!("CREATE DATABASE {name} TABLESPACE {name}")).await.expect("database");
                let url = postgres_database_url(&admin_url, &name);
                let cleanup = Cleanup::Postgres { admin_url, name: name.clone(), tablespace: Some(name) };
                TestDatabase { url: DatabaseUrl::Postgres(url), cleanup }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm", ".secret-key"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                let _ = std::fs::remove_dir_all(format!("{}.attachments", path.display()));
            }
            Cleanup::Postgres { admin_url, name, tablespace } => {
                let (admin_url, name, tablespace) = (admin_url.clone(), name.clone(), tablespace.clone());
                // Drop runs inside the test's runtime; a thread with its own runtime may block.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                        return;
                    };
                    rt.block_on(async {
                        if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url).await {
                            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                            if let Some(tablespace) = tablespace {
                                let _ = admin.batch_execute(&format!("DROP TABLESPACE IF EXISTS {tablespace}")).await;
                            }
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// A running casebook server.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub base: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub state: casebook::AppState,
    /// The server's open connections.
    pub connections: casebook::http::ConnectionCount,
    task: tokio::task::JoinHandle<()>,
    // dropped after the server task is aborted
    pub database: std::sync::Arc<TestDatabase>,
    /// The S3-compatible server holding attachments, when they go to one.
    pub s3: Option<std::sync::Arc<s3::S3Server>>,
}

/// Where a test server keeps attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A directory (beside the SQLite file, or a temp directory).
    Directory,
    /// An S3-compatible server the test starts.
    S3,
}

impl StoreKind {
    /// Each database keeps its attachments in one kind of store unless a test
    /// asks for the other: SQLite in a directory (the embedded default),
    /// PostgreSQL in S3 (production's), so every suite covers both.
    pub fn default_for(backend: Backend) -> StoreKind {
        match backend {
            Backend::Sqlite => StoreKind::Directory,
            Backend::Postgres => StoreKind::S3,
        }
    }
}

pub fn jwt() -> JwtArgs {
    JwtArgs { secret: Some(Secret::new(SECRET.into())), ..Default::default() }
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        let database = std::sync::Arc::new(TestDatabase::migrated(backend).await);
        TestServer::start_on(backend, database).await
    }

    /// A server whose settings are adjusted first (timeouts, limits).
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut casebook::http::Settings)) -> TestServer {
        let database = std::sync::Arc::new(TestDatabase::migrated(backend).await);
        TestServer::start_adjusted(backend, database, adjust).await
    }

    /// Another server (a replica) on the same database.
    pub async fn start_on(backend: Backend, database: std::sync::Arc<TestDatabase>) -> TestServer {
        TestServer::start_adjusted(backend, database, |_| {}).await
    }

    /// A server with adjusted settings on a given database (a replica that differs).
    pub async fn start_adjusted(
        backend: Backend,
        database: std::sync::Arc<TestDatabase>,
        adjust: impl FnOnce(&mut casebook::http::Settings),
    ) -> TestServer {
        let url = database.url.clone();
        TestServer::start_via(backend, database, &url, adjust).await
    }

    /// A server on a given database reached through `url` (the same database
    /// with other connection options, such as TLS).
    pub async fn start_via(
        backend: Backend,
        database: std::sync::Arc<TestDatabase>,
        url: &DatabaseUrl,
        adjust: impl FnOnce(&mut casebook::http::Settings),
    ) -> TestServer {
        TestServer::start_keyed(backend, database, url, &jwt(), adjust).await
    }

    /// A server that verifies tokens with these keys (and claims rules).
    pub async fn start_with_jwt(backend: Backend, jwt: &JwtArgs) -> TestServer {
        let database = std::sync::Arc::new(TestDatabase::migrated(backend).await);
        let url = database.url.clone();
        TestServer::start_keyed(backend, database, &url, jwt, |_| {}).await
    }

    async fn start_keyed(
        backend: Backend,
        database: std::sync::Arc<TestDatabase>,
        url: &DatabaseUrl,
        jwt: &JwtArgs,
        adjust: impl FnOnce(&mut casebook::http::Settings),
    ) -> TestServer {
        let mut settings = casebook::http::Settings::default();
        settings.webhooks.keys = Some(sealing_keys());
        adjust(&mut settings);
        let s3 = match settings.attachments.store {
            Some(_) => None,
            None => {
                let kind = STORE_KIND.try_with(|k| *k).unwrap_or(StoreKind::default_for(backend));
                attach_store(&mut settings, kind, &database).await
            }
        };
        let state = casebook::server::prepare(url, jwt, None, settings).await.expect("prepare server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = casebook::app(state.clone());
        let limits = state.settings().connections;
        let (count, counted) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = casebook::http::serve_connections(listener, app, limits, std::future::pending(), Some(count)).await;
        });
        let connections = counted.await.expect("the server counts its connections");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        TestServer { addr, base: format!("http://{addr}"), backend, client, state, task, database, connections, s3 }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a GraphQL request and returns the JSON body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request =
            self.client.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        response.json().await.expect("json body")
    }

    /// POSTs a whole request body (a persisted-query hash, an operationName)
    /// and returns the JSON answer.
    pub async fn post_json(&self, token: Option<&str>, body: &Value) -> Value {
        post_json(&self.addr.to_string(), token, body).await
    }

    /// Like [`gql`](Self::gql) but panics on any error and returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}\nquery: {query}");
        body["data"].clone()
    }
}

tokio::task_local! {
    /// The store the servers a test starts use (see [`with_store`]).
    static STORE_KIND: StoreKind;
}

/// Runs a test body with its servers keeping attachments in `kind`.
pub async fn with_store<F: Future>(kind: StoreKind, body: F) -> F::Output {
    STORE_KIND.scope(kind, body).await
}

async fn attach_store(
    settings: &mut casebook::http::Settings,
    kind: StoreKind,
    database: &TestDatabase,
) -> Option<std::sync::Arc<s3::S3Server>> {
    match kind {
        StoreKind::S3 => {
            let server = std::sync::Arc::new(s3::S3Server::start().await);
            settings.attachments.store = Some(casebook::store::Store::open(&server.config()).expect("open S3 store"));
            Some(server)
        }
        StoreKind::Directory => {
            // SQLite's default (beside the file) is opened by `prepare`;
            // PostgreSQL gets a directory of its own beside nothing.
            if let DatabaseUrl::Postgres(_) = database.url {
                let dir = std::env::temp_dir().join(format!("casebook-files-{}", unique_name()));
                let config = casebook::store::StoreConfig::Directory(dir);
                settings.attachments.store = Some(casebook::store::Store::open(&config).expect("open directory"));
            }
            None
        }
    }
}

/// Runs an async test body once per database and store:
/// `all_stores!(name);` expects `async fn name(backend: Backend)` and runs
/// it with each of SQLite and PostgreSQL keeping attachments in a directory
/// and in an S3-compatible server.
#[macro_export]
macro_rules! all_stores {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use $crate::common::{Backend, StoreKind, with_store};
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_directory() {
                    with_store(StoreKind::Directory, super::$name(Backend::Sqlite)).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_s3() {
                    with_store(StoreKind::S3, super::$name(Backend::Sqlite)).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_directory() {
                    with_store(StoreKind::Directory, super::$name(Backend::Postgres)).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_s3() {
                    with_store(StoreKind::S3, super::$name(Backend::Postgres)).await;
                }
            }
        )+
    };
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// POSTs a request body to the server at `addr` and returns the JSON answer.
pub async fn post_json(addr: &str, token: Option<&str>, body: &Value) -> Value {
    let mut request = reqwest::Client::new().post(format!("http://{addr}/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the server answers").json().await.expect("a JSON answer")
}

/// A token signed with the test secret.
pub fn token(sub: &str, tenant: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    issue_token(
        SECRET,
        &TokenRequest {
            sub,
            name: Some(&format!("User {sub}")),
            email: Some(&format!("{sub}@example.com")),
            tenant,
            roles: &roles,
            ttl: Duration::from_secs(3600),
            issuer: None,
            audience: None,
        },
    )
    .expect("token")
}

pub fn reader(tenant: &str) -> String {
    token("rita", tenant, &["reader"])
}
/// An analyst as the library sees one, for tests that write through the
/// domain directly (a transaction held open, dropped, rolled back).
pub fn analyst_principal(user: &str, tenant: &str) -> casebook::auth::Principal {
    casebook::auth::Principal {
        user_id: user.into(),
        tenant: tenant.into(),
        display_name: None,
        email: None,
        permissions: [casebook::auth::Permission::AlertsManage].into_iter().collect(),
        expires_at: u64::MAX,
    }
}

pub fn analyst(tenant: &str) -> String {
    token("anna", tenant, &["analyst"])
}
pub fn admin(tenant: &str) -> String {
    token("adam", tenant, &["admin"])
}

/// The `extensions.code` of each error in a response.
/// Removes each error's `extensions.requestId` (every request has its own),
/// so two answers compare on what they say; panics when one lacks it.
pub fn without_request_ids(body: &mut Value) {
    if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors {
            let id = error["extensions"].as_object_mut().and_then(|e| e.remove("requestId"));
            assert!(id.is_some_and(|id| id.is_string()), "every error carries its request id: {error}");
        }
    }
}

pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect())
        .unwrap_or_default()
}

/// Asserts the response failed with exactly this code.
#[track_caller]
pub fn assert_code(body: &Value, code: &str) {
    let codes = error_codes(body);
    assert!(!codes.is_empty() && codes.iter().all(|c| c == code), "expected {code}, got {body:#}");
}

pub const CASE_FIELDS: &str = "id title description priority version dueOn status { id name } assignee { id displayName } createdBy { id } updatedBy { id } createdAt updatedAt";

/// Opens a case with just a title (plus `extra` input fields) and returns it.
pub async fn create_case(server: &TestServer, token: &str, title: &str, extra: Value) -> Value {
    let mut input = json!({ "title": title });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    let query = format!("mutation($input: CreateCaseInput!) {{ createCase(input: $input) {{ {CASE_FIELDS} }} }}");
    server.ok(token, &query, json!({ "input": input })).await["createCase"].clone()
}

/// Runs an `updateCase` and returns the whole response.
pub async fn update_case(server: &TestServer, token: &str, input: Value) -> Value {
    let query = format!("mutation($input: UpdateCaseInput!) {{ updateCase(input: $input) {{ {CASE_FIELDS} }} }}");
    server.gql(Some(token), &query, json!({ "input": input })).await
}

/// The id of the tenant's status with this name.
pub async fn status_id(server: &TestServer, token: &str, name: &str) -> Value {
    let data = server.ok(token, "{ statuses(includeArchived: true) { id name } }", json!({})).await;
    data["statuses"].as_array().unwrap().iter().find(|s| s["name"] == name).map(|s| s["id"].clone()).unwrap()
}

/// Records an incident and returns it.
pub async fn create_incident(server: &TestServer, token: &str, title: &str, severity: &str) -> Value {
    let query = "mutation($input: CreateIncidentInput!) { createIncident(input: $input) { id title severity status externalId } }";
    server.ok(token, query, json!({ "input": { "title": title, "severity": severity } })).await["createIncident"]
        .clone()
}

/// A GraphQL-over-WebSocket client speaking either subprotocol.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub protocol: &'static str,
}

/// What the server sent next.
#[derive(Debug)]
pub enum WsEvent {
    Message(Value),
    Closed(u16, String),
}

impl TestServer {
    /// Opens a WebSocket to `/graphql` with this subprotocol.
    pub async fn ws(&self, protocol: &'static str) -> WsClient {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{}/graphql", self.addr).into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (stream, response) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        WsClient { stream, protocol }
    }
}

impl WsClient {
    pub async fn send(&mut self, message: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// Sends unless the server has closed the connection; false then.
    pub async fn try_send(&mut self, message: Value) -> bool {
        use futures_util::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::Text(message.to_string().into())).await.is_ok()
    }

    /// The next message or close, within `secs` seconds.
    pub async fn next(&mut self, secs: u64) -> WsEvent {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(secs), self.stream.next())
                .await
                .expect("the server answers in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] == "ka" || message["type"] == "ping" || message["type"] == "pong" {
                        continue;
                    }
                    return WsEvent::Message(message);
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(WsEvent::Closed(1005, String::new()), |f| {
                        WsEvent::Closed(f.code.into(), f.reason.to_string())
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return WsEvent::Closed(1006, String::new()),
            }
        }
    }

    /// Waits for the `pong` that answers a `ping` (graphql-transport-ws). The
    /// server answers a ping once every subscription sent before it is live.
    pub async fn pong(&mut self, secs: u64) {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(secs), self.stream.next())
                .await
                .expect("the pong comes in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    match message["type"].as_str() {
                        Some("pong") => return,
                        Some("ping" | "ka") => continue,
                        _ => panic!("expected a pong, got {message}"),
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    }

    /// The next message, whatever its type (pings and pongs included); panics on a close.
    pub async fn next_raw(&mut self, secs: u64) -> Value {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(secs), self.stream.next())
                .await
                .expect("the server answers in time");
            match frame {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }

    /// Sends `connection_init` with this token and expects the ack.
    pub async fn init(&mut self, token: &str) {
        self.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        match self.next(10).await {
            WsEvent::Message(m) if m["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    /// Starts a subscription.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == "graphql-ws" { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next payload of a subscription (`next`/`data` message).
    pub async fn payload(&mut self, secs: u64) -> Value {
        match self.next(secs).await {
            WsEvent::Message(m) if m["type"] == "next" || m["type"] == "data" => m["payload"].clone(),
            other => panic!("expected a subscription payload, got {other:?}"),
        }
    }

    /// The next payload, or `None` when none comes within `millis`.
    pub async fn try_payload(&mut self, millis: u64) -> Option<Value> {
        let next = tokio::time::timeout(Duration::from_millis(millis), self.next(60)).await.ok()?;
        match next {
            WsEvent::Message(m) if m["type"] == "next" || m["type"] == "data" => Some(m["payload"].clone()),
            other => panic!("expected a subscription payload, got {other:?}"),
        }
    }

    /// Expects the server to close with this code.
    pub async fn expect_close(&mut self, code: u16, secs: u64) {
        loop {
            match self.next(secs).await {
                WsEvent::Closed(c, reason) => {
                    assert_eq!(c, code, "closed with {c} ({reason}), expected {code}");
                    return;
                }
                WsEvent::Message(m)
                    if m["type"] == "connection_error" || m["type"] == "complete" || m["type"] == "error" => {}
                WsEvent::Message(m) => panic!("expected close {code}, got {m}"),
            }
        }
    }
}

/// The subscription every live test uses: each entry's cursor-relevant id and text.
pub const WATCH: &str = "subscription($caseId: ID!, $after: String) {
  caseActivity(caseId: $caseId, after: $after) {
    __typename id createdAt actor { id }
    ... on Comment { body }
    ... on AuditEvent { action changes { field newValue } }
  }
}";

/// Adds a task (with `extra` input fields) to a case and returns its id.
pub async fn create_task(server: &TestServer, token: &str, case_id: &str, title: &str, extra: Value) -> String {
    let mut input = json!({ "caseId": case_id, "title": title });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    let query = "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }";
    server.ok(token, query, json!({ "i": input })).await["createTask"]["id"].as_str().unwrap().to_owned()
}

/// Adds a comment as this user.
pub async fn comment(server: &TestServer, token: &str, case_id: &str, body: &str) -> Value {
    server
        .ok(
            token,
            "mutation($i: AddCommentInput!) { addComment(input: $i) { id body } }",
            json!({ "i": { "caseId": case_id, "body": body } }),
        )
        .await["addComment"]
        .clone()
}

/// The cursor of a case's newest activity entry: subscribing after it sees
/// everything that comes next, however late the subscription is registered.
pub async fn latest_cursor(server: &TestServer, token: &str, case_id: &str) -> Value {
    let log = server
        .ok(
            token,
            "query($id: ID!) { case(id: $id) { activity(first: 1) { edges { cursor } } } }",
            json!({ "id": case_id }),
        )
        .await;
    log["case"]["activity"]["edges"][0]["cursor"].clone()
}

static LOCAL_POSTGRES: std::sync::Once = std::sync::Once::new();

/// Starts this machine's PostgreSQL cluster when the tests' server does not
/// answer (a fresh machine after a reboot), once per test binary: the README's
/// test command needs nothing started by hand. A server elsewhere
/// (`CASEBOOK_TEST_POSTGRES_URL`) is left alone.
pub fn ensure_local_postgres() {
    LOCAL_POSTGRES.call_once(|| {
        let url = postgres_admin_url();
        if !(url.contains("@127.0.0.1") || url.contains("@localhost")) {
            return;
        }
        let ready = || {
            std::process::Command::new("pg_isready")
                .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if ready() {
            return;
        }
        let versions = std::fs::read_dir("/etc/postgresql")
            .map(|dir| dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect::<Vec<_>>())
            .unwrap_or_default();
        for version in &versions {
            eprintln!("starting PostgreSQL {version} (main) for the tests");
            let _ = std::process::Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", version, "main", "start"])
                .status();
        }
        for _ in 0..60 {
            if ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "PostgreSQL at {url} is required for the tests and could not be started \
             (tried pg_ctlcluster for {versions:?}); start it, or set CASEBOOK_TEST_POSTGRES_URL"
        );
    });
}

static CHROMIUM: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();

/// Debian's Chromium for the browser tests (`CHROMIUM` names another),
/// installed with apt-get on first use when missing, as `.ci/run` does: the
/// README's test command works on a fresh machine. Panics saying why when it
/// cannot be had.
pub fn ensure_chromium() -> String {
    let found = CHROMIUM.get_or_init(|| {
        let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        if std::path::Path::new(&path).exists() {
            return Ok(path);
        }
        if std::env::var_os("CHROMIUM").is_some() {
            return Err(format!("CHROMIUM names {path}, which does not exist"));
        }
        eprintln!("installing Debian's chromium for the browser tests (apt-get)");
        let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        let apt = |args: &[&str]| {
            let mut command = if root {
                std::process::Command::new("apt-get")
            } else {
                let mut sudo = std::process::Command::new("sudo");
                sudo.args(["-n", "apt-get"]);
                sudo
            };
            command
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let install = ["install", "-y", "-qq", "--no-install-recommends", "chromium"];
        // Package lists may be missing or stale on a fresh machine: refresh once and retry.
        let installed = apt(&install) || (apt(&["update", "-qq"]) && apt(&install));
        if !installed {
            return Err("the browser tests need Chromium at /usr/bin/chromium and `apt-get install chromium` \
                 failed (it needs root, or sudo without a password, and Debian's package mirror); \
                 install it, or set CHROMIUM to a Chromium binary"
                .into());
        }
        if std::path::Path::new(&path).exists() {
            Ok(path)
        } else {
            Err(format!("apt-get installed chromium but {path} does not exist"))
        }
    });
    found.clone().unwrap_or_else(|why| panic!("{why}"))
}

static JS_TOOLING: std::sync::Once = std::sync::Once::new();

/// Installs the JavaScript clients in `tests/js` (graphql-ws, graphql-http)
/// with npm, once per test binary, when any is missing.
pub fn ensure_js_tooling() {
    JS_TOOLING.call_once(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
        let installed = ["graphql-ws", "graphql-http", "graphql", "ws", "playwright-core"]
            .iter()
            .all(|package| dir.join("node_modules").join(package).join("package.json").exists());
        if !installed {
            let status = std::process::Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--no-package-lock", "--silent"])
                .current_dir(&dir)
                .status()
                .expect("npm is needed for the JavaScript client tests");
            assert!(status.success(), "npm install in tests/js failed");
        }
    });
}

/// What the README and the documentation show, in one text.
pub const DOCUMENTATION: [&str; 5] = [
    include_str!("../../README.md"),
    include_str!("../../docs/api.md"),
    include_str!("../../docs/automation.md"),
    include_str!("../../docs/live.md"),
    include_str!("../../docs/triage.md"),
];

/// The GraphQL block of the README or the documentation that starts with
/// `opening` (such as `mutation Evidence`): tests run what the docs show.
pub fn readme_operation(opening: &str) -> String {
    let readme = DOCUMENTATION.concat();
    let start = readme.find(&format!("```graphql\n{opening}")).unwrap_or_else(|| panic!("README lacks {opening}"));
    let block = &readme[start + "```graphql\n".len()..];
    block[..block.find("```").unwrap()].to_owned()
}

/// A connection of the test's own to a SQLite file a server is using: it
/// waits for the server's writers (its jobs write in the background) as
/// the service's own connections do, instead of failing "database is locked".
pub fn sqlite_beside_server(path: &std::path::Path) -> diesel::SqliteConnection {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute("PRAGMA busy_timeout = 10000;").unwrap();
    conn
}
