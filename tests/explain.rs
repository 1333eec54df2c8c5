//! The queue's first pages use indexes at 100,000 cases: the planner's own
//! account (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite) of the
//! statement the server runs shows no full scan of the cases and no sort of
//! all of them, for every common filter; searches go through the text index
//! (GIN, FTS5) and sort at most their matches.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use casebook::demo::{DemoSize, PerCase, seed};
use casebook::domain::queue::{CaseFilter, CaseOrderField, OrderDirection, first_page_plan};
use casebook::domain::status::StatusCategory;
use casebook::domain::values::CasePriority;
use common::*;

const CASES: u32 = 100_000;

/// What a plan may not do: scan every case or sort them all. A search may
/// sort its matches (the index found them), never the tenant's cases.
fn assert_indexed(backend: Backend, name: &str, plan: &[String], searching: bool) {
    let text = plan.join("\n");
    match backend {
        Backend::Postgres => {
            assert!(text.contains("Index Scan") || text.contains("Index Only Scan"), "{name}: no index scan\n{text}");
            assert!(!text.contains("Seq Scan on cases"), "{name}: full scan\n{text}");
            if searching {
                assert!(text.contains("search_entries_vector"), "{name}: not through the text index\n{text}");
                assert!(!text.contains("Seq Scan on search_entries"), "{name}: scans every entry\n{text}");
            } else {
                assert!(!text.contains("Sort"), "{name}: sorts every match\n{text}");
            }
        }
        Backend::Sqlite => {
            assert!(text.contains("SEARCH cases USING"), "{name}: no index search\n{text}");
            assert!(!text.contains("SCAN cases"), "{name}: full scan\n{text}");
            if searching {
                assert!(text.contains("SCAN search_fts VIRTUAL TABLE"), "{name}: not through FTS5\n{text}");
                assert!(!text.contains("SCAN search_entries"), "{name}: scans every entry\n{text}");
            } else {
                assert!(!text.contains("TEMP B-TREE"), "{name}: sorts every match\n{text}");
            }
        }
    }
}

async fn first_queue_pages_use_indexes_at_scale(backend: Backend) {
    let server = TestServer::start(backend).await;
    let size = DemoSize { cases: CASES, fixed: Some(PerCase { tasks: 0, incidents: 0, comments: 0 }) };
    seed(server.state.db(), "acme", &size, |_| {}).await.unwrap();
    let statuses = casebook::domain::status::list(&mut server.state.db().get().await.unwrap().conn(), "acme", false)
        .await
        .unwrap();

    let filter = CaseFilter::default;
    let searching = |text: &str| CaseFilter { search: Some(text.into()), ..filter() };
    let checks = [
        ("default order", CaseOrderField::Id, filter()),
        ("by updated-at", CaseOrderField::UpdatedAt, filter()),
        ("by priority", CaseOrderField::Priority, filter()),
        ("one status", CaseOrderField::Id, CaseFilter { status_ids: vec![statuses[1].id], ..filter() }),
        ("open cases", CaseOrderField::Id, CaseFilter { status_categories: vec![StatusCategory::Open], ..filter() }),
        ("high priority", CaseOrderField::Id, CaseFilter { priorities: vec![CasePriority::High], ..filter() }),
        ("one assignee", CaseOrderField::Id, CaseFilter { assignee_ids: vec!["ava.chen".into()], ..filter() }),
        ("unassigned", CaseOrderField::Id, CaseFilter { unassigned: Some(true), ..filter() }),
        ("overdue", CaseOrderField::Id, CaseFilter { overdue: Some(true), ..filter() }),
        (
            "open and high, by priority",
            CaseOrderField::Priority,
            CaseFilter {
                status_categories: vec![StatusCategory::Open],
                priorities: vec![CasePriority::High, CasePriority::Critical],
                ..filter()
            },
        ),
    ];
    let searches = [
        ("search for a tool", CaseOrderField::Id, searching("mimikatz")),
        ("search for a host", CaseOrderField::Id, searching("ws-0421")),
        ("search for a phrase", CaseOrderField::Id, searching("\"scheduled task\"")),
        ("search for a prefix", CaseOrderField::Id, searching("mimik")),
        ("search by relevance", CaseOrderField::Relevance, searching("lsass memory")),
        ("search by updated-at", CaseOrderField::UpdatedAt, searching("psexec")),
    ];
    let mut pooled = server.state.db().get().await.unwrap();
    for (checks, searching) in [(&checks[..], false), (&searches[..], true)] {
        for (name, field, filter) in checks {
            let plan =
                first_page_plan(&mut pooled.conn(), "acme", filter, *field, OrderDirection::Desc, 26).await.unwrap();
            assert_indexed(backend, name, &plan, searching);
        }
    }
}

both_backends!(first_queue_pages_use_indexes_at_scale);
