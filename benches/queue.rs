//! `cargo bench --bench queue`: the case queue and search, one client, at
//! 2,000 and 100,000 cases, against a real `casebook serve` on the demo's
//! data: every common filter alone and with one other, several searches
//! (words, phrase, prefix, hosts and hashes, no match), the top-level search,
//! the dashboard page, evidence (sightings and the pivot from an indicator,
//! the queue by indicator, tag, technique and tactic), and the writes (create,
//! update, comment; then an update that 10 rules act on, and one that the
//! most rules a tenant may have act on in full). Prints p50 and p99 per
//! query and the 100,000 / 2,000 ratio; asserts nothing about time.
//!
//! Environment:
//! - `CASEBOOK_BENCH_SIZES` (`2000,100000`): tenant sizes, in cases.
//! - `CASEBOOK_BENCH_ITERATIONS` (200): measured requests per query.
//! - `CASEBOOK_BENCH_POSTGRES_URL`: also runs on PostgreSQL (an admin URL).
//! - `CASEBOOK_BENCH_BINARY`: another `casebook` binary to seed and serve
//!   (an earlier build, for the write baseline); queries it cannot answer
//!   print as errors.
//! - `CASEBOOK_BENCH_WRITES_ONLY`: skip the reads.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

const TENANT: &str = "default";

const QUEUE: &str = "query Queue($filter: CaseFilter, $orderBy: CaseOrder) {
  cases(filter: $filter, orderBy: $orderBy, first: 50) {
    totalCount totalCountIsExact
    pageInfo { hasNextPage endCursor }
    nodes { id title priority dueOn status { name category } assignee { displayName } }
  }
}";

const SEARCH: &str = "query Search($q: String!) {
  search(query: $q, first: 25) {
    totalCount totalCountIsExact
    nodes { __typename titleMatched case { id title } snippet { html } }
  }
}";

/// The pivot: every sighting of one indicator across the tenant.
const SIGHTINGS: &str = "query Sightings($type: ObservableType!, $value: String!) {
  observables(filter: { types: [$type], value: $value }, first: 50) {
    totalCount
    nodes { id normalizedValue isIoc case { id title } }
  }
}";

/// The pivot from one observable: the cases that saw it, as a queue page.
const PIVOT: &str = "query Pivot($type: ObservableType!, $value: String!) {
  observables(filter: { types: [$type], value: $value }, first: 1) {
    nodes { cases(first: 50) { totalCount nodes { id title priority status { name } assignee { displayName } } } }
  }
}";

/// One query the bench measures.
struct Probe {
    label: String,
    query: &'static str,
    variables: Value,
}

fn queue(label: &str, filter: Value, order: Option<(&str, &str)>) -> Probe {
    let order_by = order.map_or(Value::Null, |(field, direction)| json!({ "field": field, "direction": direction }));
    Probe { label: label.to_owned(), query: QUEUE, variables: json!({ "filter": filter, "orderBy": order_by }) }
}

/// The queries: the table, each common filter alone and with one
/// other, searches, and the dashboard.
fn probes(open: &Value, closed: &Value, incident: &Value) -> Vec<Probe> {
    let week = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let month_ago = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let alone: Vec<(&str, Value)> = vec![
        ("status", json!({ "statusIds": [open] })),
        ("category OPEN", json!({ "statusCategories": ["OPEN"] })),
        ("priority HIGH,CRITICAL", json!({ "priorities": ["HIGH", "CRITICAL"] })),
        ("assignee", json!({ "assigneeIds": ["grace.kim"] })),
        ("unassigned", json!({ "unassigned": true })),
        ("overdue", json!({ "overdue": true })),
        ("not overdue", json!({ "overdue": false })),
    ];
    let mut out = vec![
        queue("all, by id", json!({}), None),
        queue("search \"smb tunnel\"", json!({ "search": "smb tunnel" }), None),
        queue(
            "OPEN + HIGH,CRITICAL by priority",
            json!({ "statusCategories": ["OPEN"], "priorities": ["HIGH", "CRITICAL"] }),
            Some(("PRIORITY", "DESC")),
        ),
        Probe { label: "dashboard page".into(), query: DASHBOARD, variables: json!({}) },
    ];
    for (label, filter) in &alone {
        out.push(queue(label, filter.clone(), None));
    }
    // Each common filter with one other (the first pair of each), by last change.
    for (i, (a, fa)) in alone.iter().enumerate() {
        for (b, fb) in alone.iter().skip(i + 1) {
            if a.contains("overdue") && b.contains("overdue") {
                continue;
            }
            let mut filter = fa.as_object().unwrap().clone();
            filter.extend(fb.as_object().unwrap().clone());
            out.push(queue(&format!("{a} + {b}"), Value::Object(filter), Some(("UPDATED_AT", "DESC"))));
        }
    }
    out.extend([
        queue("status CLOSED", json!({ "statusIds": [closed] }), None),
        queue("created by", json!({ "createdByIds": ["ava.chen"] }), None),
        queue("due within a week", json!({ "dueBefore": week, "overdue": false }), Some(("DUE_ON", "ASC"))),
        queue("due after a month ago", json!({ "dueAfter": month_ago }), None),
        queue("incident", json!({ "incidentId": incident }), None),
    ]);
    for search in [
        "mimikatz",
        "lsass memory",
        "\"scheduled task\"",
        "mimik",
        "ws-0421",
        "evil-corp.example",
        "10.3.17",
        "rclone OR ngrok -exfiltrated",
        "zzqxj nomatch",
    ] {
        out.push(queue(&format!("search {search}"), json!({ "search": search }), None));
    }
    out.push(queue("search mimikatz by relevance", json!({ "search": "mimikatz" }), Some(("RELEVANCE", "DESC"))));
    out.push(queue("OPEN + search psexec", json!({ "statusCategories": ["OPEN"], "search": "psexec" }), None));
    for q in ["mimikatz", "smb tun", "login-micros0ft.com", "zzqxj"] {
        out.push(Probe { label: format!("top-level search {q}"), query: SEARCH, variables: json!({ "q": q }) });
    }
    // Evidence: the pivot and the queue filtered by indicator, tag, technique.
    let indicators = [("common", "DOMAIN", "evil-corp.example"), ("rare", "HOSTNAME", "WS-0001.corp.example")];
    for (kind, type_, value) in indicators {
        let indicator = json!({ "type": type_, "value": value });
        out.push(Probe {
            label: format!("sightings of a {kind} indicator"),
            query: SIGHTINGS,
            variables: indicator.clone(),
        });
        out.push(Probe { label: format!("pivot from a {kind} indicator"), query: PIVOT, variables: indicator.clone() });
        out.push(queue(&format!("queue: {kind} indicator"), json!({ "observable": indicator }), None));
        out.push(queue(
            &format!("queue: OPEN + {kind} indicator, by updated-at"),
            json!({ "statusCategories": ["OPEN"], "observable": indicator }),
            Some(("UPDATED_AT", "DESC")),
        ));
    }
    out.extend([
        queue("queue: tag ransomware", json!({ "tags": { "any": ["ransomware"] } }), None),
        queue("queue: tags ransomware and VIP", json!({ "tags": { "all": ["ransomware", "vip"] } }), None),
        queue("queue: technique T1021", json!({ "techniqueIds": ["T1021"] }), None),
        queue("queue: tactic TA0008", json!({ "tactics": ["TA0008"] }), None),
    ]);
    out
}

/// p50, p99 in ms and the last answer.
async fn measure(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    query: &str,
    variables: &Value,
    iterations: usize,
) -> (f64, f64, Value) {
    let mut answer = Value::Null;
    for _ in 0..10 {
        answer = post(client, endpoint, token, query, variables).await;
    }
    let mut latencies = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        answer = post(client, endpoint, token, query, variables).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    (percentile_ms(&latencies, 50.0), percentile_ms(&latencies, 99.0), answer)
}

fn describe(answer: &Value) -> String {
    if let Some(errors) = answer.get("errors") {
        return format!("error: {}", errors[0]["message"].as_str().unwrap_or("?"));
    }
    let data = &answer["data"];
    let root = data.get("cases").or_else(|| data.get("search")).or_else(|| data.get("observables"));
    let root = root.unwrap_or(&Value::Null);
    match root["nodes"][0]["cases"].get("totalCount") {
        Some(pivot) => format!("{pivot} cases"),
        // Past the server's bound a search counts "at least".
        None if root["totalCountIsExact"] == false => format!("{}+ matches", root["totalCount"]),
        None => format!("{} matches", root["totalCount"]),
    }
}

/// Runs every probe and the writes on one database; returns p50 by label.
async fn bench(name: &str, url: &str, cases: u32, iterations: usize) -> BTreeMap<String, f64> {
    println!("\n== {name}: {cases} cases (casebook demo's mix) ==");
    let started = Instant::now();
    let seeded = seed_demo(&casebook(), url, TENANT, cases.into());
    println!("  seeded in {:.1}s: {seeded}", started.elapsed().as_secs_f64());

    let server = Server::start_binary(&casebook(), url);
    let endpoint = format!("http://{}/graphql", server.addr);
    let client = reqwest::Client::new();
    let reader = token(TENANT, "reader");
    let analyst = token(TENANT, "analyst");
    let statuses = post(&client, &endpoint, &reader, "{ statuses { id name } }", &json!({})).await;
    let status = |name: &str| {
        statuses["data"]["statuses"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["id"].clone()
    };
    let (open, closed) = (status("Open"), status("Closed"));
    let incidents = post(&client, &endpoint, &reader, "{ incidents(first: 1) { nodes { id } } }", &json!({})).await;
    let incident = incidents["data"]["incidents"]["nodes"][0]["id"].clone();

    let mut p50s = BTreeMap::new();
    println!("  {:<52} {:>8} {:>8}  answer", "query", "p50 ms", "p99 ms");
    let reads = if std::env::var("CASEBOOK_BENCH_WRITES_ONLY").is_ok() {
        Vec::new()
    } else {
        probes(&open, &closed, &incident)
    };
    for probe in reads {
        let (p50, p99, answer) = measure(&client, &endpoint, &reader, probe.query, &probe.variables, iterations).await;
        println!("  {:<52} {p50:>8.2} {p99:>8.2}  {}", probe.label, describe(&answer));
        p50s.insert(probe.label, p50);
    }

    // Writes: each through the API, one at a time, on the busy tenant.
    let create = "mutation($i: CreateCaseInput!) { createCase(input: $i) { id } }";
    let update = "mutation($i: UpdateCaseInput!) { updateCase(input: $i) { id } }";
    let comment = "mutation($i: AddCommentInput!) { addComment(input: $i) { id } }";
    let description = "Detection flagged ws-0042.corp.example (10.1.2.3): mimikatz.exe dumped LSASS memory.";
    let mut writes: Vec<(&str, Vec<Duration>)> =
        vec![("write: createCase", vec![]), ("write: updateCase", vec![]), ("write: addComment", vec![])];
    for n in 0..iterations {
        let input = json!({ "title": format!("Bench case {n}"), "description": description, "priority": "HIGH", "assigneeId": "grace.kim" });
        let started = Instant::now();
        let created = post(&client, &endpoint, &analyst, create, &json!({ "i": input })).await;
        writes[0].1.push(started.elapsed());
        let id = created["data"]["createCase"]["id"].clone();
        assert!(id.is_string(), "{created}");
        let started = Instant::now();
        let changed =
            json!({ "id": id, "title": format!("Bench case {n}, renamed"), "statusId": open, "priority": "LOW" });
        let answer = post(&client, &endpoint, &analyst, update, &json!({ "i": changed })).await;
        writes[1].1.push(started.elapsed());
        assert!(answer.get("errors").is_none(), "{answer}");
        let started = Instant::now();
        let note = json!({ "caseId": id, "body": format!("Found psexec on ws-{n:04}.corp.example as well.") });
        let answer = post(&client, &endpoint, &analyst, comment, &json!({ "i": note })).await;
        writes[2].1.push(started.elapsed());
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    for (label, mut latencies) in writes {
        latencies.sort();
        let (p50, p99) = (percentile_ms(&latencies, 50.0), percentile_ms(&latencies, 99.0));
        println!("  {label:<52} {p50:>8.2} {p99:>8.2}");
        p50s.insert(label.to_owned(), p50);
    }

    // What automation adds to a write: rules that act on every update, up
    // to the most one change can cause (100 rules of 20 actions each).
    let admin = token(TENANT, "admin");
    let rule = "mutation($i: CreateAutomationRuleInput!) { createAutomationRule(input: $i) { id } }";
    let mut made = 0;
    for (rules, actions, runs) in [(10, 2, iterations.div_ceil(4)), (100, 20, 3)] {
        for n in made..rules {
            let comments: Vec<Value> = (0..actions)
                .map(|a| json!({ "type": "ADD_COMMENT", "body": format!("Rule {n}, step {a}.") }))
                .collect();
            let input = json!({ "name": format!("Bench rule {n}"), "trigger": "CASE_UPDATED", "actions": comments });
            let answer = post(&client, &endpoint, &admin, rule, &json!({ "i": input })).await;
            assert!(answer.get("errors").is_none(), "{answer}");
        }
        made = rules;
        let label = format!("write: updateCase, {rules} rules acting ({} comments)", rules * actions);
        let mut latencies = Vec::new();
        for n in 0..runs {
            let input = json!({ "title": format!("Ruled case {rules}/{n}") });
            let created = post(&client, &endpoint, &analyst, create, &json!({ "i": input })).await;
            let changed = json!({ "id": created["data"]["createCase"]["id"], "priority": "LOW" });
            let started = Instant::now();
            let answer = post(&client, &endpoint, &analyst, update, &json!({ "i": changed })).await;
            latencies.push(started.elapsed());
            assert!(answer.get("errors").is_none(), "{answer}");
        }
        latencies.sort();
        let (p50, p99) = (percentile_ms(&latencies, 50.0), percentile_ms(&latencies, 99.0));
        println!("  {label:<52} {p50:>8.2} {p99:>8.2}");
        p50s.insert(label, p50);
    }
    p50s
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u32> = std::env::var("CASEBOOK_BENCH_SIZES")
        .unwrap_or_else(|_| "2000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let iterations = env_number("CASEBOOK_BENCH_ITERATIONS", 200) as usize;
    let mut results: Vec<(String, u32, BTreeMap<String, f64>)> = Vec::new();
    for &cases in &sizes {
        let (sqlite, path) = sqlite_url(&format!("queue{cases}"));
        results.push(("SQLite".into(), cases, bench("SQLite", &sqlite, cases, iterations).await));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        if let Some(url) = postgres_url(&format!("queue{cases}")).await {
            results.push(("PostgreSQL".into(), cases, bench("PostgreSQL", &url, cases, iterations).await));
            drop_postgres(&url).await;
        }
    }
    if std::env::var("CASEBOOK_BENCH_POSTGRES_URL").is_err() {
        println!(
            "\n(set CASEBOOK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres to run on PostgreSQL too)"
        );
    }

    // The largest size against the smallest, per database: the goal is 2x.
    let (Some(&small), Some(&large)) = (sizes.iter().min(), sizes.iter().max()) else { return };
    if small == large {
        return;
    }
    for backend in ["SQLite", "PostgreSQL"] {
        let find = |size| results.iter().find(|(b, c, _)| b == backend && *c == size).map(|(_, _, r)| r);
        let (Some(a), Some(b)) = (find(small), find(large)) else { continue };
        println!("\n== {backend}: p50 at {large} / p50 at {small} cases ==");
        let mut worst = (0.0, String::new());
        for (label, small_p50) in a {
            let Some(large_p50) = b.get(label) else { continue };
            let ratio = large_p50 / small_p50;
            println!("  {label:<52} {small_p50:>8.2} {large_p50:>8.2}  {ratio:>5.2}x");
            if ratio > worst.0 && !label.starts_with("write") {
                worst = (ratio, label.clone());
            }
        }
        println!("  worst read: {:.2}x ({})", worst.0, worst.1);
    }
}
