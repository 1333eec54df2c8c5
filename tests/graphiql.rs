//! GraphiQL at `/` in a real browser (Debian's headless Chromium, driven by
//! playwright-core): the page loads with nothing from outside the server,
//! offers `--dev`'s tokens, runs a query and receives a subscription.

use crate::common::process::{Process, gql_at};
use crate::common::*;
use serde_json::{Value, json};

/// The token `--dev` printed for a role.
fn printed_token(process: &Process, role: &str) -> String {
    let heading = format!("{role} token:");
    let at = process.printed.iter().position(|line| *line == heading).unwrap_or_else(|| panic!("{heading} printed"));
    process.printed[at + 1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_and_a_subscription_in_a_browser_offline() {
    let chromium = tokio::task::spawn_blocking(ensure_chromium).await.unwrap();
    tokio::task::spawn_blocking(ensure_js_tooling).await.unwrap();
    let server = Process::start_configured(Backend::Sqlite, false, &[], &["--dev"]).await;
    let analyst = printed_token(&server, "analyst");
    let created = gql_at(
        &server.addr,
        &analyst,
        "mutation { createCase(input: { title: \"Beacon to 203.0.113.7\" }) { id } }",
        json!({}),
    )
    .await;
    let case_id = created["createCase"]["id"].as_str().unwrap().to_owned();
    let log = gql_at(
        &server.addr,
        &analyst,
        "query($id: ID!) { case(id: $id) { activity(first: 1) { edges { cursor } } } }",
        json!({ "id": case_id }),
    )
    .await;
    let cursor = log["case"]["activity"]["edges"][0]["cursor"].as_str().unwrap().to_owned();

    // CASEBOOK_GRAPHIQL_SCREENSHOT keeps the picture (the README's is made so).
    let kept = std::env::var_os("CASEBOOK_GRAPHIQL_SCREENSHOT").map(std::path::PathBuf::from);
    let screenshot = kept
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("casebook-graphiql-{}.png", std::process::id())));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/graphiql.mjs");
    let browser = tokio::process::Command::new("node")
        .arg(script)
        .args([&format!("http://{}/", server.addr), &case_id, &cursor, &screenshot.display().to_string()])
        .env("CHROMIUM", &chromium)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The comment the subscription in the page must receive (replayed after the cursor if it lands first).
    gql_at(
        &server.addr,
        &analyst,
        "mutation($id: ID!) { addComment(input: { caseId: $id, body: \"seen from GraphiQL\" }) { id } }",
        json!({ "id": case_id }),
    )
    .await;
    let output = tokio::time::timeout(std::time::Duration::from_secs(90), browser.wait_with_output())
        .await
        .expect("the browser session ends within 90 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let steps: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let step = |name: &str| steps.iter().find(|s| s["step"] == name).unwrap_or_else(|| panic!("{name}: {stdout}"));

    assert_eq!(
        step("loaded")["roles"],
        json!(["", "reader", "analyst", "admin", "__pasted__"]),
        "the dev tokens are offered"
    );
    assert_eq!(step("query")["response"], json!({ "data": { "me": { "tenant": "default" } } }));
    assert_eq!(
        step("subscription")["response"]["data"]["caseActivity"],
        json!({ "__typename": "Comment", "body": "seen from GraphiQL" })
    );
    assert_eq!(step("done")["outside"], json!([]), "no request left the server");
    assert_eq!(step("done")["pageErrors"], json!([]));
    if kept.is_none() {
        let _ = std::fs::remove_file(screenshot);
    }
}

/// Without `--dev` the page offers no tokens (a pasted one only), and every
/// asset it names is served by the process itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_without_dev_tokens() {
    let server = TestServer::start(Backend::Sqlite).await;
    let page = server.client.get(server.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<script id="casebook-dev-tokens" type="application/json">[]</script>"#), "{page}");
    assert!(!page.contains("https://") && !page.contains("http://"), "nothing from elsewhere: {page}");
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphql-ws.min.js",
        "casebook.js",
    ] {
        assert!(page.contains(&format!("/graphiql/{asset}")), "{asset} is on the page");
        let answer = server.client.get(server.url(&format!("/graphiql/{asset}"))).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{asset}");
        let media_type = answer.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            media_type.starts_with(if asset.ends_with(".css") { "text/css" } else { "text/javascript" }),
            "{asset}: {media_type}"
        );
        assert!(answer.bytes().await.unwrap().len() > 1_000, "{asset}");
    }
    let missing = server.client.get(server.url("/graphiql/other.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
