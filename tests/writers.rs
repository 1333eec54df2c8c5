//! Concurrent writers: every write lands once, in the order each writer sent
//! it, and on SQLite writes take their turns in the order they asked (one
//! writer at a time in the process, never SQLite's busy handler). Nothing
//! here measures time: `cargo bench --bench writers` does.

use std::sync::{Arc, Mutex};

use crate::common::*;
use casebook::domain::case::CaseId;
use futures_util::future::join_all;
use serde_json::{Value, json};

const WRITERS: usize = 16;
const WRITES_EACH: usize = 6;

/// Sixteen analysts at once, each creating cases and commenting on one
/// shared case: no write is lost or doubled, case numbers are contiguous,
/// and each analyst's comments stand in the log in the order they were sent.
async fn concurrent_writers_lose_nothing_and_keep_their_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let lead = analyst("acme");
    let shared = create_case(&server, &lead, "Shared by every writer", json!({})).await;
    let shared_id = shared["id"].as_str().unwrap().to_owned();

    let writers = (0..WRITERS).map(|w| {
        let (server, shared_id) = (&server, shared_id.clone());
        async move {
            let token = analyst("acme");
            let mut created = Vec::new();
            for n in 0..WRITES_EACH {
                let case = create_case(server, &token, &format!("Writer {w}, case {n}"), json!({})).await;
                created.push(case["id"].as_str().unwrap_or_else(|| panic!("{case}")).parse::<i64>().unwrap());
                let body = format!("writer {w} note {n}");
                let note = comment(server, &token, &shared_id, &body).await;
                assert!(note["id"].is_string(), "{note}");
            }
            created
        }
    });
    let mut created: Vec<i64> = join_all(writers).await.into_iter().flatten().collect();
    created.sort_unstable();
    let first = shared_id.parse::<i64>().unwrap() + 1;
    let expected: Vec<i64> = (first..first + (WRITERS * WRITES_EACH) as i64).collect();
    assert_eq!(created, expected, "every case once, numbered without a gap");

    // The shared case's log, oldest first.
    let mut bodies = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = server
            .ok(
                &lead,
                "query($id: ID!, $after: String) { case(id: $id) { activity(kinds: [COMMENT], first: 100, after: $after) {
                    totalCount pageInfo { hasNextPage endCursor } nodes { ... on Comment { body } } } } }",
                json!({ "id": shared_id, "after": after }),
            )
            .await;
        let activity = &page["case"]["activity"];
        assert_eq!(activity["totalCount"], WRITERS * WRITES_EACH, "every comment once");
        bodies.extend(activity["nodes"].as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap().to_owned()));
        if activity["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = activity["pageInfo"]["endCursor"].clone();
    }
    bodies.reverse(); // the log reads newest first
    assert_eq!(bodies.len(), WRITERS * WRITES_EACH);
    let mut unique = bodies.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), bodies.len(), "no comment twice");
    for w in 0..WRITERS {
        let own: Vec<&String> = bodies.iter().filter(|b| b.starts_with(&format!("writer {w} "))).collect();
        let sent: Vec<String> = (0..WRITES_EACH).map(|n| format!("writer {w} note {n}")).collect();
        assert_eq!(own, sent.iter().collect::<Vec<_>>(), "writer {w}'s comments in the order sent");
    }
}

/// Waits until `n` writes wait for their turn (each spawned write has
/// reached the queue before the next is spawned, so their arrival order is
/// known). The bound only turns a write that never queues into a failure.
async fn until_waiting(db: &casebook::db::Db, n: u64) {
    let queued = async {
        while db.writes_waiting() < n {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), queued).await.expect("the write never queued");
}

/// On SQLite, writes waiting behind one another go in the order they came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_take_turns_in_arrival_order() {
    let server = TestServer::start(Backend::Sqlite).await;
    let case = create_case(&server, &analyst("acme"), "Queued writes", json!({})).await;
    let case_id = CaseId(case["id"].as_str().unwrap().parse().unwrap());
    let db = server.state.db().clone();
    let anna = analyst_principal("anna", "acme");

    let holding = db.begin().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut writes = Vec::new();
    for n in 0..5u64 {
        let (queued, order, anna) = (db.clone(), order.clone(), anna.clone());
        writes.push(tokio::spawn(async move {
            let mut tx = queued.begin().await.unwrap();
            let grant = anna.grant::<casebook::auth::ManageAlerts>().unwrap();
            let body = format!("queued write {n}");
            let result = casebook::domain::comment::add(&mut tx.conn(), &grant, case_id, &body).await;
            order.lock().unwrap().push(n);
            tx.finish(result).await.unwrap();
        }));
        until_waiting(&db, n + 1).await;
    }
    holding.finish(Ok(())).await.unwrap();
    for write in writes {
        write.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4], "first come, first served");
    assert_eq!(db.writes_waiting(), 0);
}

/// On SQLite a write that waits its whole bound for its turn is refused,
/// saying the service is busy, and nothing of it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_write_that_never_gets_its_turn_is_refused_and_keeps_nothing() {
    let server = TestServer::start(Backend::Sqlite).await;
    let case = create_case(&server, &analyst("acme"), "Held", json!({})).await;
    let id = case["id"].as_str().unwrap().to_owned();
    let holding = server.state.db().begin().await.unwrap();
    let refused = server
        .gql(
            Some(&analyst("acme")),
            "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }",
            json!({ "i": { "caseId": id, "body": "waited too long" } }),
        )
        .await;
    holding.finish(Ok(())).await.unwrap();
    assert_code(&refused, "INTERNAL");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert_eq!(message, "the service is busy (no turn to write within 10 s); retry shortly");
    let read = server
        .ok(
            &analyst("acme"),
            "query($id: ID!) { case(id: $id) { activity(kinds: [COMMENT]) { totalCount } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read["case"]["activity"]["totalCount"], 0, "nothing of the refused write");
}

/// A write dropped half-way (a cancelled request) rolls back at once and
/// gives its turn to the next write, on both databases.
async fn a_write_dropped_half_way_rolls_back_and_gives_its_turn_up(backend: Backend) {
    let server = TestServer::start(backend).await;
    let case = create_case(&server, &analyst("acme"), "Cancelled write", json!({})).await;
    let id = case["id"].as_str().unwrap().to_owned();
    let case_id = CaseId(id.parse().unwrap());
    let db = server.state.db().clone();
    let grant_holder = analyst_principal("anna", "acme");
    let grant = grant_holder.grant::<casebook::auth::ManageAlerts>().unwrap();

    let mut dropped = db.begin().await.unwrap();
    casebook::domain::comment::add(&mut dropped.conn(), &grant, case_id, "never committed").await.unwrap();
    drop(dropped);

    let note = comment(&server, &analyst("acme"), &id, "the next write").await;
    assert!(note["id"].is_string(), "{note}");
    let read = server
        .ok(
            &analyst("acme"),
            "query($id: ID!) { case(id: $id) { activity(kinds: [COMMENT]) { nodes { ... on Comment { body } } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read["case"]["activity"]["nodes"], json!([{ "body": "the next write" }]));
    assert_eq!(db.writes_waiting(), 0);
}

both_backends!(
    concurrent_writers_lose_nothing_and_keep_their_order,
    a_write_dropped_half_way_rolls_back_and_gives_its_turn_up,
);
