//! The HTTP surface: GET for queries only, CSRF and batch refusal, body limits, health.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
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

    let huge = json!({ "query": "{ me { tenant } }", "variables": { "pad": "x".repeat(2 * 1024 * 1024) } });
    // Its own client: the server closes a connection whose body it did not
    // read, and the shared client might otherwise reuse it for the next call.
    let response =
        reqwest::Client::new().post(server.url("/graphql")).bearer_auth(&token).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);

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
