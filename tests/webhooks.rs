//! Webhooks as a receiver sees them: a real HTTP endpoint on 127.0.0.1
//! (allowed explicitly), signatures checked by an independent implementation
//! (Node's crypto), deliveries in order per case, retried after failures,
//! once across replicas, and never for a change that rolled back.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub(crate) const WEBHOOK: &str = "id url description eventTypes enabled consecutiveFailures disabledAt disabledReason circuitOpenUntil previousSecretExpiresAt";
const DELIVERY: &str = "id messageId eventType status attempts httpStatus durationMs responseBody error \
                        nextAttemptAt deliveredAt case { id }";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    headers: HeaderMap,
    pub(crate) body: String,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

/// How the receiver answers a request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Status(u16),
    /// Answers 200 only after this long (longer than the sender waits).
    Slow(Duration),
    /// A redirect elsewhere, which must not be followed.
    Redirect,
    /// This status, once the test opens the gate: the attempt stays in
    /// flight, its answer unrecorded, until then.
    Gated(Arc<tokio::sync::Notify>, u16),
}

/// A webhook endpoint on 127.0.0.1: records every request, answers from a
/// script (then 200).
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) received: mpsc::UnboundedReceiver<Received>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let (sender, received) = mpsc::unbounded_channel();
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let replies = script.clone();
        let handler = move |headers: HeaderMap, body: String| {
            let sender = sender.clone();
            let reply = replies.lock().unwrap().pop_front();
            async move {
                let _ = sender.send(Received { headers, body });
                match reply {
                    None | Some(Reply::Status(200)) => (StatusCode::OK, "thanks").into_response(),
                    Some(Reply::Status(code)) => {
                        let status = StatusCode::from_u16(code).unwrap();
                        (status, "x".repeat(5000)).into_response()
                    }
                    Some(Reply::Slow(delay)) => {
                        // The endpoint's behaviour under test, not synchronisation.
                        tokio::time::sleep(delay).await;
                        (StatusCode::OK, "late").into_response()
                    }
                    Some(Reply::Gated(gate, code)) => {
                        gate.notified().await;
                        (StatusCode::from_u16(code).unwrap(), "x".repeat(5000)).into_response()
                    }
                    Some(Reply::Redirect) => Response::builder()
                        .status(StatusCode::FOUND)
                        .header("location", "http://127.0.0.1:9/elsewhere")
                        .body(axum::body::Body::empty())
                        .unwrap(),
                }
            }
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url: format!("http://127.0.0.1:{port}/hook"), received, script, _task: task }
    }

    pub(crate) fn answer(&self, replies: &[Reply]) {
        self.script.lock().unwrap().extend(replies.iter().cloned());
    }

    pub(crate) async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("a webhook request within 20 s")
            .expect("the receiver is running")
    }

    /// The next `n` requests.
    async fn take(&mut self, n: usize) -> Vec<Received> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }
}

/// Checks every message's `webhook-signature` with Node's crypto, an
/// implementation of the Standard Webhooks scheme independent of ours.
pub(crate) fn verify_with_node(secret: &str, messages: &[Received]) {
    let items: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "id": m.header("webhook-id"),
                "timestamp": m.header("webhook-timestamp"),
                "signature": m.header("webhook-signature"),
                "body": m.body,
            })
        })
        .collect();
    let script = r#"
        const crypto = require('crypto');
        const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
        const key = Buffer.from(input.secret.replace(/^whsec_/, ''), 'base64');
        for (const m of input.items) {
            const expected = 'v1,' + crypto.createHmac('sha256', key)
                .update(`${m.id}.${m.timestamp}.${m.body}`).digest('base64');
            if (!m.signature.split(' ').includes(expected)) {
                console.log('bad signature on ' + m.id);
                process.exit(1);
            }
        }
        console.log('verified ' + input.items.length);
    "#;
    let mut child = std::process::Command::new("node")
        .args(["-e", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node (Debian's nodejs) runs");
    let input = json!({ "secret": secret, "items": items }).to_string();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node refused a signature: {said}");
    assert_eq!(said.trim(), format!("verified {}", messages.len()));
}

/// A server whose webhooks may reach 127.0.0.1 and retry quickly.
pub(crate) async fn server_allowing_loopback(
    backend: Backend,
    adjust: impl FnOnce(&mut casebook::http::Settings),
) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.webhooks.targets.allow_private = true;
        s.webhooks.retry.first_backoff = Duration::from_millis(50);
        adjust(s);
    })
    .await
}

pub(crate) async fn create_webhook(server: &TestServer, token: &str, input: Value) -> Value {
    let query = format!(
        "mutation($i: CreateWebhookInput!) {{ createWebhook(input: $i) {{ secret webhook {{ {WEBHOOK} }} }} }}"
    );
    server.gql(Some(token), &query, json!({ "i": input })).await
}

/// Creates a webhook and returns (its id, its secret).
pub(crate) async fn webhook_to(server: &TestServer, url: &str, types: &[&str]) -> (Value, String) {
    let created = create_webhook(server, &admin("acme"), json!({ "url": url, "eventTypes": types })).await;
    let data = &created["data"]["createWebhook"];
    assert!(data["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")), "{created}");
    (data["webhook"]["id"].clone(), data["secret"].as_str().unwrap().to_owned())
}

pub(crate) async fn webhook(server: &TestServer, id: &Value) -> Value {
    let query = format!("query($id: ID!) {{ webhook(id: $id) {{ {WEBHOOK} }} }}");
    server.ok(&admin("acme"), &query, json!({ "id": id })).await["webhook"].clone()
}

pub(crate) async fn deliveries(server: &TestServer, id: &Value) -> Vec<Value> {
    let query = format!(
        "query($id: ID!) {{ webhook(id: $id) {{ deliveries(first: 100) {{ edges {{ node {{ {DELIVERY} }} }} }} }} }}"
    );
    let data = server.ok(&admin("acme"), &query, json!({ "id": id })).await;
    data["webhook"]["deliveries"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

/// Waits until the webhook's deliveries meet `done` (the worker records an
/// attempt just after the receiver answers it).
pub(crate) async fn deliveries_when(server: &TestServer, id: &Value, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..200 {
        let list = deliveries(server, id).await;
        if done(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries never got there: {:#}", json!(deliveries(server, id).await));
}

fn closed_input(id: &Value, closed: &Value) -> Value {
    json!({ "id": id, "statusId": closed, "classification": "TRUE_POSITIVE", "determination": "MALWARE" })
}

async fn events_arrive_signed_in_order_and_only_for_committed_changes(backend: Backend) {
    let server = server_allowing_loopback(backend, |_| {}).await;
    let mut receiver = Receiver::start().await;
    let (hook, secret) = webhook_to(&server, &receiver.url, &["ALL"]).await;
    let analyst = analyst("acme");

    let case = create_case(&server, &analyst, "Beacon to 203.0.113.7", json!({})).await;
    let id = case["id"].clone();
    update_case(&server, &analyst, json!({ "id": id, "priority": "HIGH" })).await;
    comment(&server, &analyst, id.as_str().unwrap(), "Isolating the host").await;
    let closed = status_id(&server, &analyst, "Closed").await;
    let closing = update_case(&server, &analyst, closed_input(&id, &closed)).await;
    assert!(closing.get("errors").is_none(), "{closing}");

    let messages = receiver.take(4).await;
    let types: Vec<String> = messages.iter().map(Received::event_type).collect();
    assert_eq!(types, ["CASE_CREATED", "CASE_UPDATED", "COMMENT_ADDED", "CASE_CLOSED"]);
    verify_with_node(&secret, &messages);
    let ids: std::collections::HashSet<String> = messages.iter().map(|m| m.header("webhook-id")).collect();
    assert_eq!(ids.len(), 4, "each message has its own webhook-id");
    for m in &messages {
        assert_eq!(m.header("content-type"), "application/json");
        let sent: i64 = m.header("webhook-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - sent).abs() < 60, "timestamp in seconds: {sent}");
        let body = m.json();
        assert_eq!((body["data"]["tenant"].as_str(), body["data"]["caseId"].as_str()), (Some("acme"), id.as_str()));
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
    }
    // The change a subscriber sees.
    let update = &messages[1].json()["data"]["activity"];
    assert_eq!(update["__typename"], "AuditEvent");
    assert_eq!(update["action"], "CASE_UPDATED");
    assert_eq!(update["changes"], json!([{ "field": "priority", "oldValue": null, "newValue": "High" }]));
    assert_eq!(update["actor"]["id"], "anna");
    let note = &messages[2].json()["data"]["activity"];
    assert_eq!((note["__typename"].as_str(), note["body"].as_str()), (Some("Comment"), Some("Isolating the host")));

    // A change that rolls back sends nothing: a comment written, then
    // rolled back (as a write refused half-way is), leaves no delivery.
    let doomed = create_case(&server, &analyst, "A doomed case", json!({})).await;
    assert_eq!(receiver.next().await.event_type(), "CASE_CREATED");
    let anna = analyst_principal("anna", "acme");
    let doomed_id = casebook::domain::case::CaseId(doomed["id"].as_str().unwrap().parse().unwrap());
    let mut tx = server.state.db().begin().await.unwrap();
    let grant = anna.grant::<casebook::auth::ManageAlerts>().unwrap();
    casebook::domain::comment::add(&mut tx.conn(), &grant, doomed_id, "this rolls back").await.unwrap();
    tx.rollback().await.unwrap();

    // A rule that cannot act (it cannot close the case without a
    // classification) is rolled back alone, its first action with it: the
    // comment that triggered it is sent, then the rule's failure, and
    // nothing of what the rule did before it failed.
    let rule = server
        .gql(
            Some(&admin("acme")),
            "mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }",
            json!({ "i": { "name": "Close on a word", "trigger": "COMMENT_ADDED",
                           "conditions": { "textContains": "doomed" },
                           "actions": [{ "type": "ADD_COMMENT", "body": "Closing it." },
                                       { "type": "SET_STATUS", "statusId": closed }] } }),
        )
        .await;
    let rule_id = rule["data"]["createAutomationRule"]["id"].clone();
    comment(&server, &analyst, doomed["id"].as_str().unwrap(), "this stays").await;
    let kept = receiver.next().await;
    assert_eq!(kept.json()["data"]["activity"]["body"], "this stays", "nothing was sent for the rolled-back comment");
    let failed = receiver.next().await;
    assert_eq!(failed.event_type(), "AUTOMATION_FAILED");
    assert_eq!(failed.json()["data"]["activity"]["action"], "AUTOMATION_FAILED");
    server
        .ok(
            &admin("acme"),
            "mutation($i: DeleteAutomationRuleInput!) { deleteAutomationRule(input: $i) }",
            json!({ "i": { "id": rule_id } }),
        )
        .await;
    comment(&server, &analyst, doomed["id"].as_str().unwrap(), "this one stays").await;
    let next = receiver.next().await;
    assert_eq!(next.json()["data"]["activity"]["body"], "this one stays", "nothing was sent of the rule's comment");

    // Each delivery is on record: delivered at the first attempt, with the answer.
    let list = deliveries_when(&server, &hook, |l| l.len() == 8 && l.iter().all(|d| d["status"] == "DELIVERED")).await;
    assert_eq!(list[0]["eventType"], "COMMENT_ADDED", "newest first");
    for d in &list {
        assert_eq!((d["attempts"].as_i64(), d["httpStatus"].as_i64()), (Some(1), Some(200)), "{d}");
        assert_eq!(d["responseBody"], "thanks");
        assert_eq!(d["nextAttemptAt"], Value::Null);
        assert!(d["deliveredAt"].is_string() && d["durationMs"].is_i64());
    }
    assert_eq!(list[7]["case"]["id"], id);
    // Paged newest first, with cursors and the whole count.
    let page = "query($id: ID!, $after: String) { webhook(id: $id) { deliveries(first: 4, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id } } } }";
    let first = server.ok(&admin("acme"), page, json!({ "id": hook })).await["webhook"]["deliveries"].clone();
    assert_eq!((first["totalCount"].as_i64(), first["pageInfo"]["hasNextPage"].as_bool()), (Some(8), Some(true)));
    let after = first["pageInfo"]["endCursor"].clone();
    let rest =
        server.ok(&admin("acme"), page, json!({ "id": hook, "after": after })).await["webhook"]["deliveries"].clone();
    let ids = |p: &Value| p["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect::<Vec<_>>();
    let all: Vec<Value> = list.iter().map(|d| d["id"].clone()).collect();
    assert_eq!([ids(&first), ids(&rest)].concat(), all);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    // A webhook takes only its event types; closing goes as CASE_UPDATED to
    // one that takes updates but not closings.
    let mut narrow = Receiver::start().await;
    webhook_to(&server, &narrow.url, &["CASE_UPDATED", "TASK_CHANGED"]).await;
    let other = create_case(&server, &analyst, "Second case", json!({})).await;
    create_task(&server, &analyst, other["id"].as_str().unwrap(), "Pull the mailbox", json!({})).await;
    let closing = update_case(&server, &analyst, closed_input(&other["id"], &closed)).await;
    assert!(closing.get("errors").is_none(), "{closing}");
    let got: Vec<String> = narrow.take(2).await.iter().map(Received::event_type).collect();
    assert_eq!(got, ["TASK_CHANGED", "CASE_UPDATED"]);
}

async fn the_secret_is_shown_once_and_rotation_replaces_it(backend: Backend) {
    let server = server_allowing_loopback(backend, |_| {}).await;
    let mut receiver = Receiver::start().await;
    let (hook, first) = webhook_to(&server, &receiver.url, &["CASE_CREATED"]).await;
    // No field reads it back.
    let read = server.gql(Some(&admin("acme")), "{ webhooks { id secret } }", json!({})).await;
    assert_code(&read, "BAD_USER_INPUT");
    let listed = server.ok(&admin("acme"), "{ webhooks { id url eventTypes enabled } }", json!({})).await;
    assert_eq!(
        listed["webhooks"],
        json!([{ "id": hook, "url": receiver.url, "eventTypes": ["CASE_CREATED"], "enabled": true }])
    );

    let rotate = "mutation($i: WebhookRefInput!) { rotateWebhookSecret(input: $i) { secret webhook { id } } }";
    let rotated = server.ok(&admin("acme"), rotate, json!({ "i": { "id": hook } })).await;
    let second = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(webhook(&server, &hook).await["previousSecretExpiresAt"].is_string());
    create_case(&server, &analyst("acme"), "After rotation", json!({})).await;
    let message = receiver.next().await;
    // For a grace period both secrets sign: receivers move over without missing a message.
    assert_eq!(message.header("webhook-signature").split(' ').count(), 2, "{}", message.header("webhook-signature"));
    verify_with_node(&second, std::slice::from_ref(&message));
    verify_with_node(&first, std::slice::from_ref(&message));
    let expire =
        "mutation($i: WebhookRefInput!) { expirePreviousWebhookSecret(input: $i) { previousSecretExpiresAt } }";
    let expired = server.ok(&admin("acme"), expire, json!({ "i": { "id": hook } })).await;
    assert_eq!(expired["expirePreviousWebhookSecret"]["previousSecretExpiresAt"], Value::Null);
    create_case(&server, &analyst("acme"), "After the grace", json!({})).await;
    let alone = receiver.next().await;
    assert_eq!(alone.header("webhook-signature").split(' ').count(), 1);
    verify_with_node(&second, std::slice::from_ref(&alone));

    // Redelivery sends the same message (same webhook-id) again.
    let sent = message.header("webhook-id");
    let list =
        deliveries_when(&server, &hook, |l| l.iter().any(|d| d["messageId"] == sent && d["status"] == "DELIVERED"))
            .await;
    let first_sent = list.iter().find(|d| d["messageId"] == sent).unwrap();
    let redeliver =
        format!("mutation($i: RedeliverWebhookEventInput!) {{ redeliverWebhookEvent(input: $i) {{ {DELIVERY} }} }}");
    let again = server.ok(&admin("acme"), &redeliver, json!({ "i": { "deliveryId": first_sent["id"] } })).await;
    assert_eq!(again["redeliverWebhookEvent"]["status"], "PENDING");
    assert_eq!(again["redeliverWebhookEvent"]["messageId"], first_sent["messageId"]);
    let repeat = receiver.next().await;
    assert_eq!((repeat.header("webhook-id"), &repeat.body), (message.header("webhook-id"), &message.body));
}

async fn failures_are_retried_with_backoff_until_delivered(backend: Backend) {
    let server = server_allowing_loopback(backend, |s| s.webhooks.timeout = Duration::from_millis(500)).await;
    let mut receiver = Receiver::start().await;
    let (hook, _) = webhook_to(&server, &receiver.url, &["ALL"]).await;
    receiver.answer(&[Reply::Status(500), Reply::Slow(Duration::from_secs(3)), Reply::Redirect, Reply::Status(503)]);
    let case = create_case(&server, &analyst("acme"), "Retried", json!({})).await;
    // A later event of the same case waits for the earlier one.
    comment(&server, &analyst("acme"), case["id"].as_str().unwrap(), "second event").await;

    let messages = receiver.take(6).await;
    let first_id = messages[0].header("webhook-id");
    let types: Vec<String> = messages.iter().map(Received::event_type).collect();
    assert_eq!(
        types,
        ["CASE_CREATED", "CASE_CREATED", "CASE_CREATED", "CASE_CREATED", "CASE_CREATED", "COMMENT_ADDED"]
    );
    assert!(messages[..5].iter().all(|m| m.header("webhook-id") == first_id), "retries keep the webhook-id");
    let list = deliveries_when(&server, &hook, |l| l.len() == 2 && l.iter().all(|d| d["status"] == "DELIVERED")).await;
    let created = &list[1];
    assert_eq!((created["attempts"].as_i64(), created["httpStatus"].as_i64()), (Some(5), Some(200)), "{created}");
    assert_eq!(created["error"], Value::Null);
    assert_eq!(list[0]["attempts"], 1);
}

async fn a_failing_endpoint_is_recorded_and_then_disabled(backend: Backend) {
    let server = server_allowing_loopback(backend, |s| {
        s.webhooks.retry.max_attempts = 3;
        // The third attempt waits at the receiver while the test looks.
        s.webhooks.timeout = Duration::from_secs(20);
    })
    .await;
    let mut receiver = Receiver::start().await;
    let (hook, _) = webhook_to(&server, &receiver.url, &["CASE_CREATED"]).await;
    let gate = Arc::new(tokio::sync::Notify::new());
    receiver.answer(&[Reply::Status(500), Reply::Redirect, Reply::Gated(gate.clone(), 500)]);
    create_case(&server, &analyst("acme"), "Never taken", json!({})).await;
    receiver.take(2).await;
    // After two failures: still pending, the answers on record (the third
    // attempt, which may be in flight, is held until the gate opens).
    // (An attempt counts when it is claimed; its answer is recorded after.)
    let list = deliveries_when(&server, &hook, |l| l.first().is_some_and(|d| d["httpStatus"] == 302)).await;
    let pending = &list[0];
    assert_eq!(pending["status"], "PENDING");
    assert_eq!(pending["httpStatus"], 302);
    assert_eq!(pending["error"], "HTTP 302: redirects are not followed");
    assert!(pending["nextAttemptAt"].is_string());

    gate.notify_one();
    let last = receiver.next().await;
    assert_eq!(last.event_type(), "CASE_CREATED");
    let list = deliveries_when(&server, &hook, |l| l.first().is_some_and(|d| d["status"] == "FAILED")).await;
    assert_eq!((list[0]["attempts"].as_i64(), list[0]["httpStatus"].as_i64()), (Some(3), Some(500)));
    assert_eq!(list[0]["responseBody"].as_str().map(str::len), Some(1024), "the answer is kept truncated");
    let disabled = webhook(&server, &hook).await;
    assert_eq!((disabled["enabled"].as_bool(), disabled["consecutiveFailures"].as_i64()), (Some(false), Some(3)));
    assert!(disabled["disabledAt"].is_string());
    assert!(disabled["disabledReason"].as_str().unwrap().starts_with("disabled automatically after 3 failed attempts"));

    // Disabled: new changes are not queued for it. Enabled again: it hears the next one.
    create_case(&server, &analyst("acme"), "While disabled", json!({})).await;
    let enable = format!("mutation($i: UpdateWebhookInput!) {{ updateWebhook(input: $i) {{ {WEBHOOK} }} }}");
    let enabled = server.ok(&admin("acme"), &enable, json!({ "i": { "id": hook, "enabled": true } })).await;
    assert_eq!(enabled["updateWebhook"]["consecutiveFailures"], 0);
    assert_eq!(enabled["updateWebhook"]["disabledReason"], Value::Null);
    create_case(&server, &analyst("acme"), "Enabled again", json!({})).await;
    assert_eq!(receiver.next().await.json()["data"]["activity"]["changes"][0]["newValue"], "Enabled again");
}

async fn private_targets_are_refused_unless_the_operator_allows_them(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let strict = TestServer::start_on(backend, database.clone()).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://10.0.0.8/hook",
        "http://[::ffff:192.168.0.1]/hook",
        "http://2130706433/",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let refused = create_webhook(&strict, &admin("acme"), json!({ "url": url, "eventTypes": ["ALL"] })).await;
        assert_code(&refused, "BAD_USER_INPUT");
    }
    // A name says it resolves somewhere private, never where.
    let by_name =
        create_webhook(&strict, &admin("acme"), json!({ "url": "http://localhost/hook", "eventTypes": ["ALL"] })).await;
    let message = by_name["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("localhost resolves to an address that is not public"), "{message}");
    assert!(!message.contains("127.0.0.1") && !message.contains("::1"), "{message}");
    let none =
        create_webhook(&strict, &admin("acme"), json!({ "url": "https://hooks.example.com/x", "eventTypes": [] }))
            .await;
    assert_code(&none, "BAD_USER_INPUT");
    let rule_only = create_webhook(
        &strict,
        &admin("acme"),
        json!({ "url": "https://hooks.example.com/x", "eventTypes": ["AUTOMATION_RULE"] }),
    )
    .await;
    assert_code(&rule_only, "BAD_USER_INPUT");
    // A change of URL is checked the same way.
    let public =
        create_webhook(&strict, &admin("acme"), json!({ "url": "https://hooks.example.com/x", "eventTypes": ["ALL"] }))
            .await;
    let public_id = public["data"]["createWebhook"]["webhook"]["id"].clone();
    assert!(public_id.is_string(), "{public}");
    let moved = strict
        .gql(
            Some(&admin("acme")),
            "mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) { url } }",
            json!({ "i": { "id": public_id, "url": "http://169.254.169.254/latest" } }),
        )
        .await;
    assert_code(&moved, "BAD_USER_INPUT");
    for token in [reader("acme"), analyst("acme")] {
        let forbidden =
            create_webhook(&strict, &token, json!({ "url": "https://hooks.example.com/x", "eventTypes": ["ALL"] }))
                .await;
        assert_code(&forbidden, "FORBIDDEN");
    }

    // Saved by a replica that allows loopback, by name; the strict replica
    // checks the address as it connects and sends nothing.
    let mut receiver = Receiver::start().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let lenient =
        TestServer::start_adjusted(backend, database.clone(), |s| s.webhooks.targets.allow_private = true).await;
    let created =
        create_webhook(&lenient, &admin("acme"), json!({ "url": by_name, "eventTypes": ["ALL"], "enabled": false }))
            .await;
    let hook = created["data"]["createWebhook"]["webhook"]["id"].clone();
    assert!(hook.is_string(), "{created}");
    drop(lenient);
    let enable = "mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) { enabled } }";
    strict.ok(&admin("acme"), enable, json!({ "i": { "id": hook, "enabled": true } })).await;
    create_case(&strict, &analyst("acme"), "Rebinding", json!({})).await;
    let list = deliveries_when(&strict, &hook, |l| l.first().is_some_and(|d| d["error"].is_string())).await;
    let error = list[0]["error"].as_str().unwrap();
    assert!(error.contains("refused: localhost resolves only to addresses that are not public"), "{error}");
    assert!(!error.contains("127.0.0.1"), "{error}");
    assert_eq!(list[0]["httpStatus"], Value::Null);
    assert!(receiver.received.try_recv().is_err(), "nothing reached the receiver");
}

async fn webhooks_belong_to_their_tenant(backend: Backend) {
    let server = server_allowing_loopback(backend, |_| {}).await;
    let mut receiver = Receiver::start().await;
    let (hook, _) = webhook_to(&server, &receiver.url, &["ALL"]).await;
    create_case(&server, &analyst("acme"), "Acme only", json!({})).await;
    receiver.next().await;
    let delivery = deliveries_when(&server, &hook, |l| l.len() == 1).await[0]["id"].clone();
    let globex = admin("globex");
    // globex's own changes reach no acme webhook.
    create_case(&server, &analyst("globex"), "Globex case", json!({})).await;

    let listed = server.ok(&globex, "{ webhooks { id } }", json!({})).await;
    assert_eq!(listed["webhooks"], json!([]));
    let one = server.ok(&globex, "query($id: ID!) { webhook(id: $id) { id } }", json!({ "id": hook })).await;
    assert_eq!(one["webhook"], Value::Null);
    let missing = json!("999999");
    for (query, input) in [
        ("mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) { id } }", json!({ "enabled": false })),
        ("mutation($i: WebhookRefInput!) { rotateWebhookSecret(input: $i) { secret } }", json!({})),
        ("mutation($i: WebhookRefInput!) { deleteWebhook(input: $i) }", json!({})),
    ] {
        let mut foreign = input.clone();
        foreign["id"] = hook.clone();
        let mut absent = input;
        absent["id"] = missing.clone();
        let a = server.gql(Some(&globex), query, json!({ "i": foreign })).await;
        let b = server.gql(Some(&globex), query, json!({ "i": absent })).await;
        assert_code(&a, "NOT_FOUND");
        assert_eq!(
            a["errors"][0]["message"].as_str().unwrap().replace(hook.as_str().unwrap(), "ID"),
            b["errors"][0]["message"].as_str().unwrap().replace("999999", "ID")
        );
    }
    let redeliver = "mutation($i: RedeliverWebhookEventInput!) { redeliverWebhookEvent(input: $i) { id } }";
    let foreign = server.gql(Some(&globex), redeliver, json!({ "i": { "deliveryId": delivery } })).await;
    assert_code(&foreign, "NOT_FOUND");
    let rule = server
        .gql(
            Some(&globex),
            "mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }",
            json!({ "i": { "name": "Borrow", "trigger": "CASE_CREATED", "actions": [{ "type": "SEND_WEBHOOK", "webhookId": hook }] } }),
        )
        .await;
    assert_code(&rule, "BAD_USER_INPUT");
    // acme's webhook still stands, with the one delivery.
    assert_eq!(webhook(&server, &hook).await["enabled"], true);
    assert_eq!(deliveries(&server, &hook).await.len(), 1);
}

async fn the_phishing_playbook_as_the_readme_shows(backend: Backend) {
    let server = server_allowing_loopback(backend, |_| {}).await;
    let (mut chat, mut ticketing) = (Receiver::start().await, Receiver::start().await);
    let admin = admin("acme");
    let template =
        server.ok(&admin, &readme_operation("mutation Template"), json!({})).await["createCaseTemplate"]["id"].clone();
    let hooks = server
        .ok(
            &admin,
            &readme_operation("mutation PlaybookWebhooks"),
            json!({ "chat": chat.url, "ticketing": ticketing.url }),
        )
        .await;
    let secret = |name: &str| hooks[name]["secret"].as_str().unwrap().to_owned();
    let chat_id = hooks["chat"]["webhook"]["id"].clone();
    server
        .ok(&admin, &readme_operation("mutation PlaybookRule"), json!({ "template": template, "chat": chat_id }))
        .await;

    let analyst = analyst("acme");
    let case = create_case(&server, &analyst, "Phishing: invoice lure to finance", json!({})).await;
    let id = case["id"].clone();
    let view = server
        .ok(&analyst, "query($id: ID!) { case(id: $id) { priority tags tasks { title } } }", json!({ "id": id }))
        .await["case"]
        .clone();
    assert_eq!((view["priority"].as_str(), view["tags"].as_array().map(Vec::len)), (Some("HIGH"), Some(1)), "{view}");
    assert_eq!(view["tasks"].as_array().unwrap().len(), 3);

    let told = chat.next().await;
    verify_with_node(&secret("chat"), std::slice::from_ref(&told));
    let body = told.json();
    assert_eq!(body["type"], "AUTOMATION_RULE");
    assert_eq!(body["data"]["rule"]["name"], "Phishing playbook");
    assert_eq!(body["data"]["rule"]["trigger"], "CASE_CREATED");
    assert_eq!(body["data"]["case"]["id"], id);
    assert_eq!(body["data"]["case"]["title"], "Phishing: invoice lure to finance");
    assert_eq!(body["data"]["case"]["priority"], "HIGH", "the rule's earlier actions are in");
    let opened = ticketing.next().await;
    verify_with_node(&secret("ticketing"), std::slice::from_ref(&opened));
    assert_eq!((opened.event_type().as_str(), opened.json()["data"]["caseId"].as_str()), ("CASE_CREATED", id.as_str()));

    // Closing reaches the ticketing system; a case that is not phishing does not reach the chat.
    let closed = status_id(&server, &analyst, "Closed").await;
    let closing = update_case(&server, &analyst, closed_input(&id, &closed)).await;
    assert!(closing.get("errors").is_none(), "{closing}");
    assert_eq!(ticketing.next().await.event_type(), "CASE_CLOSED");
    create_case(&server, &analyst, "Port scan from a lab host", json!({})).await;
    assert_eq!(
        ticketing.next().await.json()["data"]["activity"]["changes"][0]["newValue"],
        "Port scan from a lab host"
    );
    create_case(&server, &analyst, "Second phishing report", json!({})).await;
    assert_eq!(chat.next().await.json()["data"]["case"]["title"], "Second phishing report");
}

async fn sla_events_reach_webhooks(backend: Backend) {
    let server = server_allowing_loopback(backend, |_| {}).await;
    let mut receiver = Receiver::start().await;
    webhook_to(&server, &receiver.url, &["SLA_AT_RISK", "SLA_BREACHED"]).await;
    let policy = "mutation($i: SetSlaPolicyInput!) { setSlaPolicy(input: $i) { resolveWithin } }";
    server.ok(&admin("acme"), policy, json!({ "i": { "acknowledgeWithin": "PT1H", "resolveWithin": "P2D" } })).await;
    let case = create_case(&server, &analyst("acme"), "Unacknowledged", json!({})).await;
    // The monitor's clock, set two hours on: the acknowledgement deadline has passed.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).naive_utc();
    assert_eq!(casebook::jobs::sla::run_due(server.state.db(), later).await.unwrap(), 1);
    let told = receiver.next().await.json();
    assert_eq!((told["type"].as_str(), told["data"]["caseId"].as_str()), (Some("SLA_BREACHED"), case["id"].as_str()));
    let activity = &told["data"]["activity"];
    assert_eq!(
        (activity["action"].as_str(), activity["actor"]["id"].as_str()),
        (Some("SLA_BREACHED"), Some("system:sla"))
    );
    assert_eq!(activity["changes"][0]["field"], "acknowledgeBy");
}

/// A message's `activity` is the entry as GraphQL reads it: the same names,
/// ids, instants and enum values, field for field.
async fn a_message_carries_the_entry_as_graphql_reads_it(backend: Backend) {
    let server = server_allowing_loopback(backend, |_| {}).await;
    let mut receiver = Receiver::start().await;
    webhook_to(&server, &receiver.url, &["ALL"]).await;
    let analyst = analyst("acme");
    let case = create_case(&server, &analyst, "Beacon to 203.0.113.7", json!({})).await;
    let id = case["id"].as_str().unwrap();
    update_case(&server, &analyst, json!({ "id": id, "priority": "HIGH", "dueOn": "2030-01-02T03:04:05.678Z" })).await;
    create_task(&server, &analyst, id, "Isolate the host", json!({})).await;
    comment(&server, &analyst, id, "Isolating the host").await;
    let messages = receiver.take(4).await;

    let read = server
        .ok(
            &analyst,
            "query($id: ID!) { case(id: $id) { activity(first: 10) { nodes {
                __typename id createdAt actor { id displayName }
                ... on Comment { body }
                ... on AuditEvent { action changes { field oldValue newValue } task { id } incident { id } observable { id } }
            } } } }",
            json!({ "id": id }),
        )
        .await;
    let nodes = read["case"]["activity"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4, "{read}");
    for message in &messages {
        let sent = &message.json()["data"]["activity"];
        let node = nodes.iter().find(|n| n["id"] == sent["id"]).unwrap_or_else(|| panic!("{sent} not read"));
        for field in ["__typename", "id", "createdAt", "actor", "body", "action", "changes"] {
            assert_eq!(sent.get(field), node.get(field), "{field} of {sent} and {node}");
        }
        for (id_field, object) in [("taskId", "task"), ("incidentId", "incident"), ("observableId", "observable")] {
            if node["__typename"] == "AuditEvent" {
                assert_eq!(sent[id_field], node[object]["id"], "{id_field} of {sent}");
            }
        }
    }
    let task_entry = messages.iter().map(|m| m.json()).find(|m| m["data"]["activity"]["action"] == "TASK_CREATED");
    assert!(task_entry.is_some_and(|m| m["data"]["activity"]["taskId"].is_string()), "a task's entry names it");
}

both_backends!(
    a_message_carries_the_entry_as_graphql_reads_it,
    sla_events_reach_webhooks,
    the_phishing_playbook_as_the_readme_shows,
    events_arrive_signed_in_order_and_only_for_committed_changes,
    the_secret_is_shown_once_and_rotation_replaces_it,
    failures_are_retried_with_backoff_until_delivered,
    a_failing_endpoint_is_recorded_and_then_disabled,
    private_targets_are_refused_unless_the_operator_allows_them,
    webhooks_belong_to_their_tenant,
);

/// Two replicas on one PostgreSQL database, each with its worker: every
/// message reaches the receiver exactly once, each case's in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_event_once() {
    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let loopback = |s: &mut casebook::http::Settings| s.webhooks.targets.allow_private = true;
    let a = TestServer::start_adjusted(Backend::Postgres, database.clone(), loopback).await;
    let b = TestServer::start_adjusted(Backend::Postgres, database.clone(), loopback).await;
    let mut receiver = Receiver::start().await;
    let (hook, _) = webhook_to(&a, &receiver.url, &["ALL"]).await;

    let analyst = analyst("acme");
    let mut writes = Vec::new();
    for n in 0..20 {
        let (server, analyst) = (if n % 2 == 0 { &a } else { &b }, analyst.clone());
        writes.push(async move {
            let case = create_case(server, &analyst, &format!("Case {n}"), json!({})).await;
            let id = case["id"].as_str().unwrap().to_owned();
            for k in 0..3 {
                comment(server, &analyst, &id, &format!("note {k}")).await;
            }
        });
    }
    futures_util::future::join_all(writes).await;

    let messages = receiver.take(80).await;
    let mut per_case: HashMap<String, Vec<i64>> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for m in &messages {
        assert!(seen.insert(m.header("webhook-id")), "sent twice: {}", m.body);
        let body = m.json();
        let case = body["data"]["caseId"].as_str().unwrap().to_owned();
        per_case.entry(case).or_default().push(body["data"]["activity"]["seq"].as_i64().unwrap());
    }
    assert_eq!(per_case.len(), 20);
    for (case, seqs) in &per_case {
        assert_eq!(seqs, &[1, 2, 3, 4], "case {case} in order");
    }
    let list = deliveries_when(&a, &hook, |l| l.len() == 80 && l.iter().all(|d| d["status"] == "DELIVERED")).await;
    assert!(list.iter().all(|d| d["attempts"] == 1));
    assert!(receiver.received.try_recv().is_err(), "nothing more");
}
