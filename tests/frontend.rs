//! The JavaScript graphql-ws client, as frontends use it, subscribes with only
//! the documented URL and `connectionParams` (needs Node.js; `npm install`s the
//! client into tests/js on first run).

use crate::common::*;
use serde_json::json;

async fn the_graphql_ws_client_subscribes_with_connection_params(backend: Backend) {
    tokio::task::spawn_blocking(ensure_js_tooling).await.unwrap();
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Watched from a browser", json!({})).await;
    let after = latest_cursor(&server, &analyst, "1000").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/subscribe.mjs");
    let child = tokio::process::Command::new("node")
        .args([script, &format!("ws://{}/graphql", server.addr), &reader("acme"), "1000", "3", after.as_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    for n in 0..3 {
        comment(&server, &analyst, "1000", &format!("hello {n}")).await;
    }
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "node failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v.is_object())
        .collect();
    assert_eq!(
        events,
        (0..3).map(|n| json!({ "__typename": "Comment", "body": format!("hello {n}") })).collect::<Vec<_>>()
    );
}

both_backends!(the_graphql_ws_client_subscribes_with_connection_params);
