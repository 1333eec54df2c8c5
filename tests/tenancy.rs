//! Tenant isolation on every field that takes an id: another tenant's object
//! is answered exactly as one that does not exist.

use crate::common::*;
use serde_json::{Value, json};

/// Replaces the id in a message so "foreign" and "missing" answers compare.
fn shape(body: &Value, id: &Value) -> Value {
    let mut body = body.clone();
    without_request_ids(&mut body);
    if let Some(message) = body["errors"][0]["message"].as_str() {
        let id = id.as_str().unwrap_or_default();
        body["errors"][0]["message"] = json!(message.replace(id, "ID"));
    }
    if let Some(errors) = body["errors"].as_array_mut() {
        for e in errors {
            e.as_object_mut().unwrap().remove("locations");
        }
    }
    body
}

async fn another_tenants_objects_do_not_exist(backend: Backend) {
    let server = TestServer::start(backend).await;
    // acme's objects
    let acme = analyst("acme");
    let case = create_case(&server, &acme, "Acme secret", json!({ "assigneeId": "anna" })).await;
    let task = server
        .ok(&acme, "mutation { createTask(input: { caseId: \"1000\", title: \"Acme task\" }) { id } }", json!({}))
        .await["createTask"]["id"]
        .clone();
    let incident = create_incident(&server, &acme, "Acme incident", "HIGH").await["id"].clone();
    server
        .ok(
            &acme,
            "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { id } }",
            json!({ "i": { "caseId": "1000", "incidentIds": [incident] } }),
        )
        .await;
    server
        .ok(&acme, "mutation { addComment(input: { caseId: \"1000\", body: \"acme only\" }) { id } }", json!({}))
        .await;
    let acme_status = status_id(&server, &acme, "Open").await;
    let observable = server
        .ok(
            &acme,
            "mutation($i: AddObservablesInput!) { addObservables(input: $i) { observables { id } } }",
            json!({ "i": { "caseId": "1000", "observables": [{ "type": "DOMAIN", "value": "acme-only.example" }] } }),
        )
        .await["addObservables"]["observables"][0]["id"]
        .clone();
    for mutation in [
        "mutation { addCaseTags(input: { caseId: \"1000\", tags: [\"acme-tag\"] }) { id } }",
        "mutation { setCaseTechniques(input: { caseId: \"1000\", techniqueIds: [\"T1021\"] }) { id } }",
    ] {
        server.ok(&acme, mutation, json!({})).await;
    }

    // globex has its own case 1000, so ids collide on purpose.
    let globex = token("gina", "globex", &["admin"]);
    let theirs = create_case(&server, &globex, "Globex case", json!({})).await;
    assert_eq!(theirs["id"], "1000", "ids are per tenant");
    let missing_case = json!("999999");
    let missing = json!("987654321");

    // Reads: null, exactly like a missing id.
    for (query, id) in [
        ("query($id: ID!) { task(id: $id) { id } }", &task),
        ("query($id: ID!) { incident(id: $id) { id } }", &incident),
        ("query($id: ID!) { observable(id: $id) { id } }", &observable),
    ] {
        assert_eq!(
            server.ok(&globex, query, json!({ "id": id })).await,
            server.ok(&globex, query, json!({ "id": missing })).await
        );
    }
    let own = server
        .ok(&globex, "{ case(id: \"1000\") { title incidents { id } activity { totalCount } } }", json!({}))
        .await;
    assert_eq!(own["case"]["title"], "Globex case");
    assert_eq!(own["case"]["incidents"], json!([]));
    assert_eq!(own["case"]["activity"]["totalCount"], 1, "only globex's own CASE_CREATED");
    let queue = server
        .ok(
            &globex,
            "query($i: ID!) { cases(filter: { incidentId: $i }) { totalCount } incidents { totalCount } }",
            json!({ "i": incident }),
        )
        .await;
    assert_eq!(queue, json!({ "cases": { "totalCount": 0 }, "incidents": { "totalCount": 0 } }));
    let evidence = server
        .ok(
            &globex,
            "{ byValue: cases(filter: { observable: { type: DOMAIN, value: \"acme-only.example\" } }) { totalCount }
               byTag: cases(filter: { tags: { any: [\"acme-tag\"] } }) { totalCount }
               byTechnique: cases(filter: { techniqueIds: [\"T1021\"] }) { totalCount }
               observables(filter: { value: \"acme-only.example\" }) { totalCount }
               tags { name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        evidence,
        json!({ "byValue": { "totalCount": 0 }, "byTag": { "totalCount": 0 }, "byTechnique": { "totalCount": 0 },
                "observables": { "totalCount": 0 }, "tags": [] })
    );
    let people = server.ok(&globex, "{ users { id } }", json!({})).await;
    assert_eq!(people["users"], json!([{ "id": "gina" }]));
    // Workflow: acme's SLA policy, settings and metrics are acme's alone.
    let acme_admin = admin("acme");
    server
        .ok(&acme_admin, "mutation { setSlaPolicy(input: { resolveWithin: \"P1D\" }) { priority } }", json!({}))
        .await;
    server
        .ok(
            &acme_admin,
            "mutation { updateWorkflowSettings(input: { requireFinishedTasks: true }) { requireFinishedTasks } }",
            json!({}),
        )
        .await;
    let workflow = server
        .ok(
            &globex,
            "{ slaPolicies { priority } workflowSettings { requireFinishedTasks }
               onTrack: cases(filter: { slaStates: [ON_TRACK] }) { totalCount }
               none: cases(filter: { slaStates: [NONE] }) { totalCount }
               caseMetrics { opened openNow } }",
            json!({}),
        )
        .await;
    assert_eq!(
        workflow,
        json!({ "slaPolicies": [], "workflowSettings": { "requireFinishedTasks": false },
                "onTrack": { "totalCount": 0 }, "none": { "totalCount": 1 },
                "caseMetrics": [{ "opened": 1, "openNow": 1 }] })
    );

    // Mutations on another tenant's object: NOT_FOUND, same message as a missing one.
    let mutations: Vec<(&str, Value, Value)> = vec![
        (
            "mutation($i: UpdateCaseInput!) { updateCase(input: $i) { id } }",
            json!({ "id": "1001", "title": "x" }),
            json!({ "id": missing_case, "title": "x" }),
        ),
        (
            "mutation($i: UpdateTaskInput!) { updateTask(input: $i) { id } }",
            json!({ "id": task, "title": "x" }),
            json!({ "id": missing, "title": "x" }),
        ),
        (
            "mutation($i: DeleteTaskInput!) { deleteTask(input: $i) { deletedTaskId } }",
            json!({ "id": task }),
            json!({ "id": missing }),
        ),
        (
            "mutation($i: UpdateIncidentInput!) { updateIncident(input: $i) { id } }",
            json!({ "id": incident, "title": "x" }),
            json!({ "id": missing, "title": "x" }),
        ),
        (
            "mutation($i: UpdateStatusInput!) { updateStatus(input: $i) { id } }",
            json!({ "id": acme_status, "name": "x" }),
            json!({ "id": missing, "name": "x" }),
        ),
        (
            "mutation($i: UpdateObservableInput!) { updateObservable(input: $i) { id } }",
            json!({ "id": observable, "isIoc": true }),
            json!({ "id": missing, "isIoc": true }),
        ),
        (
            "mutation($i: RemoveObservableInput!) { removeObservable(input: $i) { id } }",
            json!({ "id": observable }),
            json!({ "id": missing }),
        ),
    ];
    for (query, foreign, absent) in mutations {
        let a = server.gql(Some(&globex), query, json!({ "i": foreign })).await;
        let b = server.gql(Some(&globex), query, json!({ "i": absent })).await;
        assert_code(&a, "NOT_FOUND");
        assert_eq!(shape(&a, &foreign["id"]), shape(&b, &absent["id"]), "{query}");
    }
    // Acme's case 1000 is globex's own 1000: acting on "1000" from globex touches globex's case only.
    server
        .ok(&globex, "mutation { addComment(input: { caseId: \"1000\", body: \"globex note\" }) { id } }", json!({}))
        .await;
    let acme_view = server
        .ok(
            &acme,
            "{ case(id: \"1000\") { title activity(kinds: [COMMENT]) { nodes { ... on Comment { body } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(acme_view["case"]["activity"]["nodes"], json!([{ "body": "acme only" }]));
    // Case-scoped mutations naming a case only acme has.
    create_case(&server, &acme, "Acme second", json!({})).await; // acme 1001; globex has no 1001
    for (query, input) in [
        ("mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }", json!({ "caseId": "1001", "title": "x" })),
        ("mutation($i: AddCommentInput!) { addComment(input: $i) { id } }", json!({ "caseId": "1001", "body": "x" })),
        (
            "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { id } }",
            json!({ "caseId": "1001", "incidentIds": [] }),
        ),
        (
            "mutation($i: CaseIncidentsInput!) { unlinkIncidents(input: $i) { id } }",
            json!({ "caseId": "1001", "incidentIds": [] }),
        ),
        (
            "mutation($i: AddObservablesInput!) { addObservables(input: $i) { case { id } } }",
            json!({ "caseId": "1001", "observables": [{ "type": "DOMAIN", "value": "x.example" }] }),
        ),
        ("mutation($i: CaseTagsInput!) { addCaseTags(input: $i) { id } }", json!({ "caseId": "1001", "tags": ["x"] })),
        (
            "mutation($i: CaseTagsInput!) { removeCaseTags(input: $i) { id } }",
            json!({ "caseId": "1001", "tags": ["x"] }),
        ),
        (
            "mutation($i: SetCaseTechniquesInput!) { setCaseTechniques(input: $i) { id } }",
            json!({ "caseId": "1001", "techniqueIds": [] }),
        ),
    ] {
        assert_code(&server.gql(Some(&globex), query, json!({ "i": input })).await, "NOT_FOUND");
    }
    // Ids named inside an input: another tenant's status, user or incident is unknown.
    let refs: Vec<(&str, Value, &str)> = vec![
        (
            "mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }",
            json!({ "title": "x", "statusId": acme_status }),
            "statusId",
        ),
        (
            "mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }",
            json!({ "title": "x", "assigneeId": "anna" }),
            "assigneeId",
        ),
        (
            "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { id } }",
            json!({ "caseId": "1000", "incidentIds": [incident] }),
            "incidentIds",
        ),
        (
            "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }",
            json!({ "caseId": "1000", "title": "x", "ownerId": "anna" }),
            "ownerId",
        ),
        (
            "mutation($i: UpdateStatusInput!) { updateStatus(input: $i) { id } }",
            json!({ "id": status_id(&server, &globex, "New").await, "allowedNextIds": [acme_status] }),
            "allowedNextIds",
        ),
    ];
    for (query, input, field) in refs {
        let body = server.gql(Some(&globex), query, json!({ "i": input })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().starts_with(field), "{body}");
    }
    // Nothing of acme's changed.
    let after = server
        .ok(&acme, "{ case(id: \"1000\") { title version tasks { title } incidents { title } } }", json!({}))
        .await;
    assert_eq!(
        after["case"],
        json!({ "title": "Acme secret", "version": case["version"].as_i64().unwrap() + 5, "tasks": [{ "title": "Acme task" }], "incidents": [{ "title": "Acme incident" }] })
    );
}

both_backends!(another_tenants_objects_do_not_exist);
