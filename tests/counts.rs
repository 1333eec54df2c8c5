//! `totalCount` of the case queue answers from group counters for the common
//! filters (status, category, priority, assignee, unassigned, creator, overdue,
//! due dates), and for a search with them from the text index's copy of each
//! case's criteria (PostgreSQL). Each shortcut must equal a plain count:
//! random cases by random creators, random changes, random filters, compared
//! with the cases the same filter lists, before and after folding (which
//! files old due days away).

use crate::common::*;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const PRIORITIES: [&str; 5] = ["VERY_LOW", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
const CATEGORIES: [&str; 3] = ["NEW", "OPEN", "CLOSED"];
const PEOPLE: [&str; 3] = ["anna", "ben", "cleo"];
/// What the cases' titles mention, and searches look for.
const WORDS: [&str; 3] = ["mimikatz", "psexec", "tunnel"];

struct Tenant {
    statuses: Vec<Value>,
    cases: Vec<String>,
}

/// Minutes from now: days ago (days the fold files away), yesterday, a
/// minute ago, within the hour, days ahead.
const OFFSETS: [i64; 9] = [-10 * 24 * 60, -3 * 24 * 60, -26 * 60, -60, -1, 1, 30, 24 * 60, 5 * 24 * 60];

fn random_time(rng: &mut StdRng) -> Value {
    json!((chrono::Utc::now() + chrono::Duration::minutes(*OFFSETS.choose(rng).unwrap())).to_rfc3339())
}

/// A random due date, or none.
fn random_due(rng: &mut StdRng) -> Value {
    if rng.random_bool(0.2) { Value::Null } else { random_time(rng) }
}

/// A random value for one of a case's counted fields (null clears it).
fn random_change(rng: &mut StdRng, tenant: &Tenant) -> Value {
    match rng.random_range(0..5) {
        4 => json!({ "title": format!("Renamed: {}", WORDS.choose(rng).unwrap()) }),
        3 => json!({ "dueOn": random_due(rng) }),
        0 => json!({ "statusId": tenant.statuses.choose(rng).unwrap() }),
        1 => {
            json!({ "priority": if rng.random_bool(0.2) { Value::Null } else { json!(PRIORITIES.choose(rng).unwrap()) } })
        }
        _ => {
            json!({ "assigneeId": if rng.random_bool(0.3) { Value::Null } else { json!(PEOPLE.choose(rng).unwrap()) } })
        }
    }
}

/// A filter over the counted fields only: up to three criteria.
fn random_filter(rng: &mut StdRng, tenant: &Tenant) -> Value {
    let mut filter = serde_json::Map::new();
    for _ in 0..rng.random_range(0..=3) {
        let few = |rng: &mut StdRng, from: &[Value]| -> Value {
            let n = rng.random_range(1..=from.len().min(2));
            json!(from.choose_multiple(rng, n).cloned().collect::<Vec<_>>())
        };
        let (key, value) = match rng.random_range(0..9) {
            8 => ("dueAfter", random_time(rng)),
            7 => ("dueBefore", random_time(rng)),
            6 => ("createdByIds", few(rng, &PEOPLE.map(|p| json!(p)))),
            5 => ("overdue", json!(rng.random_bool(0.5))),
            0 => ("statusIds", few(rng, &tenant.statuses)),
            1 => ("statusCategories", few(rng, &CATEGORIES.map(|c| json!(c)))),
            2 => ("priorities", few(rng, &PRIORITIES.map(|p| json!(p)))),
            3 => ("assigneeIds", few(rng, &PEOPLE.map(|p| json!(p)))),
            _ => ("unassigned", json!(rng.random_bool(0.5))),
        };
        filter.insert(key.to_owned(), value);
    }
    if rng.random_bool(0.4) {
        let search = match rng.random_range(0..3) {
            0 => format!("{} OR {}", WORDS[0], WORDS[1]),
            1 => (*WORDS.choose(rng).unwrap()).to_owned(),
            _ => format!("case -{}", WORDS.choose(rng).unwrap()),
        };
        filter.insert("search".to_owned(), json!(search));
    }
    Value::Object(filter)
}

/// Counts are the subject here, not the closing rules: random changes move
/// cases into CLOSED statuses without a classification.
async fn close_freely(server: &TestServer) {
    let off = "mutation { updateWorkflowSettings(input: { requireClassification: false }) { requireClassification } }";
    server.ok(&admin("acme"), off, json!({})).await;
}

async fn counts_match_the_cases_listed(server: &TestServer, token: &str, filter: &Value, what: &str) {
    let query = "query($filter: CaseFilter) { cases(filter: $filter, first: 100) { totalCount nodes { id } } }";
    let data = server.ok(token, query, json!({ "filter": filter })).await;
    let listed = data["cases"]["nodes"].as_array().unwrap().len();
    assert!(listed < 100, "the test keeps every match on one page");
    assert_eq!(data["cases"]["totalCount"], json!(listed), "{what}: filter {filter}");
}

/// Rows of the tenant's counters that a fold leaves behind but should not
/// have: a second row of a group, or a day before `unfiled` not filed.
async fn unfolded_rows(server: &TestServer, tenant: &str, unfiled: &str) -> i64 {
    use diesel::sql_types::{BigInt, Text};
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let extra = |table: &str, columns: &str| {
        format!(
            "(SELECT COUNT(*) FROM {table} WHERE tenant_id = $1) - \
             (SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE tenant_id = $1 GROUP BY {columns}) g)"
        )
    };
    let query = format!(
        "SELECT {} + {} + (SELECT COUNT(*) FROM case_due_counts WHERE tenant_id = $1 AND due_day < $2 \
         AND due_day <> '0000-00-00') AS n",
        extra("case_counts", "status_id, priority, assignee_id, created_by"),
        extra("case_due_counts", "status_id, priority, assignee_id, created_by, due_day"),
    );
    let mut pooled = server.state.db().get().await.unwrap();
    let mut conn = pooled.conn();
    let rows: Count = match &mut conn.link {
        casebook::db::Link::Postgres(c) => {
            diesel::sql_query(query).bind::<Text, _>(tenant).bind::<Text, _>(unfiled).get_result(*c).await
        }
        casebook::db::Link::Sqlite(c) => {
            diesel::sql_query(query).bind::<Text, _>(tenant).bind::<Text, _>(unfiled).get_result(*c).await
        }
    }
    .unwrap();
    rows.n
}

async fn group_counts_equal_plain_counts_through_random_changes(backend: Backend) {
    let seed: u64 = std::env::var("CASEBOOK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xC0_FFEE);
    let mut rng = StdRng::seed_from_u64(seed);
    let server = TestServer::start(backend).await;
    close_freely(&server).await;
    for person in PEOPLE {
        server.ok(&token(person, "acme", &["analyst"]), "{ me { tenant } }", json!({})).await;
    }
    let analyst = analyst("acme");
    let statuses = server.ok(&analyst, "{ statuses { id } }", json!({})).await["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    let mut tenant = Tenant { statuses, cases: Vec::new() };
    // Another tenant's cases must never count, nor match a search.
    create_case(&server, &admin("other"), &format!("Elsewhere: {}", WORDS.join(" ")), json!({})).await;

    for step in 0..120 {
        if tenant.cases.len() < 40 || rng.random_bool(0.2) {
            let mut extra = random_change(&mut rng, &tenant);
            extra.as_object_mut().unwrap().extend(random_change(&mut rng, &tenant).as_object().unwrap().clone());
            let creator = token(PEOPLE.choose(&mut rng).unwrap(), "acme", &["analyst"]);
            let title = format!("Case {step}: {}", WORDS.choose(&mut rng).unwrap());
            let case = create_case(&server, &creator, &title, extra).await;
            tenant.cases.push(case["id"].as_str().unwrap().to_owned());
        } else {
            let id = tenant.cases.choose(&mut rng).unwrap().clone();
            let mut input = random_change(&mut rng, &tenant);
            input["id"] = json!(id);
            let body = update_case(&server, &analyst, input).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        if step % 10 == 9 {
            // Before and after folding the deltas (writes fold now and then too).
            for folded in [false, true] {
                if folded {
                    // Taken before the fold: past midnight the fold files one day more, never less.
                    let unfiled = (chrono::Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%d").to_string();
                    fold_counts(&server, "acme").await;
                    let left = unfolded_rows(&server, "acme", &unfiled).await;
                    assert_eq!(left, 0, "step {step}: a fold leaves one row per group");
                }
                for _ in 0..8 {
                    let filter = random_filter(&mut rng, &tenant);
                    let what = format!("seed {seed}, step {step}, folded: {folded}");
                    counts_match_the_cases_listed(&server, &analyst, &filter, &what).await;
                }
                counts_match_the_cases_listed(&server, &analyst, &json!({}), "all").await;
                for overdue in [true, false] {
                    let filter = json!({ "overdue": overdue });
                    counts_match_the_cases_listed(&server, &analyst, &filter, "overdue alone").await;
                }
            }
        }
    }
}

/// Writers and folds at the same time (PostgreSQL runs them concurrently;
/// SQLite takes them in turn): no delta is lost or summed twice.
async fn concurrent_writes_and_folds_keep_counts_exact(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    close_freely(&server).await;
    for person in PEOPLE {
        server.ok(&token(person, "acme", &["analyst"]), "{ me { tenant } }", json!({})).await;
    }
    let analyst = analyst("acme");
    let statuses: Vec<Value> = server.ok(&analyst, "{ statuses { id } }", json!({})).await["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    let mut cases = Vec::new();
    for n in 0..12 {
        cases.push(create_case(&server, &analyst, &format!("Case {n}"), json!({})).await["id"].clone());
    }
    let mut tasks = Vec::new();
    for writer in 0..4u64 {
        let (server, analyst, cases, statuses) = (server.clone(), analyst.clone(), cases.clone(), statuses.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(writer);
            for _ in 0..15 {
                let tenant = Tenant { statuses: statuses.clone(), cases: Vec::new() };
                let mut input = random_change(&mut rng, &tenant);
                input["id"] = cases.choose(&mut rng).unwrap().clone();
                let body = update_case(&server, &analyst, input).await;
                assert!(body.get("errors").is_none(), "{body}");
            }
        }));
    }
    for _ in 0..2 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                fold_counts(&server, "acme").await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let tenant = Tenant { statuses, cases: Vec::new() };
    let mut rng = StdRng::seed_from_u64(7);
    counts_match_the_cases_listed(&server, &analyst, &json!({}), "all, after concurrent folds").await;
    for _ in 0..20 {
        let filter = random_filter(&mut rng, &tenant);
        counts_match_the_cases_listed(&server, &analyst, &filter, "after concurrent folds").await;
    }
}

both_backends!(group_counts_equal_plain_counts_through_random_changes, concurrent_writes_and_folds_keep_counts_exact);
