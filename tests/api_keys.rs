//! API keys as a connector uses them: created by an admin, shown once,
//! accepted wherever a bearer token is, acting as their own principal, and
//! refused from the moment they are revoked.

use crate::common::*;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret \
                      apiKey { id name subject secretHint permissions createdBy { id } lastUsedAt expiresAt revokedAt } } }";

/// Creates a key in `tenant` and returns (its id, its secret).
pub(crate) async fn create_key(
    server: &TestServer,
    tenant: &str,
    name: &str,
    permissions: &[&str],
) -> (String, String) {
    let data =
        server.ok(&admin(tenant), CREATE, json!({ "input": { "name": name, "permissions": permissions } })).await;
    let created = &data["createApiKey"];
    (created["apiKey"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

both_backends!(a_key_acts_as_its_own_principal_until_revoked);
async fn a_key_acts_as_its_own_principal_until_revoked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = admin("acme");
    let data = server
        .ok(
            &admin,
            CREATE,
            json!({ "input": { "name": "Defender connector", "permissions": ["ALERTS_MANAGE", "SECURITY_DATA_READ"] } }),
        )
        .await;
    let created = &data["createApiKey"];
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key = &created["apiKey"];
    assert!(secret.starts_with("cbk_") && secret.len() == 47, "{secret}");
    assert!(secret.starts_with(key["secretHint"].as_str().unwrap()));
    assert_eq!(key["permissions"], json!(["SECURITY_DATA_READ", "ALERTS_MANAGE"]));
    assert_eq!(key["subject"], json!(format!("apikey:{}", key["id"].as_str().unwrap())));
    assert_eq!(key["createdBy"]["id"], "adam");
    assert_eq!(key["lastUsedAt"], Value::Null);

    // Accepted as a bearer token; the key is the caller.
    let me = server.ok(&secret, "{ me { user { id displayName } tenant permissions } }", json!({})).await;
    assert_eq!(me["me"]["user"]["id"], key["subject"]);
    assert_eq!(me["me"]["user"]["displayName"], "Defender connector");
    assert_eq!(me["me"]["permissions"], json!(["SECURITY_DATA_READ", "ALERTS_MANAGE"]));
    assert_eq!(me["me"]["tenant"], "acme");
    // Its writes are audited as the key.
    let case = create_case(&server, &secret, "Opened by a connector", json!({})).await;
    let log = server
        .ok(
            &admin,
            "query($id: ID!) { case(id: $id) { createdBy { id displayName } activity { nodes { actor { id displayName } } } } }",
            json!({ "id": case["id"] }),
        )
        .await;
    assert_eq!(log["case"]["createdBy"]["displayName"], "Defender connector");
    assert_eq!(log["case"]["activity"]["nodes"][0]["actor"]["id"], key["subject"]);
    // What it was not given, it cannot do.
    let body = server
        .gql(Some(&secret), "mutation { createStatus(input: { name: \"X\", category: OPEN }) { id } }", json!({}))
        .await;
    assert_code(&body, "FORBIDDEN");
    let body = server
        .gql(Some(&secret), CREATE, json!({ "input": { "name": "n", "permissions": ["SECURITY_DATA_READ"] } }))
        .await;
    assert_code(&body, "FORBIDDEN");

    // The list shows it, with its use, never its secret.
    let listed = server.ok(&admin, "{ apiKeys { id name lastUsedAt revokedAt } }", json!({})).await;
    assert_eq!(listed["apiKeys"].as_array().unwrap().len(), 1);
    assert!(listed["apiKeys"][0]["lastUsedAt"].is_string(), "{listed}");
    assert!(!listed.to_string().contains(&secret[4..]));

    // A WebSocket takes the key too, as its connection_init credential.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&secret).await;
    ws.subscribe(
        "1",
        "subscription($id: ID!) { caseActivity(caseId: $id) { __typename } }",
        json!({ "id": case["id"] }),
    )
    .await;
    // The watch is set up asynchronously: comment until one arrives.
    let mut probes = 0;
    while ws.try_payload(500).await.is_none() {
        comment(&server, &secret, case["id"].as_str().unwrap(), &format!("probe {probes}")).await;
        probes += 1;
        assert!(probes < 20, "nothing reached the key's socket");
    }

    // Revoked: refused from the next request on.
    let revoked = server
        .ok(&admin, "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }", json!({ "id": key["id"] }))
        .await;
    assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
    let body = server.gql(Some(&secret), "{ me { tenant } }", json!({})).await;
    assert_code(&body, "UNAUTHENTICATED");
    assert!(body.to_string().contains("revoked"), "{body}");
    let mut refused = server.ws("graphql-transport-ws").await;
    refused
        .send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {secret}") } }))
        .await;
    refused.expect_close(4403, 10).await;
    let listed = server.ok(&admin, "{ apiKeys { id } all: apiKeys(includeRevoked: true) { id } }", json!({})).await;
    assert_eq!(listed["apiKeys"], json!([]));
    assert_eq!(listed["all"].as_array().unwrap().len(), 1);
}

both_backends!(keys_are_managed_by_admins_and_checked_closed);
async fn keys_are_managed_by_admins_and_checked_closed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let body = server
        .gql(Some(&analyst("acme")), CREATE, json!({ "input": { "name": "k", "permissions": ["INCIDENTS_INGEST"] } }))
        .await;
    assert_code(&body, "FORBIDDEN");
    let body = server.gql(Some(&reader("acme")), "{ apiKeys { id } }", json!({})).await;
    assert_code(&body, "FORBIDDEN");
    for (input, field) in [
        (json!({ "name": " ", "permissions": ["INCIDENTS_INGEST"] }), "name"),
        (json!({ "name": "k", "permissions": [] }), "permissions"),
        (json!({ "name": "k", "permissions": ["INCIDENTS_INGEST"], "expiresAt": "2020-01-01T00:00:00Z" }), "expiresAt"),
    ] {
        let body = server.gql(Some(&admin("acme")), CREATE, json!({ "input": input })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(field), "{body}");
    }
    // Secrets that are not keys of this service, or no longer are.
    for secret in [
        "cbk_short",
        "cbk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "cbk_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    ] {
        let body = server.gql(Some(secret), "{ me { tenant } }", json!({})).await;
        assert_code(&body, "UNAUTHENTICATED");
    }
    // A key of one tenant sees nothing of another, and cannot revoke its keys.
    let (other_id, _) = create_key(&server, "globex", "globex connector", &["INCIDENTS_INGEST"]).await;
    create_case(&server, &analyst("globex"), "Globex case", json!({})).await;
    let (_, secret) = create_key(&server, "acme", "acme reader", &["SECURITY_DATA_READ"]).await;
    let cases = server.ok(&secret, "{ cases { totalCount } }", json!({})).await;
    assert_eq!(cases["cases"]["totalCount"], 0);
    let body = server
        .gql(Some(&admin("acme")), "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", json!({ "id": other_id }))
        .await;
    assert_code(&body, "NOT_FOUND");
    // An expiry in the future is kept and shown.
    let data = server
        .ok(
            &admin("acme"),
            CREATE,
            json!({ "input": { "name": "until 2099", "permissions": ["INCIDENTS_INGEST"], "expiresAt": "2099-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(data["createApiKey"]["apiKey"]["expiresAt"], "2099-01-01T00:00:00Z");
    // A JWT may not claim a key's subject.
    let body = server.gql(Some(&token("apikey:1", "acme", &["admin"])), "{ me { tenant } }", json!({})).await;
    assert_code(&body, "UNAUTHENTICATED");
}
