//! Case statuses: defaults per tenant, customisation by admins only, unique
//! names, exactly one default, archive instead of delete, tenant isolation.

use crate::common::*;
use serde_json::{Value, json};

const LIST: &str =
    "query($all: Boolean) { statuses(includeArchived: $all) { id name category position isDefault archived } }";
const CREATE: &str = "mutation($input: CreateStatusInput!) { createStatus(input: $input) { id name category position isDefault archived } }";
const UPDATE: &str = "mutation($input: UpdateStatusInput!) { updateStatus(input: $input) { id name category position isDefault archived } }";

async fn names(server: &TestServer, token: &str, all: bool) -> Vec<String> {
    let data = server.ok(token, LIST, json!({ "all": all })).await;
    data["statuses"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect()
}

async fn create(server: &TestServer, token: &str, input: Value) -> Value {
    server.ok(token, CREATE, json!({ "input": input })).await["createStatus"].clone()
}

async fn each_tenant_starts_with_new_open_closed(backend: Backend) {
    let server = TestServer::start(backend).await;
    for tenant in ["acme", "globex"] {
        let data = server.ok(&reader(tenant), LIST, json!({})).await;
        let statuses = data["statuses"].as_array().unwrap();
        let summary: Vec<(String, String, bool)> = statuses
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().into(),
                    s["category"].as_str().unwrap().into(),
                    s["isDefault"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("New".into(), "NEW".into(), true),
                ("Open".into(), "OPEN".into(), false),
                ("Closed".into(), "CLOSED".into(), false)
            ]
        );
    }
}

async fn only_admins_customise_statuses(backend: Backend) {
    let server = TestServer::start(backend).await;
    let input = json!({ "input": { "name": "Research phase", "category": "OPEN" } });
    for token in [reader("acme"), analyst("acme")] {
        let body = server.gql(Some(&token), CREATE, input.clone()).await;
        assert_code(&body, "FORBIDDEN");
        let body = server.gql(Some(&token), UPDATE, json!({ "input": { "id": "1", "name": "Renamed" } })).await;
        assert_code(&body, "FORBIDDEN");
    }
    assert_eq!(
        names(&server, &admin("acme"), true).await,
        ["New", "Open", "Closed"],
        "a refused mutation changes nothing"
    );
    let created = create(&server, &admin("acme"), input["input"].clone()).await;
    assert_eq!(created["name"], "Research phase");
    assert_eq!(created["position"], 4, "placed last by default");
    assert_eq!(names(&server, &reader("acme"), false).await, ["New", "Open", "Closed", "Research phase"]);
}

async fn tenants_never_see_each_others_statuses(backend: Backend) {
    let server = TestServer::start(backend).await;
    let research = create(&server, &admin("acme"), json!({ "name": "Research phase", "category": "OPEN" })).await;
    assert_eq!(names(&server, &reader("globex"), true).await, ["New", "Open", "Closed"]);
    // Another tenant's status is answered exactly as one that does not exist.
    let foreign =
        server.gql(Some(&admin("globex")), UPDATE, json!({ "input": { "id": research["id"], "name": "Mine" } })).await;
    let missing =
        server.gql(Some(&admin("globex")), UPDATE, json!({ "input": { "id": "999999", "name": "Mine" } })).await;
    assert_code(&foreign, "NOT_FOUND");
    assert_code(&missing, "NOT_FOUND");
    assert_eq!(
        foreign["errors"][0]["message"].as_str().unwrap().replace(research["id"].as_str().unwrap(), "ID"),
        missing["errors"][0]["message"].as_str().unwrap().replace("999999", "ID")
    );
    // The same name is free in another tenant.
    create(&server, &admin("globex"), json!({ "name": "research PHASE", "category": "OPEN" })).await;
    assert_eq!(names(&server, &reader("acme"), true).await, ["New", "Open", "Closed", "Research phase"]);
}

async fn status_names_are_unique_ignoring_case(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    let body = server.gql(Some(&admin), CREATE, json!({ "input": { "name": "  open ", "category": "OPEN" } })).await;
    assert_code(&body, "CONFLICT");
    let hypothesis = create(&server, &admin, json!({ "name": "Generating hypothesis", "category": "OPEN" })).await;
    let body = server.gql(Some(&admin), UPDATE, json!({ "input": { "id": hypothesis["id"], "name": "CLOSED" } })).await;
    assert_code(&body, "CONFLICT");
    // Renaming to itself in another case is fine.
    let renamed = server
        .ok(&admin, UPDATE, json!({ "input": { "id": hypothesis["id"], "name": "generating Hypothesis" } }))
        .await;
    assert_eq!(renamed["updateStatus"]["name"], "generating Hypothesis");
    for (name, field) in [("   ", "name"), (&"x".repeat(65) as &str, "name")] {
        let body = server.gql(Some(&admin), CREATE, json!({ "input": { "name": name, "category": "OPEN" } })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().starts_with(field), "{body}");
    }
    let body = server.gql(Some(&admin), CREATE, json!({ "input": { "name": "Odd", "category": "MAYBE" } })).await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(names(&server, &admin, true).await, ["New", "Open", "Closed", "generating Hypothesis"]);
}

async fn exactly_one_status_is_the_default(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    let triage = create(&server, &admin, json!({ "name": "Triage", "category": "NEW", "isDefault": true })).await;
    assert_eq!(triage["isDefault"], true);
    let defaults = |data: Value| -> Vec<String> {
        data["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["isDefault"] == true)
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(defaults(server.ok(&admin, LIST, json!({})).await), ["Triage"]);

    let body = server.gql(Some(&admin), UPDATE, json!({ "input": { "id": triage["id"], "isDefault": false } })).await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("isDefault"), "{body}");

    let statuses = server.ok(&admin, LIST, json!({})).await;
    let new_id = statuses["statuses"][0]["id"].clone();
    server.ok(&admin, UPDATE, json!({ "input": { "id": new_id, "isDefault": true } })).await;
    assert_eq!(defaults(server.ok(&admin, LIST, json!({})).await), ["New"]);
}

async fn statuses_are_archived_never_deleted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    let research = create(&server, &admin, json!({ "name": "Research", "category": "OPEN", "position": 2 })).await;
    let archived = server.ok(&admin, UPDATE, json!({ "input": { "id": research["id"], "archived": true } })).await;
    assert_eq!(archived["updateStatus"]["archived"], true);
    assert_eq!(names(&server, &admin, false).await, ["New", "Open", "Closed"]);
    assert_eq!(names(&server, &admin, true).await, ["New", "Research", "Open", "Closed"]);

    // The default cannot be archived, and an archived status cannot become the default.
    let new_id = server.ok(&admin, LIST, json!({})).await["statuses"][0]["id"].clone();
    let body = server.gql(Some(&admin), UPDATE, json!({ "input": { "id": new_id, "archived": true } })).await;
    assert_code(&body, "BAD_USER_INPUT");
    let body = server.gql(Some(&admin), UPDATE, json!({ "input": { "id": research["id"], "isDefault": true } })).await;
    assert_code(&body, "BAD_USER_INPUT");
    // Explicit null on a field that cannot be cleared is refused, naming it.
    let body = server.gql(Some(&admin), UPDATE, json!({ "input": { "id": research["id"], "name": null } })).await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("name"), "{body}");

    let restored = server
        .ok(&admin, UPDATE, json!({ "input": { "id": research["id"], "archived": false, "category": "CLOSED" } }))
        .await;
    assert_eq!(restored["updateStatus"]["archived"], false);
    assert_eq!(restored["updateStatus"]["category"], "CLOSED");
}

both_backends!(
    each_tenant_starts_with_new_open_closed,
    only_admins_customise_statuses,
    tenants_never_see_each_others_statuses,
    status_names_are_unique_ignoring_case,
    exactly_one_status_is_the_default,
    statuses_are_archived_never_deleted,
);

async fn positions_insert_and_move_within_the_workflow(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    let research = create(&server, &admin, json!({ "name": "Research", "category": "OPEN", "position": 2 })).await;
    assert_eq!(names(&server, &admin, false).await, ["New", "Research", "Open", "Closed"]);
    server.ok(&admin, UPDATE, json!({ "input": { "id": research["id"], "position": 4 } })).await;
    assert_eq!(names(&server, &admin, false).await, ["New", "Open", "Closed", "Research"]);
    server.ok(&admin, UPDATE, json!({ "input": { "id": research["id"], "position": 1 } })).await;
    let data = server.ok(&admin, LIST, json!({})).await;
    let positions: Vec<(String, i64)> = data["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["position"].as_i64().unwrap()))
        .collect();
    assert_eq!(positions, [("Research".into(), 1), ("New".into(), 2), ("Open".into(), 3), ("Closed".into(), 4)]);
    let body = server.gql(Some(&admin), UPDATE, json!({ "input": { "id": research["id"], "position": 0 } })).await;
    assert_code(&body, "BAD_USER_INPUT");
}

both_backends!(positions_insert_and_move_within_the_workflow);
