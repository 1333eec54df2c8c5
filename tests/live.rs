//! Live activity over WebSocket, as the graphql-ws and subscriptions-transport-ws
//! clients see it: delivery in order, resume without gap or duplicate, tenants
//! and permissions, many watchers, several replicas, a dropped listener.

use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

fn body_of(payload: &Value) -> String {
    let event = &payload["data"]["caseActivity"];
    event["body"].as_str().map_or_else(|| event["action"].as_str().unwrap_or("?").to_owned(), str::to_owned)
}

async fn comments_arrive_live_in_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Watched", json!({})).await;
    for (protocol, priority) in PROTOCOLS.into_iter().zip(["HIGH", "LOW"]) {
        let mut ws = server.ws(protocol).await;
        ws.init(&reader("acme")).await;
        let after = latest_cursor(&server, &analyst, "1000").await;
        ws.subscribe("1", WATCH, json!({ "caseId": "1000", "after": after })).await;
        for n in 0..5 {
            comment(&server, &analyst, "1000", &format!("{protocol} {n}")).await;
        }
        update_case(&server, &analyst, json!({ "id": "1000", "priority": priority })).await;
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(body_of(&ws.payload(10).await));
        }
        let mut expected: Vec<String> = (0..5).map(|n| format!("{protocol} {n}")).collect();
        expected.push("CASE_UPDATED".into());
        assert_eq!(got, expected);
    }
}

async fn a_watch_without_a_cursor_starts_at_the_present(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Watched", json!({})).await;
    comment(&server, &analyst, "1000", "before").await;
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    ws.subscribe("1", WATCH, json!({ "caseId": "1000" })).await;
    // The watch is set up asynchronously: probe until one comment arrives.
    let mut probes = 0;
    let first = loop {
        comment(&server, &analyst, "1000", &format!("probe {probes}")).await;
        probes += 1;
        if let Some(payload) = ws.try_payload(500).await {
            break body_of(&payload);
        }
        assert!(probes < 20, "no comment arrived");
    };
    let seen: usize = first.strip_prefix("probe ").and_then(|n| n.parse().ok()).expect("nothing from before the watch");
    for n in 0..3 {
        comment(&server, &analyst, "1000", &format!("live {n}")).await;
    }
    // From the first delivered entry on, every later one, in order, once.
    let expected: Vec<String> =
        (seen + 1..probes).map(|n| format!("probe {n}")).chain((0..3).map(|n| format!("live {n}"))).collect();
    let mut got = Vec::new();
    for _ in 0..expected.len() {
        got.push(body_of(&ws.payload(10).await));
    }
    assert_eq!(got, expected);
    assert!(ws.try_payload(300).await.is_none(), "nothing more");
}

async fn a_resumed_subscription_replays_then_streams_without_gap_or_duplicate(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Resumable", json!({})).await;
    for n in 0..6 {
        comment(&server, &analyst, "1000", &format!("before {n}")).await;
    }
    // The cursor of "before 2", as Case.activity shows it.
    let log = server
        .ok(
            &analyst,
            "{ case(id: \"1000\") { activity(first: 100) { edges { cursor node { ... on Comment { body } } } } } }",
            json!({}),
        )
        .await;
    let edges = log["case"]["activity"]["edges"].as_array().unwrap();
    let cursor = edges.iter().find(|e| e["node"]["body"] == "before 2").unwrap()["cursor"].clone();

    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    ws.subscribe("r", WATCH, json!({ "caseId": "1000", "after": cursor })).await;
    // Writes racing the replay must still come exactly once, in order.
    let writer = {
        let (base, token) = (server.url("/graphql"), analyst.clone());
        let client = server.client.clone();
        tokio::spawn(async move {
            for n in 0..10 {
                let body = json!({ "query": "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }", "variables": { "i": { "caseId": "1000", "body": format!("after {n}") } } });
                client.post(&base).bearer_auth(&token).json(&body).send().await.unwrap();
            }
        })
    };
    let mut got = Vec::new();
    for _ in 0..13 {
        got.push(body_of(&ws.payload(10).await));
    }
    writer.await.unwrap();
    let expected: Vec<String> =
        (3..6).map(|n| format!("before {n}")).chain((0..10).map(|n| format!("after {n}"))).collect();
    assert_eq!(got, expected);
}

async fn subscriptions_are_authenticated_and_tenant_scoped(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.init_timeout = Duration::from_millis(500)).await;
    create_case(&server, &analyst("acme"), "Acme only", json!({})).await;

    // No connection_init in time: 4408.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.expect_close(4408, 5).await;
    // Subscribe before the handshake: 4401.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.subscribe("1", WATCH, json!({ "caseId": "1000" })).await;
    ws.expect_close(4401, 5).await;
    // What is no message of the protocol, before the handshake or after: 4400.
    let unreadable = [
        json!("not a message"),
        json!({ "type": "bogus" }),
        json!({ "type": "subscribe", "id": "1" }),
        json!({ "type": "subscribe", "payload": { "query": WATCH } }),
        json!({ "type": "complete" }),
    ];
    for protocol in PROTOCOLS {
        for message in &unreadable {
            for initialised in [false, true] {
                let mut ws = server.ws(protocol).await;
                if initialised {
                    ws.init(&reader("acme")).await;
                }
                ws.send(message.clone()).await;
                ws.expect_close(4400, 5).await;
            }
        }
    }
    // No token, a bad token: 4403 (legacy protocol: connection_error, then close).
    for protocol in PROTOCOLS {
        let mut ws = server.ws(protocol).await;
        ws.send(json!({ "type": "connection_init", "payload": {} })).await;
        ws.expect_close(4403, 5).await;
        let mut ws = server.ws(protocol).await;
        ws.send(json!({ "type": "connection_init", "payload": { "authorization": "Bearer nonsense" } })).await;
        ws.expect_close(4403, 5).await;
    }
    // Another tenant's case is NOT_FOUND at once, never an empty stream.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("globex")).await;
    ws.subscribe("x", WATCH, json!({ "caseId": "1000" })).await;
    let payload = ws.payload(5).await;
    assert_code(&payload, "NOT_FOUND");
    // Without SECURITY_DATA_READ: FORBIDDEN at subscribe time.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&token("nobody", "acme", &[])).await;
    ws.subscribe("y", WATCH, json!({ "caseId": "1000" })).await;
    assert_code(&ws.payload(5).await, "FORBIDDEN");
    // The lower-case key works and a reader may watch.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", reader("acme")) } }))
        .await;
    assert!(matches!(ws.next(5).await, WsEvent::Message(m) if m["type"] == "connection_ack"));
    let after = latest_cursor(&server, &reader("acme"), "1000").await;
    ws.subscribe("z", WATCH, json!({ "caseId": "1000", "after": after })).await;
    comment(&server, &analyst("acme"), "1000", "seen by the reader").await;
    assert_eq!(body_of(&ws.payload(10).await), "seen by the reader");
}

async fn an_expiring_token_ends_the_connection(backend: Backend) {
    let server = TestServer::start(backend).await;
    let claims =
        json!({ "sub": "brief", "tid": "acme", "roles": ["reader"], "exp": jsonwebtoken::get_current_timestamp() + 2 });
    let brief =
        jsonwebtoken::encode(&Default::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()))
            .unwrap();
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&brief).await;
    ws.expect_close(4403, 10).await;
}

async fn fifty_watchers_all_receive_one_comment(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Crowded", json!({})).await;
    let after = latest_cursor(&server, &analyst, "1000").await;
    let mut watchers = Vec::new();
    for n in 0..50 {
        let mut ws = server.ws(PROTOCOLS[n % 2]).await;
        ws.init(&reader("acme")).await;
        ws.subscribe("w", WATCH, json!({ "caseId": "1000", "after": after })).await;
        watchers.push(ws);
    }
    comment(&server, &analyst, "1000", "to everyone").await;
    for ws in &mut watchers {
        assert_eq!(body_of(&ws.payload(10).await), "to everyone");
    }
}

/// Concurrent writers on one case, and a watcher that reconnects with its last
/// cursor again and again: every entry once, in order.
async fn concurrent_writers_and_a_reconnecting_watcher_lose_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Busy", json!({})).await;
    let log = server.ok(&analyst, "{ case(id: \"1000\") { activity { edges { cursor } } } }", json!({})).await;
    // Resume after CASE_CREATED, the first entry: every comment must arrive.
    let mut after = log["case"]["activity"]["edges"][0]["cursor"].clone();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (base, token, client) = (server.url("/graphql"), analyst.clone(), server.client.clone());
            tokio::spawn(async move {
                for n in 0..15 {
                    let body = json!({ "query": "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }", "variables": { "i": { "caseId": "1000", "body": format!("w{w} {n}") } } });
                    client.post(&base).bearer_auth(&token).json(&body).send().await.unwrap();
                }
            })
        })
        .collect();
    let query = "subscription($caseId: ID!, $after: String) { caseActivity(caseId: $caseId, after: $after) { id ... on Comment { body } } }";
    let mut seen = Vec::<String>::new();
    while seen.len() < 60 {
        let mut ws = server.ws("graphql-transport-ws").await;
        ws.init(&reader("acme")).await;
        ws.subscribe("c", query, json!({ "caseId": "1000", "after": after })).await;
        for _ in 0..7 {
            if seen.len() == 60 {
                break;
            }
            let payload = ws.payload(15).await;
            seen.push(payload["data"]["caseActivity"]["id"].as_str().unwrap().to_owned());
        }
        // Reconnect after the last entry seen: its cursor comes from the log.
        let last = seen.last().unwrap().clone();
        let log = server
            .ok(&analyst, "{ case(id: \"1000\") { activity(first: 100) { edges { cursor node { id } } } } }", json!({}))
            .await;
        after = log["case"]["activity"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["id"] == last.as_str())
            .unwrap()["cursor"]
            .clone();
        if after.is_null() {
            panic!("no cursor for {last}");
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    // The whole log, oldest first, is exactly what the watcher saw.
    let log = server.ok(&analyst, "{ case(id: \"1000\") { activity(first: 100) { nodes { id } } } }", json!({})).await;
    let mut all: Vec<String> = log["case"]["activity"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    all.reverse();
    assert_eq!(seen, all[1..].to_vec(), "every comment once, in log order");
}

both_backends!(
    comments_arrive_live_in_order,
    a_watch_without_a_cursor_starts_at_the_present,
    a_resumed_subscription_replays_then_streams_without_gap_or_duplicate,
    subscriptions_are_authenticated_and_tenant_scoped,
    an_expiring_token_ends_the_connection,
    fifty_watchers_all_receive_one_comment,
    concurrent_writers_and_a_reconnecting_watcher_lose_nothing,
);

/// Two replicas on one PostgreSQL database: the watcher on one, the writer on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_events_through_postgres() {
    let a = TestServer::start(Backend::Postgres).await;
    let b = TestServer::start_on(Backend::Postgres, a.database.clone()).await;
    let analyst = analyst("acme");
    create_case(&b, &analyst, "Shared", json!({})).await;
    let mut ws = a.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let after = latest_cursor(&a, &analyst, "1000").await;
    ws.subscribe("1", WATCH, json!({ "caseId": "1000", "after": after })).await;
    for n in 0..5 {
        comment(&b, &analyst, "1000", &format!("from b {n}")).await;
    }
    comment(&a, &analyst, "1000", "from a").await;
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(body_of(&ws.payload(10).await));
    }
    assert_eq!(got, ["from b 0", "from b 1", "from b 2", "from b 3", "from b 4", "from a"]);
}

/// The listening connection is killed; what is written meanwhile still arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listener_connection_is_recovered_without_loss() {
    let server = TestServer::start(Backend::Postgres).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Resilient", json!({})).await;
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let after = latest_cursor(&server, &analyst, "1000").await;
    ws.subscribe("1", WATCH, json!({ "caseId": "1000", "after": after })).await;
    comment(&server, &analyst, "1000", "before the drop").await;
    assert_eq!(body_of(&ws.payload(10).await), "before the drop");

    let terminated = terminate_listener(&server).await;
    assert!(terminated >= 1, "the listener session was found");
    for n in 0..5 {
        comment(&server, &analyst, "1000", &format!("during {n}")).await;
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(body_of(&ws.payload(15).await));
    }
    assert_eq!(got, (0..5).map(|n| format!("during {n}")).collect::<Vec<_>>());
    comment(&server, &analyst, "1000", "after").await;
    assert_eq!(body_of(&ws.payload(10).await), "after");
}

async fn terminate_listener(server: &TestServer) -> i64 {
    use diesel::sql_types::{BigInt, Text};
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let casebook::config::DatabaseUrl::Postgres(url) = &server.database.url else { unreachable!() };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = AsyncPgConnection::establish(&postgres_admin_url()).await.unwrap();
    let count: Count = diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = 'casebook_listener' AND datname = $1",
    )
    .bind::<Text, _>(name)
    .get_result(&mut admin)
    .await
    .unwrap();
    count.n
}
