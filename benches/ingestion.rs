//! `cargo bench --bench ingestion`: a Microsoft Graph connector against a
//! real `casebook serve`: 1,000 incidents of 5 alerts with 10 evidence items
//! each (every Graph evidence type the mapping reads), posted to
//! `POST /ingest/microsoft-graph` in pages of 50 with an API key; then the
//! same pages again (a replay: nothing is written). Prints incidents per
//! second and the time per page; asserts nothing about time.
//!
//! Environment:
//! - `CASEBOOK_BENCH_INCIDENTS` (1000): incidents to ingest.
//! - `CASEBOOK_BENCH_POSTGRES_URL`: also runs on PostgreSQL (an admin URL).
//! - `CASEBOOK_BENCH_BINARY`: another `casebook` binary to serve.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

const TENANT: &str = "default";
const PAGE: usize = 50;

/// One evidence item of kind `k` (0..10), distinct per incident, alert and item.
fn evidence(incident: usize, alert: usize, k: usize) -> Value {
    let n = incident * 50 + alert * 10 + k;
    let (a, b) = (n / 250 % 250 + 1, n % 250 + 1);
    let hex = |seed: usize, len: usize| format!("{seed:0>len$x}").chars().rev().take(len).collect::<String>();
    let base = json!({ "createdDateTime": "2026-11-30T10:00:00Z", "verdict": "suspicious", "remediationStatus": "none", "roles": [], "tags": [] });
    let mut item = match k {
        0 | 1 => {
            json!({ "@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": format!("10.{}.{a}.{b}", k + 1), "countryLetterCode": "NL" })
        }
        2 => {
            json!({ "@odata.type": "#microsoft.graph.security.urlEvidence", "url": format!("https://lure-{n}.example/login?id={n}") })
        }
        3 => json!({ "@odata.type": "#microsoft.graph.security.fileEvidence", "detectionStatus": "detected",
            "fileDetails": { "sha256": hex(n * 7 + 1, 64), "sha1": hex(n * 5 + 1, 40), "md5": hex(n * 3 + 1, 32),
                             "fileName": format!("invoice-{n}.exe"), "filePath": "C:\\Users\\Public", "fileSize": 123456 } }),
        4 => {
            json!({ "@odata.type": "#microsoft.graph.security.processEvidence", "processId": n, "processCommandLine": format!("powershell.exe -enc {n}"),
            "imageFile": { "sha256": hex(n * 11 + 1, 64), "fileName": "powershell.exe" },
            "userAccount": { "accountName": format!("user{}", n % 400), "domainName": "CONTOSO" } })
        }
        5 => json!({ "@odata.type": "#microsoft.graph.security.userEvidence",
            "userAccount": { "accountName": format!("user{}", n % 400), "domainName": "CONTOSO", "userPrincipalName": format!("user{}@contoso.example", n % 400) } }),
        6 => {
            json!({ "@odata.type": "#microsoft.graph.security.mailboxEvidence", "primaryAddress": format!("mailbox{}@contoso.example", n % 300), "displayName": "A mailbox" })
        }
        7 => {
            json!({ "@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": format!("ws-{}.contoso.example", n % 500), "osPlatform": "Windows11" })
        }
        8 => {
            json!({ "@odata.type": "#microsoft.graph.security.registryKeyEvidence", "registryHive": "HKEY_LOCAL_MACHINE", "registryKey": format!("SOFTWARE\\Vendor\\Key{n}") })
        }
        _ => {
            json!({ "@odata.type": "#microsoft.graph.security.registryValueEvidence", "registryHive": "HKEY_CURRENT_USER",
            "registryKey": "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run", "registryValueName": format!("Updater{n}"), "registryValue": "C:\\u.exe" })
        }
    };
    item.as_object_mut().unwrap().extend(base.as_object().unwrap().clone());
    item
}

fn incident(i: usize) -> Value {
    let alerts: Vec<Value> = (0..5)
        .map(|a| {
            let severity = ["low", "medium", "high"][a % 3];
            json!({
                "@odata.type": "#microsoft.graph.security.alert",
                "id": format!("da{i:08}_{a}"), "title": format!("Suspicious activity {a} of incident {i}"),
                "severity": severity, "status": "new", "category": "Execution",
                "detectionSource": "antivirus", "serviceSource": "microsoftDefenderForEndpoint",
                "description": "A process ran that matched a known malicious pattern.",
                "mitreTechniques": ["T1059.001", "T1566.002"],
                "firstActivityDateTime": "2026-11-30T09:00:00Z", "lastActivityDateTime": "2026-11-30T09:30:00Z",
                "evidence": (0..10).map(|k| evidence(i, a, k)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "@odata.type": "#microsoft.graph.security.incident",
        "id": format!("{}", 100000 + i), "displayName": format!("Multi-stage incident {i}"),
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{}", 100000 + i),
        "severity": "medium", "status": "active", "classification": "unknown", "determination": "unknown",
        "customTags": ["bench"], "systemTags": [], "createdDateTime": "2026-11-30T09:00:00Z",
        "lastUpdateDateTime": "2026-11-30T10:00:00Z", "alerts": alerts,
    })
}

async fn post_page(client: &reqwest::Client, url: &str, key: &str, body: &str) -> (Duration, Value) {
    let started = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {answer}");
    (started.elapsed(), answer)
}

async fn bench(label: &str, url: &str, total: usize) {
    let server = Server::start_binary(&casebook(), url);
    let client = reqwest::Client::new();
    let graphql = format!("http://{}/graphql", server.addr);
    let admin = token(TENANT, "admin");
    let created = post(
        &client,
        &graphql,
        &admin,
        "mutation { createApiKey(input: { name: \"bench\", permissions: [INCIDENTS_INGEST] }) { secret } }",
        &json!({}),
    )
    .await;
    let key = created["data"]["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let pages: Vec<String> = (0..total)
        .collect::<Vec<_>>()
        .chunks(PAGE)
        .map(|ids| json!({ "value": ids.iter().map(|&i| incident(i)).collect::<Vec<_>>() }).to_string())
        .collect();
    let endpoint = format!("http://{}/ingest/microsoft-graph", server.addr);
    let page_kib = pages[0].len() / 1024;
    println!("\n{label}: {total} incidents x 5 alerts x 10 evidence, pages of {PAGE} ({page_kib} KiB each)");
    println!("  {:<30} {:>9} {:>12} {:>9} {:>9} {:>9}", "run", "total s", "incidents/s", "p50 ms", "p90 ms", "max ms");
    for (run, expect) in [("first ingestion", "created"), ("replay (nothing written)", "unchanged")] {
        let cpu_before = server.cpu_seconds();
        let started = Instant::now();
        let mut times = Vec::new();
        for page in &pages {
            let (took, answer) = post_page(&client, &endpoint, &key, page).await;
            assert_eq!(
                answer[expect].as_u64(),
                Some((page.matches("\"@odata.type\":\"#microsoft.graph.security.incident\"").count()) as u64),
                "{answer:.300}"
            );
            times.push(took);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = server.cpu_seconds() - cpu_before;
        times.sort();
        println!(
            "  {run:<30} {elapsed:>9.2} {:>12.0} {:>9.1} {:>9.1} {:>9.1}   server CPU {cpu:.2} s",
            total as f64 / elapsed,
            percentile_ms(&times, 50.0),
            percentile_ms(&times, 90.0),
            percentile_ms(&times, 100.0),
        );
    }
    let read = post(&client, &graphql, &admin, "{ incidents { totalCount } }", &json!({})).await;
    println!(
        "  incidents stored: {}   server RSS {} MiB",
        read["data"]["incidents"]["totalCount"],
        server.rss_kib() / 1024
    );
}

#[tokio::main]
async fn main() {
    let total = env_number("CASEBOOK_BENCH_INCIDENTS", 1000) as usize;
    let (sqlite, path) = sqlite_url("ingestion");
    bench("SQLite", &sqlite, total).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    match postgres_url("ingestion").await {
        Some(url) => {
            bench("PostgreSQL", &url, total).await;
            drop_postgres(&url).await;
        }
        None => println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        ),
    }
}
