//! Cases, tasks, incidents and comments: update semantics, versions,
//! validation, limits, and ids under concurrency.

use crate::common::*;
use serde_json::{Value, json};

async fn activity_count(server: &TestServer, token: &str, id: &Value) -> i64 {
    let data =
        server.ok(token, "query($id: ID!) { case(id: $id) { activity { totalCount } } }", json!({ "id": id })).await;
    data["case"]["activity"]["totalCount"].as_i64().unwrap()
}

async fn absent_fields_stay_and_null_clears(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    server.ok(&admin("acme"), "{ me { tenant } }", json!({})).await;
    let case = create_case(&server, &analyst, "Phishing wave", json!({ "description": "Mails from a lookalike domain", "priority": "LOW", "assigneeId": "anna", "dueOn": "2026-12-24T12:00:00Z" })).await;
    let id = case["id"].clone();

    let body = update_case(&server, &admin("acme"), json!({ "id": id, "priority": "CRITICAL" })).await;
    let updated = &body["data"]["updateCase"];
    assert_eq!(updated["priority"], "CRITICAL");
    assert_eq!(updated["description"], "Mails from a lookalike domain", "absent fields are left alone");
    assert_eq!(updated["assignee"]["id"], "anna");
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["updatedBy"]["id"], "adam");
    assert_eq!(updated["createdBy"]["id"], "anna");

    let body = update_case(
        &server,
        &analyst,
        json!({ "id": id, "description": null, "assigneeId": null, "dueOn": null, "priority": null }),
    )
    .await;
    let cleared = &body["data"]["updateCase"];
    assert_eq!(
        (
            cleared["description"].clone(),
            cleared["assignee"].clone(),
            cleared["dueOn"].clone(),
            cleared["priority"].clone()
        ),
        (Value::Null, Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(cleared["version"], 3);

    // A change that changes nothing writes nothing.
    let before = activity_count(&server, &analyst, &id).await;
    let body = update_case(&server, &analyst, json!({ "id": id, "title": "Phishing wave", "description": null })).await;
    assert_eq!(body["data"]["updateCase"]["version"], 3);
    assert_eq!(activity_count(&server, &analyst, &id).await, before);

    let body = update_case(&server, &analyst, json!({ "id": id, "title": null })).await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("title"), "{body}");
}

async fn a_stale_expected_version_is_a_conflict_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let case = create_case(&server, &analyst, "Ransomware note", json!({})).await;
    let id = case["id"].clone();
    let ok =
        update_case(&server, &analyst, json!({ "id": id, "expectedVersion": 1, "title": "Ransomware note on FS01" }))
            .await;
    assert_eq!(ok["data"]["updateCase"]["version"], 2);
    let before = activity_count(&server, &analyst, &id).await;
    let stale = update_case(&server, &analyst, json!({ "id": id, "expectedVersion": 1, "title": "Overwritten" })).await;
    assert_code(&stale, "CONFLICT");
    let now = server.ok(&analyst, "query($id: ID!) { case(id: $id) { title version } }", json!({ "id": id })).await;
    assert_eq!(now["case"], json!({ "title": "Ransomware note on FS01", "version": 2 }));
    assert_eq!(activity_count(&server, &analyst, &id).await, before, "no audit for a refused change");
}

async fn bad_input_names_the_field_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let admin = admin("acme");
    let research = server
        .ok(&admin, "mutation { createStatus(input: { name: \"Research\", category: OPEN }) { id } }", json!({}))
        .await["createStatus"]["id"]
        .clone();
    server
        .ok(
            &admin,
            "mutation($input: UpdateStatusInput!) { updateStatus(input: $input) { id } }",
            json!({ "input": { "id": research, "archived": true } }),
        )
        .await;
    let foreign_status =
        server.ok(&token("gus", "globex", &["reader"]), "{ statuses { id } }", json!({})).await["statuses"][0]["id"]
            .clone();
    let create = format!("mutation($input: CreateCaseInput!) {{ createCase(input: $input) {{ {CASE_FIELDS} }} }}");
    let cases = [
        (json!({ "title": "   " }), "title"),
        (json!({ "title": "x".repeat(257) }), "title"),
        (json!({ "title": "t", "description": "d".repeat(16 * 1024 + 1) }), "description"),
        (json!({ "title": "t", "priority": "URGENT" }), "priority"),
        (json!({ "title": "t", "dueOn": "next tuesday" }), "dueOn"),
        (json!({ "title": "t", "assigneeId": "nobody" }), "assigneeId"),
        (json!({ "title": "t", "statusId": foreign_status }), "statusId"),
        (json!({ "title": "t", "statusId": research }), "statusId"),
    ];
    for (input, field) in cases {
        let body = server.gql(Some(&analyst), &create, json!({ "input": input })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(field), "{field}: {body}");
    }
    // Nothing was created, and no id was used up.
    let queue = server.ok(&analyst, "{ cases { totalCount } }", json!({})).await;
    assert_eq!(queue["cases"]["totalCount"], 0);
    assert_eq!(create_case(&server, &analyst, "First real case", json!({})).await["id"], "1000");

    // Comments: plain text, not blank, at most 16 KiB.
    let comment = "mutation($input: AddCommentInput!) { addComment(input: $input) { body } }";
    for body in ["  ".to_owned(), "é".repeat(8 * 1024 + 1)] {
        let response =
            server.gql(Some(&analyst), comment, json!({ "input": { "caseId": "1000", "body": body } })).await;
        assert_code(&response, "BAD_USER_INPUT");
        assert!(response["errors"][0]["message"].as_str().unwrap().starts_with("body"), "{response}");
    }
    let max = "x".repeat(16 * 1024);
    let ok = server.ok(&analyst, comment, json!({ "input": { "caseId": "1000", "body": max } })).await;
    assert_eq!(ok["addComment"]["body"].as_str().unwrap().len(), 16 * 1024);
    let missing = server.gql(Some(&analyst), comment, json!({ "input": { "caseId": "4242", "body": "hello" } })).await;
    assert_code(&missing, "NOT_FOUND");

    // Tasks: owner must be known, title required.
    let task = "mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }";
    let body = server
        .gql(Some(&analyst), task, json!({ "input": { "caseId": "1000", "title": "t", "ownerId": "ghost" } }))
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("ownerId"), "{body}");
    let body = server.gql(Some(&analyst), task, json!({ "input": { "caseId": "1000", "title": "" } })).await;
    assert_code(&body, "BAD_USER_INPUT");
}

async fn incidents_have_unique_external_ids_and_a_link_limit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let create = "mutation($input: CreateIncidentInput!) { createIncident(input: $input) { id externalId status } }";
    let first = server
        .ok(&analyst, create, json!({ "input": { "externalId": "DET-1", "title": "Beacon", "severity": "LOW" } }))
        .await;
    assert_eq!(first["createIncident"]["status"], "ACTIVE");
    let dup = server
        .gql(Some(&analyst), create, json!({ "input": { "externalId": "DET-1", "title": "Again", "severity": "LOW" } }))
        .await;
    assert_code(&dup, "CONFLICT");
    // The same external id in another tenant is fine.
    server
        .ok(
            &token("gus", "globex", &["analyst"]),
            create,
            json!({ "input": { "externalId": "DET-1", "title": "Theirs", "severity": "HIGH" } }),
        )
        .await;
    let update = "mutation($input: UpdateIncidentInput!) { updateIncident(input: $input) { status severity title } }";
    let changed = server
        .ok(&analyst, update, json!({ "input": { "id": first["createIncident"]["id"], "status": "RESOLVED" } }))
        .await;
    assert_eq!(changed["updateIncident"], json!({ "status": "RESOLVED", "severity": "LOW", "title": "Beacon" }));

    let case = create_case(&server, &analyst, "Noisy host", json!({})).await;
    let mut ids = Vec::new();
    for n in 0..101 {
        ids.push(create_incident(&server, &analyst, &format!("Alert {n}"), "INFORMATIONAL").await["id"].clone());
    }
    let link = "mutation($input: CaseIncidentsInput!) { linkIncidents(input: $input) { incidents { id } } }";
    let linked =
        server.ok(&analyst, link, json!({ "input": { "caseId": case["id"], "incidentIds": ids[..100] } })).await;
    assert_eq!(linked["linkIncidents"]["incidents"].as_array().unwrap().len(), 100);
    let over =
        server.gql(Some(&analyst), link, json!({ "input": { "caseId": case["id"], "incidentIds": [ids[100]] } })).await;
    assert_code(&over, "BAD_USER_INPUT");
    assert!(over["errors"][0]["message"].as_str().unwrap().starts_with("incidentIds"), "{over}");
    let filtered = server
        .ok(
            &analyst,
            "query($c: ID!) { incidents(filter: { caseId: $c }, first: 5) { totalCount nodes { id } } }",
            json!({ "c": case["id"] }),
        )
        .await;
    assert_eq!(filtered["incidents"]["totalCount"], 100);
}

async fn concurrent_creates_get_distinct_consecutive_ids(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    server.ok(&analyst, "{ me { tenant } }", json!({})).await;
    let creates = (0..50).map(|n| {
        let (server, analyst) = (&server, &analyst);
        async move {
            create_case(server, analyst, &format!("Parallel case {n}"), json!({})).await["id"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        }
    });
    let mut ids = futures_util::future::join_all(creates).await;
    ids.sort_unstable();
    assert_eq!(ids, (1000..1050).collect::<Vec<i64>>());
    // Each of the fifty cases has exactly its own CASE_CREATED event.
    for id in &ids {
        let data = server.ok(&analyst, "query($id: ID!) { case(id: $id) { activity(kinds: [AUDIT]) { nodes { ... on AuditEvent { action } } } } }", json!({ "id": id.to_string() })).await;
        assert_eq!(data["case"]["activity"]["nodes"], json!([{ "action": "CASE_CREATED" }]));
    }
}

both_backends!(
    absent_fields_stay_and_null_clears,
    a_stale_expected_version_is_a_conflict_and_changes_nothing,
    bad_input_names_the_field_and_changes_nothing,
    incidents_have_unique_external_ids_and_a_link_limit,
    concurrent_creates_get_distinct_consecutive_ids,
);
