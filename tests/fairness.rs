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

/// One tenant's slow endpoint does not delay another tenant's deliveries:
/// with two delivery slots and a first tenant whose receiver holds every
/// request for longer than the test waits, a second tenant's event still
/// arrives (old behaviour: behind every one of the first tenant's).
async fn a_slow_tenant_does_not_hold_every_delivery_slot(backend: Backend) {
    use crate::webhooks::{Receiver, Reply, create_webhook, server_allowing_loopback};
    let server = server_allowing_loopback(backend, |s| {
        s.webhooks.concurrency = 2;
        s.webhooks.timeout = std::time::Duration::from_secs(60);
    })
    .await;
    let slow = Receiver::start().await;
    slow.answer(&vec![Reply::Slow(std::time::Duration::from_secs(120)); 12]);
    let mut quick = Receiver::start().await;
    let hook = |tenant: &'static str, url: String| {
        let server = &server;
        async move {
            let created =
                create_webhook(server, &admin(tenant), json!({ "url": url, "eventTypes": ["CASE_CREATED"] })).await;
            assert!(created.get("errors").is_none(), "{created}");
        }
    };
    hook("acme", slow.url.clone()).await;
    hook("globex", quick.url.clone()).await;
    for n in 0..12 {
        create_case(&server, &analyst("acme"), &format!("Acme {n}"), json!({})).await;
    }
    create_case(&server, &analyst("globex"), "Globex", json!({})).await;
    let arrived = quick.next().await;
    assert_eq!(arrived.json()["data"]["tenant"], "globex");
}

/// An endpoint that keeps failing has its circuit opened (nothing is sent to
/// it for a while), and the delivery that gets through closes it again.
async fn a_failing_endpoint_opens_its_circuit_until_one_gets_through(backend: Backend) {
    use crate::webhooks::{Receiver, Reply, deliveries_when, server_allowing_loopback, webhook, webhook_to};
    let server = server_allowing_loopback(backend, |s| s.webhooks.retry.circuit_threshold = 2).await;
    let mut receiver = Receiver::start().await;
    receiver.answer(&[Reply::Status(500), Reply::Status(500), Reply::Status(503)]);
    let (hook, _) = webhook_to(&server, &receiver.url, &["CASE_CREATED"]).await;
    create_case(&server, &analyst("acme"), "Flaky", json!({})).await;
    for _ in 0..3 {
        receiver.next().await;
    }
    let failing = webhook(&server, &hook).await;
    assert!(failing["consecutiveFailures"].as_i64().unwrap() >= 2, "{failing}");
    assert!(failing["circuitOpenUntil"].is_string(), "the circuit opened: {failing}");
    receiver.next().await;
    deliveries_when(&server, &hook, |l| l.first().is_some_and(|d| d["status"] == "DELIVERED")).await;
    let recovered = webhook(&server, &hook).await;
    assert_eq!(
        (recovered["consecutiveFailures"].clone(), recovered["circuitOpenUntil"].clone()),
        (json!(0), json!(null))
    );
}

/// A worker records an attempt only while it holds the delivery's lease:
/// once the lease ran out and another worker claimed the delivery, the
/// first one's attempt is not written (no two workers both record it).
async fn an_attempt_is_recorded_only_under_its_lease(backend: Backend) {
    use crate::webhooks::{Receiver, server_allowing_loopback, webhook_to};
    use casebook::domain::webhook::delivery::{self, Attempt, Recorded, RetryPolicy, Shares};
    // No worker of its own: the test claims as two workers would.
    let server = server_allowing_loopback(backend, |s| s.webhooks.concurrency = 0).await;
    let receiver = Receiver::start().await;
    webhook_to(&server, &receiver.url, &["CASE_CREATED"]).await;
    create_case(&server, &analyst("acme"), "Leased", json!({})).await;
    let db = server.state.db();
    let keys = sealing_keys();
    let shares = Shares { per_endpoint: 4, total: 16 };
    let policy = RetryPolicy::default();
    let claim = async |lease: std::time::Duration| {
        let mut tx = db.begin().await.unwrap();
        let result = delivery::claim(&mut tx.conn(), 10, shares, &policy, lease, Some(&keys)).await;
        tx.finish(result).await.unwrap()
    };
    // A lease of nothing: it has run out as soon as it is taken.
    let first = claim(std::time::Duration::ZERO).await;
    assert_eq!(first.len(), 1);
    let second = claim(std::time::Duration::from_secs(60)).await;
    assert_eq!(second.len(), 1, "an expired lease is claimed again");
    assert_eq!(second[0].id, first[0].id);
    assert!(claim(std::time::Duration::from_secs(60)).await.is_empty(), "a held lease is not");
    let delivered =
        Attempt { status: Some(200), duration: std::time::Duration::from_millis(5), body: None, error: None };
    let record = async |claimed: &delivery::Claimed| {
        let mut tx = db.begin().await.unwrap();
        let result = delivery::record(&mut tx.conn(), claimed, &delivered, &policy).await;
        tx.finish(result).await.unwrap()
    };
    assert_eq!(record(&first[0]).await, Recorded::LeaseLost);
    assert_eq!(record(&second[0]).await, Recorded::Written { disabled: false });
    assert_eq!(record(&second[0]).await, Recorded::LeaseLost, "recorded once");
}

both_backends!(
    a_slow_tenant_does_not_hold_every_delivery_slot,
    a_failing_endpoint_opens_its_circuit_until_one_gets_through,
    an_attempt_is_recorded_only_under_its_lease,
);
