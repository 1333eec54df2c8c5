//! Authentication: bearer tokens, their failures, the principal, and users recorded on first sight.

use crate::common::*;
use serde_json::json;

async fn calls_without_a_valid_token_are_unauthenticated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let expired = {
        let claims = json!({ "sub": "old", "roles": ["admin"], "exp": jsonwebtoken::get_current_timestamp() - 3600 });
        jsonwebtoken::encode(&Default::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()))
            .unwrap()
    };
    let no_exp = {
        let claims = json!({ "sub": "forever", "roles": ["admin"] });
        jsonwebtoken::encode(&Default::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()))
            .unwrap()
    };
    let foreign = {
        let claims = json!({ "sub": "eve", "roles": ["admin"], "exp": jsonwebtoken::get_current_timestamp() + 3600 });
        jsonwebtoken::encode(&Default::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(b"not-ours"))
            .unwrap()
    };
    for query in ["{ me { tenant } }", "{ statuses { id } }"] {
        assert_code(&server.gql(None, query, json!({})).await, "UNAUTHENTICATED");
        for bad in ["garbage", expired.as_str(), no_exp.as_str(), foreign.as_str()] {
            let body = server.gql(Some(bad), query, json!({})).await;
            assert_code(&body, "UNAUTHENTICATED");
            assert!(body["data"].is_null(), "no data leaks: {body}");
        }
    }
    let body = server.gql(Some(&expired), "{ me { tenant } }", json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("expired"), "{body}");
}

async fn me_shows_the_tenant_and_the_role_permissions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let query = "{ me { tenant permissions user { id displayName email } } }";
    let me = server.ok(&reader("acme"), query, json!({})).await;
    assert_eq!(me["me"]["tenant"], "acme");
    assert_eq!(me["me"]["permissions"], json!(["SECURITY_DATA_READ"]));
    assert_eq!(me["me"]["user"], json!({ "id": "rita", "displayName": "User rita", "email": "rita@example.com" }));
    let me = server.ok(&admin("acme"), query, json!({})).await;
    assert_eq!(
        me["me"]["permissions"],
        json!(["SECURITY_DATA_READ", "ALERTS_MANAGE", "CORE_SECURITY_SETTINGS_MANAGE", "INCIDENTS_INGEST"])
    );
    // No roles means no permissions, but `me` still answers.
    let me = server.ok(&token("nobody", "acme", &[]), query, json!({})).await;
    assert_eq!(me["me"]["tenant"], "acme");
    assert_eq!(me["me"]["permissions"], json!([]));
}

fn signed(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(&Default::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()))
        .unwrap()
}

/// Fail closed: a token names its tenant, unless the deployment names one
/// default tenant explicitly; a token not valid yet (`nbf`) is refused.
async fn a_token_must_name_its_tenant_and_be_valid_now(backend: Backend) {
    let now = jsonwebtoken::get_current_timestamp();
    let no_tenant = signed(json!({ "sub": "nobody", "roles": ["reader"], "exp": now + 600 }));
    let next_year = signed(
        json!({ "sub": "early", "tid": "acme", "roles": ["reader"], "exp": now + 400 * 86_400, "nbf": now + 365 * 86_400 }),
    );
    let server = TestServer::start(backend).await;
    let refused = server.gql(Some(&no_tenant), "{ me { tenant } }", json!({})).await;
    assert_code(&refused, "UNAUTHENTICATED");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("names no tenant"), "{refused}");
    let early = server.gql(Some(&next_year), "{ cases { totalCount } }", json!({})).await;
    assert_code(&early, "UNAUTHENTICATED");
    assert!(early["errors"][0]["message"].as_str().unwrap().contains("not valid yet"), "{early}");

    let jwt = casebook::config::JwtArgs { default_tenant: Some("default".into()), ..jwt() };
    let server = TestServer::start_with_jwt(backend, &jwt).await;
    assert_eq!(server.ok(&no_tenant, "{ me { tenant } }", json!({})).await["me"]["tenant"], "default");
    assert_code(&server.gql(Some(&next_year), "{ me { tenant } }", json!({})).await, "UNAUTHENTICATED");
}

async fn users_are_recorded_in_their_tenant_on_first_call(backend: Backend) {
    let server = TestServer::start(backend).await;
    let users = "{ users { id displayName } }";
    server.ok(&token("kim", "acme", &["reader"]), "{ me { tenant } }", json!({})).await;
    server.ok(&token("lee", "globex", &["reader"]), "{ me { tenant } }", json!({})).await;
    let acme = server.ok(&admin("acme"), users, json!({})).await;
    let ids: Vec<&str> = acme["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"kim") && ids.contains(&"adam"), "{acme}");
    assert!(!ids.contains(&"lee"), "another tenant's user leaked: {acme}");

    let found = server.ok(&admin("acme"), "{ users(search: \"KI\") { id } }", json!({})).await;
    assert_eq!(found["users"], json!([{ "id": "kim" }]));
}

async fn admins_upsert_users_and_null_clears_a_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let upsert = "mutation($input: UpsertUserInput!) { upsertUser(input: $input) { id displayName email } }";
    let created = server
        .ok(
            &admin("acme"),
            upsert,
            json!({ "input": { "id": "sam", "displayName": "Sam Spade", "email": "sam@acme.test" } }),
        )
        .await;
    assert_eq!(created["upsertUser"]["displayName"], "Sam Spade");
    let changed = server.ok(&admin("acme"), upsert, json!({ "input": { "id": "sam", "email": null } })).await;
    assert_eq!(changed["upsertUser"], json!({ "id": "sam", "displayName": "Sam Spade", "email": null }));

    let bad = server.gql(Some(&admin("acme")), upsert, json!({ "input": { "id": "x", "email": "no-at-sign" } })).await;
    assert_code(&bad, "BAD_USER_INPUT");
    assert!(bad["errors"][0]["message"].as_str().unwrap().contains("email"), "{bad}");
    let forbidden = server.gql(Some(&analyst("acme")), upsert, json!({ "input": { "id": "y" } })).await;
    assert_code(&forbidden, "FORBIDDEN");
    // The service's own actors, as the audit shows them, are not for renaming.
    for reserved in ["system:sla", "automation:1", "system:webhooks"] {
        let renamed = server
            .gql(Some(&admin("acme")), upsert, json!({ "input": { "id": reserved, "displayName": "Bob" } }))
            .await;
        assert_code(&renamed, "BAD_USER_INPUT");
        assert!(renamed["errors"][0]["message"].as_str().unwrap().starts_with("id:"), "{renamed}");
    }
}

both_backends!(
    calls_without_a_valid_token_are_unauthenticated,
    me_shows_the_tenant_and_the_role_permissions,
    users_are_recorded_in_their_tenant_on_first_call,
    admins_upsert_users_and_null_clears_a_field,
    a_token_must_name_its_tenant_and_be_valid_now,
);

/// `casebook serve` with these arguments and environment, which must refuse
/// to start: what it said.
async fn refused_start(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("CASEBOOK_LOG_FORMAT", "json")
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), output).await.unwrap().unwrap();
    assert!(!output.status.success(), "serve {args:?} started");
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `--dev` never hands out tokens a production replica accepts: its own
/// random secret always, and only on loopback with SQLite unless told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_signs_with_its_own_secret_and_stays_on_loopback() {
    use crate::common::process::{Process, gql_at};
    // The harness sets CASEBOOK_JWT_SECRET: a production secret, as far as --dev knows.
    let dev = Process::start_configured(Backend::Sqlite, false, &[], &["--dev"]).await;
    let heading = dev.printed.iter().position(|line| line == "admin token:").expect("the admin token is printed");
    let admin_token = dev.printed[heading + 1].clone();
    assert_eq!(gql_at(&dev.addr, &admin_token, "{ me { tenant } }", json!({})).await["me"]["tenant"], "default");
    let production = TestServer::start(Backend::Sqlite).await;
    assert_code(&production.gql(Some(&admin_token), "{ me { tenant } }", json!({})).await, "UNAUTHENTICATED");

    let database = TestDatabase::create(Backend::Postgres).await;
    let postgres = crate::common::process::database_url(&database);
    let said = refused_start(&["--dev", "--listen", "127.0.0.1:0", "--database-url", &postgres], &[]).await;
    assert!(said.contains("--dev-allow-exposed") && !said.contains("token:"), "{said}");
    let sqlite = std::env::temp_dir().join(format!("casebook-dev-{}.db", std::process::id()));
    let sqlite = format!("sqlite://{}", sqlite.display());
    let said = refused_start(&["--dev", "--listen", "0.0.0.0:0", "--database-url", &sqlite], &[]).await;
    assert!(said.contains("loopback") && said.contains("--dev-allow-exposed"), "{said}");
}

/// A server that trusts an identity provider's public key (and checks issuer and audience).
async fn provider_keys_verify_rs256_and_es256_tokens(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    for (alg, private, public) in [
        (jsonwebtoken::Algorithm::RS256, "rs256-private.pem", "rs256-public.pem"),
        (jsonwebtoken::Algorithm::ES256, "es256-private.pem", "es256-public.pem"),
    ] {
        let jwt = casebook::config::JwtArgs {
            public_key: Some(format!("{fixtures}/{public}").into()),
            issuer: Some("https://idp.example".into()),
            audience: Some("casebook".into()),
            ..Default::default()
        };
        let state = casebook::server::prepare(&database.url, &jwt, None, Default::default()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, casebook::app(state)).await });
        let pem = std::fs::read(format!("{fixtures}/{private}")).unwrap();
        let key = match alg {
            jsonwebtoken::Algorithm::RS256 => jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
        };
        let sign =
            |claims: serde_json::Value| jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &key).unwrap();
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let good = sign(
            json!({ "sub": "idp-user", "tid": "acme", "roles": ["reader"], "exp": exp, "iss": "https://idp.example", "aud": "casebook" }),
        );
        let wrong_issuer = sign(
            json!({ "sub": "idp-user", "roles": ["reader"], "exp": exp, "iss": "https://evil.example", "aud": "casebook" }),
        );
        let wrong_audience = sign(
            json!({ "sub": "idp-user", "roles": ["reader"], "exp": exp, "iss": "https://idp.example", "aud": "other" }),
        );
        // An HS256 token is not accepted by a server that only trusts the provider's key.
        let hs256 = token("idp-user", "acme", &["admin"]);
        let client = reqwest::Client::new();
        let ask = |token: String| {
            let client = client.clone();
            async move {
                client
                    .post(format!("http://{addr}/graphql"))
                    .bearer_auth(token)
                    .json(&json!({ "query": "{ me { tenant permissions } }" }))
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        let ok = ask(good).await;
        assert_eq!(
            ok["data"]["me"],
            json!({ "tenant": "acme", "permissions": ["SECURITY_DATA_READ"] }),
            "{alg:?}: {ok}"
        );
        for refused in [wrong_issuer, wrong_audience, hs256] {
            assert_code(&ask(refused).await, "UNAUTHENTICATED");
        }
        server.abort();
    }
}

both_backends!(provider_keys_verify_rs256_and_es256_tokens);

/// An identity provider rotates its keys: `serve` reads its key directory
/// again on SIGHUP, without a restart; a token names its key by `kid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_keys_rotate_without_a_restart() {
    use crate::common::process::Process;
    let dir = std::env::temp_dir().join(format!("casebook-idp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pair = || {
        let pair = rcgen::KeyPair::generate().unwrap();
        (pair.serialize_pem(), pair.public_key_pem())
    };
    let (a_private, a_public) = pair();
    let (b_private, b_public) = pair();
    std::fs::write(dir.join("a.pem"), a_public).unwrap();
    let sign = |private: &str, kid: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        let claims = json!({ "sub": "idp-user", "tid": "acme", "roles": ["reader"], "exp": jsonwebtoken::get_current_timestamp() + 600 });
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ec_pem(private.as_bytes()).unwrap())
            .unwrap()
    };
    let key_dir = dir.display().to_string();
    let mut server =
        Process::start_configured(Backend::Sqlite, false, &[("CASEBOOK_JWT_PUBLIC_KEY", &key_dir)], &[]).await;
    let addr = server.addr.clone();
    let me = |token: String| {
        let addr = addr.clone();
        async move { post_json(&addr, Some(&token), &json!({ "query": "{ me { tenant } }" })).await }
    };
    assert_eq!(me(sign(&a_private, "a")).await["data"]["me"]["tenant"], "acme");
    assert_code(&me(sign(&b_private, "b")).await, "UNAUTHENTICATED");

    let hangup = |server: &Process| {
        let pid = server.child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    };
    std::fs::write(dir.join("b.pem"), b_public).unwrap();
    hangup(&server);
    server.logged(|line| line["fields"]["message"] == "token keys reloaded" && line["fields"]["keys"] == 2).await;
    assert_eq!(me(sign(&b_private, "b")).await["data"]["me"]["tenant"], "acme");
    assert_eq!(me(sign(&a_private, "a")).await["data"]["me"]["tenant"], "acme", "both during the rotation");

    std::fs::remove_file(dir.join("a.pem")).unwrap();
    hangup(&server);
    server.logged(|line| line["fields"]["message"] == "token keys reloaded" && line["fields"]["keys"] == 1).await;
    assert_code(&me(sign(&a_private, "a")).await, "UNAUTHENTICATED");
    assert_eq!(me(sign(&b_private, "b")).await["data"]["me"]["tenant"], "acme");
    let _ = std::fs::remove_dir_all(dir);
}
