//! SLA policies and each case's SLA as a client reads it: deadlines from the
//! policy for the case's priority, acknowledgement by assignment or a move out
//! of NEW, statuses that pause the clock, MET on closing, NONE without a
//! policy; the SLA monitor's events, written once at their moment (a clock
//! the test sets, and two live replicas); the queue's SLA filter and order.
//! (The clock rules at every moment are unit tests of `domain::sla`.)

use std::collections::BTreeMap;

use crate::common::*;
use casebook::jobs::sla::run_due;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

const SLA: &str = "query($id: ID!) { case(id: $id) { createdAt sla { acknowledgeBy resolveBy acknowledgedAt state pausedSince breachedAt } } }";

async fn set_policy(server: &TestServer, token: &str, input: Value) -> Value {
    let query = "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) {
        priority acknowledgeWithin resolveWithin atRiskPercent } }";
    server.gql(Some(token), query, json!({ "input": input })).await
}

async fn sla_of(server: &TestServer, token: &str, id: &str) -> (DateTime<Utc>, Value) {
    let data = server.ok(token, SLA, json!({ "id": id })).await;
    (time(&data["case"]["createdAt"]), data["case"]["sla"].clone())
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

fn minutes(from: DateTime<Utc>, to: &Value) -> i64 {
    (time(to) - from).num_minutes()
}

async fn cases_follow_the_policy_of_their_priority(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let default = set_policy(&server, &admin, json!({ "acknowledgeWithin": "PT1H", "resolveWithin": "P2D" })).await;
    assert_eq!(
        default["data"]["setSlaPolicy"],
        json!({ "priority": null, "acknowledgeWithin": "PT1H", "resolveWithin": "P2D", "atRiskPercent": 80 })
    );
    set_policy(
        &server,
        &admin,
        json!({ "priority": "CRITICAL", "acknowledgeWithin": "PT15M", "resolveWithin": "PT4H", "atRiskPercent": 50 }),
    )
    .await;
    let listed = server.ok(&analyst, "{ slaPolicies { priority resolveWithin } }", json!({})).await;
    assert_eq!(
        listed["slaPolicies"],
        json!([{ "priority": null, "resolveWithin": "P2D" }, { "priority": "CRITICAL", "resolveWithin": "PT4H" }])
    );

    // A case without a priority follows the default; it is not acknowledged yet.
    let plain = create_case(&server, &analyst, "Default SLA", json!({})).await["id"].as_str().unwrap().to_owned();
    let (created, sla) = sla_of(&server, &analyst, &plain).await;
    assert_eq!((minutes(created, &sla["acknowledgeBy"]), minutes(created, &sla["resolveBy"])), (60, 2 * 24 * 60));
    assert_eq!(
        (sla["state"].as_str(), &sla["acknowledgedAt"], &sla["breachedAt"]),
        (Some("ON_TRACK"), &Value::Null, &Value::Null)
    );
    // Assigning acknowledges it.
    update_case(&server, &analyst, json!({ "id": plain, "assigneeId": "anna" })).await;
    let (_, sla) = sla_of(&server, &analyst, &plain).await;
    assert!(sla["acknowledgedAt"].is_string(), "{sla}");

    // A critical one follows its own; opened in an OPEN status it is acknowledged at once.
    let open = status_id(&server, &analyst, "Open").await;
    let critical =
        create_case(&server, &analyst, "Critical SLA", json!({ "priority": "CRITICAL", "statusId": open })).await;
    let critical = critical["id"].as_str().unwrap().to_owned();
    let (created, sla) = sla_of(&server, &analyst, &critical).await;
    assert_eq!((minutes(created, &sla["acknowledgeBy"]), minutes(created, &sla["resolveBy"])), (15, 4 * 60));
    assert_eq!(time(&sla["acknowledgedAt"]), created);

    // A status that pauses the clock: PAUSED while there, the deadline moved after.
    let waiting = server
        .ok(&admin, "mutation { createStatus(input: { name: \"Waiting on customer\", category: OPEN, pausesSla: true }) { id pausesSla } }", json!({}))
        .await["createStatus"]
        .clone();
    assert_eq!(waiting["pausesSla"], true);
    update_case(&server, &analyst, json!({ "id": critical, "statusId": waiting["id"] })).await;
    let (_, paused) = sla_of(&server, &analyst, &critical).await;
    assert_eq!(paused["state"], "PAUSED");
    assert!(paused["pausedSince"].is_string());
    update_case(&server, &analyst, json!({ "id": critical, "statusId": open })).await;
    let (_, resumed) = sla_of(&server, &analyst, &critical).await;
    assert_eq!((resumed["state"].as_str(), &resumed["pausedSince"]), (Some("ON_TRACK"), &Value::Null));
    assert!(time(&resumed["resolveBy"]) >= time(&sla["resolveBy"]), "paused time moves the deadline later");

    // Closing in time is MET; reopening runs the clock again.
    let closed = status_id(&server, &analyst, "Closed").await;
    update_case(&server, &analyst, json!({ "id": critical, "statusId": closed, "classification": "TRUE_POSITIVE" }))
        .await;
    assert_eq!(sla_of(&server, &analyst, &critical).await.1["state"], "MET");
    update_case(&server, &analyst, json!({ "id": critical, "statusId": open })).await;
    assert_eq!(sla_of(&server, &analyst, &critical).await.1["state"], "ON_TRACK");

    // Without a policy there is no SLA.
    let removed = server.ok(&admin, "mutation { removeSlaPolicy(input: {}) { priority } }", json!({})).await;
    assert_eq!(removed["removeSlaPolicy"], json!([{ "priority": "CRITICAL" }]));
    let (_, none) = sla_of(&server, &analyst, &plain).await;
    assert_eq!((none["state"].as_str(), &none["resolveBy"]), (Some("NONE"), &Value::Null));
}

async fn policies_are_checked_and_only_admins_set_them(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    for (input, field) in [
        (json!({ "resolveWithin": "two days" }), "resolveWithin"),
        (json!({ "resolveWithin": "P1M" }), "resolveWithin"),
        (json!({ "acknowledgeWithin": "PT0S" }), "acknowledgeWithin"),
        (json!({ "resolveWithin": "P2D", "atRiskPercent": 100 }), "atRiskPercent"),
        (json!({}), "resolveWithin"),
    ] {
        let body = set_policy(&server, &admin, input).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().starts_with(&format!("{field}:")), "{body}");
    }
    assert_code(&set_policy(&server, &analyst("acme"), json!({ "resolveWithin": "P1D" })).await, "FORBIDDEN");
    set_policy(&server, &admin, json!({ "resolveWithin": "P1W" })).await;
    let other = server.ok(&analyst("globex"), "{ slaPolicies { resolveWithin } }", json!({})).await;
    assert_eq!(other["slaPolicies"], json!([]), "policies are per tenant");
}

const EVENTS: &str = "subscription($caseId: ID!, $after: String) { caseActivity(caseId: $caseId, after: $after) {
    ... on AuditEvent { action actor { id displayName } changes { field newValue } } } }";

/// The SLA events in a case's log, oldest first: (action, deadline field, deadline).
async fn sla_events(server: &TestServer, token: &str, id: &str) -> Vec<(String, String, String)> {
    let query = "query($id: ID!) { case(id: $id) { activity(first: 100) { nodes {
        ... on AuditEvent { action changes { field newValue } } } } } }";
    let data = server.ok(token, query, json!({ "id": id })).await;
    let mut events: Vec<(String, String, String)> = data["case"]["activity"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["action"].as_str().is_some_and(|a| a.starts_with("SLA_")))
        .map(|n| {
            let change = &n["changes"][0];
            (
                n["action"].as_str().unwrap().into(),
                change["field"].as_str().unwrap().into(),
                change["newValue"].as_str().unwrap().into(),
            )
        })
        .collect();
    events.reverse();
    events
}

fn at(created: DateTime<Utc>, minutes: i64) -> chrono::NaiveDateTime {
    (created + Duration::minutes(minutes)).naive_utc()
}

async fn the_monitor_writes_each_event_once_at_its_moment(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    set_policy(&server, &admin, json!({ "acknowledgeWithin": "PT1H", "resolveWithin": "PT4H" })).await;
    let id = create_case(&server, &analyst, "Watched", json!({})).await["id"].as_str().unwrap().to_owned();
    let (created, sla) = sla_of(&server, &analyst, &id).await;
    let acknowledge_by = sla["acknowledgeBy"].as_str().unwrap().to_owned();
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let after = latest_cursor(&server, &analyst, &id).await;
    ws.subscribe("1", EVENTS, json!({ "caseId": id, "after": after })).await;

    // The clock is the test's: at 80% of the hour the case is at risk, once.
    let db = server.state.db();
    assert_eq!(run_due(db, at(created, 47)).await.unwrap(), 0);
    assert_eq!(run_due(db, at(created, 48)).await.unwrap(), 1);
    let event = ws.payload(10).await["data"]["caseActivity"].clone();
    assert_eq!(
        event,
        json!({ "action": "SLA_AT_RISK", "actor": { "id": "system:sla", "displayName": "SLA monitor" },
                "changes": [{ "field": "acknowledgeBy", "newValue": acknowledge_by }] })
    );
    assert_eq!(run_due(db, at(created, 59)).await.unwrap(), 0, "nothing twice");
    assert_eq!(run_due(db, at(created, 61)).await.unwrap(), 1);
    let event = ws.payload(10).await["data"]["caseActivity"].clone();
    assert_eq!(
        (event["action"].as_str(), &event["changes"][0]["field"]),
        (Some("SLA_BREACHED"), &json!("acknowledgeBy"))
    );

    // Deadlines are data: a restarted server picks up where this one was.
    drop(ws);
    let restarted = TestServer::start_on(backend, server.database.clone()).await;
    let db = restarted.state.db();
    assert_eq!(run_due(db, at(created, 62)).await.unwrap(), 0);
    // Late in the resolve window with both events due at once: only the breach.
    assert_eq!(run_due(db, at(created, 4 * 60 + 1)).await.unwrap(), 1);
    let events = sla_events(&restarted, &analyst, &id).await;
    let kinds: Vec<(&str, &str)> = events.iter().map(|(a, f, _)| (a.as_str(), f.as_str())).collect();
    assert_eq!(
        kinds,
        [("SLA_AT_RISK", "acknowledgeBy"), ("SLA_BREACHED", "acknowledgeBy"), ("SLA_BREACHED", "resolveBy")]
    );
    assert_eq!(run_due(db, at(created, 10 * 60)).await.unwrap(), 0);

    // A case that moves into a pausing status has its resolve deadline move
    // on; a closed case has no events due.
    let closed = status_id(&restarted, &analyst, "Closed").await;
    let quiet = create_case(&restarted, &analyst, "Closed in time", json!({})).await["id"].as_str().unwrap().to_owned();
    update_case(&restarted, &analyst, json!({ "id": quiet, "statusId": closed, "classification": "FALSE_POSITIVE" }))
        .await;
    assert_eq!(run_due(db, at(created, 24 * 60)).await.unwrap(), 0);
    assert!(sla_events(&restarted, &analyst, &quiet).await.is_empty());
}

async fn the_queue_filters_on_sla_state_and_orders_by_resolve_deadline(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    // LOW cases: at risk from the first second of a long window; HIGH: a
    // second to acknowledge; no policy for the others (no default).
    set_policy(&server, &admin, json!({ "priority": "LOW", "resolveWithin": "PT100S", "atRiskPercent": 1 })).await;
    set_policy(&server, &admin, json!({ "priority": "HIGH", "acknowledgeWithin": "PT1S", "resolveWithin": "P1D" }))
        .await;
    set_policy(&server, &admin, json!({ "priority": "MEDIUM", "resolveWithin": "P2D" })).await;
    let waiting = server
        .ok(
            &admin,
            "mutation { createStatus(input: { name: \"Waiting\", category: OPEN, pausesSla: true }) { id } }",
            json!({}),
        )
        .await["createStatus"]["id"]
        .clone();
    let closed = status_id(&server, &analyst, "Closed").await;
    let mut ids = Vec::new();
    for (title, extra) in [
        ("at risk", json!({ "priority": "LOW" })),
        ("breached", json!({ "priority": "HIGH" })),
        ("on track", json!({ "priority": "MEDIUM" })),
        ("paused", json!({ "priority": "MEDIUM", "statusId": waiting })),
        ("met", json!({ "priority": "MEDIUM", "statusId": closed, "classification": "BENIGN_POSITIVE" })),
        ("none", json!({ "priority": "CRITICAL" })),
        ("on track too", json!({ "priority": "HIGH", "assigneeId": "anna" })),
    ] {
        ids.push(create_case(&server, &analyst, title, extra).await["id"].as_str().unwrap().to_owned());
    }
    // Wait (by polling, not a fixed sleep) until the one-second deadline passed.
    let mut polls = 0;
    while sla_of(&server, &analyst, &ids[1]).await.1["state"] != "BREACHED" {
        polls += 1;
        assert!(polls < 100, "the one-second deadline never passed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in &ids {
        let state = sla_of(&server, &analyst, id).await.1["state"].as_str().unwrap().to_owned();
        expected.entry(state).or_default().push(id.clone());
    }
    assert_eq!(expected.keys().collect::<Vec<_>>(), ["AT_RISK", "BREACHED", "MET", "NONE", "ON_TRACK", "PAUSED"]);
    let queue =
        "query($filter: CaseFilter) { cases(filter: $filter, first: 50, orderBy: { field: ID, direction: ASC }) {
        totalCount nodes { id } } }";
    for (state, want) in &expected {
        let data = server.ok(&analyst, queue, json!({ "filter": { "slaStates": [state] } })).await;
        let got: Vec<&str> =
            data["cases"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert_eq!(got, *want, "slaStates: [{state}]");
        assert_eq!(data["cases"]["totalCount"], want.len());
    }
    let both = server
        .ok(&analyst, queue, json!({ "filter": { "slaStates": ["BREACHED", "AT_RISK"], "priorities": ["LOW"] } }))
        .await;
    assert_eq!(both["cases"]["nodes"], json!([{ "id": ids[0] }]));

    // By resolve deadline, soonest first, cases without one last; pages
    // continue by cursor without skipping or repeating.
    let by_deadline = "query($after: String, $direction: OrderDirection!) {
        cases(first: 2, after: $after, orderBy: { field: RESOLVE_BY, direction: $direction }) {
            pageInfo { endCursor hasNextPage } nodes { id sla { resolveBy } } } }";
    for direction in ["ASC", "DESC"] {
        let (mut after, mut seen) = (Value::Null, Vec::new());
        loop {
            let page = server.ok(&analyst, by_deadline, json!({ "after": after, "direction": direction })).await;
            for node in page["cases"]["nodes"].as_array().unwrap() {
                seen.push((
                    node["id"].as_str().unwrap().to_owned(),
                    (!node["sla"]["resolveBy"].is_null()).then(|| time(&node["sla"]["resolveBy"])),
                ));
            }
            if page["cases"]["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["cases"]["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen.len(), ids.len(), "{direction}: {seen:?}");
        let mut sorted = seen.clone();
        // Paused deadlines are ordered as they stood when the pause began.
        sorted.sort_by_key(|(id, by)| (by.is_none(), *by, id.parse::<i64>().unwrap()));
        if direction == "DESC" {
            sorted.reverse();
        }
        let ids_of = |v: &[(String, Option<DateTime<Utc>>)]| v.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
        let paused = &ids[3];
        let without_paused = |v: Vec<String>| v.into_iter().filter(|id| id != paused).collect::<Vec<_>>();
        assert_eq!(without_paused(ids_of(&seen)), without_paused(ids_of(&sorted)), "{direction}");
    }
}

async fn a_policy_change_announces_only_what_comes_after_it(backend: Backend) {
    // The background monitor stays out of the way: the test runs it.
    let server = TestServer::start_with(backend, |s| s.sla_interval = std::time::Duration::from_secs(3600)).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    set_policy(&server, &admin, json!({ "acknowledgeWithin": "PT1S", "resolveWithin": "P1D" })).await;
    let id = create_case(&server, &analyst, "Missed at once", json!({})).await["id"].as_str().unwrap().to_owned();
    let mut polls = 0;
    while sla_of(&server, &analyst, &id).await.1["state"] != "BREACHED" {
        polls += 1;
        assert!(polls < 100, "the one-second deadline never passed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The resolve window changes: the case is rescheduled, and its missed
    // acknowledgement, past before the change, is not announced now.
    set_policy(&server, &admin, json!({ "acknowledgeWithin": "PT1S", "resolveWithin": "P2D" })).await;
    let (created, sla) = sla_of(&server, &analyst, &id).await;
    assert_eq!((sla["state"].as_str(), minutes(created, &sla["resolveBy"])), (Some("BREACHED"), 2 * 24 * 60));
    let db = server.state.db();
    assert_eq!(run_due(db, at(created, 60)).await.unwrap(), 0);
    assert_eq!(run_due(db, at(created, 2 * 24 * 60 + 1)).await.unwrap(), 1);
    let events = sla_events(&server, &analyst, &id).await;
    assert_eq!(
        events.iter().map(|(a, f, _)| (a.as_str(), f.as_str())).collect::<Vec<_>>(),
        [("SLA_BREACHED", "resolveBy")]
    );
}

both_backends!(
    a_policy_change_announces_only_what_comes_after_it,
    cases_follow_the_policy_of_their_priority,
    policies_are_checked_and_only_admins_set_them,
    the_monitor_writes_each_event_once_at_its_moment,
    the_queue_filters_on_sla_state_and_orders_by_resolve_deadline,
);

/// Two replicas on one PostgreSQL, each with its monitor running every 50 ms,
/// and cases with deadlines seconds away: every event reaches a watcher of
/// the other replica, and each is written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_write_each_event_once() {
    let database = std::sync::Arc::new(TestDatabase::create(Backend::Postgres).await);
    let fast = |s: &mut casebook::http::Settings| s.sla_interval = std::time::Duration::from_millis(50);
    let replicas = [
        TestServer::start_adjusted(Backend::Postgres, database.clone(), fast).await,
        TestServer::start_adjusted(Backend::Postgres, database.clone(), fast).await,
    ];
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    // At risk at half of each window: 2 s and 4 s; breached at 4 s and 8 s.
    let policy = json!({ "acknowledgeWithin": "PT4S", "resolveWithin": "PT8S", "atRiskPercent": 50 });
    set_policy(&replicas[0], &admin, policy).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let replica = &replicas[n % 2];
        ids.push(
            create_case(replica, &analyst, &format!("Live {n}"), json!({})).await["id"].as_str().unwrap().to_owned(),
        );
    }
    let last = ids.last().unwrap();
    let mut ws = replicas[1].ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let after = latest_cursor(&replicas[1], &analyst, last).await;
    ws.subscribe("1", EVENTS, json!({ "caseId": last, "after": after })).await;
    let expected = [
        ("SLA_AT_RISK", "acknowledgeBy"),
        ("SLA_BREACHED", "acknowledgeBy"),
        ("SLA_AT_RISK", "resolveBy"),
        ("SLA_BREACHED", "resolveBy"),
    ];
    let mut live = Vec::new();
    for _ in expected {
        let event = ws.payload(30).await["data"]["caseActivity"].clone();
        live.push((
            event["action"].as_str().unwrap().to_owned(),
            event["changes"][0]["field"].as_str().unwrap().to_owned(),
        ));
    }
    let live: Vec<(&str, &str)> = live.iter().map(|(a, f)| (a.as_str(), f.as_str())).collect();
    assert_eq!(live, expected);

    // Every case's events come by then or just after (its deadlines came
    // first; the other replica may still be committing one): each once,
    // whichever replica wrote it.
    for id in &ids {
        let mut events = sla_events(&replicas[0], &analyst, id).await;
        for _ in 0..50 {
            if events.len() >= expected.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            events = sla_events(&replicas[0], &analyst, id).await;
        }
        let kinds: Vec<(&str, &str)> = events.iter().map(|(a, f, _)| (a.as_str(), f.as_str())).collect();
        assert_eq!(kinds, expected, "case {id}");
    }
    // Both monitors at once, long after: nothing is left to write.
    let later = (Utc::now() + Duration::days(1)).naive_utc();
    let (a, b) = tokio::join!(run_due(replicas[0].state.db(), later), run_due(replicas[1].state.db(), later));
    assert_eq!((a.unwrap(), b.unwrap()), (0, 0));
}
