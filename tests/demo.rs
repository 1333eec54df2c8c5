//! The demo data set is consistent with what the API would have written.

use crate::common::*;
use casebook::demo::{DemoSize, PerCase, seed};
use serde_json::json;

async fn demo_data_reads_back_consistently(backend: Backend) {
    let server = TestServer::start(backend).await;
    let size = DemoSize { cases: 1200, fixed: None };
    let summary = seed(server.state.db(), "acme", &size, |_| {}).await.unwrap();
    assert_eq!(summary.cases, 1200);
    let t = reader("acme");
    let data = server
        .ok(&t, "{ cases(first: 3) { totalCount nodes { id version tasks { id } incidents { id cases { id } } activity { totalCount nodes { __typename } } } } statuses { name } users { id } }", json!({}))
        .await;
    assert_eq!(data["cases"]["totalCount"], 1200);
    assert_eq!(data["cases"]["nodes"][0]["id"], "2199", "ids from 1000, consecutive");
    let statuses: Vec<&str> =
        data["statuses"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["New", "Research phase", "Generating hypothesis", "Containment", "Open", "Closed"]);
    assert!(data["users"].as_array().unwrap().len() >= 12);
    for case in data["cases"]["nodes"].as_array().unwrap() {
        let tasks = case["tasks"].as_array().unwrap().len() as i64;
        let links = case["incidents"].as_array().unwrap().len() as i64;
        assert!(case["activity"]["totalCount"].as_i64().unwrap() >= 1 + tasks + links);
        for incident in case["incidents"].as_array().unwrap() {
            assert!(incident["cases"].as_array().unwrap().iter().any(|c| c["id"] == case["id"]));
        }
    }
    // Closed cases are classified and measured against the seeded SLA policies.
    let closed = server
        .ok(&t, "{ slaPolicies { priority } cases(filter: { statusCategories: [CLOSED] }, first: 20) { nodes { classification determination sla { state } } } }", json!({}))
        .await;
    assert_eq!(closed["slaPolicies"].as_array().unwrap().len(), 3);
    for case in closed["cases"]["nodes"].as_array().unwrap() {
        assert!(case["classification"].is_string() && case["determination"].is_string(), "{case}");
        assert!(["MET", "BREACHED"].contains(&case["sla"]["state"].as_str().unwrap()), "{case}");
    }
    // The API goes on from where the demo stopped: next id, next sequence.
    let created = create_case(&server, &analyst("acme"), "After the demo", json!({})).await;
    assert_eq!(created["id"], "2200");
    let comment = comment(&server, &analyst("acme"), "2199", "a new comment").await;
    assert_eq!(comment["body"], "a new comment");

    // Fixed shape, as the dashboard benchmark uses.
    let fixed = DemoSize { cases: 10, fixed: Some(PerCase { tasks: 10, incidents: 3, comments: 5 }) };
    seed(server.state.db(), "globex", &fixed, |_| {}).await.unwrap();
    let g = server.ok(&reader("globex"), "{ case(id: \"1005\") { tasks { id } incidents { id } } }", json!({})).await;
    assert_eq!(g["case"]["tasks"].as_array().unwrap().len(), 10);
    assert_eq!(g["case"]["incidents"].as_array().unwrap().len(), 3);
}

both_backends!(demo_data_reads_back_consistently);

/// `casebook demo` into a tenant that already holds data is refused, saying
/// what it would change, unless `--force`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_does_not_seed_a_tenant_in_use_unless_forced() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let url = crate::common::process::database_url(&database);
    let demo = |extra: &'static [&'static str]| {
        let url = url.clone();
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook"))
                .args(["demo", "--cases", "5", "--database-url", &url])
                .args(extra)
                .output()
                .await
                .unwrap();
            (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
        }
    };
    assert!(demo(&[]).await.0, "a fresh tenant is seeded");
    let (seeded, said) = demo(&[]).await;
    assert!(!seeded, "a tenant with data is refused");
    assert!(said.contains("already holds data (5 cases") && said.contains("--force"), "{said}");
    assert!(demo(&["--tenant", "other"]).await.0, "another tenant is fresh");
    assert!(demo(&["--force"]).await.0, "--force seeds anyway");
}
