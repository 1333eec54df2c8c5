//! What operators rely on: request ids from the caller to the log, and log
//! lines a collector can read.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
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
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
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
    // Serving is logged once the listener is bound.
    loop {
        let line = next_line().await;
        assert!(!line.contains('\u{1b}'), "no colours in a pipe: {line}");
        let entry: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if entry["fields"]["message"] == "serving" {
            break;
        }
    }
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
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
