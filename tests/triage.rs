//! Triage at volume, as a client meets it: bulk changes reported per case,
//! relations between cases, and merging duplicates into one.

use crate::common;
use crate::common::*;
use serde_json::{Value, json};

const BULK: &str = "mutation($i: UpdateCasesInput!) { updateCases(input: $i) {
    operationId dryRun changed unchanged refused
    results { caseId outcome case { id version priority } error { code message field } } } }";

async fn update_cases(server: &TestServer, token: &str, input: Value) -> Value {
    server.gql(Some(token), BULK, json!({ "i": input })).await
}

/// Opens `n` cases titled `{prefix} {k}` and returns their ids.
async fn open_cases(server: &TestServer, token: &str, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for k in 0..n {
        let case = create_case(server, token, &format!("{prefix} {k}"), json!({})).await;
        ids.push(case["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// A case's audit entries, oldest first: (action, changes, operationId).
async fn audits(server: &TestServer, token: &str, id: &str) -> Vec<(String, Value, Value)> {
    let query = "query($id: ID!) { case(id: $id) { activity(kinds: [AUDIT], first: 100) { nodes {
        ... on AuditEvent { action operationId changes { field oldValue newValue } } } } } }";
    let data = server.ok(token, query, json!({ "id": id })).await;
    let mut entries: Vec<(String, Value, Value)> = data["case"]["activity"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["action"].as_str().unwrap().to_owned(), n["changes"].clone(), n["operationId"].clone()))
        .collect();
    entries.reverse();
    entries
}

/// A case of another tenant whose number the acme tenant of these tests does
/// not use (each tenant numbers its cases from 1000).
async fn foreign_case(server: &TestServer) -> Value {
    let ids = open_cases(server, &common::analyst("globex"), "Theirs", 10).await;
    json!(ids[9])
}

fn outcomes(body: &Value) -> Vec<(String, String)> {
    body["data"]["updateCases"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {body}"))
        .iter()
        .map(|r| (r["caseId"].as_str().unwrap().to_owned(), r["outcome"].as_str().unwrap().to_owned()))
        .collect()
}

async fn a_bulk_change_reports_each_case_and_audits_each_on_its_own(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Phish", 3).await;
    let theirs = foreign_case(&server).await;
    // The third case moves on meanwhile: its expected version is stale.
    update_case(&server, &analyst, json!({ "id": ids[2], "priority": "LOW" })).await;
    let input = json!({
        "ids": [ids[0], ids[1], ids[2], "99999", theirs, ids[0]],
        "changes": { "priority": "HIGH", "assigneeId": "anna", "addTags": ["phishing"] },
        "expectedVersions": [{ "id": ids[2], "version": 1 }],
    });

    let mut dry_input = input.clone();
    dry_input["dryRun"] = json!(true);
    let dry = update_cases(&server, &analyst, dry_input).await;
    assert_eq!(dry["data"]["updateCases"]["dryRun"], true, "{dry}");
    assert_eq!(dry["data"]["updateCases"]["changed"], 2);
    assert_eq!(dry["data"]["updateCases"]["results"][0]["case"]["version"], 1, "a dry run writes nothing");
    assert!(audits(&server, &analyst, &ids[0]).await.iter().all(|(_, _, op)| op.is_null()));

    let body = update_cases(&server, &analyst, input.clone()).await;
    let payload = &body["data"]["updateCases"];
    // Repeats count once; every other case is reported in the order named.
    assert_eq!(
        outcomes(&body),
        vec![
            (ids[0].clone(), "CHANGED".into()),
            (ids[1].clone(), "CHANGED".into()),
            (ids[2].clone(), "REFUSED".into()),
            ("99999".into(), "REFUSED".into()),
            (theirs.as_str().unwrap().to_owned(), "REFUSED".into()),
        ]
    );
    assert_eq!((payload["changed"].as_i64(), payload["refused"].as_i64()), (Some(2), Some(3)));
    assert_eq!(payload["results"][2]["error"]["code"], "CONFLICT");
    assert_eq!(payload["results"][3]["error"]["code"], "NOT_FOUND");
    assert_eq!(payload["results"][4]["error"]["code"], "NOT_FOUND", "answered as a case that does not exist");
    assert!(payload["results"][4]["case"].is_null(), "another tenant's case is not shown");
    assert_eq!(payload["results"][0]["case"]["priority"], "HIGH");

    // One CASE_UPDATED and one TAGS_ADDED per changed case, each naming the operation.
    let operation = payload["operationId"].clone();
    for id in &ids[..2] {
        let log = audits(&server, &analyst, id).await;
        let bulk: Vec<&str> = log.iter().filter(|(_, _, op)| *op == operation).map(|(a, _, _)| a.as_str()).collect();
        assert_eq!(bulk, ["CASE_UPDATED", "TAGS_ADDED"], "{log:?}");
    }
    // The refused case kept everything, tags included.
    let stale =
        server.ok(&analyst, "query($id: ID!) { case(id: $id) { priority tags } }", json!({ "id": ids[2] })).await;
    assert_eq!(stale["case"], json!({ "priority": "LOW", "tags": [] }));
    let theirs_now = server
        .ok(
            &common::analyst("globex"),
            "query($id: ID!) { case(id: $id) { priority version } }",
            json!({ "id": theirs }),
        )
        .await;
    assert_eq!(theirs_now["case"], json!({ "priority": null, "version": 1 }));

    // The same change again changes nothing.
    let again = update_cases(&server, &analyst, json!({ "ids": [ids[0], ids[1]], "changes": input["changes"] })).await;
    assert_eq!(outcomes(&again).iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(), ["UNCHANGED", "UNCHANGED"]);
}

async fn bulk_closing_follows_every_rule_of_a_single_close(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Spam", 3).await;
    create_task(&server, &analyst, &ids[1], "Pull the mail", json!({})).await;
    server
        .ok(
            &admin("acme"),
            "mutation { updateWorkflowSettings(input: { requireFinishedTasks: true }) { requireFinishedTasks } }",
            json!({}),
        )
        .await;
    server
        .ok(
            &analyst,
            "mutation($i: AddTagsToCasesInput!) { addTagsToCases(input: $i) { changed } }",
            json!({ "i": { "ids": ids, "tags": ["spam-wave"] } }),
        )
        .await;
    let closed = status_id(&server, &analyst, "Closed").await;
    let view = json!({ "tags": { "any": ["spam-wave"] } });

    let unclassified =
        update_cases(&server, &analyst, json!({ "filter": view, "changes": { "statusId": closed } })).await;
    let refused = &unclassified["data"]["updateCases"];
    assert_eq!(refused["refused"], 3, "{unclassified}");
    assert_eq!(refused["results"][0]["error"]["field"], "classification");

    let close = json!({ "statusId": closed, "classification": "FALSE_POSITIVE", "determination": "OTHER" });
    let body = update_cases(&server, &analyst, json!({ "filter": view, "changes": close })).await;
    assert_eq!(
        outcomes(&body).iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
        ["CHANGED", "REFUSED", "CHANGED"],
        "{body}"
    );
    let unfinished = &body["data"]["updateCases"]["results"][1]["error"];
    assert_eq!(unfinished["code"], "BAD_USER_INPUT");
    assert!(unfinished["message"].as_str().unwrap().contains("\"Pull the mail\" not finished"), "{unfinished}");

    let none = update_cases(&server, &analyst, json!({ "changes": close })).await;
    assert_code(&none, "BAD_USER_INPUT");
    let both = update_cases(&server, &analyst, json!({ "ids": ids, "filter": view, "changes": close })).await;
    assert_code(&both, "BAD_USER_INPUT");
    let too_many: Vec<String> = (0..501).map(|n| (1000 + n).to_string()).collect();
    let over = update_cases(&server, &analyst, json!({ "ids": too_many, "changes": close })).await;
    assert_code(&over, "BAD_USER_INPUT");
    assert!(over["errors"][0]["message"].as_str().unwrap().contains("at most 500"), "{over}");
}

/// Everything a change leaves for others to see, per case number: its audit
/// (actions and changes), the rule's comments, webhook deliveries, counters.
async fn traces(server: &TestServer, tenant: &str, ids: &[String], webhook: &Value) -> Value {
    let token = analyst(tenant);
    let mut cases = Vec::new();
    for id in ids {
        let query = "query($id: ID!) { case(id: $id) { priority status { name } assignee { id } tags
            activity(first: 50) { nodes { ... on AuditEvent { action changes { field oldValue newValue } }
              ... on Comment { body } } } } }";
        cases.push(server.ok(&token, query, json!({ "id": id })).await["case"].clone());
    }
    let query = "query($id: ID!) { webhook(id: $id) { deliveries(first: 100) { nodes { eventType case { id } } } } }";
    let deliveries = server.ok(&admin(tenant), query, json!({ "id": webhook })).await;
    let mut deliveries: Vec<String> = deliveries["webhook"]["deliveries"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", d["case"]["id"], d["eventType"]))
        .collect();
    deliveries.sort();
    let counts = server
        .ok(
            &token,
            "{ high: cases(filter: { priorities: [HIGH] }) { totalCount } \
                     mine: cases(filter: { assigneeIds: [\"anna\"] }) { totalCount } }",
            json!({}),
        )
        .await;
    json!({ "cases": cases, "deliveries": deliveries, "counts": counts })
}

async fn a_bulk_change_looks_like_the_same_changes_made_one_by_one(backend: Backend) {
    let server = crate::webhooks::server_allowing_loopback(backend, |_| {}).await;
    let mut setups = Vec::new();
    for tenant in ["bulk", "single"] {
        let rule = json!({ "name": "Escalate", "trigger": "CASE_UPDATED",
            "conditions": { "priorities": ["HIGH"] }, "actions": [{ "type": "ADD_COMMENT", "body": "Escalated" }] });
        server
            .ok(
                &admin(tenant),
                "mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }",
                json!({ "i": rule }),
            )
            .await;
        // Nothing listens there: the deliveries are recorded and fail.
        let hook =
            json!({ "url": "http://127.0.0.1:9/hook", "eventTypes": ["CASE_UPDATED", "CASE_CLOSED", "COMMENT_ADDED"] });
        let created = server
            .ok(
                &admin(tenant),
                "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }",
                json!({ "i": hook }),
            )
            .await;
        let ids = open_cases(&server, &analyst(tenant), "Lure", 3).await;
        setups.push((tenant, ids, created["createWebhook"]["webhook"]["id"].clone()));
    }
    let changes = json!({ "priority": "HIGH", "assigneeId": "anna" });
    let (_, bulk_ids, _) = &setups[0];
    let body = update_cases(&server, &analyst("bulk"), json!({ "ids": bulk_ids, "changes": changes })).await;
    assert_eq!(body["data"]["updateCases"]["changed"], 3, "{body}");
    let (_, single_ids, _) = &setups[1];
    for id in single_ids {
        let input = json!({ "id": id, "priority": "HIGH", "assigneeId": "anna" });
        assert!(update_case(&server, &analyst("single"), input).await.get("errors").is_none());
    }
    let bulk = traces(&server, "bulk", bulk_ids, &setups[0].2).await;
    let single = traces(&server, "single", single_ids, &setups[1].2).await;
    assert_eq!(bulk, single);
    assert!(bulk.to_string().contains("Escalated"), "the rule ran for each case: {bulk}");
}

async fn bulk_tags_and_links_report_per_case(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Beacon", 2).await;
    let full: Vec<String> = (0..20).map(|n| format!("t{n}")).collect();
    server
        .ok(
            &analyst,
            "mutation($i: CaseTagsInput!) { addCaseTags(input: $i) { id } }",
            json!({ "i": { "caseId": ids[1], "tags": full } }),
        )
        .await;
    let tagged = server
        .gql(
            Some(&analyst),
            "mutation($i: AddTagsToCasesInput!) { addTagsToCases(input: $i) {
            changed refused results { caseId outcome error { code field } } } }",
            json!({ "i": { "ids": ids, "tags": ["c2"] } }),
        )
        .await;
    let tagged = &tagged["data"]["addTagsToCases"];
    assert_eq!((tagged["changed"].as_i64(), tagged["refused"].as_i64()), (Some(1), Some(1)), "{tagged}");
    assert_eq!(tagged["results"][1]["error"], json!({ "code": "BAD_USER_INPUT", "field": "tags" }));

    // Cases refused after their new tag was made leave no tag behind, and the
    // second case makes the tag again rather than reusing the first's, which
    // was rolled back.
    let fresh = open_cases(&server, &analyst, "Untagged", 2).await;
    let bad = json!({ "addTags": ["fresh"], "removeTags": ["bad,name"] });
    let refused = update_cases(&server, &analyst, json!({ "ids": fresh, "changes": bad })).await;
    assert_eq!(refused["data"]["updateCases"]["refused"], 2, "{refused}");
    let tags = server.ok(&analyst, "{ tags(search: \"fresh\") { name } }", json!({})).await;
    assert_eq!(tags["tags"], json!([]), "{tags}");

    let incident = create_incident(&server, &analyst, "C2 beacon", "HIGH").await["id"].clone();
    let theirs = create_incident(&server, &common::analyst("globex"), "Theirs", "LOW").await["id"].clone();
    let link = "mutation($i: LinkIncidentsToCasesInput!) { linkIncidentsToCases(input: $i) {
        operationId changed refused results { outcome error { code } case { incidents { id } } } } }";
    let linked = server.gql(Some(&analyst), link, json!({ "i": { "ids": ids, "incidentIds": [incident] } })).await;
    let linked = &linked["data"]["linkIncidentsToCases"];
    assert_eq!(linked["changed"], 2, "{linked}");
    assert_eq!(linked["results"][0]["case"]["incidents"], json!([{ "id": incident }]));
    let audit = audits(&server, &analyst, &ids[0]).await;
    assert_eq!(
        audit.last().map(|(a, _, op)| (a.as_str(), op.clone())),
        Some(("INCIDENT_LINKED", linked["operationId"].clone()))
    );
    let refused = server.gql(Some(&analyst), link, json!({ "i": { "ids": ids, "incidentIds": [theirs] } })).await;
    assert_eq!(refused["data"]["linkIncidentsToCases"]["refused"], 2, "another tenant's incident: {refused}");
}

const RELATE: &str = "mutation($i: AddCaseRelationInput!) { addCaseRelation(input: $i) {
    id relations { kind case { id } } } }";

async fn relate(server: &TestServer, token: &str, case: &str, kind: &str, other: &str) -> Value {
    server.gql(Some(token), RELATE, json!({ "i": { "caseId": case, "kind": kind, "relatedCaseId": other } })).await
}

async fn relations_are_typed_both_ways_and_keep_parents_a_tree(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Intrusion", 4).await;
    let (parent, child, sibling, other) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let theirs = foreign_case(&server).await.as_str().unwrap().to_owned();

    let added = relate(&server, &analyst, parent, "PARENT_OF", child).await;
    assert_eq!(
        added["data"]["addCaseRelation"]["relations"],
        json!([{ "kind": "PARENT_OF", "case": { "id": child } }])
    );
    let seen = server
        .ok(
            &analyst,
            "query($id: ID!) { case(id: $id) { version relations { kind case { id } createdBy { id } } } }",
            json!({ "id": child }),
        )
        .await;
    assert_eq!(seen["case"]["relations"][0]["kind"], "CHILD_OF");
    assert_eq!(seen["case"]["relations"][0]["case"]["id"], parent.as_str());
    for id in [parent, child] {
        let log = audits(&server, &analyst, id).await;
        assert_eq!(log.last().unwrap().0, "RELATION_ADDED", "audited on both cases");
    }
    let again = relate(&server, &analyst, parent, "PARENT_OF", child).await;
    assert!(again.get("errors").is_none(), "the same relation again changes nothing: {again}");
    let version = server.ok(&analyst, "query($id: ID!) { case(id: $id) { version } }", json!({ "id": child })).await;
    assert_eq!(version["case"]["version"], seen["case"]["version"]);

    assert_code(&relate(&server, &analyst, parent, "BLOCKS", child).await, "CONFLICT");
    assert_code(&relate(&server, &analyst, sibling, "PARENT_OF", child).await, "CONFLICT");
    assert_code(&relate(&server, &analyst, child, "PARENT_OF", parent).await, "CONFLICT");
    // A cycle through a grandchild.
    relate(&server, &analyst, child, "PARENT_OF", sibling).await;
    let cycle = relate(&server, &analyst, sibling, "PARENT_OF", parent).await;
    assert_code(&cycle, "BAD_USER_INPUT");
    assert_code(&relate(&server, &analyst, parent, "RELATED_TO", parent).await, "BAD_USER_INPUT");
    assert_code(&relate(&server, &analyst, parent, "RELATED_TO", &theirs).await, "NOT_FOUND");
    relate(&server, &analyst, other, "RELATED_TO", parent).await;

    let filters = server
        .ok(
            &analyst,
            "query($p: ID!) {
            children: cases(filter: { parentId: $p }) { nodes { id } }
            parented: cases(filter: { hasParent: true }) { totalCount }
            orphans: cases(filter: { hasParent: false }) { totalCount }
            related: cases(filter: { relatedTo: $p }) { nodes { id } }
            parent: case(id: $p) { childCount closedChildCount } }",
            json!({ "p": parent }),
        )
        .await;
    assert_eq!(filters["children"]["nodes"], json!([{ "id": child }]));
    assert_eq!(
        (filters["parented"]["totalCount"].as_i64(), filters["orphans"]["totalCount"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(filters["related"]["nodes"], json!([{ "id": other }, { "id": child }]), "newest first");
    assert_eq!(filters["parent"], json!({ "childCount": 1, "closedChildCount": 0 }));
    let foreign = server
        .ok(
            &common::analyst("globex"),
            "query($p: ID!) { related: cases(filter: { relatedTo: $p }) { totalCount }
                children: cases(filter: { parentId: $p }) { totalCount }
                parented: cases(filter: { hasParent: true }) { totalCount }
                case(id: $p) { childCount relations { kind } } }",
            json!({ "p": parent }),
        )
        .await;
    assert_eq!(
        foreign,
        json!({ "related": { "totalCount": 0 }, "children": { "totalCount": 0 }, "parented": { "totalCount": 0 },
                "case": { "childCount": 0, "relations": [] } }),
        "another tenant's case of the same number relates to nothing"
    );

    let remove = "mutation($i: RemoveCaseRelationInput!) { removeCaseRelation(input: $i) { relations { kind } } }";
    let removed = server.ok(&analyst, remove, json!({ "i": { "caseId": child, "relatedCaseId": parent } })).await;
    assert_eq!(removed["removeCaseRelation"]["relations"], json!([{ "kind": "PARENT_OF" }]), "the grandchild stays");
    let log = audits(&server, &analyst, parent).await;
    let last = log.last().unwrap();
    assert_eq!((last.0.as_str(), &last.1[0]["oldValue"]), ("RELATION_REMOVED", &json!(format!("PARENT_OF {child}"))));
}

async fn a_parent_can_be_held_open_until_its_children_close(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Ransomware", 3).await;
    for child in &ids[1..] {
        relate(&server, &analyst, &ids[0], "PARENT_OF", child).await;
    }
    server
        .ok(
            &admin("acme"),
            "mutation { updateWorkflowSettings(input: { requireClosedChildren: true }) { requireClosedChildren } }",
            json!({}),
        )
        .await;
    let closed = status_id(&server, &analyst, "Closed").await;
    let close = |id: &str| json!({ "id": id, "statusId": closed, "classification": "TRUE_POSITIVE" });
    let refused = update_case(&server, &analyst, close(&ids[0])).await;
    assert_code(&refused, "BAD_USER_INPUT");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{} \"Ransomware 1\"", ids[1])) && message.contains("Ransomware 2"), "{message}");
    update_case(&server, &analyst, close(&ids[1])).await;
    let counts = server
        .ok(&analyst, "query($id: ID!) { case(id: $id) { childCount closedChildCount } }", json!({ "id": ids[0] }))
        .await;
    assert_eq!(counts["case"], json!({ "childCount": 2, "closedChildCount": 1 }));
    update_case(&server, &analyst, close(&ids[2])).await;
    let closed_parent = update_case(&server, &analyst, close(&ids[0])).await;
    assert!(closed_parent.get("errors").is_none(), "{closed_parent}");
}

const MERGE: &str = "mutation($i: MergeCasesInput!) { mergeCases(input: $i) { operationId
    target { id tasks { title } incidents { id } tags techniques { id } observables(first: 10) { totalCount }
      relations { kind case { id } } }
    sources { id status { name } classification mergedInto { id } relations { kind case { id } } } } }";

async fn merge(server: &TestServer, token: &str, input: Value) -> Value {
    server.gql(Some(token), MERGE, json!({ "i": input })).await
}

async fn merging_moves_the_work_and_closes_the_duplicates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Invoice lure", 3).await;
    let (target, sources) = (&ids[0], &ids[1..]);
    let incident = create_incident(&server, &analyst, "Reported mail", "MEDIUM").await["id"].clone();
    for (n, id) in ids.iter().enumerate() {
        create_task(&server, &analyst, id, &format!("Task of {n}"), json!({})).await;
        server
            .ok(
                &analyst,
                "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { id } }",
                json!({ "i": { "caseId": id, "incidentIds": [incident] } }),
            )
            .await;
        server
            .ok(
                &analyst,
                "mutation($i: AddObservablesInput!) { addObservables(input: $i) { observables { id } } }",
                json!({ "i": { "caseId": id, "observables": [
                { "type": "DOMAIN", "value": "evil-corp.example" },
                { "type": "EMAIL_ADDRESS", "value": format!("sender{n}@evil-corp.example") }] } }),
            )
            .await;
        server
            .ok(
                &analyst,
                "mutation($i: CaseTagsInput!) { addCaseTags(input: $i) { id } }",
                json!({ "i": { "caseId": id, "tags": ["phishing", format!("wave-{n}")] } }),
            )
            .await;
        comment(&server, &analyst, id, &format!("note on {n}")).await;
    }
    server
        .ok(
            &analyst,
            "mutation($i: SetCaseTechniquesInput!) { setCaseTechniques(input: $i) { id } }",
            json!({ "i": { "caseId": ids[1], "techniqueIds": ["T1566.001"] } }),
        )
        .await;
    let closed = status_id(&server, &analyst, "Closed").await;
    let file =
        crate::attachments::upload(&server, &analyst, json!({ "caseId": sources[0] }), "mail.eml", b"From: x").await;
    assert!(file["data"]["addAttachment"]["id"].is_string(), "{file}");

    let body =
        merge(&server, &analyst, json!({ "sourceIds": sources, "targetId": target, "closingStatusId": closed })).await;
    let merged = &body["data"]["mergeCases"];
    assert!(merged.is_object(), "{body}");
    let survivor = &merged["target"];
    assert_eq!(survivor["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(survivor["incidents"], json!([{ "id": incident }]), "one link, deduplicated");
    assert_eq!(survivor["observables"]["totalCount"], 4, "the shared domain once, three senders");
    assert_eq!(survivor["tags"], json!(["phishing", "wave-0", "wave-1", "wave-2"]));
    assert_eq!(survivor["techniques"], json!([{ "id": "T1566.001" }]));
    let files = server
        .ok(
            &analyst,
            "query($id: ID!) { case(id: $id) { attachments(first: 5) { nodes { fileName } } } }",
            json!({ "id": target }),
        )
        .await;
    assert_eq!(files["case"]["attachments"]["nodes"], json!([{ "fileName": "mail.eml" }]), "the file moved too");
    let duplicated: Vec<&Value> = survivor["relations"].as_array().unwrap().iter().map(|r| &r["kind"]).collect();
    assert_eq!(duplicated, [&json!("DUPLICATED_BY"), &json!("DUPLICATED_BY")]);
    for source in merged["sources"].as_array().unwrap() {
        assert_eq!(source["status"]["name"], "Closed");
        // The workflow's duplicate default.
        assert_eq!(source["classification"], "UNDETERMINED");
        assert_eq!(source["mergedInto"]["id"], target.as_str());
        assert_eq!(source["relations"], json!([{ "kind": "DUPLICATE_OF", "case": { "id": target } }]));
    }

    let operation = merged["operationId"].clone();
    let target_log = audits(&server, &analyst, target).await;
    let last = target_log.last().unwrap();
    assert_eq!((last.0.as_str(), &last.2), ("CASES_MERGED", &operation));
    assert_eq!(last.1[0], json!({ "field": "sources", "oldValue": null, "newValue": sources.join(", ") }));
    let source_log = audits(&server, &analyst, &sources[0]).await;
    let tail: Vec<&str> = source_log.iter().rev().take(2).map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(tail, ["CASE_UPDATED", "MERGED_INTO"]);
    assert!(source_log.iter().rev().take(2).all(|(_, _, op)| *op == operation));
    // Its comments stay, and it still answers by its number.
    let kept = server
        .ok(
            &analyst,
            "query($id: ID!) { case(id: $id) { id mergedInto { id } tasks { id }
            activity(kinds: [COMMENT], first: 5) { nodes { ... on Comment { body } } } } }",
            json!({ "id": sources[0] }),
        )
        .await;
    assert_eq!(kept["case"]["activity"]["nodes"], json!([{ "body": "note on 1" }]));
    assert_eq!(kept["case"]["tasks"], json!([]));

    // Merged cases cannot be merged again, nor receive a merge.
    let again =
        merge(&server, &analyst, json!({ "sourceIds": [sources[0]], "targetId": target, "closingStatusId": closed }))
            .await;
    assert_code(&again, "CONFLICT");
    let into_source =
        merge(&server, &analyst, json!({ "sourceIds": [target], "targetId": sources[0], "closingStatusId": closed }))
            .await;
    assert_code(&into_source, "CONFLICT");
}

async fn merging_refuses_what_it_cannot_do(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Hunt", 3).await;
    let theirs = foreign_case(&server).await;
    let (closed, open) = (status_id(&server, &analyst, "Closed").await, status_id(&server, &analyst, "Open").await);
    let input = |sources: Value, target: &Value, status: &Value| json!({ "sourceIds": sources, "targetId": target, "closingStatusId": status, "classification": "TRUE_POSITIVE" });
    let id = |n: usize| json!(ids[n]);
    assert_code(&merge(&server, &analyst, input(json!([ids[0]]), &id(0), &closed)).await, "BAD_USER_INPUT");
    assert_code(&merge(&server, &analyst, input(json!([]), &id(0), &closed)).await, "BAD_USER_INPUT");
    assert_code(&merge(&server, &analyst, input(json!([ids[1]]), &theirs, &closed)).await, "NOT_FOUND");
    assert_code(&merge(&server, &analyst, input(json!([theirs]), &id(0), &closed)).await, "NOT_FOUND");
    assert_code(&merge(&server, &analyst, input(json!([ids[1]]), &id(0), &open)).await, "BAD_USER_INPUT");
    // Past a limit of the target: its 11 tags and the source's 11 make 22, above 20.
    let tags = |prefix: &str| (0..11).map(|n| format!("{prefix}{n}")).collect::<Vec<_>>();
    for (case, prefix) in [(&ids[0], "a"), (&ids[2], "b")] {
        server
            .ok(
                &analyst,
                "mutation($i: CaseTagsInput!) { addCaseTags(input: $i) { id } }",
                json!({ "i": { "caseId": case, "tags": tags(prefix) } }),
            )
            .await;
    }
    let over = merge(&server, &analyst, input(json!([ids[2]]), &id(0), &closed)).await;
    assert_code(&over, "BAD_USER_INPUT");
    assert!(over["errors"][0]["message"].as_str().unwrap().contains("would hold 22 tags"), "{over}");
    update_case(&server, &analyst, json!({ "id": ids[0], "statusId": closed, "classification": "TRUE_POSITIVE" }))
        .await;
    let into_closed = merge(&server, &analyst, input(json!([ids[1]]), &id(0), &closed)).await;
    assert_code(&into_closed, "BAD_USER_INPUT");
    assert_eq!(into_closed["errors"][0]["message"].as_str().unwrap().split(':').next(), Some("targetId"));
    // Nothing was written by the refusals.
    let untouched = server
        .ok(&analyst, "query($id: ID!) { case(id: $id) { version mergedInto { id } } }", json!({ "id": ids[1] }))
        .await;
    assert_eq!(untouched["case"], json!({ "version": 1, "mergedInto": null }));
    let allowed = merge(
        &server,
        &analyst,
        json!({ "sourceIds": [ids[1]], "targetId": ids[0], "closingStatusId": closed,
        "classification": "TRUE_POSITIVE", "allowClosedTarget": true }),
    )
    .await;
    assert!(allowed.get("errors").is_none(), "{allowed}");
    let foreign = server
        .ok(&common::analyst("globex"), "query($id: ID!) { case(id: $id) { version } }", json!({ "id": theirs }))
        .await;
    assert_eq!(foreign["case"]["version"], 1);
}

async fn racing_merges_end_with_one_winner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Dup", 4).await;
    let closed = status_id(&server, &analyst, "Closed").await;
    let input = |target: &str| {
        json!({ "sourceIds": [ids[1], ids[2]], "targetId": target, "closingStatusId": closed,
                "classification": "FALSE_POSITIVE" })
    };
    let (a, b) = tokio::join!(merge(&server, &analyst, input(&ids[0])), merge(&server, &analyst, input(&ids[3])));
    let won: Vec<bool> = [&a, &b].iter().map(|r| r.get("errors").is_none()).collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{a}\n{b}");
    let loser = if won[0] { &b } else { &a };
    assert_code(loser, "CONFLICT");
    let winner = if won[0] { &ids[0] } else { &ids[3] };
    for source in &ids[1..3] {
        let case = server
            .ok(&analyst, "query($id: ID!) { case(id: $id) { mergedInto { id } } }", json!({ "id": source }))
            .await;
        assert_eq!(case["case"]["mergedInto"]["id"], winner.as_str());
    }
}

async fn watchers_see_relations_and_merges_live(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Watched", 2).await;
    let watch = "subscription($caseId: ID!, $after: String) { caseActivity(caseId: $caseId, after: $after) {
        ... on AuditEvent { action changes { field newValue } } } }";
    let mut sockets = Vec::new();
    for id in &ids {
        let mut ws = server.ws("graphql-transport-ws").await;
        ws.init(&reader("acme")).await;
        let after = latest_cursor(&server, &analyst, id).await;
        ws.subscribe("1", watch, json!({ "caseId": id, "after": after })).await;
        sockets.push(ws);
    }
    relate(&server, &analyst, &ids[0], "BLOCKS", &ids[1]).await;
    let closed = status_id(&server, &analyst, "Closed").await;
    merge(&server, &analyst, json!({ "sourceIds": [ids[1]], "targetId": ids[0], "closingStatusId": closed })).await;
    let mut seen = Vec::new();
    for ws in &mut sockets {
        let mut actions = Vec::new();
        for _ in 0..2 {
            actions.push(ws.payload(10).await["data"]["caseActivity"]["action"].as_str().unwrap().to_owned());
        }
        seen.push(actions);
    }
    assert_eq!(seen[0], ["RELATION_ADDED", "CASES_MERGED"]);
    assert_eq!(seen[1], ["RELATION_ADDED", "MERGED_INTO"]);
    let closing = sockets[1].payload(10).await;
    assert_eq!(closing["data"]["caseActivity"]["action"], "CASE_UPDATED", "then it closes: {closing}");
}

async fn every_new_id_answers_only_for_its_own_tenant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let ids = open_cases(&server, &analyst, "Ours", 2).await;
    let theirs = foreign_case(&server).await;
    let globex = common::analyst("globex");
    let their_closed = status_id(&server, &globex, "Closed").await;
    let our_closed = status_id(&server, &analyst, "Closed").await;
    assert_ne!(their_closed, our_closed);

    let tagged = server
        .gql(
            Some(&analyst),
            "mutation($i: AddTagsToCasesInput!) { addTagsToCases(input: $i) {
            results { outcome error { code } } } }",
            json!({ "i": { "ids": [theirs], "tags": ["x"] } }),
        )
        .await;
    assert_eq!(
        tagged["data"]["addTagsToCases"]["results"],
        json!([{ "outcome": "REFUSED", "error": { "code": "NOT_FOUND" } }])
    );
    let moved = update_cases(
        &server,
        &analyst,
        json!({ "ids": ids, "changes": { "statusId": their_closed,
        "classification": "FALSE_POSITIVE" } }),
    )
    .await;
    assert_eq!(moved["data"]["updateCases"]["refused"], 2, "another tenant's status: {moved}");
    let versions = update_cases(
        &server,
        &analyst,
        json!({ "ids": [ids[0]], "changes": { "priority": "LOW" },
        "expectedVersions": [{ "id": theirs, "version": 1 }] }),
    )
    .await;
    assert_code(&versions, "BAD_USER_INPUT");
    let unrelate = "mutation($i: RemoveCaseRelationInput!) { removeCaseRelation(input: $i) { id } }";
    let removed =
        server.gql(Some(&analyst), unrelate, json!({ "i": { "caseId": ids[0], "relatedCaseId": theirs } })).await;
    assert_code(&removed, "NOT_FOUND");
    let merged = merge(
        &server,
        &analyst,
        json!({ "sourceIds": [ids[1]], "targetId": ids[0],
        "closingStatusId": their_closed, "classification": "FALSE_POSITIVE" }),
    )
    .await;
    assert_code(&merged, "BAD_USER_INPUT");
    let their_case =
        server.ok(&globex, "query($id: ID!) { case(id: $id) { version tags } }", json!({ "id": theirs })).await;
    assert_eq!(their_case["case"], json!({ "version": 1, "tags": [] }));
}

async fn a_bulk_change_larger_than_a_slice_reports_in_the_order_named(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let mut ids = open_cases(&server, &analyst, "Backlog", 120).await;
    ids.reverse();
    let body = update_cases(&server, &analyst, json!({ "ids": ids, "changes": { "priority": "LOW" } })).await;
    let reported: Vec<String> = outcomes(&body).into_iter().map(|(id, outcome)| format!("{id} {outcome}")).collect();
    let expected: Vec<String> = ids.iter().map(|id| format!("{id} CHANGED")).collect();
    assert_eq!(reported, expected);
    let operation = body["data"]["updateCases"]["operationId"].clone();
    for id in [&ids[0], &ids[119]] {
        assert_eq!(audits(&server, &analyst, id).await.last().unwrap().2, operation, "one operation across slices");
    }
    let low = server.ok(&analyst, "{ cases(filter: { priorities: [LOW] }) { totalCount } }", json!({})).await;
    assert_eq!(low["cases"]["totalCount"], 120);
}

/// docs/triage.md's walk-through, step by step.
async fn a_phishing_campaign_is_merged_and_its_duplicates_closed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let hana = token("hana", "acme", &["analyst"]);
    let ids = open_cases(&server, &hana, "Invoice lure reported", 20).await;
    server
        .ok(
            &hana,
            "mutation($i: AddTagsToCasesInput!) { addTagsToCases(input: $i) { changed } }",
            json!({ "i": { "ids": ids, "tags": ["invoice-lure"] } }),
        )
        .await;
    for (n, id) in ids[1..6].iter().enumerate() {
        server
            .ok(
                &hana,
                "mutation($i: AddObservablesInput!) { addObservables(input: $i) { observables { id } } }",
                json!({ "i": { "caseId": id, "observables": [
                    { "type": "EMAIL_ADDRESS", "value": format!("billing{n}@invoice-lure.example") }] } }),
            )
            .await;
    }

    let preview = readme_operation("mutation PreviewCampaign");
    let previewed = server.ok(&hana, &preview, json!({ "me": "hana" })).await["updateCases"].clone();
    assert_eq!((previewed["dryRun"].as_bool(), previewed["changed"].as_i64()), (Some(true), Some(20)), "{previewed}");
    let untouched =
        server.ok(&hana, "query($id: ID!) { case(id: $id) { assignee { id } } }", json!({ "id": ids[0] })).await;
    assert!(untouched["case"]["assignee"].is_null(), "the preview wrote nothing");
    let taken = server.ok(&hana, &preview.replace("dryRun: true", "dryRun: false"), json!({ "me": "hana" })).await;
    assert_eq!(taken["updateCases"]["changed"], 20);

    let closed = status_id(&server, &hana, "Closed").await;
    let variables = json!({ "target": ids[0], "sources": ids[1..6], "closed": closed });
    let merged = server.ok(&hana, &readme_operation("mutation MergeCampaign"), variables).await["mergeCases"].clone();
    assert_eq!(merged["target"]["observables"]["totalCount"], 5, "{merged}");
    for source in merged["sources"].as_array().unwrap() {
        assert_eq!((source["status"]["name"].as_str(), &source["mergedInto"]["id"]), (Some("Closed"), &json!(ids[0])));
    }

    let variables = json!({ "ids": ids[6..], "closed": closed });
    let duplicates = server.ok(&hana, &readme_operation("mutation CloseDuplicates"), variables).await;
    assert_eq!(duplicates["updateCases"]["changed"], 14, "{duplicates}");

    let queue = server.ok(&hana, &readme_operation("query CampaignQueue"), json!({})).await;
    assert_eq!(queue["cases"]["totalCount"], 1);
    assert_eq!(queue["cases"]["nodes"][0]["id"], ids[0].as_str());
}

crate::both_backends!(
    a_bulk_change_larger_than_a_slice_reports_in_the_order_named,
    a_phishing_campaign_is_merged_and_its_duplicates_closed,
    every_new_id_answers_only_for_its_own_tenant,
    a_bulk_change_reports_each_case_and_audits_each_on_its_own,
    bulk_closing_follows_every_rule_of_a_single_close,
    a_bulk_change_looks_like_the_same_changes_made_one_by_one,
    bulk_tags_and_links_report_per_case,
    relations_are_typed_both_ways_and_keep_parents_a_tree,
    a_parent_can_be_held_open_until_its_children_close,
    merging_moves_the_work_and_closes_the_duplicates,
    merging_refuses_what_it_cannot_do,
    racing_merges_end_with_one_winner,
    watchers_see_relations_and_merges_live,
);
