//! `cargo bench --bench triage`: bulk changes against a real `casebook serve`
//! on the demo's data (2,000 cases): 500 cases reassigned, reprioritised and
//! tagged in one `updateCases` call, then 500 others given the same changes
//! one case at a time (`updateCase` and `addCaseTags`, sent one after the
//! other as a client would); then the same for closing 500 cases with a
//! classification. Prints each run's wall time and what the call reported;
//! asserts nothing about time.
//!
//! Environment:
//! - `CASEBOOK_BENCH_CASES` (2000): cases in the tenant (at least 2,000).
//! - `CASEBOOK_BENCH_POSTGRES_URL`: also runs on PostgreSQL (an admin URL).
//! - `CASEBOOK_BENCH_BINARY`: another `casebook` binary to seed and serve.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use serde_json::{Value, json};
use support::*;

const TENANT: &str = "default";
const BULK: &str = "mutation($i: UpdateCasesInput!) { updateCases(input: $i) { changed unchanged refused
    results { outcome error { message } } } }";
const UPDATE: &str = "mutation($i: UpdateCaseInput!) { updateCase(input: $i) { id } }";
const TAG: &str = "mutation($i: CaseTagsInput!) { addCaseTags(input: $i) { id } }";
const BATCH: usize = 500;

async fn bench(name: &str, url: &str, cases: u64) {
    println!("\n== {name}: {cases} cases (casebook demo's mix), {BATCH} cases per run ==");
    seed_demo(&casebook(), url, TENANT, cases);
    let server = Server::start_binary(&casebook(), url);
    let endpoint = format!("http://{}/graphql", server.addr);
    let client = reqwest::Client::new();
    let analyst = token(TENANT, "analyst");
    let me = post(&client, &endpoint, &analyst, "{ me { id } }", &json!({})).await;
    let me = me["data"]["me"]["id"].clone();
    let statuses = post(&client, &endpoint, &analyst, "{ statuses { id name } }", &json!({})).await;
    let closed =
        statuses["data"]["statuses"].as_array().unwrap().iter().find(|s| s["name"] == "Closed").unwrap()["id"].clone();
    let ids = |from: usize| -> Vec<String> { (from..from + BATCH).map(|n| (1000 + n).to_string()).collect() };

    println!("  {:<52} {:>9} {:>8} {:>8} {:>8}", "run", "ms", "changed", "same", "refused");
    let runs: [(&str, Value, Value); 2] = [
        ("reassign, reprioritise, tag", json!({ "assigneeId": me, "priority": "HIGH" }), json!(["bulk-bench"])),
        (
            "close with a classification",
            json!({ "statusId": closed, "classification": "FALSE_POSITIVE", "determination": "OTHER" }),
            json!([]),
        ),
    ];
    for (n, (label, changes, tags)) in runs.into_iter().enumerate() {
        let (bulk_ids, single_ids) = (ids(n * 2 * BATCH), ids(n * 2 * BATCH + BATCH));
        let mut bulk_changes = changes.clone();
        bulk_changes["addTags"] = tags.clone();
        let started = Instant::now();
        let answer =
            post(&client, &endpoint, &analyst, BULK, &json!({ "i": { "ids": bulk_ids, "changes": bulk_changes } }))
                .await;
        let elapsed = started.elapsed();
        let report = &answer["data"]["updateCases"];
        assert!(report.is_object(), "{answer}");
        println!(
            "  {:<52} {:>9.0} {:>8} {:>8} {:>8}",
            format!("{label}: one updateCases call"),
            elapsed.as_secs_f64() * 1000.0,
            report["changed"],
            report["unchanged"],
            report["refused"]
        );
        if let Some(refusal) = report["results"].as_array().unwrap().iter().find(|r| r["outcome"] == "REFUSED") {
            println!("    (first refusal: {})", refusal["error"]["message"]);
        }

        let started = Instant::now();
        let mut errors = 0;
        for id in &single_ids {
            let mut input = changes.clone();
            input["id"] = json!(id);
            errors += post(&client, &endpoint, &analyst, UPDATE, &json!({ "i": input })).await.get("errors").is_some()
                as usize;
            if tags.as_array().is_some_and(|t| !t.is_empty()) {
                let input = json!({ "caseId": id, "tags": tags });
                errors += post(&client, &endpoint, &analyst, TAG, &json!({ "i": input })).await.get("errors").is_some()
                    as usize;
            }
        }
        let elapsed = started.elapsed();
        println!(
            "  {:<52} {:>9.0} {:>8} {:>8} {:>8}",
            format!("{label}: one case at a time"),
            elapsed.as_secs_f64() * 1000.0,
            "",
            "",
            errors
        );
    }
}

#[tokio::main]
async fn main() {
    let cases = env_number("CASEBOOK_BENCH_CASES", 2000).max(2000);
    let (sqlite, path) = sqlite_url("triage");
    bench("SQLite", &sqlite, cases).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    match postgres_url("triage").await {
        Some(url) => {
            bench("PostgreSQL", &url, cases).await;
            drop_postgres(&url).await;
        }
        None => println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        ),
    }
}
