//! The queue's first pages use indexes at 100,000 cases: the planner's own
//! account (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite) of the
//! statement the server runs shows no full scan of the cases and no sort of
//! all of them, for every common filter; searches go through the text index
//! (GIN, FTS5) and sort at most their matches, or walk the cases' key and
//! look each case's entry up by key.

use crate::common::*;
use casebook::demo::{DemoSize, PerCase, seed};
use casebook::domain::observable::{Indicator, ObservableType};
use casebook::domain::queue::{
    CaseFilter, CaseOrderField, OrderDirection, first_page_plan, search_count_plan, search_walk_plan,
};
use casebook::domain::sla::SlaState;
use casebook::domain::status::StatusCategory;
use casebook::domain::values::CasePriority;

const CASES: u32 = 100_000;

/// A walk's page and how many cases it may walk: 4x the cases a page of 26
/// passes when one case in 20 matches.
const WALK: (i64, i64) = (26, 2_080);

/// How a filter finds its cases.
#[derive(Clone, Copy)]
enum Through {
    /// The cases' own indexes, in page order: no sort at all.
    Cases,
    /// The text index (GIN, FTS5); its matches may be sorted.
    Text,
    /// An index of this related table (evidence); its matches may be sorted.
    Index(&'static str),
}

/// What a plan may not do: scan every case or sort them all. A filter that
/// finds its matches through an index of its own may sort those matches,
/// never the tenant's cases.
fn assert_indexed(backend: Backend, name: &str, plan: &[String], through: Through) {
    let text = plan.join("\n");
    if let Through::Index(related) = through {
        assert!(text.contains(&format!("{related}_")), "{name}: not through an index of {related}\n{text}");
        // A scan of the tenant's few tag names is fine; of cases or the evidence rows, not.
        for table in ["cases", related] {
            let scans = [format!("Seq Scan on {table} "), format!("SCAN {table}\n")];
            assert!(
                !scans.iter().any(|scan| format!("{text}\n").contains(scan)),
                "{name}: full scan of {table}\n{text}"
            );
        }
        return;
    }
    let searching = matches!(through, Through::Text);
    match backend {
        Backend::Postgres => {
            assert!(text.contains("Index Scan") || text.contains("Index Only Scan"), "{name}: no index scan\n{text}");
            assert!(!text.contains("Seq Scan on cases"), "{name}: full scan\n{text}");
            if searching {
                // The cases' narrow rows (through a function that plans them without
                // sequential scans), or the entries when a phrase or a title needs the vector back.
                let indexed =
                    text.contains("Function Scan on casebook_case_matches") || text.contains("search_entries_vector");
                assert!(indexed, "{name}: not through the text index\n{text}");
                assert!(!text.contains("Seq Scan on case_search"), "{name}: scans every case's entry\n{text}");
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
                // Matches map to cases through the narrow index, not the wide entry rows.
                let wide = "SEARCH search_entries USING INTEGER PRIMARY KEY";
                assert!(!text.contains(wide), "{name}: reads each match's entry row\n{text}");
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
    let catalogue = casebook::domain::attack::catalogue();
    let indicator = |kind, value: &str| Indicator::parse("value", kind, value).unwrap();
    let searching = |text: &str| CaseFilter { search: Some(text.into()), ..filter() };
    let checks = [
        ("default order", CaseOrderField::Id, filter()),
        ("by updated-at", CaseOrderField::UpdatedAt, filter()),
        ("by priority", CaseOrderField::Priority, filter()),
        ("one status", CaseOrderField::Id, CaseFilter { status_ids: vec![statuses[1].id], ..filter() }),
        ("open cases", CaseOrderField::Id, CaseFilter { status_categories: vec![StatusCategory::Open], ..filter() }),
        ("high priority", CaseOrderField::Id, CaseFilter { priorities: vec![CasePriority::High], ..filter() }),
        ("one assignee", CaseOrderField::Id, CaseFilter { assignee_ids: vec!["ava.chen".into()], ..filter() }),
        (
            "one assignee, by updated-at",
            CaseOrderField::UpdatedAt,
            CaseFilter { assignee_ids: vec!["ava.chen".into()], ..filter() },
        ),
        ("by due date", CaseOrderField::DueOn, filter()),
        ("unassigned", CaseOrderField::Id, CaseFilter { unassigned: Some(true), ..filter() }),
        ("overdue", CaseOrderField::Id, CaseFilter { overdue: Some(true), ..filter() }),
        ("overdue, by due date", CaseOrderField::DueOn, CaseFilter { overdue: Some(true), ..filter() }),
        ("by resolve deadline", CaseOrderField::ResolveBy, filter()),
        ("SLA breached", CaseOrderField::Id, CaseFilter { sla_states: vec![SlaState::Breached], ..filter() }),
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
    let domain = indicator(ObservableType::Domain, "evil-corp.example");
    let host = indicator(ObservableType::Hostname, "ws-0001.corp.example");
    let address = indicator(ObservableType::IpAddress, "203.0.113.7");
    let technique = catalogue.expand("t", &["T1021".into()]).unwrap();
    let tactic = catalogue.in_tactics("t", &["TA0008".into()]).unwrap();
    let evidence = [
        ("a common indicator", CaseOrderField::Id, CaseFilter { observable: Some(domain), ..filter() }, "observables"),
        ("a rare indicator", CaseOrderField::Id, CaseFilter { observable: Some(host), ..filter() }, "observables"),
        (
            "an indicator, by updated-at",
            CaseOrderField::UpdatedAt,
            CaseFilter { observable: Some(address), ..filter() },
            "observables",
        ),
        (
            "any of two tags",
            CaseOrderField::Id,
            CaseFilter { tags_any: vec!["ransomware".into(), "apt29".into()], ..filter() },
            "case_tags",
        ),
        (
            "both of two tags",
            CaseOrderField::Id,
            CaseFilter { tags_all: vec!["ransomware".into(), "vip".into()], ..filter() },
            "case_tags",
        ),
        (
            "a technique",
            CaseOrderField::Id,
            CaseFilter { technique_groups: vec![technique], ..filter() },
            "case_techniques",
        ),
        ("a tactic", CaseOrderField::Id, CaseFilter { technique_groups: vec![tactic], ..filter() }, "case_techniques"),
    ];
    let all = checks
        .iter()
        .map(|(name, field, filter)| (*name, *field, filter, Through::Cases))
        .chain(searches.iter().map(|(name, field, filter)| (*name, *field, filter, Through::Text)))
        .chain(evidence.iter().map(|(name, field, filter, index)| (*name, *field, filter, Through::Index(index))));
    // Fresh connections: a pooled SQLite connection opened before the seed's
    // ANALYZE keeps planning without statistics. SQLite databases are planned
    // without any until someone runs ANALYZE, so SQLite's plans are checked
    // both ways.
    let all: Vec<_> = all.collect();
    let with_statistics = casebook::db::Db::connect(&server.database.url).unwrap();
    assert_planned(backend, "", &with_statistics, &all, &searching).await;
    if backend == Backend::Sqlite {
        forget_statistics(&server.database.url);
        let without = casebook::db::Db::connect(&server.database.url).unwrap();
        assert_planned(backend, " (no statistics)", &without, &all, &searching).await;
    }
}

type Check<'a> = (&'a str, CaseOrderField, &'a CaseFilter, Through);

async fn assert_planned(
    backend: Backend,
    state: &str,
    db: &casebook::db::Db,
    all: &[Check<'_>],
    searching: &dyn Fn(&str) -> CaseFilter,
) {
    let mut pooled = db.get().await.unwrap();
    for &(name, field, filter, through) in all {
        let name = &format!("{name}{state}");
        let plan = first_page_plan(&mut pooled.conn(), "acme", filter, field, OrderDirection::Desc, 26).await.unwrap();
        if std::env::var_os("CASEBOOK_SHOW_PLANS").is_some() {
            eprintln!("== {name}\n{}", plan.join("\n"));
        }
        assert_indexed(backend, name, &plan, through);
    }
    // A search that matches many cases walks them instead, in number order,
    // each case's entry found by its key: neither scans nor sorts.
    for text in ["mimikatz", "\"scheduled task\""] {
        let plan =
            search_walk_plan(&mut pooled.conn(), "acme", &searching(text), OrderDirection::Desc, WALK).await.unwrap();
        assert_walks(backend, &format!("{text}{state}"), &plan);
    }
    // With another criterion too, checked on each case walked.
    let open = CaseFilter { status_categories: vec![StatusCategory::Open], ..searching("mimikatz") };
    let plan = search_walk_plan(&mut pooled.conn(), "acme", &open, OrderDirection::Desc, WALK).await.unwrap();
    assert_walks(backend, &format!("open cases, mimikatz{state}"), &plan);
    // Its count reads the matches' narrow rows through the text index (PostgreSQL).
    let counted = search_count_plan(&mut pooled.conn(), "acme", &open).await.unwrap();
    match backend {
        Backend::Postgres => {
            let text = counted.expect("a count from the narrow rows").join("\n");
            assert!(text.contains("case_search_vector"), "count of open cases, mimikatz: no text index\n{text}");
            assert!(!text.contains("Seq Scan on case_search"), "count of open cases, mimikatz: full scan\n{text}");
        }
        Backend::Sqlite => assert!(counted.is_none(), "SQLite has no narrow rows"),
    }
}

/// Deletes what SQLite's ANALYZE gathered, as in a database never analyzed.
fn forget_statistics(url: &casebook::config::DatabaseUrl) {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    let casebook::config::DatabaseUrl::Sqlite(path) = url else { unreachable!("SQLite only") };
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    // The server beside it may be writing (its SLA monitor): wait for the lock as the service does.
    conn.batch_execute("PRAGMA busy_timeout = 10000;").unwrap();
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let tables: Vec<Table> =
        diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sqlite_stat%'")
            .load(&mut conn)
            .unwrap();
    assert!(!tables.is_empty(), "the seed ran ANALYZE");
    for table in tables {
        conn.batch_execute(&format!("DELETE FROM {}", table.name)).unwrap();
    }
}

/// A walk goes down the cases' key and looks each entry up by its key.
fn assert_walks(backend: Backend, name: &str, plan: &[String]) {
    let text = plan.join("\n");
    let (walk, lookup, forbidden): (&str, &str, &[&str]) = match backend {
        Backend::Postgres => (
            "Index Scan Backward using cases_pkey",
            "search_entries_tenant_id_kind_entity_id_key",
            // The tenant's few statuses may be scanned; cases and entries not.
            &["Sort", "Seq Scan on cases", "Seq Scan on search_entries"],
        ),
        Backend::Sqlite => (
            "SEARCH cases USING",
            "sqlite_autoindex_search_entries_1",
            &["TEMP B-TREE", "SCAN cases", "SCAN search_entries"],
        ),
    };
    if backend == Backend::Sqlite {
        // FTS5 lists the matches from the walk's first entry on, found by key.
        let reach = "search_entries_1 (tenant_id=? AND kind=? AND entity_id>?)";
        assert!(text.contains(reach), "walk for {name}: every match listed\n{text}");
    }
    assert!(text.contains(walk), "walk for {name}: not down the cases' key\n{text}");
    assert!(text.contains(lookup), "walk for {name}: entries not looked up by key\n{text}");
    for step in forbidden {
        assert!(!text.contains(step), "walk for {name}: {step}\n{text}");
    }
}

both_backends!(first_queue_pages_use_indexes_at_scale);
