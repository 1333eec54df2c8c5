//! The integration tests, one binary: the real server on an ephemeral port,
//! real databases, GraphQL over HTTP and WebSocket. One binary, not one per
//! file, so that the support code and the dependencies' generics are
//! compiled and linked once, not 30 times, and all tests share one pool of
//! threads.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[macro_use]
mod common;

mod api_keys;
mod architecture;
mod attachments;
mod auth;
mod automation;
mod bounds;
mod cases;
mod compiled;
mod conformance;
mod counts;
mod demo;
mod evidence;
mod explain;
mod fairness;
mod frontend;
mod fuzz;
mod fuzz_fields;
mod graphiql;
mod http;
mod ingestion;
mod live;
mod operations;
mod postgres_tls;
mod queue;
mod roles;
mod schema;
mod search;
mod secrets;
mod sla;
mod slow_clients;
mod statements;
mod statuses;
mod storage;
mod tenancy;
mod triage;
mod trust;
mod walkthrough;
mod web_example;
mod webhooks;
mod workflow;
mod writers;

/// Cargo no longer finds test files by itself (`autotests = false`): a file
/// in `tests/` that is not a module here would never run.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let this = include_str!("main.rs");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if path.extension().is_some_and(|e| e == "rs") && stem != "main" && !this.contains(&format!("\nmod {stem};\n"))
        {
            missing.push(stem.to_owned());
        }
    }
    assert!(missing.is_empty(), "tests/{{{}}}.rs: add `mod <name>;` to tests/main.rs", missing.join(","));
}
