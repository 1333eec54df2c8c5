//! SLA policies and each case's SLA as a client reads it: deadlines from the
//! policy for the case's priority, acknowledgement by assignment or a move out
//! of NEW, statuses that pause the clock, MET on closing, NONE without a
//! policy. (The clock rules at other moments, AT_RISK and BREACHED, are unit
//! tests of `domain::sla`: time is a parameter there.)

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use chrono::{DateTime, Utc};
use common::*;
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

both_backends!(cases_follow_the_policy_of_their_priority, policies_are_checked_and_only_admins_set_them);
