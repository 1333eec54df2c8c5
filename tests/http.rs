//! The HTTP surface: GET for queries only, CSRF and batch refusal, body limits, health.

use crate::common::*;
use serde_json::{Value, json};

async fn get_serves_queries_and_refuses_mutations(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = admin("acme");
    let response = server
        .client
        .get(server.url("/graphql"))
        .query(&[("query", "{ me { tenant } }")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["data"]["me"]["tenant"], "acme");

    let mutation = r#"mutation { createStatus(input: {name: "Via GET", category: OPEN}) { id } }"#;
    let response = server
        .client
        .get(server.url("/graphql"))
        .query(&[("query", mutation)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_code(&response.json::<Value>().await.unwrap(), "BAD_USER_INPUT");
    // Selecting the mutation by name out of a document is refused too.
    let document = format!("query Q {{ me {{ tenant }} }} {}", mutation.replacen("mutation", "mutation M", 1));
    let response = server
        .client
        .get(server.url("/graphql"))
        .query(&[("query", document.as_str()), ("operationName", "M")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let statuses = server.ok(&token, "{ statuses { name } }", json!({})).await;
    assert!(!statuses.to_string().contains("Via GET"), "nothing was created");
    // Variables are a JSON map (or null), over GET as in a POST body.
    for (variables, status) in [("[1]", 400), ("\"x\"", 400), ("null", 200), ("{\"n\":1}", 200)] {
        let response = server
            .client
            .get(server.url("/graphql"))
            .query(&[("query", "{ me { tenant } }"), ("variables", variables)])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "variables={variables}");
    }
}

async fn simple_content_types_batches_and_huge_bodies_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = admin("acme");
    let body =
        json!({ "query": r#"mutation { createStatus(input: {name: "CSRF", category: OPEN}) { id } }"# }).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let response = server
            .client
            .post(server.url("/graphql"))
            .header("content-type", content_type)
            .bearer_auth(&token)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
        assert_code(&response.json::<Value>().await.unwrap(), "BAD_USER_INPUT");
    }
    let batch = json!([{ "query": "{ me { tenant } }" }, { "query": "{ me { tenant } }" }]);
    let response = server.client.post(server.url("/graphql")).bearer_auth(&token).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_code(&response.json::<Value>().await.unwrap(), "BAD_USER_INPUT");

    // A declared length over the limit is answered 413 before the body is read.
    assert_eq!(post_huge_body(&server, &token, false).await, Some(413));
    // Sending the whole body anyway: HTTP lets the server answer 413 and close
    // before it has read everything, so the client may see the 413 or a reset.
    assert!(matches!(post_huge_body(&server, &token, true).await, Some(413) | None));

    let statuses = server.ok(&token, "{ statuses { name } }", json!({})).await;
    assert!(!statuses.to_string().contains("CSRF"), "nothing was created");
    // A JSON POST with an Apollo preflight header is fine.
    let response = server
        .client
        .post(server.url("/graphql"))
        .header("content-type", "application/json; charset=utf-8")
        .bearer_auth(&token)
        .body(json!({ "query": "{ me { tenant } }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["data"]["me"]["tenant"], "acme");
}

/// POSTs a 2 MiB body on a connection of its own (the server closes it) and
/// returns the status the server answered, or `None` when the connection was
/// reset before the answer could be read.
async fn post_huge_body(server: &TestServer, token: &str, send_body: bool) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let length = 2 * 1024 * 1024;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\ncontent-length: {length}\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    if send_body {
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..length / chunk.len() {
            if stream.write_all(&chunk).await.is_err() {
                break; // the server answered and closed: allowed
            }
        }
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Ok(Err(e)) if answer.is_empty() => {
                assert!(
                    matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
                    "{e}"
                );
                return None;
            }
            Ok(Err(_)) => break,
            Err(_) => panic!("no answer to an oversized body within 10 s"),
        }
    }
    let status_line = String::from_utf8_lossy(&answer);
    Some(status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("an HTTP status line"))
}

async fn health_and_readiness(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(server.client.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(server.client.get(server.url("/readyz")).send().await.unwrap().status(), 200);
    let graphiql = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql.text().await.unwrap().to_lowercase().contains("graphiql"));
}

/// A server whose database does not answer is alive but not ready.
async fn readyz_is_503_when_the_database_does_not_answer(backend: Backend) {
    let url: casebook::config::DatabaseUrl = match backend {
        Backend::Sqlite => "sqlite:///nonexistent-dir/for/casebook.db".parse().unwrap(),
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let base = admin.rsplit_once('/').unwrap().0.to_owned();
            format!("{base}/casebook_no_such_database").parse().unwrap()
        }
    };
    let db = casebook::db::Db::connect(&url).unwrap();
    let verifier = casebook::auth::TokenVerifier::from_config(&jwt()).unwrap().unwrap();
    let state = casebook::AppState::new(db, &url, verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, casebook::app(state)).await });
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("http://{addr}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("http://{addr}/readyz")).send().await.unwrap().status(), 503);
    // A request that needs the database fails cleanly with INTERNAL, details withheld.
    let body: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(admin("acme"))
        .json(&json!({ "query": "{ statuses { id } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_code(&body, "INTERNAL");
    assert_eq!(body["errors"][0]["message"], "internal error");
}

both_backends!(
    get_serves_queries_and_refuses_mutations,
    simple_content_types_batches_and_huge_bodies_are_refused,
    health_and_readiness,
    readyz_is_503_when_the_database_does_not_answer,
);
