//! `examples/web`, the typed client: its operations type-check against the
//! checked-in schema (graphql-codegen, then `tsc --noEmit`), and it runs,
//! queue, case page, a file up and down, and live feed, against a server that takes only the
//! trusted documents of the manifest it generated; its attachments module
//! also runs in Chromium (a file picked, uploaded, downloaded by its link).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use serde_json::{Value, json};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web")
}

fn npm(args: &[&str]) {
    let output = std::process::Command::new("npm").args(args).current_dir(example_dir()).output().unwrap();
    assert!(
        output.status.success(),
        "npm {} in examples/web failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

static BUILT: std::sync::Once = std::sync::Once::new();

/// Installs the example's packages (once), generates its types and manifest
/// from `schema.graphql`, type-checks it, and compiles it.
fn build_example() {
    BUILT.call_once(|| {
        if !example_dir().join("node_modules/.bin/graphql-codegen").exists() {
            npm(&["install", "--no-audit", "--no-fund", "--no-package-lock", "--silent"]);
        }
        npm(&["run", "--silent", "check"]); // graphql-codegen, then tsc --noEmit
        npm(&["exec", "--", "tsc"]);
    });
}

/// What the test itself runs on the trusted server, by id.
const TEST_DOCUMENTS: [(&str, &str); 4] = [
    ("test:createCase", "mutation($input: CreateCaseInput!) { createCase(input: $input) { id } }"),
    ("test:createTask", "mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }"),
    ("test:addComment", "mutation($input: AddCommentInput!) { addComment(input: $input) { id } }"),
    ("test:newestCursor", "query($id: ID!) { case(id: $id) { activity(first: 1) { edges { cursor } } } }"),
];

/// Runs a trusted document by its id; panics on errors.
async fn by_id(server: &TestServer, token: &str, id: &str, variables: Value) -> Value {
    let body = json!({ "documentId": id, "variables": variables });
    let request = server.client.post(server.url("/graphql")).bearer_auth(token).json(&body);
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(answer.get("errors").is_none(), "{id}: {answer}");
    answer["data"].clone()
}

fn manifest() -> std::collections::HashMap<String, String> {
    let text = std::fs::read_to_string(example_dir().join("src/gql/persisted-documents.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn the_typed_client_runs_on_trusted_documents_only(backend: Backend) {
    tokio::task::spawn_blocking(build_example).await.unwrap();
    let manifest = manifest();
    assert_eq!(manifest.len(), 4, "queue, case page, attachment, live feed: {manifest:?}");

    // The server runs the example's documents, and the few this test writes with.
    let mut trusted = manifest.clone();
    for (id, text) in TEST_DOCUMENTS {
        trusted.insert(id.to_owned(), text.to_owned());
    }
    let server = TestServer::start_with(backend, |s| s.trusted_documents = Some(Arc::new(trusted))).await;
    let analyst = analyst("acme");
    let input = json!({ "title": "Phishing: invoice.zip from billing@example.net" });
    let created = by_id(&server, &analyst, "test:createCase", json!({ "input": input })).await;
    let case_id = created["createCase"]["id"].as_str().unwrap().to_owned();
    let task = json!({ "input": { "caseId": case_id, "title": "Pull the message from every mailbox" } });
    by_id(&server, &analyst, "test:createTask", task).await;
    let comment = async |body: &str| {
        let variables = json!({ "input": { "caseId": case_id, "body": body } });
        by_id(&server, &analyst, "test:addComment", variables).await;
    };

    let mut client = tokio::process::Command::new("node")
        .arg(example_dir().join("dist/main.js"))
        .args([&server.url("/graphql"), &analyst, &case_id, "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(client.stdout.take().unwrap()).lines();
    let complaints = Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = tokio::io::BufReader::new(client.stderr.take().unwrap()).lines();
    let heard = complaints.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            heard.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    let mut next = async || -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap();
        let Some(line) = line else {
            let _ = client.wait().await; // its error output is complete once it has exited
            panic!("the client stopped early: {}", complaints.lock().unwrap());
        };
        serde_json::from_str(&line).unwrap()
    };
    let queue = next().await;
    assert_eq!(queue["queue"]["titles"], json!(["Phishing: invoice.zip from billing@example.net"]), "{queue}");
    let page = next().await;
    assert_eq!(page["case"]["tasks"], 1, "{page}");
    let attached = next().await;
    let expected = json!({ "fileName": "headers.txt", "contentType": "text/plain", "size": 43, "same": true });
    assert_eq!(attached["attachment"], expected, "{attached}");
    assert_eq!(next().await["following"], case_id);
    comment("Blocked the sender domain").await;
    let entry = next().await;
    assert_eq!(entry["activity"]["__typename"], "Comment", "{entry}");
    assert_eq!(entry["activity"]["body"], "Blocked the sender domain", "{entry}");
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), client.wait()).await.unwrap().unwrap();
    assert!(status.success());

    // Documents outside the manifest are refused, over HTTP and WebSocket alike.
    let answer = server.gql(Some(&analyst), "{ cases { totalCount } }", json!({})).await;
    assert_code(&answer, "BAD_USER_INPUT");
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&analyst).await;
    let feed = "subscription($id: ID!) { caseActivity(caseId: $id) { id } }";
    ws.subscribe("raw", feed, json!({ "id": case_id })).await;
    let WsEvent::Message(refused) = ws.next(10).await else { panic!("an answer to the subscribe") };
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    let (id, _) = manifest.iter().find(|(_, text)| text.starts_with("subscription LiveFeed")).unwrap();
    let log = by_id(&server, &analyst, "test:newestCursor", json!({ "id": case_id })).await;
    let after = log["case"]["activity"]["edges"][0]["cursor"].clone();
    let variables = json!({ "caseId": case_id, "after": after });
    ws.send(json!({ "type": "subscribe", "id": "trusted", "payload": { "query": "", "documentId": id, "variables": variables } }))
        .await;
    comment("Reset the recipient's password").await;
    let live = ws.payload(10).await;
    assert_eq!(live["data"]["caseActivity"]["body"], "Reset the recipient's password", "{live}");
    // A payload that is not a request at all is the protocol's to refuse, as
    // without a manifest: the socket is closed (4400, an invalid message).
    ws.send(json!({ "type": "subscribe", "id": "junk", "payload": "{ cases { totalCount } }" })).await;
    ws.expect_close(4400, 10).await;
}

/// The example's attachments module in Chromium, on a page of another
/// origin: a file picked in an `<input type=file>` is uploaded (CORS and its
/// preflight), and the signed link, clicked, downloads the same bytes.
async fn the_example_uploads_and_downloads_in_a_browser(backend: Backend) {
    tokio::task::spawn_blocking(build_example).await.unwrap();
    let chromium = tokio::task::spawn_blocking(ensure_chromium).await.unwrap();
    tokio::task::spawn_blocking(ensure_js_tooling).await.unwrap();
    let mut trusted = manifest();
    for (id, text) in TEST_DOCUMENTS {
        trusted.insert(id.to_owned(), text.to_owned());
    }
    let server = TestServer::start_with(backend, |s| s.trusted_documents = Some(Arc::new(trusted))).await;
    let analyst = analyst("acme");
    let created = by_id(&server, &analyst, "test:createCase", json!({ "input": { "title": "Lure" } })).await;
    let case_id = created["createCase"]["id"].as_str().unwrap().to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/attachments.mjs");
    let dist = example_dir().join("dist");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .args([&server.url("/graphql"), &analyst, &case_id, &dist.display().to_string()])
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(90), output).await.unwrap().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the browser run failed:\n{printed}\n{}", String::from_utf8_lossy(&output.stderr));
    let steps: Vec<Value> = printed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let attachment = &steps[0]["attachment"];
    assert_eq!(attachment["fileName"], "lure.png", "{printed}");
    assert_eq!(attachment["contentType"], "image/png", "{printed}");
    assert_eq!(steps[1]["suggestedFilename"], "lure.png", "{printed}");
    assert_eq!(steps[1]["same"], true, "{printed}");
    assert_eq!(steps[1]["size"], attachment["size"], "{printed}");
}

both_backends!(the_typed_client_runs_on_trusted_documents_only, the_example_uploads_and_downloads_in_a_browser);
