//! Memory a caller can grow is bounded: what a request or a socket makes
//! lives as long as it, and what outlives it has a stated bound. Tested by
//! counting what is kept, not by timing.

use std::time::{Duration, Instant};

use crate::common::process::Process;
use crate::common::*;
use serde_json::{Value, json};

/// Polls `done` until it holds (the server notices a closed socket on its
/// own time); panics after 10 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Subscriptions to cases that do not exist are refused and leave no feed;
/// a feed lives exactly as long as its watchers.
async fn a_feed_lives_as_long_as_its_watchers(backend: Backend) {
    let server = TestServer::start(backend).await;
    create_case(&server, &analyst("acme"), "Watched", json!({})).await;
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    for n in 0..40 {
        ws.subscribe(&format!("missing{n}"), WATCH, json!({ "caseId": (5000 + n).to_string() })).await;
        let refused = ws.next_raw(10).await;
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
        assert_eq!(ws.next_raw(10).await["type"], "complete");
    }
    assert_eq!(server.state.bus().watched_cases(), 0, "no feed is left for a case that does not exist");

    // Another tenant's case is missing too, and leaves nothing either.
    let mut other = server.ws("graphql-transport-ws").await;
    other.init(&reader("globex")).await;
    other.subscribe("theirs", WATCH, json!({ "caseId": "1000" })).await;
    let refused = other.next_raw(10).await;
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert_eq!(server.state.bus().watched_cases(), 0);

    // A real case: fed while watched (the ping answers once the watch is live).
    for id in ["a", "b"] {
        ws.subscribe(id, WATCH, json!({ "caseId": "1000" })).await;
    }
    ws.send(json!({ "type": "ping" })).await;
    ws.pong(10).await;
    assert_eq!(server.state.bus().watched_cases(), 1);
    ws.send(json!({ "id": "a", "type": "complete" })).await;
    ws.send(json!({ "type": "ping" })).await;
    // async-graphql confirms a client's `complete` with one of its own.
    while ws.next_raw(10).await["type"] != "pong" {}
    assert_eq!(server.state.bus().watched_cases(), 1, "one watcher is left");
    drop(ws);
    drop(other);
    let bus = server.state.bus().clone();
    eventually("the feed goes with its last watcher", || bus.watched_cases() == 0).await;
    let state = server.state.clone();
    eventually("closed sockets release their loaders", || state.tenants_with_shared_loaders() == 0).await;
}

/// A query over a WebSocket reads through loaders of its own: nothing it
/// loaded is kept for the next one (a kept cache would answer stale).
async fn queries_over_a_websocket_keep_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    for n in 0..3 {
        create_case(&server, &analyst, &format!("Case {n}"), json!({})).await;
    }
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&analyst).await;
    let page =
        "{ cases(first: 3) { nodes { id title status { name } assignee { id } } } case(id: \"1000\") { title } }";
    let titles = |payload: &Value| payload["data"]["cases"]["nodes"][2]["title"].clone();
    for (n, title) in ["First", "Second", "Third"].into_iter().enumerate() {
        ws.subscribe(&format!("q{n}"), page, json!({})).await;
        let payload = ws.payload(10).await;
        if n > 0 {
            assert_eq!(titles(&payload), json!(["First", "Second", "Third"][n - 1]), "{payload}");
            assert_eq!(payload["data"]["case"]["title"], json!(["First", "Second", "Third"][n - 1]));
        }
        assert!(matches!(ws.next(10).await, WsEvent::Message(m) if m["type"] == "complete"));
        update_case(&server, &analyst, json!({ "id": "1000", "title": title })).await;
    }
    // A subscription's events read current data through the shared, uncached loaders.
    ws.subscribe("live", "subscription { caseActivity(caseId: \"1000\") { case { title } } }", json!({})).await;
    ws.send(json!({ "type": "ping" })).await;
    ws.pong(10).await;
    update_case(&server, &analyst, json!({ "id": "1000", "title": "Fourth" })).await;
    assert_eq!(ws.payload(10).await["data"]["caseActivity"]["case"]["title"], "Fourth");
    update_case(&server, &analyst, json!({ "id": "1000", "title": "Fifth" })).await;
    assert_eq!(ws.payload(10).await["data"]["caseActivity"]["case"]["title"], "Fifth");
}

both_backends!(a_feed_lives_as_long_as_its_watchers, queries_over_a_websocket_keep_nothing);

/// Operation names become metric labels only for operations that were
/// authenticated and admitted, and only names their documents define.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_names_from_refused_callers_make_no_series() {
    let server = Process::start_with(Backend::Sqlite, true).await;
    let metrics_addr = server.metrics_addr.clone().expect("the metrics listener is logged");
    let client = reqwest::Client::new();
    let junk = "J".repeat(200_000);
    for n in 0..20 {
        let name = format!("{junk}{n}");
        let body = json!({ "query": "query Me { me { tenant } }", "operationName": name });
        client.post(format!("http://{}/graphql", server.addr)).json(&body).send().await.unwrap();
        // With a token, a name the document does not define is refused too.
        let answer = post_json(&server.addr, Some(&analyst("acme")), &body).await;
        assert_code(&answer, "BAD_USER_INPUT");
        assert!(answer.to_string().len() < 2_000, "the refusal does not echo the whole name");
    }
    gql_at_ok(&server.addr, "query Dashboard { me { tenant } }").await;
    let text = client.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("JJJJ"), "no refused name is a label");
    assert!(text.len() < 64 * 1024, "/metrics stays small: {} bytes", text.len());
    for expected in [
        r#"casebook_graphql_operations_total{operation="refused",type="unknown",outcome="UNAUTHENTICATED"} 20"#,
        r#"casebook_graphql_operations_total{operation="refused",type="unknown",outcome="BAD_USER_INPUT"} 20"#,
        r#"casebook_graphql_operations_total{operation="Dashboard",type="query",outcome="OK"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

async fn gql_at_ok(addr: &str, query: &str) {
    crate::common::process::gql_at(addr, &analyst("acme"), query, json!({})).await;
}

/// A case holds at most 1,000 observables, and its search entry stays within
/// the database's limits however much text they carry: four adds of 100
/// values of 4 KiB each (which made PostgreSQL's tsvector overflow) work and
/// stay searchable from the start, and an add past the cap is refused.
async fn observables_per_case_are_bounded_and_so_is_their_search_entry(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Indicators galore", json!({})).await;
    let add = "mutation($i: AddObservablesInput!) { addObservables(input: $i) { case { id } } }";
    let batch = |round: usize| -> Vec<Value> {
        (0..100)
            .map(|n| {
                let value: String = (0..700).map(|k| format!("r{round}v{n}t{k}")).collect::<Vec<_>>().join(".");
                json!({ "type": "OTHER", "value": value.chars().take(4096).collect::<String>() })
            })
            .collect()
    };
    for round in 0..4 {
        let answer =
            server.gql(Some(&analyst), add, json!({ "i": { "caseId": "1000", "observables": batch(round) } })).await;
        assert!(answer.get("errors").is_none(), "round {round}: {answer}");
    }
    let found = server.ok(&analyst, "{ cases(filter: { search: \"r0v0t1\" }) { totalCount } }", json!({})).await;
    assert_eq!(found["cases"]["totalCount"], 1, "the first values stay searchable");
    for round in 4..10 {
        server.ok(&analyst, add, json!({ "i": { "caseId": "1000", "observables": batch(round) } })).await;
    }
    let refused = server.gql(Some(&analyst), add, json!({ "i": { "caseId": "1000", "observables": batch(10) } })).await;
    assert_code(&refused, "BAD_USER_INPUT");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("observables:") && message.contains("at most 1000"), "{message}");
}

both_backends!(observables_per_case_are_bounded_and_so_is_their_search_entry);
