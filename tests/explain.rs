//! The queue's first pages use indexes at 100,000 cases: the planner's own
//! account (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite) of the
//! statement the server runs shows no full scan of the cases and no sort of
//! all of them.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use casebook::demo::{DemoSize, PerCase, seed};
use casebook::domain::queue::{CaseFilter, CaseOrderField, OrderDirection, first_page_plan};
use casebook::domain::status::StatusCategory;
use common::*;

const CASES: u32 = 100_000;

async fn first_queue_pages_use_indexes_at_scale(backend: Backend) {
    let server = TestServer::start(backend).await;
    let size = DemoSize { cases: CASES, fixed: Some(PerCase { tasks: 0, incidents: 0, comments: 0 }) };
    seed(server.state.db(), "acme", &size, |_| {}).await.unwrap();

    let by = |field, filter| (field, filter);
    let checks = [
        ("default order", by(CaseOrderField::Id, CaseFilter::default())),
        ("by updated-at", by(CaseOrderField::UpdatedAt, CaseFilter::default())),
        ("by priority", by(CaseOrderField::Priority, CaseFilter::default())),
        (
            "open cases",
            by(CaseOrderField::Id, CaseFilter { status_categories: vec![StatusCategory::Open], ..Default::default() }),
        ),
        (
            "one assignee",
            by(CaseOrderField::Id, CaseFilter { assignee_ids: vec!["ava.chen".into()], ..Default::default() }),
        ),
    ];
    let mut pooled = server.state.db().get().await.unwrap();
    for (name, (field, filter)) in checks {
        let plan = first_page_plan(&mut pooled.conn(), "acme", &filter, field, OrderDirection::Desc, 26).await.unwrap();
        let text = plan.join("\n");
        match backend {
            Backend::Postgres => {
                assert!(text.contains("Index Scan"), "{name}: no index scan\n{text}");
                assert!(!text.contains("Seq Scan on cases"), "{name}: full scan\n{text}");
                assert!(!text.contains("Sort"), "{name}: sorts every match\n{text}");
            }
            Backend::Sqlite => {
                assert!(text.contains("SEARCH cases USING"), "{name}: no index search\n{text}");
                assert!(!text.contains("SCAN cases"), "{name}: full scan\n{text}");
                assert!(!text.contains("TEMP B-TREE"), "{name}: sorts every match\n{text}");
            }
        }
    }
}

both_backends!(first_queue_pages_use_indexes_at_scale);
