//! A full disk: the database's storage fills up under writes. Nothing is
//! lost, reads go on, every refused write says the service cannot store
//! data right now (not a bare INTERNAL), `/readyz` reports it, and writes
//! resume when space returns. The storage is a small tmpfs the test mounts
//! (so the tests run as root, as CI does on this machine kind).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::json;

/// A tmpfs of a given size, mounted for the test and unmounted after.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(megabytes: u32, owner: Option<&str>) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("casebook-full-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let size = format!("size={megabytes}m,mode=0700");
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(&dir).status();
        assert!(
            mounted.is_ok_and(|s| s.success()),
            "the full-disk test mounts a small tmpfs at {}: it needs root (CI runs as root)",
            dir.display()
        );
        if let Some(owner) = owner {
            assert!(Command::new("chown").args([&format!("{owner}:{owner}")]).arg(&dir).status().unwrap().success());
        }
        Tmpfs { dir }
    }

    fn grow(&self, megabytes: u32) {
        let size = format!("remount,size={megabytes}m");
        assert!(Command::new("mount").args(["-o", &size]).arg(&self.dir).status().unwrap().success());
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

async fn a_full_disk_refuses_writes_with_a_cue_and_loses_nothing(backend: Backend) {
    // PostgreSQL copies its template database (about 8 MB) into the tablespace first.
    let (size, owner) = match backend {
        Backend::Sqlite => (8, None),
        Backend::Postgres => (24, Some("postgres")),
    };
    let disk = Tmpfs::mount(size, owner);
    let database = std::sync::Arc::new(TestDatabase::in_directory(backend, disk.path()).await);
    let server = TestServer::start_on(backend, database.clone()).await;
    let analyst = analyst("acme");
    create_case(&server, &analyst, "Filling the disk", json!({})).await;
    let comment = "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }";
    let mut written = 0;
    let refused = loop {
        let words: String = (0..2500).map(|n| format!("w{written}x{n} ")).collect();
        let answer =
            server.gql(Some(&analyst), comment, json!({ "i": { "caseId": "1000", "body": &words[..15_000] } })).await;
        if answer.get("errors").is_some() {
            break answer;
        }
        written += 1;
        assert!(written < 5_000, "the disk never filled");
    };
    assert_code(&refused, "INTERNAL");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("cannot store data right now") && message.contains("retry later"), "{message}");
    let ready = server.client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("storage full"));
    // A write transaction that writes nothing (a job finding no work) commits
    // on a full disk too; it proves no room.
    let idle = server.state.db().begin().await.unwrap();
    idle.finish(Ok(())).await.unwrap();
    let ready = server.client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "an empty commit does not make the service ready");
    // Reads go on, and nothing committed is lost.
    let log = "{ case(id: \"1000\") { title activity(kinds: [COMMENT]) { totalCount } } }";
    let read = server.ok(&analyst, log, json!({})).await;
    assert_eq!(read["case"]["activity"]["totalCount"], written, "{read}");

    disk.grow(size * 4);
    server.ok(&analyst, comment, json!({ "i": { "caseId": "1000", "body": "room again" } })).await;
    let ready = server.client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "ready again once a write got through");
    let read = server.ok(&analyst, log, json!({})).await;
    assert_eq!(read["case"]["activity"]["totalCount"], written + 1);
    if let casebook::config::DatabaseUrl::Sqlite(path) = &database.url {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let mut conn = crate::common::sqlite_beside_server(path);
        let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn).unwrap();
        assert_eq!(check[0].integrity_check, "ok");
    }
    drop(server);
    drop(database);
}

both_backends!(a_full_disk_refuses_writes_with_a_cue_and_loses_nothing);
