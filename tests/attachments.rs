//! Files on cases and tasks, as a client sends and fetches them: GraphQL
//! multipart uploads streamed to the store (a directory, or a real
//! S3-compatible server), downloads with a token or a signed link, the
//! malware zip, shared content and its deletion, limits and hostile input.

use std::time::Duration;

use crate::common::*;
use md5::Digest as _;
use serde_json::{Value, json};

const ADD: &str = "mutation($input: AddAttachmentInput!) { addAttachment(input: $input) { \
    id fileName contentType size sha256 sha1 md5 description isMalware addedBy { id } \
    case { id version } task { id } } }";

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89 screenshot";

/// A GraphQL multipart request body: `operations`, `map`, then each file
/// (its form field name, file name, declared type, bytes).
pub(crate) fn multipart(operations: &Value, files: &[(&str, &str, &str, &[u8])], map: &Value) -> (String, Vec<u8>) {
    let boundary = "casebook-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    let mut part = |headers: String, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part("Content-Disposition: form-data; name=\"operations\"".into(), operations.to_string().as_bytes());
    part("Content-Disposition: form-data; name=\"map\"".into(), map.to_string().as_bytes());
    for (field, name, kind, bytes) in files {
        part(
            format!("Content-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: {kind}"),
            bytes,
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Sends a multipart request as apollo-upload-client does; (status, JSON answer).
pub(crate) async fn post_multipart(
    server: &TestServer,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = server
        .client
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .header("apollo-require-preflight", "true")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Uploads one file to a case with `addAttachment`; the JSON answer.
pub(crate) async fn upload(server: &TestServer, token: &str, input: Value, name: &str, bytes: &[u8]) -> Value {
    let mut input = input;
    input["file"] = Value::Null;
    let operations = json!({ "query": ADD, "variables": { "input": input } });
    let (kind, body) = multipart(
        &operations,
        &[("0", name, "application/octet-stream", bytes)],
        &json!({ "0": ["variables.input.file"] }),
    );
    post_multipart(server, token, &kind, body).await.1
}

async fn uploaded(server: &TestServer, token: &str, input: Value, name: &str, bytes: &[u8]) -> Value {
    let body = upload(server, token, input, name, bytes).await;
    assert!(body.get("errors").is_none(), "upload failed: {body:#}");
    body["data"]["addAttachment"].clone()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// GET /attachments/{id} with a token; (status, headers, bytes).
async fn download(
    server: &TestServer,
    token: Option<&str>,
    path: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = server.client.get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// Nothing left behind: after a sweep, the store holds exactly `expected`
/// objects and no object waits for deletion.
async fn store_settles(server: &TestServer, expected: usize) {
    let store = server.state.attachments().store.clone().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        server.state.sweep_attachments().await.unwrap();
        let keys = store.keys().await.unwrap();
        let pending = {
            let mut conn = server.state.db().get().await.unwrap();
            casebook::domain::attachment::objects::pending(&mut conn.conn()).await.unwrap()
        };
        if keys.len() == expected && pending == 0 {
            return;
        }
        // A cut-off upload is noticed by the server when the connection
        // drops, which the client cannot wait for: poll, with a deadline.
        assert!(tokio::time::Instant::now() < deadline, "store holds {keys:?}, {pending} pending; expected {expected}");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_file_goes_on_a_case_and_comes_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Phishing with a screenshot", json!({})).await;
    let task = create_task(&server, &analyst, "1000", "Look at the screenshot", json!({})).await;
    let before = server.ok(&analyst, "{ case(id: \"1000\") { version } }", json!({})).await["case"]["version"].clone();

    let added = uploaded(
        &server,
        &analyst,
        json!({ "caseId": "1000", "taskId": task, "description": "the lure", "addObservables": true }),
        "lure.png",
        PNG,
    )
    .await;
    assert_eq!(added["fileName"], "lure.png");
    assert_eq!(added["contentType"], "image/png");
    assert_eq!(added["size"], PNG.len());
    assert_eq!(added["sha256"], hex(&sha2::Sha256::digest(PNG)));
    assert_eq!(added["sha1"], hex(&sha1::Sha1::digest(PNG)));
    assert_eq!(added["md5"], hex(&md5::Md5::digest(PNG)));
    assert_eq!(added["description"], "the lure");
    assert_eq!(added["isMalware"], false);
    assert_eq!(added["task"]["id"], task.as_str());
    assert!(added["case"]["version"].as_i64() > before.as_i64(), "the case changed");
    let id = added["id"].as_str().unwrap().to_owned();

    let read = server
        .ok(
            &analyst,
            "{ case(id: \"1000\") { attachments { totalCount nodes { id fileName } } \
        tasks { attachments { totalCount nodes { id } } } \
        observables(first: 10) { nodes { type value } } \
        activity(first: 5) { nodes { ... on AuditEvent { action changes { field newValue } } } } } }",
            json!({}),
        )
        .await;
    let case = &read["case"];
    assert_eq!(case["attachments"]["totalCount"], 1);
    assert_eq!(case["attachments"]["nodes"][0]["id"], id.as_str());
    assert_eq!(case["tasks"][0]["attachments"]["totalCount"], 1);
    let types: Vec<&str> =
        case["observables"]["nodes"].as_array().unwrap().iter().map(|o| o["type"].as_str().unwrap()).collect();
    for kind in ["FILE_HASH_SHA256", "FILE_HASH_SHA1", "FILE_HASH_MD5", "FILE_NAME"] {
        assert!(types.contains(&kind), "{kind} in {types:?}");
    }
    let actions: Vec<&str> =
        case["activity"]["nodes"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"ATTACHMENT_ADDED"), "{actions:?}");

    // With a token: the bytes, always as a download, never rendered.
    let (status, headers, bytes) = download(&server, Some(&analyst), &format!("/attachments/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, PNG);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"lure.png\"; filename*=UTF-8''lure.png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert_eq!(headers["accept-ranges"], "bytes");
    // A range, as a download manager or a video player asks.
    let (status, headers, bytes) =
        download(&server, Some(&analyst), &format!("/attachments/{id}"), Some("bytes=1-3")).await;
    assert_eq!(status, 206);
    assert_eq!(bytes, &PNG[1..4]);
    assert_eq!(headers["content-range"], format!("bytes 1-3/{}", PNG.len()).as_str());
    let (status, _, _) = download(&server, Some(&analyst), &format!("/attachments/{id}"), Some("bytes=9999-")).await;
    assert_eq!(status, 416);

    // A signed link works without a token, for this file only.
    let url = server
        .ok(&reader("acme"), "{ case(id: \"1000\") { attachments { nodes { downloadUrl } } } }", json!({}))
        .await["case"]["attachments"]["nodes"][0]["downloadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&format!("/attachments/{id}?link=")), "{url}");
    let (status, _, bytes) = download(&server, None, &url, None).await;
    assert_eq!((status, bytes.as_slice()), (200, PNG));
    let tampered = url.replacen("link=", "link=x", 1);
    assert_eq!(download(&server, None, &tampered, None).await.0, 401);
    assert_eq!(download(&server, None, &format!("/attachments/{id}"), None).await.0, 401);

    // A look before the download (HEAD) reads nothing and is not recorded.
    let head =
        server.client.head(server.url(&format!("/attachments/{id}"))).bearer_auth(&analyst).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers()["content-length"].to_str().unwrap(), PNG.len().to_string());
    // Who fetched it, and how.
    let downloads = server
        .ok(
            &analyst,
            "{ case(id: \"1000\") { attachments { nodes { downloads { via range downloadedBy { id } } } } } }",
            json!({}),
        )
        .await;
    let log = &downloads["case"]["attachments"]["nodes"][0]["downloads"];
    let vias: Vec<&str> = log.as_array().unwrap().iter().map(|d| d["via"].as_str().unwrap()).collect();
    assert_eq!(vias, ["LINK", "API", "API"], "{log:#}");
    assert_eq!(log[1]["range"], "bytes=1-3");

    // Marked as malware: only ever a zip with the password `infected`.
    let update =
        "mutation($input: UpdateAttachmentInput!) { updateAttachment(input: $input) { isMalware description } }";
    let changed =
        server.ok(&analyst, update, json!({ "input": { "id": id, "isMalware": true, "description": null } })).await;
    assert_eq!(changed["updateAttachment"], json!({ "isMalware": true, "description": null }));
    let (status, headers, zipped) =
        download(&server, Some(&analyst), &format!("/attachments/{id}"), Some("bytes=0-3")).await;
    assert_eq!(status, 200, "no ranges of a zip that is made per download");
    assert_eq!(headers["content-type"], "application/zip");
    assert!(headers["content-disposition"].to_str().unwrap().contains("lure.png.zip"));
    assert_eq!(headers["content-length"].to_str().unwrap(), zipped.len().to_string());
    assert_ne!(zipped, PNG);
    assert_eq!(unzip_with_password(&zipped, "lure.png"), PNG);

    // Removed: audited, and the bytes leave the store.
    let remove = "mutation($id: ID!) { removeAttachment(input: { id: $id }) { removedAttachmentId case { attachments { totalCount } } } }";
    let removed = server.ok(&analyst, remove, json!({ "id": id })).await;
    assert_eq!(removed["removeAttachment"]["case"]["attachments"]["totalCount"], 0);
    assert_eq!(download(&server, Some(&analyst), &format!("/attachments/{id}"), None).await.0, 404);
    store_settles(&server, 0).await;
}

/// Opens a zip with Python's `zipfile` (as an analyst's script would) and the
/// conventional password; the entry's bytes.
fn unzip_with_password(zipped: &[u8], entry: &str) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("casebook-malware-{}.zip", unique_name()));
    std::fs::write(&path, zipped).unwrap();
    let script = "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
        sys.stdout.buffer.write(z.read(sys.argv[2], pwd=b'infected'))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .arg(entry)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "zipfile refused: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

async fn the_same_bytes_are_stored_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "One", json!({})).await;
    create_case(&server, &analyst, "Two", json!({})).await;
    let sample = b"MZ\x90\0 the same dropper seen twice".to_vec();
    // The same upload twice at once, and once more later on another case.
    let (a, b) = tokio::join!(
        upload(&server, &analyst, json!({ "caseId": "1000" }), "dropper.exe", &sample),
        upload(&server, &analyst, json!({ "caseId": "1000" }), "dropper.exe", &sample),
    );
    let c = uploaded(&server, &analyst, json!({ "caseId": "1001" }), "copy.bin", &sample).await;
    for body in [&a, &b] {
        assert!(body.get("errors").is_none(), "{body:#}");
        assert_eq!(body["data"]["addAttachment"]["sha256"], c["sha256"]);
    }
    store_settles(&server, 1).await;
    let remove = "mutation($id: ID!) { removeAttachment(input: { id: $id }) { removedAttachmentId } }";
    server.ok(&analyst, remove, json!({ "id": a["data"]["addAttachment"]["id"] })).await;
    server.ok(&analyst, remove, json!({ "id": c["id"] })).await;
    store_settles(&server, 1).await;
    let id = b["data"]["addAttachment"]["id"].as_str().unwrap();
    let (status, _, bytes) = download(&server, Some(&analyst), &format!("/attachments/{id}"), None).await;
    assert_eq!((status, bytes), (200, sample));
    server.ok(&analyst, remove, json!({ "id": id })).await;
    store_settles(&server, 0).await;
}

async fn hostile_names_and_types_are_made_harmless(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Hostile", json!({})).await;
    let names = [
        ("../../etc/passwd", "passwd"),
        ("C:\\\\Windows\\\\evil.exe", "evil.exe"),
        ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
        ("tab\there\u{85}next\u{2066}.txt", "tabherenext.txt"),
        ("CON.txt", "_CON.txt"),
        ("..", "file"),
    ];
    for (given, kept) in names {
        let added = uploaded(&server, &analyst, json!({ "caseId": "1000" }), given, b"notes").await;
        assert_eq!(added["fileName"], kept, "{given:?}");
    }
    // A raw control byte in a part's header is not HTTP: refused whole.
    let refused = upload(&server, &analyst, json!({ "caseId": "1000" }), "bell\u{7}.txt", b"x").await;
    assert_code(&refused, "BAD_USER_INPUT");
    let long = format!("{}.pcap", "x".repeat(1000));
    let added = uploaded(&server, &analyst, json!({ "caseId": "1000" }), &long, b"pcap").await;
    assert_eq!(added["fileName"].as_str().unwrap().chars().count(), 200);
    assert!(added["fileName"].as_str().unwrap().ends_with(".pcap"));

    // What a browser would run is sniffed as what it is, and never served as it.
    let active: [(&str, &[u8], &str); 3] = [
        ("page.png", b"<!DOCTYPE html><script>alert(document.cookie)</script>", "text/html"),
        ("logo.png", b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>", "image/svg+xml"),
        ("app.js", b"fetch('/graphql', {credentials: 'include'})", "text/plain"),
    ];
    for (name, bytes, sniffed) in active {
        let added = uploaded(&server, &analyst, json!({ "caseId": "1000" }), name, bytes).await;
        assert_eq!(added["contentType"], sniffed, "{name}");
        let id = added["id"].as_str().unwrap();
        let (status, headers, _) = download(&server, Some(&analyst), &format!("/attachments/{id}"), None).await;
        assert_eq!(status, 200);
        let served = headers["content-type"].to_str().unwrap();
        assert!(served == "application/octet-stream" || served == "text/plain", "{name} served as {served}");
        assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
    }
}

async fn limits_refuse_and_keep_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.attachments.limits.max_file_bytes = 64 * 1024;
        s.attachments.limits.max_files_per_case = 2;
        s.attachments.limits.tenant_quota_bytes = 100 * 1024;
    })
    .await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Limits", json!({})).await;
    // Past the size per file: 413, nothing stored.
    let operations = json!({ "query": ADD, "variables": { "input": { "caseId": "1000", "file": null } } });
    let (kind, body) = multipart(
        &operations,
        &[("0", "dump.bin", "application/octet-stream", &vec![1u8; 64 * 1024 + 1])],
        &json!({ "0": ["variables.input.file"] }),
    );
    let (status, answer) = post_multipart(&server, &analyst, &kind, body).await;
    assert_eq!(status, 413, "{answer:#}");
    assert_code(&answer, "BAD_USER_INPUT");
    store_settles(&server, 0).await;
    // Files per case.
    uploaded(&server, &analyst, json!({ "caseId": "1000" }), "a.txt", &vec![b'a'; 60 * 1024]).await;
    uploaded(&server, &analyst, json!({ "caseId": "1000" }), "b.txt", b"b").await;
    let third = upload(&server, &analyst, json!({ "caseId": "1000" }), "c.txt", b"c").await;
    assert_code(&third, "BAD_USER_INPUT");
    assert!(third["errors"][0]["message"].as_str().unwrap().contains("at most 2 attachments"), "{third:#}");
    // The tenant's quota (distinct bytes).
    create_case(&server, &analyst, "More", json!({})).await;
    let over = upload(&server, &analyst, json!({ "caseId": "1001" }), "big.txt", &vec![b'z'; 50 * 1024]).await;
    assert_code(&over, "BAD_USER_INPUT");
    assert!(over["errors"][0]["message"].as_str().unwrap().contains("quota"), "{over:#}");
    store_settles(&server, 2).await;
}

/// The head of a multipart upload sent by hand over a socket, announcing
/// `length` bytes of body (which the tests then do not all send, or send more).
fn raw_upload_head(token: &str, kind: &str, length: usize, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: {kind}\r\n\
         Apollo-Require-Preflight: true\r\n{connection}Content-Length: {length}\r\n\r\n"
    )
}

async fn cut_off_and_lying_uploads_leave_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Cut", json!({})).await;
    let operations = json!({ "query": ADD, "variables": { "input": { "caseId": "1000", "file": null } } });
    let (kind, body) = multipart(
        &operations,
        &[("0", "dump.bin", "application/octet-stream", &vec![7u8; 200_000])],
        &json!({ "0": ["variables.input.file"] }),
    );

    // Cut off half-way: the client announces the whole body, sends half, goes.
    {
        use tokio::io::AsyncWriteExt;
        let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = raw_upload_head(&analyst, &kind, body.len(), false);
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body[..body.len() / 2]).await.unwrap();
        socket.flush().await.unwrap();
        drop(socket);
    }
    store_settles(&server, 0).await;

    // A declared length shorter than the body: the multipart ends early.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = raw_upload_head(&analyst, &kind, body.len() / 3, true);
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("BAD_USER_INPUT"), "{answer}");
    }
    store_settles(&server, 0).await;
    let count = server.ok(&analyst, "{ case(id: \"1000\") { attachments { totalCount } } }", json!({})).await;
    assert_eq!(count["case"]["attachments"]["totalCount"], 0);
}

async fn uploads_need_the_preflight_header_and_a_part(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "CSRF", json!({})).await;
    let operations = json!({ "query": ADD, "variables": { "input": { "caseId": "1000", "file": null } } });
    let (kind, body) =
        multipart(&operations, &[("0", "a.txt", "text/plain", b"a")], &json!({ "0": ["variables.input.file"] }));
    // As a cross-site form would post it: no preflight-forcing header.
    let response = server
        .client
        .post(server.url("/graphql"))
        .bearer_auth(&analyst)
        .header("content-type", &kind)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("Apollo-Require-Preflight"));
    // An Upload given as JSON text is no file.
    let answer =
        server.gql(Some(&analyst), ADD, json!({ "input": { "caseId": "1000", "file": "casebook-upload:0" } })).await;
    assert_code(&answer, "BAD_USER_INPUT");
    let answer = server.gql(Some(&analyst), ADD, json!({ "input": { "caseId": "1000", "file": "hello" } })).await;
    assert_code(&answer, "BAD_USER_INPUT");
    // A bad token is answered as for any GraphQL request, before the body is read.
    let (kind, body) =
        multipart(&operations, &[("0", "a.txt", "text/plain", b"a")], &json!({ "0": ["variables.input.file"] }));
    let (status, answer) = post_multipart(&server, "not-a-token", &kind, body).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_code(&answer, "UNAUTHENTICATED");
    // A map naming a file the request does not carry.
    let (kind, body) = multipart(&operations, &[], &json!({ "0": ["variables.input.file"] }));
    let (status, answer) = post_multipart(&server, &analyst, &kind, body).await;
    assert_eq!(status, 400, "{answer:#}");
    store_settles(&server, 0).await;
}

async fn other_tenants_attachments_do_not_exist(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (acme, globex) = (analyst("acme"), analyst("globex"));
    create_case(&server, &acme, "Acme's", json!({})).await;
    let acme_task = create_task(&server, &acme, "1000", "Acme's task", json!({})).await;
    create_case(&server, &globex, "Globex's", json!({})).await;
    let added = uploaded(&server, &acme, json!({ "caseId": "1000" }), "acme.txt", b"acme's secret").await;
    let id = added["id"].as_str().unwrap();

    let update = "mutation($id: ID!) { updateAttachment(input: { id: $id, description: \"mine\" }) { id } }";
    assert_code(&server.gql(Some(&globex), update, json!({ "id": id })).await, "NOT_FOUND");
    let remove = "mutation($id: ID!) { removeAttachment(input: { id: $id }) { removedAttachmentId } }";
    assert_code(&server.gql(Some(&globex), remove, json!({ "id": id })).await, "NOT_FOUND");
    assert_eq!(download(&server, Some(&globex), &format!("/attachments/{id}"), None).await.0, 404);
    // Globex's case 1000 is its own; Acme's task is not a task of it.
    let onto = upload(&server, &globex, json!({ "caseId": "1000", "taskId": acme_task }), "x.txt", b"x").await;
    assert_code(&onto, "BAD_USER_INPUT");
    let missing = upload(&server, &globex, json!({ "caseId": "1001" }), "x.txt", b"x").await;
    assert_code(&missing, "NOT_FOUND");
    // A link made in Acme opens Acme's file only.
    let url = server.ok(&acme, "{ case(id: \"1000\") { attachments { nodes { downloadUrl } } } }", json!({})).await
        ["case"]["attachments"]["nodes"][0]["downloadUrl"].as_str().unwrap().to_owned();
    let token = url.split("link=").nth(1).unwrap();
    let globex_file = uploaded(&server, &globex, json!({ "caseId": "1000" }), "g.txt", b"globex").await;
    let moved = format!("/attachments/{}?link={token}", globex_file["id"].as_str().unwrap());
    assert_eq!(download(&server, None, &moved, None).await.0, 401);
    // Readers read; they do not attach.
    let refused = upload(&server, &reader("acme"), json!({ "caseId": "1000" }), "r.txt", b"r").await;
    assert_code(&refused, "FORBIDDEN");
    assert_eq!(download(&server, Some(&reader("acme")), &format!("/attachments/{id}"), None).await.0, 200);
    store_settles(&server, 2).await;
}

async fn watchers_see_files_arrive(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Watched", json!({})).await;
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    let after = latest_cursor(&server, &analyst, "1000").await;
    let watch = "subscription($caseId: ID!, $after: String) { caseActivity(caseId: $caseId, after: $after) { \
        ... on AuditEvent { action changes { field newValue } } } }";
    ws.subscribe("1", watch, json!({ "caseId": "1000", "after": after })).await;
    uploaded(&server, &analyst, json!({ "caseId": "1000" }), "live.txt", b"live").await;
    let event = ws.payload(10).await;
    assert_eq!(event["data"]["caseActivity"]["action"], "ATTACHMENT_ADDED", "{event:#}");
    let changes = &event["data"]["caseActivity"]["changes"];
    assert!(
        changes.as_array().unwrap().iter().any(|c| c["newValue"].as_str().is_some_and(|v| v.starts_with("live.txt")))
    );
}

async fn readiness_includes_the_store(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ready = |server: &TestServer| {
        let url = server.url("/readyz");
        let client = server.client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ready(&server).await, 200);
    match &server.s3 {
        Some(s3) => s3.stop().await,
        None => {
            let casebook::config::DatabaseUrl::Sqlite(path) = &server.database.url else { panic!("a directory store") };
            std::fs::remove_dir_all(format!("{}.attachments", path.display())).unwrap();
        }
    }
    assert_eq!(ready(&server).await, 503);
}

/// A process that dies between the database and the store leaves a row
/// that says what to delete; the sweeper (of any replica, after a restart)
/// finishes the work: no orphan bytes, and no attachment without its bytes.
async fn what_a_crash_leaves_is_swept(backend: Backend) {
    use casebook::domain::attachment::{self, AttachmentId, objects};
    let server =
        TestServer::start_with(backend, |s| s.attachments.sweep_interval = Duration::from_secs(24 * 3600)).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Crash", json!({})).await;
    let store = server.state.attachments().store.clone().unwrap();
    let db = server.state.db();

    // Died mid-upload: the key was recorded, some bytes reached the store.
    let key = casebook::store::Store::new_key();
    let mut tx = db.begin().await.unwrap();
    let staged = objects::stage(&mut tx.conn(), "acme", &key).await;
    tx.finish(staged).await.unwrap();
    let mut writer = store.writer(&key).await.unwrap();
    writer.push(bytes::Bytes::from_static(b"half a memory dump"), 1 << 20).await.unwrap();
    writer.finish().await.unwrap();
    // Younger than the longest upload, it is left alone...
    server.state.sweep_attachments().await.unwrap();
    assert_eq!(store.keys().await.unwrap(), vec![key.clone()]);
    // ...older, it is abandoned and deleted.
    let backdate = "UPDATE stored_objects SET since = '2000-01-01 00:00:00'";
    let mut pooled = db.get().await.unwrap();
    let mut conn = pooled.conn();
    match &mut conn.link {
        casebook::db::Link::Postgres(c) => diesel_async::RunQueryDsl::execute(diesel::sql_query(backdate), *c).await,
        casebook::db::Link::Sqlite(c) => diesel_async::RunQueryDsl::execute(diesel::sql_query(backdate), *c).await,
    }
    .unwrap();
    drop(pooled);
    store_settles(&server, 0).await;

    // Died after a removal committed, before the bytes were deleted.
    let added = uploaded(&server, &analyst, json!({ "caseId": "1000" }), "dump.bin", b"a whole memory dump").await;
    let id = AttachmentId(added["id"].as_str().unwrap().parse().unwrap());
    let principal = analyst_principal("anna", "acme");
    let actor = principal.grant::<casebook::auth::ManageAlerts>().unwrap();
    let mut tx = db.begin().await.unwrap();
    let removed = attachment::remove(&mut tx.conn(), &actor, id).await;
    tx.finish(removed).await.unwrap();
    assert_eq!(store.keys().await.unwrap().len(), 1, "the bytes wait for the sweeper");
    let (status, _, _) = download(&server, Some(&analyst), &format!("/attachments/{}", id.0), None).await;
    assert_eq!(status, 404, "nothing refers to them any more");
    // A replica started on the same database and store finishes it.
    let replica = TestServer::start_adjusted(backend, server.database.clone(), |s| {
        s.attachments.store = Some(store.clone());
        s.attachments.sweep_interval = Duration::from_secs(24 * 3600);
    })
    .await;
    replica.state.sweep_attachments().await.unwrap();
    assert!(store.keys().await.unwrap().is_empty());
}

/// An upload that keeps its connection but stops sending is cut at the
/// upload's time limit: 408, and what it had written goes.
async fn a_stalled_upload_is_cut_at_its_time_limit(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(backend, |s| s.attachments.upload_timeout = Duration::from_secs(1)).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Stalled", json!({})).await;
    let operations = json!({ "query": ADD, "variables": { "input": { "caseId": "1000", "file": null } } });
    let file = vec![3u8; 6 * 1024 * 1024];
    let (kind, body) = multipart(
        &operations,
        &[("0", "dump.bin", "application/octet-stream", &file)],
        &json!({ "0": ["variables.input.file"] }),
    );
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = raw_upload_head(&analyst, &kind, body.len(), false);
    socket.write_all(head.as_bytes()).await.unwrap();
    // More than a part's worth reaches the store, then nothing more comes.
    socket.write_all(&body[..body.len() - 1024]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), socket.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    store_settles(&server, 0).await;
}

all_stores!(a_file_goes_on_a_case_and_comes_back, the_same_bytes_are_stored_once, what_a_crash_leaves_is_swept);
both_backends!(
    hostile_names_and_types_are_made_harmless,
    limits_refuse_and_keep_nothing,
    cut_off_and_lying_uploads_leave_nothing,
    uploads_need_the_preflight_header_and_a_part,
    other_tenants_attachments_do_not_exist,
    watchers_see_files_arrive,
    readiness_includes_the_store,
    a_stalled_upload_is_cut_at_its_time_limit,
);
