//! Full-text search: one language, the same answers in the same order on
//! both databases (every row of the table runs on each), relevance ranks,
//! the top-level `search` across cases, tasks and comments, and an index
//! that follows every change.

use crate::common;
use crate::common::*;
use serde_json::{Value, json};

const QUEUE: &str = "query($filter: CaseFilter, $orderBy: CaseOrder, $first: Int, $after: String) {
  cases(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount totalCountIsExact
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}";

const SEARCH: &str = "query($q: String!, $kinds: [SearchKind!], $first: Int, $after: String) {
  search(query: $q, kinds: $kinds, first: $first, after: $after) {
    totalCount totalCountIsExact
    pageInfo { hasNextPage endCursor }
    nodes {
      __typename titleMatched case { id }
      snippet { text html highlights { start end } }
      ... on TaskHit { task { id title } }
      ... on CommentHit { comment { id body } }
    }
  }
}";

/// The seeded cases, by number: titles and descriptions full of the tokens
/// analysts paste (hosts, IPs, hashes, file and domain names).
const CASES: [(&str, Option<&str>); 7] = [
    ("SMB tunnelling from WS-0421", Some(r"Beacon to 10.0.0.5:445 over smb. Tool: mimikatz.exe dropped in C:\Temp")),
    ("Phishing wave", Some("User clicked a login-micros0ft.com link; credentials phished")),
    ("DNS tunnel suspected", Some("High volume of TXT queries from srv-fs01.corp.example to evil-corp.example")),
    (
        "Ransomware precursor on FS01",
        Some("Shadow copies deleted with vssadmin before a tunnel opened; hash D41D8CD98F00B204E9800998ECF8427E"),
    ),
    ("False positive: admin tunnel", Some("Approved SSH tunnel, test only")),
    ("Lateral movement", Some("PsExec from 10.0.0.50 to 10.0.1.7 with stolen creds")),
    ("Wiper on the build farm", None),
];

/// Seeds [`CASES`] (numbers 1000-1006), two tasks and two comments.
async fn seed(server: &TestServer) -> String {
    let analyst = analyst("acme");
    for (title, description) in CASES {
        create_case(server, &analyst, title, json!({ "description": description })).await;
    }
    create_task(server, &analyst, "1005", "Check SMB shares on FS01", json!({})).await;
    create_task(server, &analyst, "1006", "Collect tunnelling evidence", json!({ "description": "pcap from DC03" }))
        .await;
    comment(server, &analyst, "1001", "Blocked login-micros0ft.com at the proxy").await;
    comment(server, &analyst, "1003", "Found mimikatz on WS-0421 as well").await;
    analyst
}

async fn queue(server: &TestServer, token: &str, search: &str, direction: &str, first: i64) -> Vec<String> {
    ordered(server, token, search, ("RELEVANCE", direction), first).await
}

/// The queue without `totalCount`: a page then never knows how many match.
const QUEUE_UNCOUNTED: &str = "query($filter: CaseFilter, $orderBy: CaseOrder, $first: Int, $after: String) {
  cases(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}";

/// Every case a search finds, page by page in this order; every page's
/// `totalCount` the same, exact or (past the server's bound) less than found.
async fn ordered(server: &TestServer, token: &str, search: &str, order: (&str, &str), first: i64) -> Vec<String> {
    ordered_in(server, token, json!({ "search": search }), order, first).await
}

/// [`ordered`] with any filter.
async fn ordered_in(server: &TestServer, token: &str, filter: Value, order: (&str, &str), first: i64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = Value::Null;
    let mut counts = Vec::new();
    loop {
        let variables = json!({
            "filter": filter,
            "orderBy": { "field": order.0, "direction": order.1 },
            "first": first,
            "after": after,
        });
        let page = server.ok(token, QUEUE, variables).await["cases"].clone();
        ids.extend(page["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        counts.push((page["totalCount"].as_i64().unwrap(), page["totalCountIsExact"].as_bool().unwrap()));
        if page["pageInfo"]["hasNextPage"] != true {
            let found = ids.len() as i64;
            for (count, exact) in counts {
                assert_eq!(exact, count == found, "{filter}: totalCount {count}, exact: {exact}, found {found}");
                assert!(count <= found, "{filter}: more cases counted than found");
            }
            return ids;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// [`ordered`] by number without asking for `totalCount`.
async fn uncounted(server: &TestServer, token: &str, search: &str, direction: &str, first: i64) -> Vec<String> {
    uncounted_in(server, token, json!({ "search": search }), direction, first).await
}

/// [`uncounted`] with any filter.
async fn uncounted_in(server: &TestServer, token: &str, filter: Value, direction: &str, first: i64) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let variables = json!({
            "filter": filter,
            "orderBy": { "field": "ID", "direction": direction },
            "first": first,
            "after": after,
        });
        let page = server.ok(token, QUEUE_UNCOUNTED, variables).await["cases"].clone();
        ids.extend(page["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        if page["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Each search, and the cases it finds by relevance (titles that match first, then by number, newest first).
const TABLE: &[(&str, &[&str])] = &[
    ("smb", &["1000"]),
    ("tunnel", &["1004", "1002", "1000", "1003"]),
    ("TUNNEL", &["1004", "1002", "1000", "1003"]),
    ("tunnels", &["1004", "1002", "1000", "1003"]),
    ("smb tun", &["1000"]),
    ("smb tunnell", &["1000"]),
    ("\"ssh tunnel\"", &["1004"]),
    ("\"tunnel ssh\"", &[]),
    ("tunnel -test", &["1002", "1000", "1003"]),
    ("tunnel -\"test only\" -vssadmin", &["1002", "1000"]),
    ("phishing OR ransomware", &["1003", "1001"]),
    ("wiper OR phished tunnel", &[]),
    ("phished", &["1001"]),
    ("10.0.0.5", &["1005", "1000"]),
    ("\"10.0.0.5\"", &["1000"]),
    ("10.0.1.7", &["1005"]),
    ("d41d8cd98f00b204e9800998ecf8427e", &["1003"]),
    ("D41D8CD9", &["1003"]),
    ("mimikatz.exe", &["1000"]),
    ("mimikatz", &["1000"]),
    ("ws-0421", &["1000"]),
    ("evil-corp.example", &["1002"]),
    ("srv-fs01.corp.example", &["1002"]),
    ("fs01", &["1003", "1002"]),
    ("C:\\Temp", &["1000"]),
    ("lateral movement", &["1005"]),
    ("movement lateral", &["1005"]),
    ("\"movement lateral\"", &[]),
    ("nomatchword", &[]),
    ("wip", &["1006"]),
    ("ps", &["1005"]),
    ("vssad", &["1003"]),
    ("100%", &[]),
];

/// The bound on a search's count in [`one_language_the_same_answers`]: the
/// table's searches find up to 4 cases, so both sides of it are covered.
const COUNT_LIMIT: i64 = 3;

/// What `totalCount` and `totalCountIsExact` say of `found` matches.
fn bounded(found: usize) -> (i64, bool) {
    let found = found as i64;
    if found > COUNT_LIMIT { (COUNT_LIMIT, false) } else { (found, true) }
}

/// `totalCount` and `totalCountIsExact` of a page of the queue.
async fn queue_count(server: &TestServer, token: &str, filter: Value, order: &str) -> (i64, bool) {
    let variables = json!({ "filter": filter, "orderBy": { "field": order, "direction": "DESC" }, "first": 1 });
    let page = server.ok(token, QUEUE, variables).await["cases"].clone();
    (page["totalCount"].as_i64().unwrap(), page["totalCountIsExact"].as_bool().unwrap())
}

async fn one_language_the_same_answers(backend: Backend) {
    let server = TestServer::start_with(backend, |settings| {
        settings.search_count_limit = casebook::domain::search::CountLimit(COUNT_LIMIT);
    })
    .await;
    let token = seed(&server).await;
    for (search, expected) in TABLE {
        // Counted exactly up to the bound, the bound past it: alone (the text
        // index counts) and with another filter (the cases are counted).
        let counted = bounded(expected.len());
        for order in ["ID", "RELEVANCE", "UPDATED_AT"] {
            let alone = queue_count(&server, &token, json!({ "search": search }), order).await;
            assert_eq!(alone, counted, "{search:?}: count by {order}");
            let with_other = json!({ "search": search, "statusCategories": ["NEW", "OPEN"] });
            assert_eq!(queue_count(&server, &token, with_other, order).await, counted, "{search:?}: with a status");
        }
        assert_eq!(queue(&server, &token, search, "DESC", 100).await, *expected, "{search:?}, by relevance");
        let mut ascending: Vec<&str> = expected.to_vec();
        ascending.reverse();
        assert_eq!(queue(&server, &token, search, "ASC", 2).await, ascending, "{search:?}, ascending, by twos");
        // By number, page by page: the text index hands out the page's cases.
        let mut by_number: Vec<&str> = expected.to_vec();
        by_number.sort();
        assert_eq!(ordered(&server, &token, search, ("ID", "ASC"), 1).await, by_number, "{search:?}, by number");
        by_number.reverse();
        assert_eq!(ordered(&server, &token, search, ("ID", "DESC"), 2).await, by_number, "{search:?}, newest first");
        // Uncounted, a page sorts the matches; counted, it may walk the cases: the same pages.
        assert_eq!(uncounted(&server, &token, search, "DESC", 2).await, by_number, "{search:?}, uncounted");
    }
    // The top-level search counts its hits of every kind the same way.
    for (q, kinds) in [("tunnel", json!(null)), ("tunnel", json!(["TASK"])), ("mimikatz OR smb", json!(null))] {
        let found = server.ok(&token, SEARCH, json!({ "q": q, "kinds": kinds, "first": 100 })).await["search"].clone();
        let count = (found["totalCount"].as_i64().unwrap(), found["totalCountIsExact"].as_bool().unwrap());
        assert_eq!(count, bounded(found["nodes"].as_array().unwrap().len()), "search {q:?} in {kinds}");
    }
    // Without a text search every count is exact, past the bound too.
    assert_eq!(queue_count(&server, &token, json!({}), "ID").await, (CASES.len() as i64, true));
    let open = json!({ "statusCategories": ["NEW", "OPEN"] });
    assert_eq!(queue_count(&server, &token, open, "ID").await, (CASES.len() as i64, true));
    // Pages of one cross from the titles that match to the others without a gap.
    assert_eq!(queue(&server, &token, "tunnel", "DESC", 1).await, ["1004", "1002", "1000", "1003"]);
    // Without a search every case ranks the same: by number.
    let all = server.ok(&token, QUEUE, json!({ "orderBy": { "field": "RELEVANCE", "direction": "DESC" } })).await;
    let ids: Vec<&str> = all["cases"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1006", "1005", "1004", "1003", "1002", "1001", "1000"]);
}

/// Which of the seeded cases (0 the first) a search must find.
type Keep = fn(i64) -> bool;

/// A page of a search that matches many cases walks the cases in order and
/// stops when full; when the matches lie beyond the walk's reach (here the
/// oldest cases), it sorts the matches instead, and misses none. Walked or
/// sorted, counted or not, with other criteria or not, every kind of search
/// finds the same pages.
async fn a_walk_that_finds_too_few_matches_sorts_them(backend: Backend) {
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    for n in 0..90 {
        let title = match n {
            0..30 => format!("Needle {n}"),
            _ if n % 2 == 0 => format!("Haystack {n} lateral movement"),
            _ => format!("Haystack {n} smb tunnel"),
        };
        let priority = if n % 3 == 0 { "HIGH" } else { "LOW" };
        create_case(&server, &analyst, &title, json!({ "priority": priority })).await;
    }
    let numbers = |range: std::ops::Range<i64>, keep: Keep| -> Vec<String> {
        range.rev().filter(|n| keep(*n)).map(|n| (1000 + n).to_string()).collect()
    };
    let needles = numbers(0..30, |_| true);
    for first in [1, 2, 5] {
        assert_eq!(ordered(&server, &analyst, "needle", ("ID", "DESC"), first).await, needles, "by {first}");
        assert_eq!(uncounted(&server, &analyst, "needle", "DESC", first).await, needles, "uncounted, by {first}");
        let oldest_first: Vec<String> = needles.iter().rev().cloned().collect();
        assert_eq!(ordered(&server, &analyst, "needle", ("ID", "ASC"), first).await, oldest_first, "ascending");
    }
    let searches: [(&str, Keep); 5] = [
        ("haystack", |n| n >= 30),
        ("\"lateral movement\"", |n| n >= 30 && n % 2 == 0),
        ("smb OR lateral", |n| n >= 30),
        ("haystack -\"smb tunnel\"", |n| n >= 30 && n % 2 == 0),
        ("haystack tun", |n| n >= 30 && n % 2 == 1),
    ];
    for (search, keep) in searches {
        let expected = numbers(0..90, keep);
        assert_eq!(ordered(&server, &analyst, search, ("ID", "DESC"), 3).await, expected, "{search:?}");
        assert_eq!(uncounted(&server, &analyst, search, "DESC", 3).await, expected, "{search:?}, uncounted");
        let ascending: Vec<String> = expected.iter().rev().cloned().collect();
        assert_eq!(ordered(&server, &analyst, search, ("ID", "ASC"), 3).await, ascending, "{search:?}, ascending");
        // With another criterion the walk checks it too, case by case.
        let high: Vec<String> =
            numbers(0..90, keep).into_iter().filter(|id| (id.parse::<i64>().unwrap() - 1000) % 3 == 0).collect();
        let filter = json!({ "search": search, "priorities": ["HIGH"] });
        for first in [1, 3] {
            let what = format!("{search:?} and HIGH, by {first}");
            assert_eq!(ordered_in(&server, &analyst, filter.clone(), ("ID", "DESC"), first).await, high, "{what}");
            assert_eq!(uncounted_in(&server, &analyst, filter.clone(), "DESC", first).await, high, "{what}, uncounted");
        }
    }
    // `totalCount` under an alias, or twice: the page that counts first sees
    // it all the same, and each answers.
    let aliased = "query($filter: CaseFilter) {
      cases(filter: $filter, orderBy: { field: ID, direction: DESC }, first: 3) {
        matches: totalCount again: totalCount nodes { id }
      }
    }";
    let page = server.ok(&analyst, aliased, json!({ "filter": { "search": "haystack" } })).await["cases"].clone();
    assert_eq!((page["matches"].as_i64(), page["again"].as_i64()), (Some(60), Some(60)), "{page}");
    let ids: Vec<&str> = page["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1089", "1088", "1087"]);
}

async fn bad_searches_are_refused_by_name(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = seed(&server).await;
    for (search, expected) in [("-tunnel", "filter.search"), ("a\u{0}b", "search")] {
        let body = server.gql(Some(&token), QUEUE, json!({ "filter": { "search": search } })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(expected), "{body}");
    }
    let long = "word ".repeat(40);
    assert_code(&server.gql(Some(&token), QUEUE, json!({ "filter": { "search": long } })).await, "BAD_USER_INPUT");
    for query in ["", " ... ", "-tunnel"] {
        let body = server.gql(Some(&token), SEARCH, json!({ "q": query })).await;
        assert_code(&body, "BAD_USER_INPUT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("query"), "{body}");
    }
    // A cursor that names no rank is refused, not answered with an empty page.
    let forged = |json: &str| base64_url(json);
    let queue_after = json!({ "filter": { "search": "tunnel" }, "orderBy": { "field": "RELEVANCE", "direction": "DESC" },
                              "after": forged(r#"{"field":"Relevance","value":{"Int":7},"id":1000}"#) });
    assert_code(&server.gql(Some(&token), QUEUE, queue_after).await, "BAD_USER_INPUT");
    let search_after = json!({ "q": "tunnel", "after": forged(r#"{"rank":7,"entry":1}"#) });
    assert_code(&server.gql(Some(&token), SEARCH, search_after).await, "BAD_USER_INPUT");

    // Punctuation alone searches for nothing: the filter is left out.
    assert_eq!(queue(&server, &token, " - ", "DESC", 100).await.len(), CASES.len());

    // The longest searches of many-token phrases and the longest tokens,
    // quoted, bare (a prefix), excluded, in titles: answered, not refused.
    let hosts = vec!["a"; 256].join(".");
    let tokens = |n: usize, length: usize, between: &str| vec!["x".repeat(length); n].join(between);
    for search in [
        hosts.clone(),
        format!("\"{}\"", &hosts[..500]),
        format!("tunnel -\"{}\"", &hosts[..400]),
        tokens(3, 160, "-"),
        tokens(4, 120, "."),
        format!("\"{}\" OR {}", tokens(3, 80, " "), tokens(3, 80, ".")),
        vec!["a.b.c.d"; 32].join(" "),
    ] {
        assert!(search.chars().count() <= 512, "{search}");
        let body = server.gql(Some(&token), QUEUE, json!({ "filter": { "search": search } })).await;
        assert!(body.get("errors").is_none(), "{search}: {body}");
        let ranked =
            json!({ "filter": { "search": search }, "orderBy": { "field": "RELEVANCE", "direction": "DESC" } });
        let body = server.gql(Some(&token), QUEUE, ranked).await;
        assert!(body.get("errors").is_none(), "{search} by relevance: {body}");
        let body = server.gql(Some(&token), SEARCH, json!({ "q": search })).await;
        assert!(body.get("errors").is_none(), "{search}, top-level: {body}");
    }
}

/// A cursor as the server writes them: URL-safe base64 of JSON.
fn base64_url(json: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn hits(data: &Value) -> Vec<String> {
    let nodes = data["search"]["nodes"].as_array().unwrap();
    nodes
        .iter()
        .map(|n| {
            let what = match n["__typename"].as_str().unwrap() {
                "TaskHit" => format!("task {}", n["task"]["title"].as_str().unwrap()),
                "CommentHit" => format!("comment {}", n["comment"]["body"].as_str().unwrap()),
                other => other.to_owned(),
            };
            format!("{} {what}", n["case"]["id"].as_str().unwrap())
        })
        .collect()
}

async fn search_finds_cases_tasks_and_comments(backend: Backend) {
    let server = TestServer::start(backend).await;
    seed(&server).await;
    let reader = reader("acme");
    let found = server.ok(&reader, SEARCH, json!({ "q": "mimikatz" })).await;
    assert_eq!(hits(&found), ["1003 comment Found mimikatz on WS-0421 as well", "1000 CaseHit"]);
    assert_eq!(found["search"]["totalCount"], 2);
    let comment = &found["search"]["nodes"][0];
    assert_eq!(comment["titleMatched"], false);
    assert_eq!(comment["snippet"]["html"], "Found <mark>mimikatz</mark> on WS-0421 as well");
    assert_eq!(comment["snippet"]["highlights"], json!([{ "start": 6, "end": 14 }]));
    assert!(found["search"]["nodes"][1]["snippet"]["text"].as_str().unwrap().contains("mimikatz.exe"));

    // Titles that match rank first, newest first; then the rest.
    let smb = server.ok(&reader, SEARCH, json!({ "q": "smb" })).await;
    assert_eq!(hits(&smb), ["1005 task Check SMB shares on FS01", "1000 CaseHit"]);
    assert_eq!(smb["search"]["nodes"][0]["titleMatched"], true);
    let tunnel = server.ok(&reader, SEARCH, json!({ "q": "tunnel", "kinds": ["TASK", "CASE"] })).await;
    assert_eq!(
        hits(&tunnel),
        ["1006 task Collect tunnelling evidence", "1004 CaseHit", "1002 CaseHit", "1000 CaseHit", "1003 CaseHit"]
    );
    let comments = server.ok(&reader, SEARCH, json!({ "q": "login-micros0ft.com", "kinds": ["COMMENT"] })).await;
    assert_eq!(hits(&comments), ["1001 comment Blocked login-micros0ft.com at the proxy"]);

    // Pages follow the same order.
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = server.ok(&reader, SEARCH, json!({ "q": "tunnel", "first": 2, "after": after })).await;
        paged.extend(hits(&page));
        if page["search"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["search"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(paged, hits(&server.ok(&reader, SEARCH, json!({ "q": "tunnel" })).await));

    // Another tenant's data is not there; no token, no search.
    let other = server.ok(&common::reader("globex"), SEARCH, json!({ "q": "tunnel" })).await;
    assert_eq!(other["search"]["totalCount"], 0);
    assert_code(&server.gql(None, SEARCH, json!({ "q": "tunnel" })).await, "UNAUTHENTICATED");
}

async fn the_index_follows_every_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = seed(&server).await;
    update_case(&server, &token, json!({ "id": "1006", "title": "Wiper on DC03", "description": "shamoon variant" }))
        .await;
    assert_eq!(queue(&server, &token, "shamoon", "DESC", 10).await, ["1006"]);
    assert!(queue(&server, &token, "farm", "DESC", 10).await.is_empty(), "the old title is gone");
    update_case(&server, &token, json!({ "id": "1006", "description": null })).await;
    assert!(queue(&server, &token, "shamoon", "DESC", 10).await.is_empty(), "a cleared description is gone");

    let task = create_task(&server, &token, "1002", "Sinkhole the domain", json!({})).await;
    let find = |q: &'static str| {
        let server = &server;
        async move { hits(&server.ok(&reader("acme"), SEARCH, json!({ "q": q })).await) }
    };
    assert_eq!(find("sinkhole").await, ["1002 task Sinkhole the domain"]);
    let rename = "mutation($i: UpdateTaskInput!) { updateTask(input: $i) { id } }";
    server.ok(&token, rename, json!({ "i": { "id": task, "title": "Takedown request" } })).await;
    assert!(find("sinkhole").await.is_empty());
    assert_eq!(find("takedown").await, ["1002 task Takedown request"]);
    let delete = "mutation($i: DeleteTaskInput!) { deleteTask(input: $i) { deletedTaskId } }";
    let deleted = server.gql(Some(&token), delete, json!({ "i": { "id": task } })).await;
    assert!(deleted.get("errors").is_none(), "{deleted}");
    assert!(find("takedown").await.is_empty(), "a deleted task is gone");

    comment(&server, &token, "1004", "Closing: the tunnel was the backup job").await;
    assert_eq!(find("backup job").await, ["1004 comment Closing: the tunnel was the backup job"]);
}

/// Takes the database back to before search: the search migration undone
/// (its entries with it), as a database of an earlier release would be.
async fn undo_search_migration(database: &TestDatabase) {
    const FORGET: &str = "DELETE FROM __diesel_schema_migrations WHERE version = '20261127000004';";
    const FORGET_CASE_SEARCH: &str = "DELETE FROM __diesel_schema_migrations WHERE version = '20261128000015';";
    const FORGET_TITLE_LEXEMES: &str = "DELETE FROM __diesel_schema_migrations WHERE version = '20261129000016';";
    const FORGET_ENTRY_CASE_NUMBERS: &str = "DELETE FROM __diesel_schema_migrations WHERE version = '20261211000025';";
    const FORGET_CASE_SEARCH_GROUPS: &str = "DELETE FROM __diesel_schema_migrations WHERE version = '20261212000026';";
    match &database.url {
        casebook::config::DatabaseUrl::Postgres(url) => {
            use diesel_async::{AsyncConnection, SimpleAsyncConnection};
            let mut conn = diesel_async::AsyncPgConnection::establish(url).await.unwrap();
            // The title's own lexemes and the cases' narrow copy of their
            // entries came later: undone first, newest first, as they were not there either.
            conn.batch_execute(include_str!("../migrations/postgres/2026-12-12-000026_case_search_groups/down.sql"))
                .await
                .unwrap();
            conn.batch_execute(FORGET_CASE_SEARCH_GROUPS).await.unwrap();
            conn.batch_execute(include_str!("../migrations/postgres/2026-11-29-000016_title_lexemes/down.sql"))
                .await
                .unwrap();
            conn.batch_execute(FORGET_TITLE_LEXEMES).await.unwrap();
            conn.batch_execute(include_str!("../migrations/postgres/2026-11-28-000015_case_search/down.sql"))
                .await
                .unwrap();
            conn.batch_execute(FORGET_CASE_SEARCH).await.unwrap();
            conn.batch_execute(include_str!("../migrations/postgres/2026-11-27-000004_search/down.sql")).await.unwrap();
            conn.batch_execute(FORGET).await.unwrap();
        }
        casebook::config::DatabaseUrl::Sqlite(_) => {
            use diesel::connection::SimpleConnection;
            let mut conn = open_sqlite(database);
            // The prefix indexes and the narrow index of entries to cases came later: undone first.
            undo_type_ahead_prefixes(&mut conn);
            conn.batch_execute(include_str!("../migrations/sqlite/2026-12-11-000025_entry_case_numbers/down.sql"))
                .unwrap();
            conn.batch_execute(FORGET_ENTRY_CASE_NUMBERS).unwrap();
            conn.batch_execute(include_str!("../migrations/sqlite/2026-11-27-000004_search/down.sql")).unwrap();
            conn.batch_execute(FORGET).unwrap();
        }
    }
}

/// A connection of its own to a test's SQLite database.
fn open_sqlite(database: &TestDatabase) -> diesel::SqliteConnection {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let casebook::config::DatabaseUrl::Sqlite(path) = &database.url else { panic!("not a SQLite database") };
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    // The server just dropped may still be closing its connections (the
    // last one checkpoints the WAL): wait for the lock as the service does.
    conn.batch_execute("PRAGMA busy_timeout = 10000;").unwrap();
    conn
}

/// Takes a SQLite database back to its text index without prefix indexes.
fn undo_type_ahead_prefixes(conn: &mut diesel::SqliteConnection) {
    use diesel::connection::SimpleConnection;
    const FORGET: &str = "DELETE FROM __diesel_schema_migrations WHERE version = '20261213000027';";
    conn.batch_execute(include_str!("../migrations/sqlite/2026-12-13-000027_type_ahead_prefixes/down.sql")).unwrap();
    conn.batch_execute(FORGET).unwrap();
}

/// The migration that adds prefix indexes rebuilds the text index from the
/// entries already there: a database of an earlier release finds the same
/// cases after the upgrade, type-ahead prefixes of every length included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_indexed_with_prefixes_when_migrating() {
    use diesel::RunQueryDsl;
    let database = std::sync::Arc::new(TestDatabase::create(Backend::Sqlite).await);
    drop(seed(&TestServer::start_on(Backend::Sqlite, database.clone()).await).await);
    let mut conn = open_sqlite(&database);
    undo_type_ahead_prefixes(&mut conn);
    let server = TestServer::start_on(Backend::Sqlite, database).await;
    let token = analyst("acme");
    for (search, expected) in TABLE {
        assert_eq!(queue(&server, &token, search, "DESC", 100).await, *expected, "{search:?}, after the upgrade");
    }
    #[derive(diesel::QueryableByName)]
    struct Definition {
        #[diesel(sql_type = diesel::sql_types::Text)]
        sql: String,
    }
    let index: Definition =
        diesel::sql_query("SELECT sql FROM sqlite_master WHERE name = 'search_fts'").get_result(&mut conn).unwrap();
    assert!(index.sql.contains("prefix = '1 2 3 4 5 6 7 8'"), "{}", index.sql);
}

async fn data_from_before_search_is_indexed_when_migrating(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    drop(seed(&TestServer::start_on(backend, database.clone()).await).await);
    undo_search_migration(&database).await;
    let server = TestServer::start_on(backend, database).await;
    let token = analyst("acme");
    for (search, expected) in TABLE.iter().take(12) {
        assert_eq!(queue(&server, &token, search, "DESC", 100).await, *expected, "{search:?}, after the upgrade");
    }
    let found = server.ok(&token, SEARCH, json!({ "q": "mimikatz OR smb" })).await;
    assert_eq!(
        hits(&found),
        ["1005 task Check SMB shares on FS01", "1000 CaseHit", "1003 comment Found mimikatz on WS-0421 as well"]
    );
}

both_backends!(one_language_the_same_answers);
both_backends!(data_from_before_search_is_indexed_when_migrating);
both_backends!(bad_searches_are_refused_by_name);
both_backends!(a_walk_that_finds_too_few_matches_sorts_them);
both_backends!(search_finds_cases_tasks_and_comments);
both_backends!(the_index_follows_every_change);
