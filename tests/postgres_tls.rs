//! TLS to PostgreSQL: the local server is given a certificate from a
//! certificate authority made here, and casebook connects with each sslmode.

use crate::common;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::{Backend, TestDatabase, TestServer};
use casebook::config::DatabaseUrl;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::FutureExt;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::json;

/// Concurrent runs on one machine take turns changing the server's certificate.
const CERTIFICATE_LOCK: i64 = 0x7463_6c73_7465_7374;

/// A certificate authority: its PEM certificate (for sslrootcert) and signer.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn authority(name: &str) -> Authority {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = params.self_signed(&key).unwrap().pem();
    Authority { pem, issuer: Issuer::new(params, key) }
}

/// A server certificate for `names`, signed by `authority`: (certificate, key) PEM.
fn server_certificate(authority: &Authority, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = CertificateParams::new(names).unwrap();
    (params.signed_by(&key, &authority.issuer).unwrap().pem(), key.serialize_pem())
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct SslCount {
    #[diesel(sql_type = BigInt)]
    encrypted: i64,
    #[diesel(sql_type = BigInt)]
    plain: i64,
}

async fn admin() -> AsyncPgConnection {
    AsyncPgConnection::establish(&common::postgres_admin_url()).await.expect("PostgreSQL is required")
}

async fn setting(conn: &mut AsyncPgConnection, name: &str) -> String {
    let query = format!("SELECT current_setting('{name}') AS value");
    diesel::sql_query(query).get_result::<Setting>(conn).await.unwrap().value
}

/// Reloads the server's configuration and waits until a new session sees
/// `ssl_cert_file` as `expected` (a reload is signalled, not awaited).
async fn reload_until(admin: &mut AsyncPgConnection, expected: &str) {
    admin.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    for _ in 0..200 {
        if setting(&mut self::admin().await, "ssl_cert_file").await == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the server did not take ssl_cert_file {expected}");
}

/// Gives the local PostgreSQL a certificate for `localhost` from a fresh
/// authority, runs `body`, and puts the server's own settings back.
async fn with_server_certificate<F, Fut>(body: F)
where
    F: FnOnce(Arc<Authority>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut lock = admin().await;
    lock.batch_execute(&format!("SELECT pg_advisory_lock({CERTIFICATE_LOCK})")).await.unwrap();
    let mut conn = admin().await;
    let data_directory = PathBuf::from(setting(&mut conn, "data_directory").await);
    let original = setting(&mut conn, "ssl_cert_file").await;

    let ca = Arc::new(authority("casebook test CA"));
    let (certificate, key) = server_certificate(&ca, &["localhost"]);
    let certificate_file = data_directory.join("casebook_test_server.crt");
    let key_file = data_directory.join("casebook_test_server.key");
    write_for_server(&data_directory, &certificate_file, &certificate, 0o644);
    write_for_server(&data_directory, &key_file, &key, 0o600);
    // One statement each: a batch would be one transaction, which ALTER SYSTEM refuses.
    for statement in [
        "ALTER SYSTEM SET ssl = on".to_owned(),
        format!("ALTER SYSTEM SET ssl_cert_file = '{}'", certificate_file.display()),
        format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_file.display()),
    ] {
        conn.batch_execute(&statement).await.unwrap();
    }
    reload_until(&mut conn, &certificate_file.display().to_string()).await;

    let outcome = std::panic::AssertUnwindSafe(body(ca)).catch_unwind().await;

    for setting in ["ssl", "ssl_cert_file", "ssl_key_file"] {
        conn.batch_execute(&format!("ALTER SYSTEM RESET {setting}")).await.unwrap();
    }
    reload_until(&mut conn, &original).await;
    lock.batch_execute(&format!("SELECT pg_advisory_unlock({CERTIFICATE_LOCK})")).await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// PostgreSQL reads its key only if the server's user owns it, unreadable to others.
fn write_for_server(data_directory: &Path, path: &Path, contents: &str, mode: u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let owner = std::fs::metadata(data_directory).unwrap();
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))
        .unwrap_or_else(|e| panic!("the test gives {} to the PostgreSQL user (run as root): {e}", path.display()));
}

fn temp_pem(name: &str, pem: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("casebook_{}_{name}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    path
}

/// The test database's URL with a host, a TLS mode and an application name
/// that tells its sessions apart; `127.0.0.1` is always the address dialled.
fn url_with(database: &TestDatabase, host: &str, options: &str, application: &str) -> DatabaseUrl {
    let DatabaseUrl::Postgres(url) = &database.url else { unreachable!() };
    let (_, name) = url.rsplit_once('/').unwrap();
    let port = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()).unwrap_or("5432");
    format!("postgres://postgres@{host}:{port}/{name}?hostaddr=127.0.0.1&application_name={application}&{options}")
        .parse()
        .unwrap()
}

/// How many of the sessions with this application name are encrypted, and how many not.
async fn sessions(application: &str) -> (i64, i64) {
    let counts = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE s.ssl) AS encrypted, count(*) FILTER (WHERE NOT s.ssl) AS plain \
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
    )
    .bind::<Text, _>(application)
    .get_result::<SslCount>(&mut admin().await)
    .await
    .unwrap();
    (counts.encrypted, counts.plain)
}

async fn answers_me(server: &TestServer) {
    let data = server.ok(&common::admin("acme"), "{ me { tenant } }", json!({})).await;
    assert_eq!(data["me"]["tenant"], "acme");
}

async fn refusal(url: &DatabaseUrl) -> String {
    let settings = casebook::http::Settings::default();
    match casebook::server::prepare(url, &common::jwt(), None, settings).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casebook_connects_with_each_sslmode_and_refuses_a_certificate_it_cannot_trust() {
    with_server_certificate(|ca| async move {
        let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
        let ca_file = temp_pem("ca", &ca.pem);
        let wrong_ca_file = temp_pem("wrong_ca", &authority("some other CA").pem);
        let root = |file: &Path| format!("sslrootcert={}", file.display());

        // verify-full: the chain and the name; every session of the service is encrypted.
        let full = url_with(&database, "localhost", &format!("sslmode=verify-full&{}", root(&ca_file)), "cb_full");
        let server = TestServer::start_via(Backend::Postgres, database.clone(), &full, |_| {}).await;
        answers_me(&server).await;
        let (encrypted, plain) = sessions("cb_full").await;
        assert!(encrypted >= 1 && plain == 0, "verify-full sessions: {encrypted} encrypted, {plain} plain");
        drop(server);

        // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca accepts.
        let by_address =
            url_with(&database, "127.0.0.1", &format!("sslmode=verify-full&{}", root(&ca_file)), "cb_name");
        let message = refusal(&by_address).await;
        assert!(message.contains("does not name this host"), "{message}");
        let chain_only = url_with(&database, "127.0.0.1", &format!("sslmode=verify-ca&{}", root(&ca_file)), "cb_ca");
        let server = TestServer::start_via(Backend::Postgres, database.clone(), &chain_only, |_| {}).await;
        answers_me(&server).await;
        assert_eq!(sessions("cb_ca").await.1, 0);
        drop(server);

        // A certificate authority that did not sign the server's certificate.
        for mode in ["verify-full", "verify-ca", "require"] {
            let wrong = url_with(&database, "localhost", &format!("sslmode={mode}&{}", root(&wrong_ca_file)), "cb_x");
            let message = refusal(&wrong).await;
            assert!(
                message.contains("not issued by a certificate authority in sslrootcert")
                    && message.contains(&format!("sslmode={mode}")),
                "{mode}: {message}"
            );
        }

        // require without a root certificate encrypts without checking; disable does not encrypt.
        let require = url_with(&database, "localhost", "sslmode=require", "cb_require");
        let server = TestServer::start_via(Backend::Postgres, database.clone(), &require, |_| {}).await;
        answers_me(&server).await;
        assert_eq!(sessions("cb_require").await.1, 0);
        drop(server);
        let disable = url_with(&database, "localhost", "sslmode=disable", "cb_plain");
        let server = TestServer::start_via(Backend::Postgres, database.clone(), &disable, |_| {}).await;
        answers_me(&server).await;
        let (encrypted, plain) = sessions("cb_plain").await;
        assert!(encrypted == 0 && plain >= 1, "disable sessions: {encrypted} encrypted, {plain} plain");
        drop(server);

        // The operator's view: the command fails and says why.
        let DatabaseUrl::Postgres(wrong) =
            url_with(&database, "localhost", &format!("sslmode=verify-full&{}", root(&wrong_ca_file)), "cb_cli")
        else {
            unreachable!()
        };
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_casebook"))
            .args(["migrate", "--database-url", &wrong])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "migrate succeeded with the wrong CA");
        assert!(
            stderr.contains("cannot connect to PostgreSQL at localhost:")
                && stderr.contains("not issued by a certificate authority in sslrootcert"),
            "{stderr}"
        );

        for file in [ca_file, wrong_ca_file] {
            let _ = std::fs::remove_file(file);
        }
    })
    .await;
}
