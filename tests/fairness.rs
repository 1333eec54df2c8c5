//! One caller's work cannot starve another's: a burst of subscriptions,
//! slow webhook endpoints, and caps that hold under concurrency.

use crate::common::*;
use serde_json::json;

/// One socket sends 400 `subscribe`s for one case at once (the socket's cap
/// lets 100 through); its `ping` is answered once those 100 are live, and
/// each of them receives the comment committed after that.
async fn a_burst_of_subscriptions_costs_what_refusing_it_costs(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit_per_minute = 0).await;
    create_case(&server, &analyst("acme"), "Watched", json!({})).await;
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let query = "subscription { caseActivity(caseId: \"1000\") { __typename ... on Comment { body } } }";
    for n in 0..400 {
        ws.send(json!({ "id": format!("s{n}"), "type": "subscribe", "payload": { "query": query } })).await;
    }
    ws.send(json!({ "type": "ping" })).await;
    let mut refused = 0;
    loop {
        match ws.next_raw(20).await {
            m if m["type"] == "error" => {
                assert_eq!(m["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{m}");
                refused += 1;
            }
            m if m["type"] == "pong" => break,
            m => panic!("expected refusals then a pong, got {m}"),
        }
    }
    assert_eq!(refused, 300, "the socket's cap refuses what is past it");
    assert_eq!(server.state.bus().watched_cases(), 1);
    comment(&server, &analyst("acme"), "1000", "to every watcher").await;
    let mut heard = std::collections::HashSet::new();
    while heard.len() < 100 {
        let m = ws.next_raw(20).await;
        assert_eq!(m["type"], "next", "{m}");
        assert_eq!(m["payload"]["data"]["caseActivity"]["body"], "to every watcher");
        heard.insert(m["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(heard.len(), 100, "every accepted subscription received the comment");
}

/// 2,000 `subscribe`s from one socket, sent without reading: the refusals
/// come back as fast as the client reads them, and the socket is served.
async fn a_socket_that_sends_thousands_of_subscribes_hears_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    create_case(&server, &analyst("acme"), "Watched", json!({})).await;
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let query = "subscription { caseActivity(caseId: \"1000\") { id } }";
    let started = std::time::Instant::now();
    for n in 0..2000 {
        if !ws.try_send(json!({ "id": format!("s{n}"), "type": "subscribe", "payload": { "query": query } })).await {
            break;
        }
    }
    let first = ws.next_raw(10).await;
    assert!(first["type"] == "error" || first["type"] == "next", "{first}");
    eprintln!("{backend:?}: 2,000 subscribes sent and the first answer read in {:?}", started.elapsed());
}

both_backends!(
    a_burst_of_subscriptions_costs_what_refusing_it_costs,
    a_socket_that_sends_thousands_of_subscribes_hears_back
);

/// The input of the nth create of a kind.
type InputOf = Box<dyn Fn(usize) -> serde_json::Value>;

/// Per-tenant caps hold under parallel creates: each kind filled to a few
/// places short of its cap, then many created at once.
async fn caps_hold_under_parallel_creates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    let kinds: [(&str, usize, InputOf); 4] = [
        (
            "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }",
            20,
            Box::new(|n| json!({ "url": format!("https://93.184.215.14/hook/{n}"), "eventTypes": ["ALL"] })),
        ),
        (
            "mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }",
            100,
            Box::new(|n| {
                json!({ "name": format!("Rule {n}"), "trigger": "CASE_CREATED",
                        "actions": [{ "type": "SET_PRIORITY", "priority": "HIGH" }] })
            }),
        ),
        (
            "mutation($i: CreateCaseTemplateInput!) { createCaseTemplate(input: $i) { id } }",
            200,
            Box::new(|n| json!({ "name": format!("Template {n}") })),
        ),
        (
            "mutation($i: CreateStatusInput!) { createStatus(input: $i) { id } }",
            47, // 50, of which the three defaults
            Box::new(|n| json!({ "name": format!("Status {n}"), "category": "OPEN" })),
        ),
    ];
    for (mutation, cap, input) in &kinds {
        for n in 0..cap - 3 {
            server.ok(&admin, mutation, json!({ "i": input(n) })).await;
        }
        let racing = (0..12).map(|n| server.gql(Some(&admin), mutation, json!({ "i": input(1000 + n) })));
        let answers = futures_util::future::join_all(racing).await;
        let created = answers.iter().filter(|a| a.get("errors").is_none()).count();
        assert_eq!(created, 3, "{mutation}: only the places left are taken");
        for refused in answers.iter().filter(|a| a.get("errors").is_some()) {
            assert_code(refused, "BAD_USER_INPUT");
        }
    }
}

both_backends!(caps_hold_under_parallel_creates);
