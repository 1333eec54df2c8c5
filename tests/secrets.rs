//! Secrets stay secret: what the service prints of its configuration, and
//! what it stores of webhooks' signing secrets.

use crate::common::process::{Process, database_url};
use crate::common::*;

const PASSWORD: &str = "hunter2-Secret";

/// The PostgreSQL password, given as `user:password@` or as `?password=`,
/// is never printed: not at start, not in the ready line, not by `migrate`
/// or `demo`. (The test server trusts local connections, so any password works.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_passwords_are_never_printed() {
    let server = Process::start_url_query(Backend::Postgres, false, &[], &[], &format!("password={PASSWORD}")).await;
    let started: Vec<String> =
        server.startup.iter().map(|line| line.to_string()).chain(server.printed.iter().cloned()).collect();
    let ready = started.iter().find(|line| line.contains("database ready")).expect("the ready line");
    assert!(ready.contains("password=***"), "{ready}");
    assert!(started.iter().all(|line| !line.contains(PASSWORD)), "{started:#?}");

    let database = TestDatabase::create(Backend::Postgres).await;
    let url = database_url(&database).replacen("postgres://postgres@", &format!("postgres://postgres:{PASSWORD}@"), 1);
    let url = format!("{url}?sslmode=disable&password={PASSWORD}");
    for args in [vec!["migrate", "--database-url", &url], vec!["demo", "--cases", "10", "--database-url", &url]] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebook")).args(&args).output().await.unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{args:?}: {said}");
        assert!(!said.contains(PASSWORD), "{args:?} printed the password: {said}");
        assert!(said.contains("postgres:***@"), "{args:?}: {said}");
    }
}
