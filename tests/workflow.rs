//! The workflow's rules, as a client meets them: closing a case needs a
//! classification (the tenant's setting, on by default) and optionally
//! finished tasks; reopening clears it and the audit keeps it; statuses may
//! restrict the moves out of them.

use crate::common;
use crate::common::*;
use serde_json::{Value, json};

const CLOSING: &str = "classification determination closingComment status { name } version";

async fn change(server: &TestServer, token: &str, input: Value) -> Value {
    let query = format!("mutation($input: UpdateCaseInput!) {{ updateCase(input: $input) {{ {CLOSING} }} }}");
    server.gql(Some(token), &query, json!({ "input": input })).await
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap()
}

async fn last_audit(server: &TestServer, token: &str, case_id: &str) -> Value {
    let query = "query($id: ID!) { case(id: $id) { activity(kinds: [AUDIT], first: 1) { nodes { ... on AuditEvent {
        action changes { field oldValue newValue } } } } } }";
    server.ok(token, query, json!({ "id": case_id })).await["case"]["activity"]["nodes"][0].clone()
}

async fn settings(server: &TestServer, token: &str, input: Value) -> Value {
    let query = "mutation($input: UpdateWorkflowSettingsInput!) { updateWorkflowSettings(input: $input) {
        requireClassification requireFinishedTasks } }";
    server.gql(Some(token), query, json!({ "input": input })).await
}

async fn closing_needs_a_classification_and_reopening_clears_it(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let id = create_case(&server, &analyst, "Beacon", json!({})).await["id"].as_str().unwrap().to_owned();
    let (open, closed) = (status_id(&server, &analyst, "Open").await, status_id(&server, &analyst, "Closed").await);

    let defaults =
        server.ok(&analyst, "{ workflowSettings { requireClassification requireFinishedTasks } }", json!({})).await;
    assert_eq!(defaults["workflowSettings"], json!({ "requireClassification": true, "requireFinishedTasks": false }));

    let refused = change(&server, &analyst, json!({ "id": id, "statusId": closed })).await;
    assert_code(&refused, "BAD_USER_INPUT");
    assert!(message(&refused).starts_with("classification: required to close a case"), "{refused}");
    let early = change(&server, &analyst, json!({ "id": id, "classification": "TRUE_POSITIVE" })).await;
    assert_code(&early, "BAD_USER_INPUT");
    assert!(message(&early).starts_with("classification: a case is classified only in a CLOSED status"));
    let nulls = change(&server, &analyst, json!({ "id": id, "classification": null, "closingComment": null })).await;
    assert_eq!(nulls["data"]["updateCase"]["version"], 1, "nulls on an open case change nothing: {nulls}");
    let mismatch = change(
        &server,
        &analyst,
        json!({ "id": id, "statusId": closed, "classification": "FALSE_POSITIVE", "determination": "MALWARE" }),
    )
    .await;
    assert_code(&mismatch, "BAD_USER_INPUT");
    assert!(message(&mismatch).starts_with("determination: MALWARE is not a determination of FALSE_POSITIVE"));

    let input = json!({ "id": id, "statusId": closed, "classification": "TRUE_POSITIVE", "determination": "MALWARE",
                        "closingComment": "Beacon confirmed, host reimaged." });
    let closed_case = change(&server, &analyst, input).await;
    assert_eq!(
        closed_case["data"]["updateCase"],
        json!({ "classification": "TRUE_POSITIVE", "determination": "MALWARE",
                "closingComment": "Beacon confirmed, host reimaged.", "status": { "name": "Closed" }, "version": 2 })
    );
    let audit = last_audit(&server, &analyst, &id).await;
    assert_eq!(audit["action"], "CASE_UPDATED");
    assert!(
        audit["changes"]
            .as_array()
            .unwrap()
            .contains(&json!({ "field": "classification", "oldValue": null, "newValue": "TRUE_POSITIVE" }))
    );

    // While closed it can be corrected, not removed.
    let corrected = change(&server, &analyst, json!({ "id": id, "determination": "OTHER" })).await;
    assert_eq!(corrected["data"]["updateCase"]["determination"], "OTHER");
    assert_code(&change(&server, &analyst, json!({ "id": id, "classification": null })).await, "BAD_USER_INPUT");

    // Reopening clears it on the case; the audit keeps it.
    let reopened = change(&server, &analyst, json!({ "id": id, "statusId": open })).await;
    let case = &reopened["data"]["updateCase"];
    assert_eq!((case["classification"].clone(), case["closingComment"].clone()), (Value::Null, Value::Null));
    let audit = last_audit(&server, &analyst, &id).await;
    assert!(
        audit["changes"]
            .as_array()
            .unwrap()
            .contains(&json!({ "field": "classification", "oldValue": "TRUE_POSITIVE", "newValue": null }))
    );

    // The rule can be switched off by an admin only.
    assert_code(&settings(&server, &analyst, json!({ "requireClassification": false })).await, "FORBIDDEN");
    let off = settings(&server, &admin("acme"), json!({ "requireClassification": false })).await;
    assert_eq!(off["data"]["updateWorkflowSettings"]["requireClassification"], false);
    let plain = change(&server, &analyst, json!({ "id": id, "statusId": closed })).await;
    assert_eq!(plain["data"]["updateCase"]["classification"], Value::Null, "{plain}");
    // A case closed without one (the rule off, or closed before classifications
    // existed) still takes other changes once the rule is back.
    settings(&server, &admin("acme"), json!({ "requireClassification": true })).await;
    let renamed =
        change(&server, &analyst, json!({ "id": id, "title": "Beacon, closed", "determination": null })).await;
    assert!(renamed.get("errors").is_none(), "{renamed}");
    // Opening a case straight into a CLOSED status follows the same rules.
    let closed_now =
        "mutation($input: CreateCaseInput!) { createCase(input: $input) { classification status { name } } }";
    let bare = json!({ "title": "Already handled", "statusId": closed });
    assert_code(&server.gql(Some(&analyst), closed_now, json!({ "input": bare })).await, "BAD_USER_INPUT");
    let classified = json!({ "title": "Already handled", "statusId": closed, "classification": "BENIGN_POSITIVE",
                             "determination": "SECURITY_TESTING" });
    let opened = server.ok(&analyst, closed_now, json!({ "input": classified })).await;
    assert_eq!(opened["createCase"], json!({ "classification": "BENIGN_POSITIVE", "status": { "name": "Closed" } }));
    let open_classified = json!({ "title": "Not closed", "classification": "FALSE_POSITIVE" });
    assert_code(&server.gql(Some(&analyst), closed_now, json!({ "input": open_classified })).await, "BAD_USER_INPUT");
    // Another tenant keeps the defaults.
    let other =
        server.ok(&common::analyst("globex"), "{ workflowSettings { requireClassification } }", json!({})).await;
    assert_eq!(other["workflowSettings"]["requireClassification"], true);
}

async fn closing_can_require_finished_tasks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let id = create_case(&server, &analyst, "Phish", json!({})).await["id"].as_str().unwrap().to_owned();
    let closed = status_id(&server, &analyst, "Closed").await;
    let reset = create_task(&server, &analyst, &id, "Reset password", json!({})).await;
    create_task(&server, &analyst, &id, "Purge mail", json!({ "status": "SKIPPED" })).await;
    create_task(&server, &analyst, &id, "Notify user", json!({ "status": "IN_PROGRESS" })).await;
    settings(&server, &admin("acme"), json!({ "requireFinishedTasks": true })).await;

    let close = json!({ "id": id, "statusId": closed, "classification": "TRUE_POSITIVE", "determination": "PHISHING" });
    let refused = change(&server, &analyst, close.clone()).await;
    assert_code(&refused, "BAD_USER_INPUT");
    assert_eq!(
        message(&refused),
        "statusId: finish the case's tasks before closing it: \"Reset password\", \"Notify user\" not finished"
    );
    let finish = "mutation($input: UpdateTaskInput!) { updateTask(input: $input) { id } }";
    server.ok(&analyst, finish, json!({ "input": { "id": reset, "status": "COMPLETED" } })).await;
    let tasks =
        server.ok(&analyst, "query($id: ID!) { case(id: $id) { tasks { id title } } }", json!({ "id": id })).await;
    let notify = tasks["case"]["tasks"][2]["id"].clone();
    server.ok(&analyst, finish, json!({ "input": { "id": notify, "status": "FAILED" } })).await;
    let closed_case = change(&server, &analyst, close).await;
    assert_eq!(closed_case["data"]["updateCase"]["status"]["name"], "Closed", "{closed_case}");
}

async fn statuses_can_restrict_the_moves_out_of_them(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (analyst, admin) = (analyst("acme"), admin("acme"));
    let id = create_case(&server, &analyst, "Triage", json!({})).await["id"].as_str().unwrap().to_owned();
    let (new, open, closed) = (
        status_id(&server, &analyst, "New").await,
        status_id(&server, &analyst, "Open").await,
        status_id(&server, &analyst, "Closed").await,
    );
    let restrict = "mutation($input: UpdateStatusInput!) { updateStatus(input: $input) { name allowedNext { name } } }";
    let set = server.ok(&admin, restrict, json!({ "input": { "id": new, "allowedNextIds": [open] } })).await;
    assert_eq!(set["updateStatus"], json!({ "name": "New", "allowedNext": [{ "name": "Open" }] }));
    let statuses = server.ok(&analyst, "{ statuses { name allowedNext { name } } }", json!({})).await;
    assert_eq!(statuses["statuses"][1], json!({ "name": "Open", "allowedNext": [] }), "empty means any");

    let skipped = change(
        &server,
        &analyst,
        json!({ "id": id, "statusId": closed, "classification": "FALSE_POSITIVE", "determination": "INACCURATE_DATA" }),
    )
    .await;
    assert_code(&skipped, "BAD_USER_INPUT");
    assert_eq!(message(&skipped), "statusId: a case in \"New\" can move only to \"Open\", not to \"Closed\"");
    assert_eq!(
        change(&server, &analyst, json!({ "id": id, "statusId": open })).await["data"]["updateCase"]["status"]["name"],
        "Open"
    );

    // Targets must be live statuses of the tenant; null lifts the restriction.
    let archived = server
        .ok(&admin, "mutation { createStatus(input: { name: \"Parked\", category: OPEN }) { id } }", json!({}))
        .await["createStatus"]["id"]
        .clone();
    server.ok(&admin, restrict, json!({ "input": { "id": archived, "archived": true } })).await;
    for bad in [json!([archived]), json!([new]), json!(["999999"])] {
        let body = server.gql(Some(&admin), restrict, json!({ "input": { "id": new, "allowedNextIds": bad } })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(message(&body).starts_with("allowedNextIds:"), "{body}");
    }
    let lifted = server.ok(&admin, restrict, json!({ "input": { "id": new, "allowedNextIds": null } })).await;
    assert_eq!(lifted["updateStatus"]["allowedNext"], json!([]));
    let denied =
        server.gql(Some(&analyst), restrict, json!({ "input": { "id": new, "allowedNextIds": [open] } })).await;
    assert_code(&denied, "FORBIDDEN");
}

const METRICS: &str = "query($filter: CaseFilter, $from: DateTime, $to: DateTime, $groupBy: [MetricsDimension!]) {
    caseMetrics(filter: $filter, from: $from, to: $to, groupBy: $groupBy) {
        priority assignee { id } statusCategory classification tag opened closed openNow
        timeToAcknowledge { count meanSeconds p50Seconds p90Seconds }
        timeToResolve { count meanSeconds p50Seconds p90Seconds }
        slaCases slaBreached slaBreachRate } }";

/// `percentile_cont` as PostgreSQL defines it.
fn percentile(values: &mut [f64], fraction: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let position = fraction * (values.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    values[below] + (values[above] - values[below]) * (position - below as f64)
}

fn seconds_between(from: &Value, to: &Value) -> f64 {
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    (parse(to) - parse(from)).num_microseconds().unwrap() as f64 / 1e6
}

/// The groups keyed by one field's value (as JSON text).
fn by(groups: &Value, key: &str) -> std::collections::BTreeMap<String, Value> {
    groups.as_array().unwrap().iter().map(|g| (g[key].to_string(), g.clone())).collect()
}

async fn case_metrics_count_and_time_each_group(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let policy = "mutation($input: SetSlaPolicyInput!) { setSlaPolicy(input: $input) { priority } }";
    server.ok(&admin, policy, json!({ "input": { "acknowledgeWithin": "PT1H", "resolveWithin": "P1D" } })).await;
    let high = json!({ "input": { "priority": "HIGH", "acknowledgeWithin": "PT1S", "resolveWithin": "P1D" } });
    server.ok(&admin, policy, high).await;
    let (open, closed) = (status_id(&server, &analyst, "Open").await, status_id(&server, &analyst, "Closed").await);
    let tags = "mutation($input: CaseTagsInput!) { addCaseTags(input: $input) { id } }";
    let mut ids = Vec::new();
    for (title, extra, tagged) in [
        ("low, assigned, closed", json!({ "priority": "LOW", "assigneeId": "anna" }), vec!["phishing"]),
        ("low, worked on", json!({ "priority": "LOW" }), vec!["phishing"]),
        ("high, untouched", json!({ "priority": "HIGH" }), vec![]),
        ("high, closed", json!({ "priority": "HIGH", "assigneeId": "adam" }), vec!["phishing", "malware"]),
        ("no priority", json!({}), vec![]),
    ] {
        let id = create_case(&server, &analyst, title, extra).await["id"].as_str().unwrap().to_owned();
        if !tagged.is_empty() {
            server.ok(&analyst, tags, json!({ "input": { "caseId": id, "tags": tagged } })).await;
        }
        ids.push(id);
    }
    change(&server, &analyst, json!({ "id": ids[0], "statusId": closed, "classification": "TRUE_POSITIVE" })).await;
    change(&server, &analyst, json!({ "id": ids[1], "statusId": open })).await;
    change(&server, &analyst, json!({ "id": ids[3], "statusId": closed, "classification": "FALSE_POSITIVE" })).await;
    // The untouched HIGH case breaches its one-second deadline (polled, not slept on).
    let sla = "query($id: ID!) { case(id: $id) { createdAt sla { state acknowledgedAt } } }";
    let mut polls = 0;
    while server.ok(&analyst, sla, json!({ "id": ids[2] })).await["case"]["sla"]["state"] != "BREACHED" {
        polls += 1;
        assert!(polls < 100, "the one-second deadline never passed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let metrics = |variables: Value| {
        let (server, token) = (&server, reader("acme"));
        async move { server.ok(&token, METRICS, variables).await["caseMetrics"].clone() }
    };
    let per_priority = by(&metrics(json!({ "groupBy": ["PRIORITY"] })).await, "priority");
    let figures = |g: &Value| {
        (
            g["opened"].as_i64(),
            g["closed"].as_i64(),
            g["openNow"].as_i64(),
            g["slaCases"].as_i64(),
            g["slaBreached"].as_i64(),
        )
    };
    assert_eq!(figures(&per_priority["\"LOW\""]), (Some(2), Some(1), Some(1), Some(2), Some(0)));
    assert_eq!(figures(&per_priority["\"HIGH\""]), (Some(2), Some(1), Some(1), Some(2), Some(1)));
    assert_eq!(figures(&per_priority["null"]), (Some(1), Some(0), Some(1), Some(1), Some(0)));
    assert_eq!(per_priority["\"HIGH\""]["slaBreachRate"], 0.5);
    assert_eq!(per_priority.len(), 3);

    // Time to acknowledge: the same percentiles a client computes from each case.
    let mut waits = Vec::new();
    for id in &ids[..2] {
        let case = server.ok(&analyst, sla, json!({ "id": id })).await["case"].clone();
        waits.push(seconds_between(&case["createdAt"], &case["sla"]["acknowledgedAt"]));
    }
    let low = &per_priority["\"LOW\""]["timeToAcknowledge"];
    assert_eq!(low["count"], 2);
    let close = |got: &Value, want: f64| (got.as_f64().unwrap() - want).abs() < 1e-3;
    assert!(close(&low["meanSeconds"], (waits[0] + waits[1]) / 2.0), "{low} {waits:?}");
    assert!(close(&low["p50Seconds"], percentile(&mut waits.clone(), 0.5)), "{low} {waits:?}");
    assert!(close(&low["p90Seconds"], percentile(&mut waits, 0.9)), "{low}");
    let resolve = &per_priority["\"HIGH\""]["timeToResolve"];
    assert_eq!(resolve["count"], 1);
    assert!(resolve["p50Seconds"].as_f64().unwrap() >= 0.0 && resolve["p50Seconds"] == resolve["p90Seconds"]);
    assert_eq!(
        per_priority["null"]["timeToResolve"],
        json!({ "count": 0, "meanSeconds": null, "p50Seconds": null, "p90Seconds": null })
    );

    // A case counts under each of its tags; untagged is a group of its own.
    let per_tag = by(&metrics(json!({ "groupBy": ["TAG"] })).await, "tag");
    let opened = |m: &std::collections::BTreeMap<String, Value>| -> Vec<(String, i64)> {
        m.iter().map(|(k, g)| (k.clone(), g["opened"].as_i64().unwrap())).collect()
    };
    assert_eq!(opened(&per_tag), [("\"malware\"".into(), 1), ("\"phishing\"".into(), 3), ("null".into(), 2)]);
    let per_status = by(&metrics(json!({ "groupBy": ["STATUS_CATEGORY"] })).await, "statusCategory");
    assert_eq!(opened(&per_status), [("\"CLOSED\"".into(), 2), ("\"NEW\"".into(), 2), ("\"OPEN\"".into(), 1)]);
    let two = metrics(json!({ "groupBy": ["CLASSIFICATION", "ASSIGNEE"] })).await;
    let keys: Vec<(Value, Value, i64)> = two
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["classification"].clone(), g["assignee"]["id"].clone(), g["opened"].as_i64().unwrap()))
        .collect();
    assert!(keys.contains(&(json!("TRUE_POSITIVE"), json!("anna"), 1)), "{keys:?}");
    assert!(keys.contains(&(json!("FALSE_POSITIVE"), json!("adam"), 1)), "{keys:?}");
    assert!(keys.contains(&(Value::Null, Value::Null, 3)), "{keys:?}");
    assert_eq!(keys.len(), 3);

    // The queue's filter picks the cases; without groupBy one group of them all.
    let low_only = metrics(json!({ "filter": { "priorities": ["LOW"] } })).await;
    assert_eq!(low_only.as_array().unwrap().len(), 1);
    assert_eq!((low_only[0]["opened"].as_i64(), low_only[0]["priority"].clone()), (Some(2), Value::Null));
    // A window in the future: nothing opened or closed in it, open cases still open.
    let ahead = metrics(json!({ "from": "2999-01-01T00:00:00Z", "to": "2999-02-01T00:00:00Z" })).await;
    assert_eq!(figures(&ahead[0]), (Some(0), Some(0), Some(3), Some(0), Some(0)));
    assert_eq!(ahead[0]["slaBreachRate"], Value::Null);

    for (variables, field) in [
        (json!({ "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z" }), "from"),
        (json!({ "from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z" }), "from"),
        (json!({ "groupBy": ["TAG", "TAG"] }), "groupBy"),
        (json!({ "filter": { "statusIds": ["open"] } }), "filter.statusIds"),
    ] {
        let body = server.gql(Some(&reader("acme")), METRICS, variables.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{variables}");
        assert!(body["errors"][0]["message"].as_str().unwrap().starts_with(field), "{body}");
    }
    // Per tenant: another tenant's metrics count none of these.
    let other = server.ok(&reader("globex"), METRICS, json!({})).await;
    assert_eq!(other["caseMetrics"], json!([]));
    assert_code(&server.gql(None, METRICS, json!({})).await, "UNAUTHENTICATED");
}

both_backends!(
    closing_needs_a_classification_and_reopening_clears_it,
    closing_can_require_finished_tasks,
    statuses_can_restrict_the_moves_out_of_them,
    case_metrics_count_and_time_each_group,
);
