//! Secrets stay secret: what the service prints of its configuration, and
//! what it stores of webhooks' signing secrets.

use crate::common::process::{Process, database_url};
use crate::common::*;
use serde_json::json;

const PASSWORD: &str = "hunter2-Secret";

/// The PostgreSQL password, given as `user:password@` or as `?password=`,
/// is never printed: not at start, not in the ready line, not by `migrate`
/// or `demo`. (The test server trusts local connections, so any password works.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_passwords_are_never_printed() {
    let server = Process::start_url_query(Backend::Postgres, false, &[], &[], &format!("password={PASSWORD}")).await;
    let started: Vec<String> =
        server.startup.iter().map(|line| line.to_string()).chain(server.printed.iter().cloned()).collect();
    let ready = started.iter().find(|line| line.contains("database ready")).expect("the ready line");
    assert!(ready.contains("password=***"), "{ready}");
    assert!(started.iter().all(|line| !line.contains(PASSWORD)), "{started:#?}");

    let database = TestDatabase::create(Backend::Postgres).await;
    let url = database_url(&database).replacen("postgres://postgres@", &format!("postgres://postgres:{PASSWORD}@"), 1);
    let url = format!("{url}?sslmode=disable&password={PASSWORD}");
    for args in [vec!["migrate", "--database-url", &url], vec!["demo", "--cases", "10", "--database-url", &url]] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook")).args(&args).output().await.unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{args:?}: {said}");
        assert!(!said.contains(PASSWORD), "{args:?} printed the password: {said}");
        assert!(said.contains("postgres:***@"), "{args:?}: {said}");
    }
}

/// The secret columns of the tenant's webhooks, as stored.
async fn stored_secrets(database: &TestDatabase) -> Vec<String> {
    let rows = match &database.url {
        casebook::config::DatabaseUrl::Sqlite(path) => {
            let mut conn = crate::common::sqlite_beside_server(path);
            diesel::RunQueryDsl::load::<Stored>(
                diesel::sql_query("SELECT secret AS value FROM webhooks ORDER BY id"),
                &mut conn,
            )
            .unwrap()
        }
        casebook::config::DatabaseUrl::Postgres(url) => {
            use diesel_async::{AsyncConnection, RunQueryDsl};
            let mut conn = diesel_async::AsyncPgConnection::establish(url).await.unwrap();
            diesel::sql_query("SELECT secret AS value FROM webhooks ORDER BY id")
                .load::<Stored>(&mut conn)
                .await
                .unwrap()
        }
    };
    rows.into_iter().map(|r| r.value).collect()
}

/// Writes a webhook's secret column as a database from before sealing held it.
async fn store_plain_secret(database: &TestDatabase, secret: &str) {
    let sql = format!("UPDATE webhooks SET secret = '{secret}'");
    match &database.url {
        casebook::config::DatabaseUrl::Sqlite(path) => {
            let mut conn = crate::common::sqlite_beside_server(path);
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).unwrap();
        }
        casebook::config::DatabaseUrl::Postgres(url) => {
            use diesel_async::{AsyncConnection, RunQueryDsl};
            let mut conn = diesel_async::AsyncPgConnection::establish(url).await.unwrap();
            diesel::sql_query(sql).execute(&mut conn).await.unwrap();
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

fn keys(current: &str, previous: &[&str]) -> std::sync::Arc<casebook::domain::webhook::SealingKeys> {
    use casebook::domain::webhook::{SealingKey, SealingKeys};
    let parse = |key: &str| SealingKey::parse(key).unwrap();
    std::sync::Arc::new(SealingKeys { current: parse(current), previous: previous.iter().map(|k| parse(k)).collect() })
}

/// Webhook secrets are stored sealed under the configured key, those from
/// before sealing are sealed at start, a key rotation reseals them, and a
/// deployment that lacks the key they need says so and does not start.
async fn webhook_secrets_are_sealed_at_rest(backend: Backend) {
    use crate::webhooks::{Receiver, verify_with_node, webhook_to};
    use std::sync::Arc;
    let database = Arc::new(TestDatabase::create(backend).await);
    let loopback = |s: &mut casebook::http::Settings| s.webhooks.targets.allow_private = true;
    let first = TestServer::start_adjusted(backend, database.clone(), loopback).await;
    let mut receiver = Receiver::start().await;
    let (_, secret) = webhook_to(&first, &receiver.url, &["CASE_CREATED"]).await;
    let stored = stored_secrets(&database).await;
    assert!(stored[0].starts_with("v1:") && !stored[0].contains(&secret[6..]), "{stored:?}");
    drop(first);

    // A database from before sealing: the secret in clear is sealed at start.
    store_plain_secret(&database, &secret).await;
    let second = TestServer::start_adjusted(backend, database.clone(), loopback).await;
    assert!(stored_secrets(&database).await[0].starts_with("v1:"));
    create_case(&second, &analyst("acme"), "Signed as before", json!({})).await;
    verify_with_node(&secret, &[receiver.next().await]);
    drop(second);

    // A new key, the old one kept as previous: resealed under the new one.
    let new_key = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
    let rotated = keys(new_key, &[SEALING_KEY]);
    let new_id = rotated.current.id().to_owned();
    let third = TestServer::start_adjusted(backend, database.clone(), move |s| {
        s.webhooks.targets.allow_private = true;
        s.webhooks.keys = Some(rotated);
    })
    .await;
    assert!(stored_secrets(&database).await[0].starts_with(&format!("v1:{new_id}:")));
    create_case(&third, &analyst("acme"), "Signed after rotation", json!({})).await;
    verify_with_node(&secret, &[receiver.next().await]);
    drop(third);

    // Without the key the secrets need, or without any key: no start, and why.
    let mut settings = casebook::http::Settings::default();
    settings.webhooks.keys = Some(keys(SEALING_KEY, &[]));
    let refused = casebook::server::prepare(&database.url, &jwt(), None, settings).await.err().unwrap();
    assert!(format!("{refused:#}").contains(&new_id), "{refused:#}");
    let refused = casebook::server::prepare(&database.url, &jwt(), None, Default::default()).await.err().unwrap();
    assert!(format!("{refused:#}").contains("CASEBOOK_SECRET_KEY"), "{refused:#}");

    // A deployment without a key and without webhooks runs, and says what creating one needs.
    let keyless = TestServer::start_with(backend, |s| s.webhooks.keys = None).await;
    let query = "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }";
    let input = json!({ "i": { "url": "https://93.184.215.14/hook", "eventTypes": ["ALL"] } });
    let answer = keyless.gql(Some(&admin("acme")), query, input).await;
    assert_code(&answer, "INTERNAL");
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("CASEBOOK_SECRET_KEY"), "{answer}");
}

both_backends!(webhook_secrets_are_sealed_at_rest);
