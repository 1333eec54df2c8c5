//! What operators rely on: request ids from the caller to the log, and log
//! lines a collector can read.

use crate::common::process::{Process, gql_at, logged_addr};
use crate::common::*;
use serde_json::{Value, json};

fn is_fresh_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_has_an_id_in_its_answer_and_its_errors() {
    let server = TestServer::start(Backend::Sqlite).await;
    let ask = |id: Option<&str>, token: Option<String>| {
        let mut request =
            server.client.post(server.url("/graphql")).json(&json!({ "query": "{ me { tenant } nope }" }));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // A caller's id is kept, in the header and in every error.
    let response = ask(Some("trace-4f2a.9"), Some(analyst("acme"))).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-4f2a.9");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "trace-4f2a.9", "{body}");
    // No id, or one that is not a sensible token: a fresh one.
    for given in [None, Some("has spaces in it"), Some(&*"x".repeat(200))] {
        let response = ask(given, None).await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(is_fresh_id(&id), "{id}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str());
    }
    // Errors the HTTP layer answers itself carry it too.
    let refused = server
        .client
        .post(server.url("/graphql"))
        .header("content-type", "text/plain")
        .header("x-request-id", "plain-1")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "plain-1");
    // Health checks answer with one.
    let health = server.client.get(server.url("/healthz")).send().await.unwrap();
    assert!(is_fresh_id(health.headers()["x-request-id"].to_str().unwrap()));

    // A WebSocket's errors carry the id of the request that opened it.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&analyst("acme")).await;
    ws.subscribe("1", "subscription { nope }", json!({})).await;
    let WsEvent::Message(answer) = ws.next(10).await else { panic!("an answer") };
    let errors = if answer["type"] == "error" { &answer["payload"] } else { &answer["payload"]["errors"] };
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    assert!(errors[0]["extensions"]["requestId"].as_str().is_some_and(is_fresh_id), "{answer}");
}

/// `serve` writing to a pipe logs JSON lines, no colours, each line of a
/// request naming its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_naming_the_request() {
    use tokio::io::AsyncBufReadExt;
    let dir = std::env::temp_dir().join(format!("casebook-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("logs.db").display()))
        .env("CASEBOOK_JWT_SECRET", "log-test-secret")
        .env("CASEBOOK_LOG", "info,tower_http=debug")
        .env_remove("CASEBOOK_LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || {
        tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap()
    };
    // Serving is logged once the listener is bound, with the address the system gave it.
    let addr = loop {
        let line = next_line().await;
        assert!(!line.contains('\u{1b}'), "no colours in a pipe: {line}");
        let entry: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Some(addr) = logged_addr(&entry, "serving") {
            break addr;
        }
    };
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{addr}/graphql"))
        .header("x-request-id", "find-me-in-the-log")
        .json(&json!({ "query": "{ me { tenant } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "find-me-in-the-log");
    loop {
        let line = next_line().await;
        let entry: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let spans = entry["spans"].as_array().cloned().unwrap_or_default();
        if spans.iter().any(|s| s["request_id"] == "find-me-in-the-log") {
            assert!(entry["timestamp"].is_string() && entry["level"].is_string(), "{entry}");
            break;
        }
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A deploy: SIGTERM with a live subscription and a request in flight.
async fn sigterm_closes_sockets_finishes_requests_and_exits_0(backend: Backend) {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let mut server = Process::start(backend).await;
    let analyst = analyst("acme");
    let case =
        gql_at(&server.addr, &analyst, "mutation { createCase(input: { title: \"Deploy\" }) { id } }", json!({})).await;
    let case_id = case["createCase"]["id"].as_str().unwrap().to_owned();

    // A live subscription that has received a comment.
    let mut request = format!("ws://{}/graphql", server.addr).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {analyst}") } })))
        .await
        .unwrap();
    // From the newest entry on: a comment committed before the subscription is registered is replayed.
    let newest = "query($id: ID!) { case(id: $id) { activity(first: 1) { edges { cursor } } } }";
    let cursor = gql_at(&server.addr, &analyst, newest, json!({ "id": case_id })).await["case"]["activity"]["edges"][0]
        ["cursor"]
        .clone();
    let subscribe = "subscription($id: ID!, $after: String) { caseActivity(caseId: $id, after: $after) { ... on Comment { body } } }";
    let variables = json!({ "id": case_id, "after": cursor });
    ws.send(send(json!({ "id": "1", "type": "subscribe", "payload": { "query": subscribe, "variables": variables } })))
        .await
        .unwrap();
    let next_text = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), ws.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str::<Value>(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return frame.map(|f| json!({ "close": u16::from(f.code), "reason": f.reason.to_string() }));
            }
            Some(Ok(_)) => continue,
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(next_text(&mut ws).await.unwrap()["type"], "connection_ack");
    // Comments until one arrives: the subscription is live from some moment on.
    let comment = "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }";
    gql_at(&server.addr, &analyst, comment, json!({ "i": { "caseId": case_id, "body": "before the deploy" } })).await;
    let first = next_text(&mut ws).await.unwrap();
    assert_eq!(first["payload"]["data"]["caseActivity"]["body"], "before the deploy", "{first}");

    // A request in flight: its head sent with `Expect: 100-continue`; the
    // server's "100 Continue" says it is reading the body, which is held back.
    let body = json!({ "query": "{ me { tenant } }" }).to_string();
    let mut slow = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAuthorization: Bearer {analyst}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        server.addr,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(20), slow.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(read, 1, "the server closed the connection");
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&interim));

    server.terminate();
    let closed = next_text(&mut ws).await.unwrap();
    assert_eq!(closed["close"], 1001, "{closed}");
    // New connections are refused once the listener is closed.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&server.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(refused, "new connections are refused while draining");
    // The request in flight still gets its answer.
    slow.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), slow.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#"{"data":{"me":{"tenant":"acme"}}}"#), "{answer}");
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), server.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
}

both_backends!(sigterm_closes_sockets_finishes_requests_and_exits_0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_is_not_ready() {
    let server = TestServer::start(Backend::Sqlite).await;
    assert_eq!(server.client.get(server.url("/readyz")).send().await.unwrap().status(), 200);
    server.state.drain();
    let answer = server.client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.text().await.unwrap(), "shutting down");
}

/// `/metrics` on its own listener, in the Prometheus text format.
async fn metrics_are_served_on_their_own_listener(backend: Backend) {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let server = Process::start_with(backend, true).await;
    let metrics_addr = server.metrics_addr.clone().expect("the metrics listener is logged");
    let client = reqwest::Client::new();
    let analyst = analyst("acme");
    let ask = |body: Value, token: Option<&str>| {
        let mut request = client.post(format!("http://{}/graphql", server.addr)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    ask(json!({ "query": "query Me { me { tenant } }", "operationName": "Me" }), Some(&analyst)).await.unwrap();
    ask(json!({ "query": "{ me { tenant } }" }), Some(&analyst)).await.unwrap();
    ask(json!({ "query": "{ me { tenant } }" }), None).await.unwrap();
    let mut request = format!("ws://{}/graphql", server.addr).into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::Text(
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {analyst}") } })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();

    let scrape = || async {
        let answer = client.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap();
        assert_eq!(answer.headers()["content-type"], "text/plain; version=0.0.4");
        answer.text().await.unwrap()
    };
    // The socket is counted once its task runs: scrape until it shows.
    let mut text = scrape().await;
    for _ in 0..100 {
        if text.contains("casebook_websockets 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        text = scrape().await;
    }
    for expected in [
        r#"casebook_graphql_operations_total{operation="Me",type="query",outcome="OK"} 1"#,
        r#"casebook_graphql_operations_total{operation="anonymous",type="query",outcome="OK"} 1"#,
        r#"casebook_graphql_operations_total{operation="refused",type="unknown",outcome="UNAUTHENTICATED"} 1"#,
        r#"casebook_refused_total{reason="UNAUTHENTICATED"} 1"#,
        r#"casebook_http_requests_total{route="/graphql",status="200"}"#,
        r#"casebook_http_request_duration_seconds_bucket{route="/graphql",le="0.005"}"#,
        r#"casebook_graphql_operation_duration_seconds_count{operation="Me",type="query"} 1"#,
        "# TYPE casebook_graphql_operations_total counter",
        "# HELP casebook_db_pool_wait_seconds",
        "casebook_db_pool_size ",
        "casebook_db_pool_in_use ",
        "casebook_websockets 1",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

both_backends!(metrics_are_served_on_their_own_listener);

/// True for a log line written while handling the request with this id.
fn of_request(entry: &Value, id: &str) -> bool {
    entry["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s["request_id"] == id))
}

/// POSTs a named operation with a request id.
async fn run_as(addr: &str, id: &str, token: &str, query: &str, name: &str) -> Value {
    let body = json!({ "query": query, "operationName": name });
    let request = reqwest::Client::new().post(format!("http://{addr}/graphql")).header("x-request-id", id);
    request.bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap()
}

const QUEUE: &str = "query Queue { cases(first: 10) { nodes { id title tasks { title } assignee { displayName } } } }";
const ME: &str = "query Me { me { tenant } }";

/// Each operation past the threshold is logged with its name, duration and
/// the statements it ran, counted per request even when requests overlap.
async fn slow_operations_are_logged_with_their_statement_counts(backend: Backend) {
    let mut server = Process::start_configured(backend, false, &[("CASEBOOK_SLOW_OPERATION_MS", "0")], &[]).await;
    let analyst = analyst("acme");
    for n in 0..3 {
        let created =
            gql_at(&server.addr, &analyst, "mutation { createCase(input: { title: \"Beacon\" }) { id } }", json!({}))
                .await;
        let case_id = created["createCase"]["id"].clone();
        for t in 0..2 {
            let task = json!({ "input": { "caseId": case_id, "title": format!("task {n}.{t}") } });
            gql_at(
                &server.addr,
                &analyst,
                "mutation ($input: CreateTaskInput!) { createTask(input: $input) { id } }",
                task,
            )
            .await;
        }
    }

    let answer = run_as(&server.addr, "solo-queue", &analyst, QUEUE, "Queue").await;
    assert_eq!(answer["data"]["cases"]["nodes"].as_array().map(Vec::len), Some(3), "{answer}");
    let line = server.logged(|e| e["fields"]["message"] == "slow operation" && of_request(e, "solo-queue")).await;
    let fields = &line["fields"];
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["target"], "casebook::slow", "{line}");
    assert_eq!(
        (fields["operation"].as_str(), fields["type"].as_str(), fields["outcome"].as_str()),
        (Some("Queue"), Some("query"), Some("OK")),
        "{line}"
    );
    assert!(fields["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{line}");
    let queue_statements = fields["statements"].as_u64().unwrap();
    // The nested page costs a constant handful: the cases, their tasks, and little else.
    assert!((2..=8).contains(&queue_statements), "{line}");
    run_as(&server.addr, "solo-me", &analyst, ME, "Me").await;
    let line = server.logged(|e| e["fields"]["message"] == "slow operation" && of_request(e, "solo-me")).await;
    let me_statements = line["fields"]["statements"].as_u64().unwrap();
    assert!(me_statements < queue_statements, "{line}");
    // Without operationName, the document's only operation names it.
    let request =
        reqwest::Client::new().post(format!("http://{}/graphql", server.addr)).header("x-request-id", "unnamed");
    request.bearer_auth(&analyst).json(&json!({ "query": ME })).send().await.unwrap();
    let line = server.logged(|e| e["fields"]["message"] == "slow operation" && of_request(e, "unnamed")).await;
    assert_eq!(line["fields"]["operation"], "Me", "{line}");

    // Overlapping requests: each is charged its own statements only.
    let runs = (0..6).map(|n| {
        let (addr, analyst) = (server.addr.clone(), analyst.clone());
        async move {
            let (query, name) = if n % 2 == 0 { (QUEUE, "Queue") } else { (ME, "Me") };
            run_as(&addr, &format!("overlap-{n}"), &analyst, query, name).await
        }
    });
    futures_util::future::join_all(runs).await;
    let mut seen = std::collections::HashMap::new();
    while seen.len() < 6 {
        let line = server.logged(|e| e["fields"]["message"] == "slow operation").await;
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        let Some(id) = spans.iter().find_map(|s| s["request_id"].as_str().filter(|id| id.starts_with("overlap-")))
        else {
            continue;
        };
        seen.insert(id.to_owned(), line["fields"]["statements"].as_u64().unwrap());
    }
    for (id, statements) in seen {
        let n: u32 = id.trim_start_matches("overlap-").parse().unwrap();
        let expected = if n % 2 == 0 { queue_statements } else { me_statements };
        assert_eq!(statements, expected, "{id}");
    }
}

both_backends!(slow_operations_are_logged_with_their_statement_counts);

/// An operation stopped before it answers (here by the request timeout, while
/// it waits for a write lock held elsewhere) is the slowest of all: logged too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_stopped_by_the_timeout_are_logged_as_slow() {
    use diesel::Connection;
    let env = [("CASEBOOK_SLOW_OPERATION_MS", "500"), ("CASEBOOK_REQUEST_TIMEOUT", "1")];
    let mut server = Process::start_configured(Backend::Sqlite, false, &env, &[]).await;
    let analyst = analyst("acme");
    gql_at(&server.addr, &analyst, ME, json!({})).await; // the caller is on record before the lock
    let casebook::config::DatabaseUrl::Sqlite(path) = &server.database.url else { unreachable!() };
    let mut holder = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    // The server's own writes may hold the lock a moment: wait for it as the service does.
    diesel::connection::SimpleConnection::batch_execute(&mut holder, "PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
        .unwrap();

    let stuck = "mutation Stuck { createCase(input: { title: \"waits for the lock\" }) { id } }";
    let answer = run_as(&server.addr, "stuck", &analyst, stuck, "Stuck").await;
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("took longer than 1 s"), "{answer}");
    let line = server.logged(|e| e["fields"]["message"] == "slow operation" && of_request(e, "stuck")).await;
    let fields = &line["fields"];
    assert_eq!((fields["operation"].as_str(), fields["type"].as_str()), (Some("Stuck"), Some("mutation")), "{line}");
    assert_eq!(fields["outcome"], "CANCELLED", "{line}");
    assert!(fields["duration_ms"].as_f64().is_some_and(|ms| ms >= 1000.0), "{line}");
    diesel::connection::SimpleConnection::batch_execute(&mut holder, "ROLLBACK").unwrap();
}

/// Below the threshold (the default second), nothing is logged as slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_operations_are_not_logged_as_slow() {
    let mut server =
        Process::start_configured(Backend::Sqlite, false, &[("CASEBOOK_LOG", "info,tower_http=debug")], &[]).await;
    run_as(&server.addr, "quick", &analyst("acme"), ME, "Me").await;
    // tower-http logs the response after the operation ran: a slow line would come first.
    let line = server
        .logged(|e| {
            of_request(e, "quick")
                && (e["fields"]["message"] == "slow operation" || e["target"] == "tower_http::trace::on_response")
        })
        .await;
    assert_eq!(line["target"], "tower_http::trace::on_response", "{line}");
}

fn sha256_hex(text: &str) -> String {
    casebook::http::persisted::sha256_hex(text)
}

/// Apollo's automatic persisted queries, and ETags on GET.
async fn persisted_queries_register_once_and_run_by_hash(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = analyst("acme");
    let query = "query Me { me { tenant } }";
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(query) } });
    let post = |body: Value| server.client.post(server.url("/graphql")).bearer_auth(&token).json(&body).send();
    let unknown: Value = post(json!({ "extensions": extensions })).await.unwrap().json().await.unwrap();
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
    let registered: Value =
        post(json!({ "query": query, "extensions": extensions })).await.unwrap().json().await.unwrap();
    assert_eq!(registered["data"]["me"]["tenant"], "acme", "{registered}");
    let by_hash: Value = post(json!({ "extensions": extensions })).await.unwrap().json().await.unwrap();
    assert_eq!(by_hash["data"]["me"]["tenant"], "acme", "{by_hash}");
    let wrong = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex("{ other }") } });
    let lying: Value = post(json!({ "query": query, "extensions": wrong })).await.unwrap().json().await.unwrap();
    assert_code(&lying, "BAD_USER_INPUT");
    // Who asks comes first: an anonymous probe learns nothing and stores nothing;
    // another tenant's caller does not find what acme ran.
    let anonymous = server.post_json(None, &json!({ "extensions": extensions })).await;
    assert_code(&anonymous, "UNAUTHENTICATED");
    let probe = |token: String| {
        server.client.post(server.url("/graphql")).bearer_auth(token).json(&json!({ "extensions": extensions })).send()
    };
    let elsewhere: Value = probe(analyst("globex")).await.unwrap().json().await.unwrap();
    assert_code(&elsewhere, "PERSISTED_QUERY_NOT_FOUND");
    let secret_search = "query Find { search(query: \"project nightingale\") { totalCount } }";
    let secret_hash = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(secret_search) } });
    let stored = server.post_json(None, &json!({ "query": secret_search, "extensions": secret_hash })).await;
    assert_code(&stored, "UNAUTHENTICATED");
    let not_stored: Value = post(json!({ "extensions": secret_hash })).await.unwrap().json().await.unwrap();
    assert_code(&not_stored, "PERSISTED_QUERY_NOT_FOUND");

    // GET by hash: an ETag, and 304 when the client has it.
    let get = |etag: Option<String>| {
        let mut request = server
            .client
            .get(server.url("/graphql"))
            .query(&[("extensions", extensions.to_string())])
            .bearer_auth(&token);
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        request.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    assert_eq!(first.json::<Value>().await.unwrap()["data"]["me"]["tenant"], "acme");
    let again = get(Some(etag.clone())).await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.text().await.unwrap().is_empty());
    assert_eq!(get(Some("\"stale\"".into())).await.unwrap().status(), 200);

    // Over a WebSocket, a subscribe by hash alone (no query at all) is a
    // message of the protocol: answered for its id, the socket left open.
    create_case(&server, &token, "Watched by hash", json!({})).await;
    let watch = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(WATCH) } });
    // From a cursor: the comment is replayed however late a subscription starts.
    let variables = json!({ "caseId": "1000", "after": latest_cursor(&server, &token, "1000").await });
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&token).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "extensions": watch, "variables": variables } }))
        .await;
    match ws.next(10).await {
        WsEvent::Message(m) => {
            assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("error"), Some("1")), "{m}");
            assert_eq!(m["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{m}");
        }
        closed => panic!("expected an error for the subscription, got {closed:?}"),
    }
    let registering = json!({ "query": WATCH, "extensions": watch, "variables": variables });
    ws.send(json!({ "id": "2", "type": "subscribe", "payload": registering })).await;
    ws.send(json!({ "id": "3", "type": "subscribe", "payload": { "extensions": watch, "variables": variables } }))
        .await;
    comment(&server, &token, "1000", "seen by hash").await;
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 2 {
        match ws.next(10).await {
            WsEvent::Message(m) if m["type"] == "next" => {
                seen.insert(m["id"].as_str().unwrap().to_owned(), m["payload"]["data"]["caseActivity"]["body"].clone());
            }
            other => panic!("expected both subscriptions' comment, got {other:?}"),
        }
    }
    assert_eq!(seen, [("2".to_owned(), json!("seen by hash")), ("3".to_owned(), json!("seen by hash"))].into());
}

/// With a trusted-documents manifest only its documents run, by id.
async fn only_trusted_documents_run_when_a_manifest_is_given(backend: Backend) {
    let me = "query Me { me { tenant } }";
    let manifest: std::collections::HashMap<String, String> = [(sha256_hex(me), me.to_owned())].into();
    let server = TestServer::start_with(backend, |s| s.trusted_documents = Some(std::sync::Arc::new(manifest))).await;
    let token = analyst("acme");
    let post = |body: Value| server.client.post(server.url("/graphql")).bearer_auth(&token).json(&body).send();
    for id_field in ["documentId", "doc_id", "id"] {
        let answer: Value = post(json!({ id_field: sha256_hex(me) })).await.unwrap().json().await.unwrap();
        assert_eq!(answer["data"]["me"]["tenant"], "acme", "{id_field}: {answer}");
    }
    let by_hash = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(me) } } });
    let answer: Value = post(by_hash).await.unwrap().json().await.unwrap();
    assert_eq!(answer["data"]["me"]["tenant"], "acme");
    for refused in [
        json!({ "query": me }),
        json!({ "documentId": "not-in-the-manifest" }),
        json!({ "query": "{ statuses { id } }" }),
    ] {
        let answer: Value = post(refused.clone()).await.unwrap().json().await.unwrap();
        assert_code(&answer, "BAD_USER_INPUT");
        assert!(answer["errors"][0]["message"].as_str().unwrap().starts_with("documentId:"), "{refused}: {answer}");
    }
}

both_backends!(persisted_queries_register_once_and_run_by_hash, only_trusted_documents_run_when_a_manifest_is_given);
