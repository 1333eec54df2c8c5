//! Automation as a client uses it: case templates (a playbook's cases open
//! with its title prefix, description, priority, tags, techniques and tasks,
//! audited as one creation; `applyTemplate` adds the tasks to a case).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
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
    let foreign = server
        .gql(
            Some(&globex),
            "mutation($input: CreateCaseInput!) { createCase(input: $input) { id } }",
            json!({ "input": { "title": "x", "templateId": template["id"] } }),
        )
        .await;
    assert_eq!(error_codes(&foreign), ["BAD_USER_INPUT"]);
}

async fn the_readme_template_opens_a_phishing_case(backend: Backend) {
    let server = TestServer::start(backend).await;
    let template = server.ok(&admin("acme"), &readme_operation("mutation Template"), json!({})).await;
    let template = &template["createCaseTemplate"];
    assert_eq!(template["tasks"][2]["dueAfter"], "P1D");
    let case = create_case(&server, &analyst("acme"), "Invoice lure", json!({ "templateId": template["id"] })).await;
    assert_eq!((case["title"].as_str(), case["priority"].as_str()), (Some("[Phishing] Invoice lure"), Some("HIGH")));
}

both_backends!(
    cases_open_from_a_template_in_one_audited_creation,
    templates_are_checked_archived_and_admin_managed,
    the_readme_template_opens_a_phishing_case,
);
