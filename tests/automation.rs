//! Automation as a client uses it: case templates (a playbook's cases open
//! with its title prefix, description, priority, tags, techniques and tasks,
//! audited as one creation; `applyTemplate` adds the tasks to a case) and
//! automation rules (a trigger, conditions, ordered actions run in the
//! change's transaction as the rule, never triggering rules again).

use crate::common::*;
use serde_json::{Value, json};

const TEMPLATE: &str = "id name titlePrefix description priority tags techniques { id } archived
    tasks { title description priority owner { id } dueAfter }";

async fn create_template(server: &TestServer, token: &str, input: Value) -> Value {
    let query =
        format!("mutation($input: CreateCaseTemplateInput!) {{ createCaseTemplate(input: $input) {{ {TEMPLATE} }} }}");
    server.gql(Some(token), &query, json!({ "input": input })).await
}

fn phishing() -> Value {
    json!({
        "name": "Phishing",
        "titlePrefix": "[Phishing]",
        "description": "A reported phishing e-mail.",
        "priority": "HIGH",
        "tags": ["phishing", "email"],
        "techniqueIds": ["t1566.001"],
        "tasks": [
            { "title": "Pull the message from every mailbox", "priority": "HIGH", "ownerId": "anna", "dueAfter": "PT1H" },
            { "title": "Block the sender", "dueAfter": "PT4H" },
            { "title": "Tell the reporter", "description": "Thank them." }
        ]
    })
}

/// A case's fields, tasks and audit as a client reads them after opening it.
async fn case_view(server: &TestServer, token: &str, id: &Value) -> Value {
    let query = "query($id: ID!) { case(id: $id) { title description priority tags techniques { id } createdAt
        tasks { title priority owner { id } dueOn }
        activity(first: 10) { totalCount nodes { ... on AuditEvent { action changes { field newValue } } } } } }";
    server.ok(token, query, json!({ "id": id })).await["case"].clone()
}

fn change<'a>(event: &'a Value, field: &str) -> Option<&'a str> {
    event["changes"].as_array().unwrap().iter().find(|c| c["field"] == field).and_then(|c| c["newValue"].as_str())
}

async fn cases_open_from_a_template_in_one_audited_creation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    server.ok(&analyst, "{ me { tenant } }", json!({})).await; // anna is known in acme
    let created = create_template(&server, &admin, phishing()).await;
    let template = created["data"]["createCaseTemplate"].clone();
    assert_eq!(template["techniques"], json!([{ "id": "T1566.001" }]), "{created}");
    assert_eq!(template["tasks"][0]["dueAfter"], "PT1H");
    assert_eq!(template["tasks"][2]["priority"], Value::Null);
    let listed = server.ok(&reader("acme"), "{ caseTemplates { name } }", json!({})).await;
    assert_eq!(listed["caseTemplates"], json!([{ "name": "Phishing" }]));

    // The template fills what the input leaves out, all in one creation event.
    let opened = create_case(&server, &analyst, "Invoice lure", json!({ "templateId": template["id"] })).await;
    let case = case_view(&server, &analyst, &opened["id"]).await;
    assert_eq!(case["title"], "[Phishing] Invoice lure");
    assert_eq!(
        (case["description"].as_str(), case["priority"].as_str()),
        (Some("A reported phishing e-mail."), Some("HIGH"))
    );
    assert_eq!(case["tags"], json!(["email", "phishing"]));
    assert_eq!(case["techniques"], json!([{ "id": "T1566.001" }]));
    let tasks = case["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["owner"], json!({ "id": "anna" }));
    let opened_at = chrono::DateTime::parse_from_rfc3339(case["createdAt"].as_str().unwrap()).unwrap();
    let due = chrono::DateTime::parse_from_rfc3339(tasks[0]["dueOn"].as_str().unwrap()).unwrap();
    assert_eq!((due - opened_at).num_minutes(), 60, "due an hour after opening");
    assert_eq!(tasks[2]["dueOn"], Value::Null);
    assert_eq!(case["activity"]["totalCount"], 1, "one creation: {case:#}");
    let event = &case["activity"]["nodes"][0];
    assert_eq!(event["action"], "CASE_CREATED");
    assert_eq!(change(event, "template"), Some("Phishing"));
    assert_eq!(change(event, "techniques"), Some("T1566.001"));
    assert!(change(event, "tasks").unwrap().starts_with("Pull the message from every mailbox; Block the sender"));

    // What the input gives wins; a title that has the prefix keeps it once.
    let own = json!({ "templateId": template["id"], "priority": "LOW", "description": "Mine." });
    let mine = create_case(&server, &analyst, "[phishing] CEO fraud", own).await;
    assert_eq!(
        (mine["title"].as_str(), mine["priority"].as_str(), mine["description"].as_str()),
        (Some("[phishing] CEO fraud"), Some("LOW"), Some("Mine."))
    );

    // applyTemplate adds the tasks to an existing case: one event lists them.
    let plain = create_case(&server, &analyst, "Odd login", json!({})).await;
    let apply = "mutation($input: ApplyTemplateInput!) { applyTemplate(input: $input) { id version tasks { title } } }";
    let applied =
        server.ok(&analyst, apply, json!({ "input": { "caseId": plain["id"], "templateId": template["id"] } })).await;
    assert_eq!(applied["applyTemplate"]["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(applied["applyTemplate"]["version"], 2);
    let view = case_view(&server, &analyst, &plain["id"]).await;
    let event = &view["activity"]["nodes"][0];
    assert_eq!((event["action"].as_str(), change(event, "template")), (Some("TEMPLATE_APPLIED"), Some("Phishing")));
    assert_eq!(view["tags"], json!([]), "applying adds the tasks only");
}

async fn templates_are_checked_archived_and_admin_managed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let template =
        create_template(&server, &admin, json!({ "name": "Malware" })).await["data"]["createCaseTemplate"].clone();
    let count =
        || async { server.ok(&analyst, "{ cases { totalCount } }", json!({})).await["cases"]["totalCount"].clone() };
    assert_eq!(count().await, 0);

    assert_code(&create_template(&server, &analyst, json!({ "name": "Mine" })).await, "FORBIDDEN");
    assert_code(&create_template(&server, &admin, json!({ "name": "MALWARE" })).await, "CONFLICT");
    for (input, field) in [
        (json!({ "name": " " }), "name"),
        (json!({ "name": "x", "techniqueIds": ["T9999"] }), "techniqueIds"),
        (json!({ "name": "x", "tasks": [{ "title": "a", "dueAfter": "soon" }] }), "tasks[0].dueAfter"),
        (json!({ "name": "x", "tasks": [{ "title": "a", "ownerId": "nobody" }] }), "tasks[0].ownerId"),
        (json!({ "name": "x", "tasks": [{ "title": "" }] }), "tasks[0].title"),
        (json!({ "name": "x", "tags": ["a,b"] }), "tags"),
    ] {
        let body = create_template(&server, &admin, input.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{input}");
        assert!(body["errors"][0]["message"].as_str().unwrap().starts_with(field), "{body}");
    }

    // Archived: listed only when asked, and no case opens from it.
    let archive = "mutation($input: UpdateCaseTemplateInput!) { updateCaseTemplate(input: $input) { name archived } }";
    let archived = server.ok(&admin, archive, json!({ "input": { "id": template["id"], "archived": true } })).await;
    assert_eq!(archived["updateCaseTemplate"], json!({ "name": "Malware", "archived": true }));
    let lists = "{ active: caseTemplates { name } all: caseTemplates(includeArchived: true) { name } }";
    assert_eq!(server.ok(&analyst, lists, json!({})).await, json!({ "active": [], "all": [{ "name": "Malware" }] }));
    let refused = server
        .gql(
            Some(&analyst),
            "mutation($input: CreateCaseInput!) { createCase(input: $input) { id } }",
            json!({ "input": { "title": "x", "templateId": template["id"] } }),
        )
        .await;
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"]);
    assert!(refused["errors"][0]["message"].as_str().unwrap().starts_with("templateId"), "{refused}");
    assert_eq!(count().await, 0, "nothing was opened");

    // Another tenant neither sees nor uses nor changes acme's template.
    let globex = token("gina", "globex", &["admin"]);
    let theirs = server
        .ok(
            &globex,
            "query($id: ID!) { caseTemplates(includeArchived: true) { id } caseTemplate(id: $id) { id } }",
            json!({ "id": template["id"] }),
        )
        .await;
    assert_eq!(theirs, json!({ "caseTemplates": [], "caseTemplate": null }));
    let update =
        server.gql(Some(&globex), archive, json!({ "input": { "id": template["id"], "archived": false } })).await;
    assert_code(&update, "NOT_FOUND");
    server.ok(&admin, archive, json!({ "input": { "id": template["id"], "archived": false } })).await;
    // Applying to a case only another tenant has: NOT_FOUND; another tenant's template is unknown.
    let acme_case = create_case(&server, &analyst, "Acme only", json!({})).await["id"].clone();
    let apply = "mutation($input: ApplyTemplateInput!) { applyTemplate(input: $input) { id } }";
    let theirs = create_template(&server, &globex, json!({ "name": "Globex's" })).await;
    let theirs = theirs["data"]["createCaseTemplate"]["id"].clone();
    let applied =
        server.gql(Some(&globex), apply, json!({ "input": { "caseId": acme_case, "templateId": theirs } })).await;
    assert_code(&applied, "NOT_FOUND");
    let other =
        server.gql(Some(&analyst), apply, json!({ "input": { "caseId": acme_case, "templateId": theirs } })).await;
    assert_eq!(error_codes(&other), ["BAD_USER_INPUT"], "{other}");
    let foreign = server
        .gql(
            Some(&globex),
            "mutation($input: CreateCaseInput!) { createCase(input: $input) { id } }",
            json!({ "input": { "title": "x", "templateId": template["id"] } }),
        )
        .await;
    assert_eq!(error_codes(&foreign), ["BAD_USER_INPUT"]);
}

async fn the_readme_template_and_rule_work_as_shown(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.ok(&token("lee", "acme", &["admin"]), "{ me { tenant } }", json!({})).await;
    let rule = server.ok(&admin("acme"), &readme_operation("mutation Rule"), json!({})).await;
    assert_eq!(rule["createAutomationRule"]["actions"][0]["userId"], "lee");
    let critical =
        create_case(&server, &analyst("acme"), "Domain admin added", json!({ "priority": "CRITICAL" })).await;
    assert_eq!(critical["assignee"]["id"], "lee");
    let template = server.ok(&admin("acme"), &readme_operation("mutation Template"), json!({})).await;
    let template = &template["createCaseTemplate"];
    assert_eq!(template["tasks"][2]["dueAfter"], "P1D");
    let case = create_case(&server, &analyst("acme"), "Invoice lure", json!({ "templateId": template["id"] })).await;
    assert_eq!((case["title"].as_str(), case["priority"].as_str()), (Some("[Phishing] Invoice lure"), Some("HIGH")));
}

const RULE: &str = "id name enabled trigger conditions { priorities tags textContains minIncidentSeverity }
    actions { type userId priority tags body }";

async fn create_rule(server: &TestServer, token: &str, input: Value) -> Value {
    let query =
        format!("mutation($input: CreateAutomationRuleInput!) {{ createAutomationRule(input: $input) {{ {RULE} }} }}");
    server.gql(Some(token), &query, json!({ "input": input })).await
}

/// The case's log, oldest first: (actor, action or comment body).
async fn log(server: &TestServer, token: &str, id: &Value) -> Vec<(String, String)> {
    let query = "query($id: ID!) { case(id: $id) { activity(first: 50) { nodes {
        actor { id displayName } ... on AuditEvent { action } ... on Comment { body } } } } }";
    let data = server.ok(token, query, json!({ "id": id })).await;
    let mut entries: Vec<(String, String)> = data["case"]["activity"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let what = n["action"].as_str().or(n["body"].as_str()).unwrap().to_owned();
            (n["actor"]["displayName"].as_str().unwrap_or(n["actor"]["id"].as_str().unwrap()).to_owned(), what)
        })
        .collect();
    entries.reverse();
    entries
}

async fn rules_act_on_their_trigger_and_conditions_as_the_rule(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    server.ok(&admin, "{ me { tenant } }", json!({})).await; // adam is known in acme
    let on_call = create_rule(
        &server,
        &admin,
        json!({ "name": "Critical to on-call", "trigger": "CASE_CREATED",
                "conditions": { "priorities": ["CRITICAL"] },
                "actions": [{ "type": "ASSIGN", "userId": "adam" }, { "type": "ADD_TAGS", "tags": ["escalated"] },
                            { "type": "ADD_COMMENT", "body": "Paged the on-call lead." }] }),
    )
    .await;
    assert_eq!(
        on_call["data"]["createAutomationRule"]["actions"][0],
        json!({ "type": "ASSIGN", "userId": "adam", "priority": null, "tags": null, "body": null }),
        "{on_call}"
    );

    // A critical case is assigned, tagged and commented in its creation's transaction.
    let critical = create_case(&server, &analyst, "Ransomware on FS01", json!({ "priority": "CRITICAL" })).await;
    assert_eq!(critical["assignee"]["id"], "adam", "the answer shows what the rule did");
    let actor = "Automation: Critical to on-call".to_owned();
    assert_eq!(
        log(&server, &analyst, &critical["id"]).await,
        [
            ("User anna".to_owned(), "CASE_CREATED".to_owned()),
            (actor.clone(), "CASE_UPDATED".to_owned()),
            (actor.clone(), "TAGS_ADDED".to_owned()),
            (actor, "Paged the on-call lead.".to_owned()),
        ]
    );
    let low = create_case(&server, &analyst, "Odd login", json!({ "priority": "LOW" })).await;
    assert_eq!(log(&server, &analyst, &low["id"]).await.len(), 1, "conditions not met: nothing runs");

    // A rule's own change triggers no rule: raising priority on any update does not loop.
    let raise = json!({ "name": "Raise", "trigger": "CASE_UPDATED", "conditions": { "textContains": "login" },
                        "actions": [{ "type": "SET_PRIORITY", "priority": "HIGH" }] });
    assert!(create_rule(&server, &admin, raise).await.get("errors").is_none());
    update_case(&server, &analyst, json!({ "id": low["id"], "description": "Impossible travel." })).await;
    let entries = log(&server, &analyst, &low["id"]).await;
    assert_eq!(
        entries.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>(),
        ["CASE_CREATED", "CASE_UPDATED", "CASE_UPDATED"]
    );
    assert_eq!(entries[2].0, "Automation: Raise");

    // Incidents linked and comments added trigger too.
    let severe = json!({ "name": "Severe incident", "trigger": "INCIDENT_LINKED", "conditions": { "minIncidentSeverity": "HIGH" },
                         "actions": [{ "type": "SET_PRIORITY", "priority": "CRITICAL" }] });
    assert!(create_rule(&server, &admin, severe).await.get("errors").is_none());
    let talked = json!({ "name": "Discussed", "trigger": "COMMENT_ADDED", "actions": [{ "type": "ADD_TAGS", "tags": ["discussed"] }] });
    assert!(create_rule(&server, &admin, talked).await.get("errors").is_none());
    let plain = create_case(&server, &analyst, "Beacon", json!({})).await["id"].clone();
    let medium = create_incident(&server, &analyst, "Beacon seen", "MEDIUM").await["id"].clone();
    let link = "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { priority } }";
    let linked = server.ok(&analyst, link, json!({ "i": { "caseId": plain, "incidentIds": [medium] } })).await;
    assert_eq!(linked["linkIncidents"]["priority"], Value::Null, "a MEDIUM incident is below the condition");
    let high = create_incident(&server, &analyst, "Exfiltration", "HIGH").await["id"].clone();
    let linked = server.ok(&analyst, link, json!({ "i": { "caseId": plain, "incidentIds": [high] } })).await;
    assert_eq!(linked["linkIncidents"]["priority"], "CRITICAL");
    comment(&server, &analyst, plain.as_str().unwrap(), "Looking at it.").await;
    let tags = server.ok(&analyst, "query($id: ID!) { case(id: $id) { tags } }", json!({ "id": plain })).await;
    assert_eq!(tags["case"]["tags"], json!(["discussed"]));

    // Status moves and task status changes trigger too.
    let started = json!({ "name": "Started", "trigger": "STATUS_CHANGED", "conditions": { "statusCategories": ["OPEN"] },
                          "actions": [{ "type": "ADD_COMMENT", "body": "Work started." }] });
    assert!(create_rule(&server, &admin, started).await.get("errors").is_none());
    let moving = json!({ "name": "Tasks moving", "trigger": "TASK_STATUS_CHANGED", "actions": [{ "type": "ADD_TAGS", "tags": ["in-progress"] }] });
    assert!(create_rule(&server, &admin, moving).await.get("errors").is_none());
    let open = status_id(&server, &analyst, "Open").await;
    update_case(&server, &analyst, json!({ "id": plain, "statusId": open })).await;
    let task = create_task(&server, &analyst, plain.as_str().unwrap(), "Isolate host", json!({})).await;
    let retitled = "mutation($i: UpdateTaskInput!) { updateTask(input: $i) { id } }";
    server.ok(&analyst, retitled, json!({ "i": { "id": task, "title": "Isolate the host" } })).await;
    let tags = server.ok(&analyst, "query($id: ID!) { case(id: $id) { tags } }", json!({ "id": plain })).await;
    assert_eq!(tags["case"]["tags"], json!(["discussed"]), "a title change is not a status change");
    server.ok(&analyst, retitled, json!({ "i": { "id": task, "status": "IN_PROGRESS" } })).await;
    let entries = log(&server, &analyst, &plain).await;
    assert!(entries.contains(&("Automation: Started".to_owned(), "Work started.".to_owned())), "{entries:?}");
    let tags = server.ok(&analyst, "query($id: ID!) { case(id: $id) { tags } }", json!({ "id": plain })).await;
    assert_eq!(tags["case"]["tags"], json!(["discussed", "in-progress"]));
}

async fn rules_are_tested_without_writing_and_a_failing_rule_leaves_the_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let case = create_case(&server, &analyst, "Phish from payroll", json!({ "priority": "HIGH" })).await["id"].clone();
    let rule = json!({ "name": "Payroll phish", "trigger": "CASE_UPDATED", "conditions": { "textContains": "payroll", "priorities": ["HIGH"] },
                       "actions": [{ "type": "ADD_TAGS", "tags": ["payroll"] }, { "type": "ADD_COMMENT", "body": "Finance told." }] });
    let stored = create_rule(&server, &admin, rule.clone()).await["data"]["createAutomationRule"]["id"].clone();
    let test = "mutation($input: TestAutomationRuleInput!) { testAutomationRule(input: $input) {
        matched effects { action changes { field newValue } comment } } }";
    let expected = json!({ "matched": true, "effects": [
        { "action": "TAGS_ADDED", "changes": [{ "field": "tags", "newValue": "payroll" }], "comment": null },
        { "action": null, "changes": [], "comment": "Finance told." } ] });
    let by_id = server.ok(&admin, test, json!({ "input": { "ruleId": stored, "caseId": case } })).await;
    assert_eq!(by_id["testAutomationRule"], expected);
    let unsaved = server.ok(&admin, test, json!({ "input": { "rule": rule, "caseId": case } })).await;
    assert_eq!(unsaved["testAutomationRule"], expected);
    let other = json!({ "name": "x", "trigger": "CASE_UPDATED", "conditions": { "priorities": ["LOW"] },
                        "actions": [{ "type": "ADD_TAGS", "tags": ["x"] }] });
    let unmatched = server.ok(&admin, test, json!({ "input": { "rule": other, "caseId": case } })).await;
    assert_eq!(unmatched["testAutomationRule"], json!({ "matched": false, "effects": [] }));
    assert_eq!(log(&server, &analyst, &case).await.len(), 1, "testing wrote nothing");

    // Disabled and expired rules do not run.
    let disable = "mutation($input: UpdateAutomationRuleInput!) { updateAutomationRule(input: $input) { enabled } }";
    server.ok(&admin, disable, json!({ "input": { "id": stored, "enabled": false } })).await;
    update_case(&server, &analyst, json!({ "id": case, "title": "Phish from payroll (2)" })).await;
    assert_eq!(log(&server, &analyst, &case).await.len(), 2);
    server
        .ok(&admin, disable, json!({ "input": { "id": stored, "enabled": true, "expiresAt": "2020-01-01T00:00:00Z" } }))
        .await;
    update_case(&server, &analyst, json!({ "id": case, "title": "Phish from payroll (3)" })).await;
    assert_eq!(log(&server, &analyst, &case).await.len(), 3);
    server
        .ok(
            &admin,
            "mutation($input: DeleteAutomationRuleInput!) { deleteAutomationRule(input: $input) }",
            json!({ "input": { "id": stored } }),
        )
        .await;

    // A rule that cannot act is rolled back alone: the change that triggered
    // it stands, and the case's log says which rule, which action and why.
    let closed = status_id(&server, &analyst, "Closed").await;
    let close = json!({ "name": "Close quietly", "trigger": "CASE_UPDATED", "actions": [
        { "type": "ADD_TAGS", "tags": ["quiet"] }, { "type": "SET_STATUS", "statusId": closed }] });
    assert!(create_rule(&server, &admin, close).await.get("errors").is_none());
    let renamed = server
        .ok(
            &analyst,
            "mutation($i: UpdateCaseInput!) { updateCase(input: $i) { title tags } }",
            json!({ "i": { "id": case, "title": "Renamed" } }),
        )
        .await;
    assert_eq!(
        renamed["updateCase"],
        json!({ "title": "Renamed", "tags": [] }),
        "the rule's first action went with it"
    );
    let entries = log(&server, &analyst, &case).await;
    let last: Vec<&str> = entries[entries.len() - 2..].iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(last, ["CASE_UPDATED", "AUTOMATION_FAILED"]);
    assert_eq!(entries[entries.len() - 1].0, "Automation: Close quietly");
    let failure = last_audit(&server, &analyst, &case).await;
    assert_eq!(change(&failure, "rule"), Some("Close quietly"));
    assert_eq!(change(&failure, "action"), Some("SET_STATUS"));
    assert!(change(&failure, "reason").is_some_and(|r| r.contains("classification")), "{failure}");
}

/// The newest audit event of a case, with its changes.
async fn last_audit(server: &TestServer, token: &str, id: &Value) -> Value {
    let query = "query($id: ID!) { case(id: $id) { activity(first: 1, kinds: [AUDIT]) { nodes {
        ... on AuditEvent { action changes { field newValue } } } } } }";
    server.ok(token, query, json!({ "id": id })).await["case"]["activity"]["nodes"][0].clone()
}

/// A rule applies a template once per case, however often its trigger
/// fires: before, a 50-task template on CASE_UPDATED was applied again on
/// every update until the case hit its task limit and no change of it, its
/// closing included, could be saved.
async fn a_rule_applies_a_template_once_per_case(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let tasks: Vec<Value> = (1..=50).map(|n| json!({ "title": format!("Step {n}") })).collect();
    let template = create_template(&server, &admin, json!({ "name": "Big playbook", "tasks": tasks })).await;
    let template = template["data"]["createCaseTemplate"]["id"].clone();
    let rule = json!({ "name": "Playbook", "trigger": "CASE_UPDATED",
                       "actions": [{ "type": "APPLY_TEMPLATE", "templateId": template }] });
    assert!(create_rule(&server, &admin, rule).await.get("errors").is_none());
    let case = create_case(&server, &analyst, "Busy case", json!({})).await["id"].clone();
    let count = "query($id: ID!) { case(id: $id) { tasks { id } } }";
    for n in 1..=4 {
        let updated = update_case(&server, &analyst, json!({ "id": case, "title": format!("Busy case ({n})") })).await;
        assert!(updated.get("errors").is_none(), "{updated}");
        let tasks = server.ok(&analyst, count, json!({ "id": case })).await;
        assert_eq!(tasks["case"]["tasks"].as_array().unwrap().len(), 50, "after update {n}");
    }
    let whats: Vec<String> = log(&server, &analyst, &case).await.into_iter().map(|(_, w)| w).collect();
    assert_eq!(whats.iter().filter(|w| *w == "TEMPLATE_APPLIED").count(), 1, "{whats:?}");
    // Another case gets the template from the same rule.
    let other = create_case(&server, &analyst, "Second case", json!({})).await["id"].clone();
    update_case(&server, &analyst, json!({ "id": other, "priority": "LOW" })).await;
    let tasks = server.ok(&analyst, count, json!({ "id": other })).await;
    assert_eq!(tasks["case"]["tasks"].as_array().unwrap().len(), 50);
}

/// A rule on an SLA trigger that fails leaves the breach, and its webhook
/// deliveries, in place: before, the failure rolled the breach back, and the
/// monitor retried it every minute forever.
async fn a_failing_rule_on_an_sla_breach_keeps_the_breach(backend: Backend) {
    let server = crate::webhooks::server_allowing_loopback(backend, |_| {}).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let policy = "mutation { setSlaPolicy(input: { acknowledgeWithin: \"PT1H\" }) { priority } }";
    server.ok(&admin, policy, json!({})).await;
    let closed = status_id(&server, &analyst, "Closed").await;
    let rule = json!({ "name": "Close on breach", "trigger": "SLA_BREACHED",
                       "actions": [{ "type": "SET_STATUS", "statusId": closed }] });
    assert!(create_rule(&server, &admin, rule).await.get("errors").is_none());
    // Nothing listens on port 9: deliveries are written and wait for their attempts.
    let (hook, _) =
        crate::webhooks::webhook_to(&server, "http://127.0.0.1:9/", &["SLA_BREACHED", "AUTOMATION_FAILED"]).await;
    let case = create_case(&server, &analyst, "Unanswered", json!({})).await;
    let created = chrono::DateTime::parse_from_rfc3339(case["createdAt"].as_str().unwrap()).unwrap();
    let later = (created + chrono::Duration::minutes(61)).naive_utc();
    assert_eq!(casebook::jobs::sla::run_due(server.state.db(), later).await.unwrap(), 1);
    let whats: Vec<String> = log(&server, &analyst, &case["id"]).await.into_iter().map(|(_, w)| w).collect();
    assert_eq!(whats, ["CASE_CREATED", "SLA_BREACHED", "AUTOMATION_FAILED"]);
    let types: Vec<String> = crate::webhooks::deliveries(&server, &hook)
        .await
        .iter()
        .map(|d| d["eventType"].as_str().unwrap().to_owned())
        .collect();
    let mut types = types;
    types.sort();
    assert_eq!(types, ["AUTOMATION_FAILED", "SLA_BREACHED"]);
    assert_eq!(casebook::jobs::sla::run_due(server.state.db(), later).await.unwrap(), 0, "nothing is due again");
}

async fn sla_events_trigger_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let policy = "mutation { setSlaPolicy(input: { acknowledgeWithin: \"PT1H\" }) { priority } }";
    server.ok(&admin, policy, json!({})).await;
    let rule = json!({ "name": "Escalate breaches", "trigger": "SLA_BREACHED",
                       "actions": [{ "type": "SET_PRIORITY", "priority": "CRITICAL" }] });
    assert!(create_rule(&server, &admin, rule).await.get("errors").is_none());
    let case = create_case(&server, &analyst, "Unanswered", json!({})).await;
    let created = chrono::DateTime::parse_from_rfc3339(case["createdAt"].as_str().unwrap()).unwrap();
    let later = (created + chrono::Duration::minutes(61)).naive_utc();
    assert_eq!(casebook::jobs::sla::run_due(server.state.db(), later).await.unwrap(), 1);
    let entries = log(&server, &analyst, &case["id"]).await;
    let whats: Vec<&str> = entries.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(whats, ["CASE_CREATED", "SLA_BREACHED", "CASE_UPDATED"]);
    assert_eq!((entries[1].0.as_str(), entries[2].0.as_str()), ("SLA monitor", "Automation: Escalate breaches"));
}

async fn rules_are_admin_managed_checked_and_per_tenant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (admin, analyst) = (admin("acme"), analyst("acme"));
    let rule =
        json!({ "name": "Tag all", "trigger": "CASE_CREATED", "actions": [{ "type": "ADD_TAGS", "tags": ["seen"] }] });
    assert_code(&create_rule(&server, &analyst, rule.clone()).await, "FORBIDDEN");
    assert_code(&server.gql(Some(&reader("acme")), "{ automationRules { id } }", json!({})).await, "FORBIDDEN");
    for (input, field) in [
        (json!({ "name": "x", "trigger": "CASE_CREATED", "actions": [] }), "actions"),
        (json!({ "name": "x", "trigger": "CASE_CREATED", "actions": [{ "type": "ASSIGN" }] }), "actions[0].userId"),
        (
            json!({ "name": "x", "trigger": "CASE_CREATED", "actions": [{ "type": "ASSIGN", "userId": "nobody" }] }),
            "actions[0].userId",
        ),
        (
            json!({ "name": "x", "trigger": "CASE_CREATED", "actions": [{ "type": "SET_STATUS", "statusId": "999999" }] }),
            "actions[0].statusId",
        ),
        (
            json!({ "name": "x", "trigger": "CASE_CREATED", "actions": [{ "type": "APPLY_TEMPLATE", "templateId": "999999" }] }),
            "actions[0].templateId",
        ),
        (
            json!({ "name": "x", "trigger": "CASE_CREATED", "actions": [{ "type": "ADD_COMMENT", "body": " " }] }),
            "actions[0].body",
        ),
        (json!({ "name": " ", "trigger": "CASE_CREATED", "actions": [{ "type": "ADD_TAGS", "tags": ["a"] }] }), "name"),
    ] {
        let body = create_rule(&server, &admin, input.clone()).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{input}");
        assert!(body["errors"][0]["message"].as_str().unwrap().starts_with(field), "{body}");
    }
    let id = create_rule(&server, &admin, rule).await["data"]["createAutomationRule"]["id"].clone();
    let globex = token("gina", "globex", &["admin"]);
    let theirs = server
        .ok(&globex, "query($id: ID!) { automationRules { id } automationRule(id: $id) { id } }", json!({ "id": id }))
        .await;
    assert_eq!(theirs, json!({ "automationRules": [], "automationRule": null }));
    let update = "mutation($input: UpdateAutomationRuleInput!) { updateAutomationRule(input: $input) { id } }";
    assert_code(
        &server.gql(Some(&globex), update, json!({ "input": { "id": id, "enabled": false } })).await,
        "NOT_FOUND",
    );
    // Testing: another tenant's rule does not exist; a rule is given one way, not both or neither.
    let acme_case = create_case(&server, &analyst, "Acme case", json!({})).await["id"].clone();
    let test = "mutation($input: TestAutomationRuleInput!) { testAutomationRule(input: $input) { matched } }";
    let foreign = server.gql(Some(&globex), test, json!({ "input": { "ruleId": id, "caseId": "1000" } })).await;
    assert_code(&foreign, "NOT_FOUND");
    let both = json!({ "ruleId": id, "caseId": acme_case,
                       "rule": { "name": "x", "trigger": "CASE_CREATED", "actions": [{ "type": "ADD_TAGS", "tags": ["a"] }] } });
    for input in [both, json!({ "caseId": acme_case })] {
        let body = server.gql(Some(&admin), test, json!({ "input": input })).await;
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
    let globex_case = server.gql(Some(&globex), test, json!({ "input": { "ruleId": id, "caseId": acme_case } })).await;
    assert_code(&globex_case, "NOT_FOUND");
    let case = create_case(&server, &globex, "Globex case", json!({})).await;
    assert_eq!(case["id"], "1000");
    let tags = server.ok(&globex, "{ case(id: \"1000\") { tags } }", json!({})).await;
    assert_eq!(tags["case"]["tags"], json!([]), "acme's rule does not run on globex's cases");
    // Nobody can sign in as a rule or the SLA monitor.
    for sub in ["automation:1", "system:sla"] {
        assert_code(
            &server.gql(Some(&token(sub, "acme", &["admin"])), "{ me { tenant } }", json!({})).await,
            "UNAUTHENTICATED",
        );
    }
}

/// A comment is measured one way, whoever writes it: a rule cannot be saved
/// with a comment that a person could not write (16 KiB of UTF-8).
async fn a_rule_comment_is_bounded_as_a_comment_is(backend: Backend) {
    let server = TestServer::start(backend).await;
    let comment = |body: String| json!({ "name": "Note", "trigger": "CASE_CREATED", "actions": [{ "type": "ADD_COMMENT", "body": body }] });
    let too_long = create_rule(&server, &admin("acme"), comment("é".repeat(8 * 1024 + 1))).await;
    assert_code(&too_long, "BAD_USER_INPUT");
    let message = too_long["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("actions[0].body") && message.contains("16384 bytes"), "{message}");
    let longest = create_rule(&server, &admin("acme"), comment("é".repeat(8 * 1024))).await;
    assert!(longest.get("errors").is_none(), "{longest}");
    let case = create_case(&server, &analyst("acme"), "Commented by a rule", json!({})).await;
    let log = server
        .ok(
            &analyst("acme"),
            "query($id: ID!) { case(id: $id) { activity(kinds: [COMMENT]) { totalCount } } }",
            json!({ "id": case["id"] }),
        )
        .await;
    assert_eq!(log["case"]["activity"]["totalCount"], 1, "the rule's longest comment is written");
}

/// Fail closed: a database opened without the write pipeline refuses a
/// write that records what happened, and keeps nothing of it, rather than
/// commit a change without its webhooks, search entry and rules.
async fn a_write_nothing_reacts_to_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let case = create_case(&server, &analyst, "Unanswered", json!({})).await["id"].clone();
    let bare = casebook::db::Db::connect(&server.database.url).unwrap();
    let anna = analyst_principal("anna", "acme");
    let grant = anna.grant::<casebook::auth::ManageAlerts>().unwrap();
    let id = casebook::domain::case::CaseId(case.as_str().unwrap().parse().unwrap());
    let refused = bare.write(async |conn| casebook::domain::comment::add(conn, &grant, id, "lost?").await).await;
    assert!(matches!(refused, Err(casebook::error::AppError::Internal(_))), "{refused:?}");
    assert_eq!(log(&server, &analyst, &case).await.len(), 1, "nothing of the refused write was kept");
    // Through the service, whose database has the pipeline, the same write commits.
    let added = comment(&server, &analyst, case.as_str().unwrap(), "kept").await;
    assert!(added["id"].is_string(), "{added}");
    assert_eq!(log(&server, &analyst, &case).await.len(), 2);
}

both_backends!(
    a_write_nothing_reacts_to_is_refused,
    a_rule_comment_is_bounded_as_a_comment_is,
    rules_act_on_their_trigger_and_conditions_as_the_rule,
    rules_are_tested_without_writing_and_a_failing_rule_leaves_the_change,
    a_rule_applies_a_template_once_per_case,
    a_failing_rule_on_an_sla_breach_keeps_the_breach,
    rules_are_admin_managed_checked_and_per_tenant,
    sla_events_trigger_rules,
    cases_open_from_a_template_in_one_audited_creation,
    templates_are_checked_archived_and_admin_managed,
    the_readme_template_and_rule_work_as_shown,
);
