//! The seed's walk-through: a threat hunter opens "Burrowing attack", an admin
//! customises the workflow, the case moves through it, tasks are done, incidents
//! linked and unlinked, and the activity log tells the story newest first.

use crate::common::*;
use serde_json::{Value, json};

async fn a_threat_hunt_from_open_to_closed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let hunter = token("hana", "acme", &["analyst"]);
    let lead = token("lars", "acme", &["admin"]);
    let reader = token("rita", "acme", &["reader"]);
    // Everyone calls once, so each is known in the tenant.
    for t in [&hunter, &lead, &reader] {
        server.ok(t, "{ me { tenant } }", json!({})).await;
    }

    // The admin adds two statuses to the workflow.
    let create_status = "mutation($input: CreateStatusInput!) { createStatus(input: $input) { id name } }";
    let research = server
        .ok(&lead, create_status, json!({ "input": { "name": "Research phase", "category": "OPEN", "position": 2 } }))
        .await["createStatus"]["id"]
        .clone();
    let hypothesis = server
        .ok(
            &lead,
            create_status,
            json!({ "input": { "name": "Generating hypothesis", "category": "OPEN", "position": 3 } }),
        )
        .await["createStatus"]["id"]
        .clone();

    // The hunter opens the case.
    let case = create_case(
        &server,
        &hunter,
        "  Burrowing attack  ",
        json!({ "description": "Lateral movement through a tunnelled SMB session.", "priority": "HIGH", "assigneeId": "hana", "dueOn": "2026-12-01T17:00:00Z" }),
    )
    .await;
    assert_eq!(case["id"], "1000", "case numbers start at 1000");
    assert_eq!(case["title"], "Burrowing attack", "titles are trimmed");
    assert_eq!(case["status"]["name"], "New", "the default status");
    assert_eq!(case["assignee"]["displayName"], "User hana");
    assert_eq!(case["version"], 1);
    assert_eq!(case["dueOn"], "2026-12-01T17:00:00Z");
    let case_id = case["id"].clone();

    // It moves through the workflow.
    for status in [&research, &hypothesis] {
        let body = update_case(&server, &hunter, json!({ "id": case_id, "statusId": status })).await;
        assert!(body.get("errors").is_none(), "{body}");
    }

    // Tasks are assigned and completed with closing notes.
    let create_task = "mutation($input: CreateTaskInput!) { createTask(input: $input) { id title status owner { id } case { id version } } }";
    let collect = server.ok(&hunter, create_task, json!({ "input": { "caseId": case_id, "title": "Collect SMB logs", "ownerId": "hana", "priority": "MEDIUM" } })).await["createTask"].clone();
    assert_eq!(collect["status"], "NEW");
    assert_eq!(collect["case"]["version"], 4, "a task change is a change of its case");
    let sweep = server
        .ok(&hunter, create_task, json!({ "input": { "caseId": case_id, "title": "Sweep hosts for the implant" } }))
        .await["createTask"]
        .clone();
    let update_task =
        "mutation($input: UpdateTaskInput!) { updateTask(input: $input) { id status closingNotes owner { id } } }";
    let done = server.ok(&hunter, update_task, json!({ "input": { "id": collect["id"], "status": "COMPLETED", "closingNotes": "Logs archived to the evidence store." } })).await["updateTask"].clone();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["closingNotes"], "Logs archived to the evidence store.");
    server
        .ok(&hunter, update_task, json!({ "input": { "id": sweep["id"], "ownerId": "lars", "status": "IN_PROGRESS" } }))
        .await;

    // Two incidents are linked; one is unlinked again.
    let smb = create_incident(&server, &hunter, "Suspicious SMB tunnel", "HIGH").await;
    let dns = create_incident(&server, &hunter, "DNS beaconing", "MEDIUM").await;
    let link = "mutation($input: CaseIncidentsInput!) { linkIncidents(input: $input) { id incidents { id title } } }";
    let linked = server
        .ok(&hunter, link, json!({ "input": { "caseId": case_id, "incidentIds": [smb["id"], dns["id"]] } }))
        .await;
    assert_eq!(linked["linkIncidents"]["incidents"].as_array().unwrap().len(), 2);
    // Linking twice is one link.
    let again = server.ok(&hunter, link, json!({ "input": { "caseId": case_id, "incidentIds": [smb["id"]] } })).await;
    assert_eq!(again["linkIncidents"]["incidents"].as_array().unwrap().len(), 2);
    let unlink = "mutation($input: CaseIncidentsInput!) { unlinkIncidents(input: $input) { id incidents { title } } }";
    let unlinked =
        server.ok(&hunter, unlink, json!({ "input": { "caseId": case_id, "incidentIds": [dns["id"]] } })).await;
    assert_eq!(unlinked["unlinkIncidents"]["incidents"], json!([{ "title": "Suspicious SMB tunnel" }]));
    // Seen from the incidents' side.
    let sides = server
        .ok(&reader, "query($a: ID!, $b: ID!) { a: incident(id: $a) { cases { id title } } b: incident(id: $b) { cases { id } } }", json!({ "a": smb["id"], "b": dns["id"] }))
        .await;
    assert_eq!(sides["a"]["cases"], json!([{ "id": "1000", "title": "Burrowing attack" }]));
    assert_eq!(sides["b"]["cases"], json!([]));

    // Comments beside the audit trail.
    let comment =
        "mutation($input: AddCommentInput!) { addComment(input: $input) { id body actor { id } case { id } } }";
    server.ok(&hunter, comment, json!({ "input": { "caseId": case_id, "body": "Implant found on two hosts." } })).await;
    let closed = status_id(&server, &lead, "Closed").await;
    let close = json!({ "id": case_id, "statusId": closed, "classification": "TRUE_POSITIVE",
                        "determination": "MULTI_STAGED_ATTACK", "closingComment": "Contained and eradicated." });
    let closing = update_case(&server, &lead, close).await;
    assert!(closing.get("errors").is_none(), "{closing}");
    server
        .ok(&lead, comment, json!({ "input": { "caseId": case_id, "body": "Closing: contained and eradicated." } }))
        .await;

    let log = "query($id: ID!, $kinds: [ActivityKind!]) { case(id: $id) { status { name } version activity(kinds: $kinds) { totalCount edges { cursor node { __typename actor { id } ... on Comment { body } ... on AuditEvent { action changes { field oldValue newValue } task { title } incident { title } } } } } } }";
    let all = server.ok(&reader, log, json!({ "id": case_id })).await;
    assert_eq!(all["case"]["status"]["name"], "Closed");
    let entries = all["case"]["activity"]["edges"].as_array().unwrap();
    let story: Vec<String> = entries
        .iter()
        .map(|e| {
            let node = &e["node"];
            node["action"].as_str().map_or_else(|| format!("COMMENT {}", node["body"].as_str().unwrap()), str::to_owned)
        })
        .collect();
    assert_eq!(
        story,
        [
            "COMMENT Closing: contained and eradicated.",
            "CASE_UPDATED",
            "COMMENT Implant found on two hosts.",
            "INCIDENT_UNLINKED",
            "INCIDENT_LINKED",
            "INCIDENT_LINKED",
            "TASK_UPDATED",
            "TASK_UPDATED",
            "TASK_CREATED",
            "TASK_CREATED",
            "CASE_UPDATED",
            "CASE_UPDATED",
            "CASE_CREATED",
        ],
        "newest first"
    );
    assert_eq!(all["case"]["activity"]["totalCount"], 13);
    // Audit values read as a person reads them: status and user names, not ids.
    let status_change = &entries[1]["node"];
    assert_eq!(status_change["actor"]["id"], "lars");
    assert_eq!(
        status_change["changes"],
        json!([
            { "field": "status", "oldValue": "Generating hypothesis", "newValue": "Closed" },
            { "field": "classification", "oldValue": null, "newValue": "TRUE_POSITIVE" },
            { "field": "determination", "oldValue": null, "newValue": "MULTI_STAGED_ATTACK" },
            { "field": "closingComment", "oldValue": null, "newValue": "Contained and eradicated." },
        ])
    );
    let owner_change = &entries[6]["node"];
    assert_eq!(owner_change["task"]["title"], "Sweep hosts for the implant");
    assert!(
        owner_change["changes"]
            .as_array()
            .unwrap()
            .contains(&json!({ "field": "owner", "oldValue": null, "newValue": "User lars" })),
        "{owner_change}"
    );
    assert_eq!(entries[3]["node"]["incident"]["title"], "DNS beaconing");
    let created = &entries[12]["node"]["changes"];
    assert!(
        created.as_array().unwrap().contains(&json!({ "field": "priority", "oldValue": null, "newValue": "High" })),
        "{created}"
    );
    assert!(
        created
            .as_array()
            .unwrap()
            .contains(&json!({ "field": "assignee", "oldValue": null, "newValue": "User hana" })),
        "{created}"
    );

    // Filter by kind.
    let comments = server.ok(&reader, log, json!({ "id": case_id, "kinds": ["COMMENT"] })).await;
    let kinds: Vec<&Value> =
        comments["case"]["activity"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]["__typename"]).collect();
    assert_eq!(kinds, [&json!("Comment"), &json!("Comment")]);
    let audits = server.ok(&reader, log, json!({ "id": case_id, "kinds": ["AUDIT"] })).await;
    assert_eq!(audits["case"]["activity"]["totalCount"], 11);

    // Pages of the log cover it once, newest first.
    let page = "query($id: ID!, $after: String) { case(id: $id) { activity(first: 5, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } } }";
    let (mut seen, mut after) = (Vec::new(), Value::Null);
    loop {
        let data = server.ok(&reader, page, json!({ "id": case_id, "after": after })).await;
        let activity = &data["case"]["activity"];
        seen.extend(activity["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()));
        if activity["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = activity["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<Value> = entries.iter().map(|e| e["node"]["id"].clone()).collect::<Vec<_>>();
    let all_ids = server
        .ok(
            &reader,
            "query($id: ID!) { case(id: $id) { activity(first: 100) { nodes { id } } } }",
            json!({ "id": case_id }),
        )
        .await;
    let all_ids: Vec<Value> =
        all_ids["case"]["activity"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect();
    assert_eq!(seen, all_ids);
    assert_eq!(seen.len(), expected.len());

    // Deleting a task keeps its history.
    let delete =
        "mutation($input: DeleteTaskInput!) { deleteTask(input: $input) { deletedTaskId case { tasks { title } } } }";
    let deleted = server.ok(&hunter, delete, json!({ "input": { "id": sweep["id"] } })).await;
    assert_eq!(deleted["deleteTask"]["case"]["tasks"], json!([{ "title": "Collect SMB logs" }]));
    let latest = server.ok(&reader, "query($id: ID!) { case(id: $id) { activity(first: 1) { nodes { ... on AuditEvent { action task { id } changes { field oldValue newValue } } } } } }", json!({ "id": case_id })).await;
    assert_eq!(
        latest["case"]["activity"]["nodes"][0],
        json!({ "action": "TASK_DELETED", "task": null, "changes": [{ "field": "title", "oldValue": "Sweep hosts for the implant", "newValue": null }] })
    );
    let gone = server.ok(&reader, "query($id: ID!) { task(id: $id) { id } }", json!({ "id": sweep["id"] })).await;
    assert_eq!(gone["task"], Value::Null);
}

async fn the_hunts_evidence_and_the_pivot_as_the_readme_shows(backend: Backend) {
    let server = TestServer::start(backend).await;
    let hunter = token("hana", "acme", &["analyst"]);
    server.ok(&hunter, "{ me { tenant } }", json!({})).await;
    create_case(&server, &hunter, "Burrowing attack", json!({})).await;
    // An earlier sighting of the same endpoint, on another case.
    let other = create_case(&server, &hunter, "SMB beacon from FS01", json!({})).await["id"].clone();
    server
        .ok(
            &hunter,
            "mutation($i: AddObservablesInput!) { addObservables(input: $i) { case { id } } }",
            json!({ "i": { "caseId": other, "observables": [{ "type": "IP_ADDRESS", "value": "10.0.0.5", "isIoc": true }] } }),
        )
        .await;
    server
        .ok(&hunter, "mutation { addCaseTags(input: { caseId: \"1001\", tags: [\"apt29\"] }) { id } }", json!({}))
        .await;

    let evidence = server.ok(&hunter, &readme_operation("mutation Evidence"), json!({})).await;
    let techniques = &evidence["setCaseTechniques"]["techniques"];
    assert_eq!(techniques[0]["name"], "SMB/Windows Admin Shares");
    assert_eq!(techniques[1]["tactics"], json!([{ "id": "TA0011", "name": "Command and Control" }]));
    assert_eq!(evidence["addCaseTags"]["tags"], json!(["apt29", "lateral-movement"]), "the tenant's first spelling");
    let values: Vec<&Value> =
        evidence["addObservables"]["observables"].as_array().unwrap().iter().map(|o| &o["normalizedValue"]).collect();
    assert_eq!(
        values,
        [
            &json!("10.0.0.5"),
            &json!("ws-0421.corp.example"),
            &json!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        ]
    );

    let pivot = server.ok(&hunter, &readme_operation("query Pivot"), json!({})).await;
    let sightings = &pivot["case"]["observables"]["nodes"];
    assert_eq!(sightings.as_array().unwrap().len(), 1, "one IOC on the case");
    assert_eq!(sightings[0]["cases"]["totalCount"], 2);
    assert_eq!(sightings[0]["cases"]["nodes"][1]["title"], "Burrowing attack");
    assert_eq!(
        pivot["observables"]["nodes"],
        json!([{ "case": { "id": "1000", "title": "Burrowing attack" }, "addedBy": { "displayName": "User hana" } }])
    );
    assert_eq!(pivot["cases"]["totalCount"], 2, "both cases saw 10.0.0.5 and carry APT29");
    assert_eq!(pivot["cases"]["nodes"][1]["techniques"], json!([{ "id": "T1021.002" }, { "id": "T1572" }]));
    assert_eq!(pivot["tags"], json!([{ "name": "apt29", "openCaseCount": 2 }]));
    let found = pivot["attackTechniques"].as_array().unwrap();
    assert!(found.contains(&json!({ "id": "T1572", "name": "Protocol Tunneling" })), "{found:?}");
}

async fn the_sla_queue_and_metrics_as_the_readme_shows(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (lead, analyst) = (token("lee", "acme", &["admin"]), token("hana", "acme", &["analyst"]));
    let policy = "mutation { setSlaPolicy(input: { priority: HIGH, acknowledgeWithin: \"PT1S\", resolveWithin: \"P1D\" }) { priority } }";
    server.ok(&lead, policy, json!({})).await;
    let late =
        create_case(&server, &analyst, "Phish reported by finance", json!({ "priority": "HIGH" })).await["id"].clone();
    create_case(&server, &analyst, "Phish reported by sales", json!({ "priority": "HIGH", "assigneeId": "hana" }))
        .await;
    for id in ["1000", "1001"] {
        server
            .ok(
                &analyst,
                &format!("mutation {{ addCaseTags(input: {{ caseId: \"{id}\", tags: [\"phishing\"] }}) {{ id }} }}"),
                json!({}),
            )
            .await;
    }
    // The unacknowledged case turns at risk, then misses its one-second
    // deadline (polled until the page shows it breached: the count and the
    // page are read at two moments, so either may see the turn first).
    let mut queue = server.ok(&analyst, &readme_operation("query SlaQueue"), json!({})).await;
    for _ in 0..100 {
        if queue["cases"]["nodes"][0]["sla"]["state"] == "BREACHED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        queue = server.ok(&analyst, &readme_operation("query SlaQueue"), json!({})).await;
    }
    assert_eq!(queue["cases"]["nodes"][0]["id"], late);
    assert_eq!(queue["cases"]["nodes"][0]["sla"]["state"], "BREACHED");
    assert_eq!(queue["cases"]["totalCount"], 1, "the other case was acknowledged at once");

    let metrics = server.ok(&token("rita", "acme", &["reader"]), &readme_operation("query Metrics"), json!({})).await;
    let high = &metrics["caseMetrics"][0];
    assert_eq!(
        (high["priority"].as_str(), high["opened"].as_i64(), high["openNow"].as_i64()),
        (Some("HIGH"), Some(2), Some(2))
    );
    assert_eq!(
        (high["slaCases"].as_i64(), high["slaBreached"].as_i64(), high["slaBreachRate"].as_f64()),
        (Some(2), Some(1), Some(0.5))
    );
    assert_eq!(high["timeToAcknowledge"]["count"], 1);
}

both_backends!(
    the_hunts_evidence_and_the_pivot_as_the_readme_shows,
    a_threat_hunt_from_open_to_closed,
    the_sla_queue_and_metrics_as_the_readme_shows,
);
