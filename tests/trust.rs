//! Access rules that cannot be talked around, and limits that keep one
//! client from stalling the service. Every attack runs over HTTP (or
//! WebSocket) against the real server on both databases, and the domain's own
//! guard is shown to refuse on its own.

use std::time::{Duration, Instant};

use crate::common::*;
use casebook::auth::{Auth, Principal};
use serde_json::{Value, json};

const CREATE_STATUS: &str = r#"createStatus(input: { name: "Smuggled", category: OPEN }) { id }"#;

/// Documents that try to reach `createStatus` past the check.
fn bypass_attempts() -> Vec<(String, Option<&'static str>)> {
    let nested = |depth: usize| {
        format!("mutation {{ {}{CREATE_STATUS}{} }}", "... on Mutation { ".repeat(depth), "} ".repeat(depth))
    };
    let chain: String = (0..30).map(|i| format!("fragment F{i} on Mutation {{ ...F{} }} ", i + 1)).collect();
    vec![
        (nested(17), None),
        (nested(40), None),
        (format!("mutation {{ ...F0 }} {chain} fragment F30 on Mutation {{ {CREATE_STATUS} }}"), None),
        (format!("mutation {{ statuses: {CREATE_STATUS} }}"), None),
        (format!("mutation {{ ... @include(if: true) {{ {CREATE_STATUS} }} }}"), None),
        (format!("mutation {{ ... @skip(if: true) {{ {CREATE_STATUS} }} }}"), None),
        (format!("query Q {{ statuses {{ id }} }} mutation M {{ {CREATE_STATUS} }}"), Some("M")),
        (format!("query Q {{ ...A }} mutation M {{ ...A }} fragment A on Mutation {{ {CREATE_STATUS} }}"), Some("M")),
    ]
}

async fn status_names(server: &TestServer) -> Value {
    server.ok(&admin("acme"), "{ statuses(includeArchived: true) { name } }", json!({})).await["statuses"].clone()
}

async fn the_fragment_bypass_and_its_variants_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let before = status_names(&server).await;
    for (document, operation) in bypass_attempts() {
        for token in [reader("acme"), analyst("acme"), token("nobody", "acme", &[])] {
            let mut body = json!({ "query": document });
            if let Some(operation) = operation {
                body["operationName"] = json!(operation);
            }
            let response: Value = server
                .client
                .post(server.url("/graphql"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_code(&response, "FORBIDDEN");
            assert!(response.get("data").is_none(), "{response}");
        }
        // Without a token the answer is UNAUTHENTICATED, whatever the document.
        assert_code(&server.gql(None, &document, json!({})).await, "UNAUTHENTICATED");
    }
    // Several operations and no operationName: refused, not "the first one".
    let two = format!("mutation M {{ {CREATE_STATUS} }} query Q {{ statuses {{ id }} }}");
    assert_code(&server.gql(Some(&admin("acme")), &two, json!({})).await, "BAD_USER_INPUT");
    assert_eq!(status_names(&server).await, before, "nothing was created");
    // The same document an admin may run.
    let allowed = format!("mutation {{ {}{CREATE_STATUS}{} }}", "... on Mutation { ".repeat(17), "} ".repeat(17));
    server.ok(&admin("acme"), &allowed, json!({})).await;
}

/// With no admission check at all, the resolvers' own guard (the `Granted`
/// proof the domain demands) still refuses every write and read.
async fn the_domain_refuses_what_the_check_never_saw(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.ok(&admin("acme"), "{ me { tenant } }", json!({})).await;
    let before = status_names(&server).await;
    let db = server.state.db().clone();
    let schema = casebook::graphql::build_schema(Some(casebook::graphql::Services {
        db: db.clone(),
        bus: server.state.bus().clone(),
        webhook_targets: Default::default(),
        webhook_keys: Default::default(),
        attachments: server.state.attachments().clone(),
        search_count_limit: Default::default(),
    }));
    let principal = |permissions: &[casebook::auth::Permission]| Principal {
        user_id: "mallory".into(),
        tenant: "acme".into(),
        display_name: None,
        email: None,
        permissions: permissions.iter().copied().collect(),
        expires_at: u64::MAX,
    };
    use casebook::auth::Permission::*;
    let writes = [
        ("createCase(input: { title: \"x\" }) { id }", vec![SecurityDataRead]),
        ("updateCase(input: { id: \"1000\", title: \"x\" }) { id }", vec![SecurityDataRead]),
        ("createTask(input: { caseId: \"1000\", title: \"x\" }) { id }", vec![SecurityDataRead]),
        ("updateTask(input: { id: \"1\", title: \"x\" }) { id }", vec![SecurityDataRead]),
        ("deleteTask(input: { id: \"1\" }) { deletedTaskId }", vec![SecurityDataRead]),
        ("createIncident(input: { title: \"x\", severity: LOW }) { id }", vec![SecurityDataRead]),
        ("updateIncident(input: { id: \"1\", title: \"x\" }) { id }", vec![SecurityDataRead]),
        ("linkIncidents(input: { caseId: \"1000\", incidentIds: [\"1\"] }) { id }", vec![SecurityDataRead]),
        ("unlinkIncidents(input: { caseId: \"1000\", incidentIds: [\"1\"] }) { id }", vec![SecurityDataRead]),
        ("addComment(input: { caseId: \"1000\", body: \"x\" }) { id }", vec![SecurityDataRead]),
        (CREATE_STATUS, vec![SecurityDataRead, AlertsManage]),
        ("updateStatus(input: { id: \"1\", name: \"x\" }) { id }", vec![SecurityDataRead, AlertsManage]),
        ("upsertUser(input: { id: \"x\", displayName: \"x\" }) { id }", vec![SecurityDataRead, AlertsManage]),
    ];
    for (field, permissions) in writes {
        let request = async_graphql::Request::new(format!("mutation {{ {field} }}"));
        let request = casebook::graphql::request_data(request, &db, Auth::Authenticated(principal(&permissions)));
        let response = serde_json::to_value(schema.execute(request).await).unwrap();
        assert_code(&response, "FORBIDDEN");
    }
    for read in ["{ cases { totalCount } }", "{ case(id: \"1000\") { id } }", "{ statuses { id } }", "{ users { id } }"]
    {
        let request = casebook::graphql::request_data(
            async_graphql::Request::new(read),
            &db,
            Auth::Authenticated(principal(&[])),
        );
        let response = serde_json::to_value(schema.execute(request).await).unwrap();
        assert_code(&response, "FORBIDDEN");
    }
    assert_eq!(status_names(&server).await, before, "nothing was created");
}

async fn anonymous_callers_learn_nothing_of_the_schema(backend: Backend) {
    let server = TestServer::start(backend).await;
    for document in [
        "{ __schema { types { name } } }",
        "{ __type(name: \"Case\") { fields { name } } }",
        "{ __typename }",
        "{ casez { id } }",
    ] {
        let body = server.gql(None, document, json!({})).await;
        assert_code(&body, "UNAUTHENTICATED");
        assert!(!body.to_string().contains("Did you mean"), "{body}");
        let body = server.gql(Some("not-a-token"), document, json!({})).await;
        assert_code(&body, "UNAUTHENTICATED");
        let get = server.client.get(server.url("/graphql")).query(&[("query", document)]).send().await.unwrap();
        assert_code(&get.json::<Value>().await.unwrap(), "UNAUTHENTICATED");
    }
    // A valid token may introspect, and is helped with suggestions.
    let types = server.ok(&reader("acme"), "{ __schema { types { name } } }", json!({})).await;
    assert!(types.to_string().contains("\"Case\""));
    let typo = server.gql(Some(&reader("acme")), "{ casez { id } }", json!({})).await;
    assert_code(&typo, "BAD_USER_INPUT");
    assert!(typo.to_string().contains("Did you mean"), "{typo}");
}

/// The README's dashboard and case detail, as a frontend sends them.
const README_DASHBOARD: &str = "query Queue($after: String) {
  cases(filter: { statusCategories: [NEW, OPEN] }, orderBy: { field: UPDATED_AT, direction: DESC }, first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id title priority dueOn status { name category } assignee { displayName }
      tasks { id title status owner { displayName } } incidents { id title severity }
      activity(first: 5) { edges { cursor node { __typename createdAt actor { displayName }
        ... on Comment { body } ... on AuditEvent { action changes { field oldValue newValue } } } } } }
  }
}";
const README_CASE: &str = "query Case($id: ID!) {
  case(id: $id) {
    id title description priority version updatedAt updatedBy { displayName }
    status { id name }
    tasks { id title status owner { displayName } dueOn closingNotes }
    incidents { id externalId title severity status }
    activity(first: 20) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { __typename createdAt actor { displayName }
        ... on Comment { body }
        ... on AuditEvent { action changes { field oldValue newValue } task { title } incident { title } } } }
    }
  }
}";

async fn costly_documents_are_refused_with_the_figure_and_the_limit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = analyst("acme");
    create_case(&server, &token, "Burrowing attack", json!({})).await;
    server.ok(&token, README_DASHBOARD, json!({})).await;
    server.ok(&token, README_CASE, json!({ "id": "1000" })).await;

    let lookups: String = (0..1000).map(|i| format!("c{i}: case(id: \"{}\") {{ id }} ", 1000 + i)).collect();
    let body = server.gql(Some(&token), &format!("{{ {lookups} }}"), json!({})).await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("query: more than 50 aliases"), "{body}");

    let duplicated = format!("{{ me {{ {} }} }}", "tenant ".repeat(5000));
    assert_code(&server.gql(Some(&token), &duplicated, json!({})).await, "BAD_USER_INPUT");

    let chain =
        format!("{{ cases(first: 100) {{ nodes {{ {}id{} }} }} }}", "tasks { case { ".repeat(6), " } }".repeat(6));
    let body = server.gql(Some(&token), &chain, json!({})).await;
    assert_code(&body, "BAD_USER_INPUT");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nodes or more, above the limit of 500000"), "{message}");

    let directives = "{ me { tenant @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) } }";
    assert_code(&server.gql(Some(&token), directives, json!({})).await, "BAD_USER_INPUT");
    let tokens = format!("{{ me {{ tenant }} }} {}", "# x\n".repeat(10) + &"query A { me { tenant } } ".repeat(3000));
    let body = server.gql(Some(&token), &tokens, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("tokens"), "{body}");
    let deep = format!("{}{}", "{ a ".repeat(5000), "}".repeat(5000));
    let body = server.gql(Some(&token), &deep, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nest deeper"), "{body}");
}

async fn a_spent_budget_answers_429_until_it_refills(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit_per_minute = 5).await;
    let (rita, anna) = (reader("acme"), analyst("acme"));
    let ask = || {
        server
            .client
            .post(server.url("/graphql"))
            .bearer_auth(&rita)
            .json(&json!({ "query": "{ me { tenant } }" }))
            .send()
    };
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let response = ask().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "5");
        remaining.push(response.headers()["x-ratelimit-remaining"].to_str().unwrap().parse::<u64>().unwrap());
    }
    assert!(remaining.windows(2).all(|w| w[1] < w[0] || w[1] == 0), "{remaining:?}");
    let refused = ask().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_code(&body, "RATE_LIMITED");
    assert!(body["errors"][0]["extensions"]["retryAfter"].as_u64().is_some(), "{body}");
    // Another caller has a budget of their own, and can read it.
    let budget = server.ok(&anna, "{ rateLimit { cost limit remaining used resetAt } }", json!({})).await;
    assert_eq!(budget["rateLimit"]["cost"], 1);
    assert_eq!(budget["rateLimit"]["limit"], 5);
    assert_eq!(budget["rateLimit"]["remaining"], 4);
    assert!(budget["rateLimit"]["resetAt"].as_str().unwrap().ends_with('Z'));
}

/// Case 1000's activity after a cursor: replay makes delivery certain however
/// late the subscription is set up.
const WATCH_CASE: &str = "subscription($after: String) { caseActivity(caseId: \"1000\", after: $after) { __typename ... on Comment { body } } }";

async fn a_reused_subscription_id_closes_the_socket_with_4409(backend: Backend) {
    let server = TestServer::start(backend).await;
    create_case(&server, &analyst("acme"), "Watched", json!({})).await;
    let after = json!({ "after": latest_cursor(&server, &analyst("acme"), "1000").await });
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    ws.subscribe("same", WATCH_CASE, after.clone()).await;
    ws.subscribe("same", WATCH_CASE, after.clone()).await;
    match ws.next(10).await {
        WsEvent::Closed(code, reason) => {
            assert_eq!(code, 4409);
            assert_eq!(reason, "Subscriber for same already exists");
        }
        other => panic!("expected 4409, got {other:?}"),
    }
    // Once completed, an id may be used again.
    let mut ws = server.ws("graphql-transport-ws").await;
    ws.init(&reader("acme")).await;
    ws.subscribe("again", WATCH_CASE, after.clone()).await;
    ws.send(json!({ "id": "again", "type": "complete" })).await;
    ws.subscribe("again", WATCH_CASE, after.clone()).await;
    comment(&server, &analyst("acme"), "1000", "still open").await;
    let mut next = ws.next(10).await;
    if matches!(&next, WsEvent::Message(m) if m["type"] == "complete") {
        next = ws.next(10).await; // the server's answer to the client's complete
    }
    match next {
        WsEvent::Message(m) => assert_eq!(m["payload"]["data"]["caseActivity"]["body"], "still open", "{m}"),
        other => panic!("expected the comment, got {other:?}"),
    }
}

async fn subscriptions_past_a_cap_get_an_error_and_the_socket_stays(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.subscriptions_per_socket = 3;
        s.subscriptions_per_caller = 5;
    })
    .await;
    create_case(&server, &analyst("acme"), "Watched", json!({})).await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let after = json!({ "after": latest_cursor(&server, &analyst("acme"), "1000").await });
        let mut first = server.ws(protocol).await;
        first.init(&reader("acme")).await;
        for id in ["a", "b", "c", "d"] {
            first.subscribe(id, WATCH_CASE, after.clone()).await;
        }
        match first.next(10).await {
            WsEvent::Message(m) => {
                assert_eq!(m["type"], "error");
                assert_eq!(m["id"], "d");
                assert_eq!(m["payload"][0]["extensions"]["code"], "RATE_LIMITED");
                assert!(m["payload"][0]["message"].as_str().unwrap().contains("limit is 3"), "{m}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
        // The caller's cap counts every socket: 3 here, so 2 more elsewhere.
        let mut second = server.ws(protocol).await;
        second.init(&reader("acme")).await;
        for id in ["x", "y", "z"] {
            second.subscribe(id, WATCH_CASE, after.clone()).await;
        }
        match second.next(10).await {
            WsEvent::Message(m) => {
                assert_eq!((m["type"].as_str(), m["id"].as_str()), (Some("error"), Some("z")), "{m}");
                assert!(m["payload"][0]["message"].as_str().unwrap().contains("for this user"), "{m}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
        comment(&server, &analyst("acme"), "1000", protocol).await;
        for _ in 0..3 {
            assert_eq!(first.payload(10).await["data"]["caseActivity"]["body"], protocol);
        }
        for _ in 0..2 {
            assert_eq!(second.payload(10).await["data"]["caseActivity"]["body"], protocol);
        }
        // Closing a socket gives its places back, once the server has seen it
        // close: probe until all five places are free again.
        drop(first);
        drop(second);
        let after = latest_cursor(&server, &analyst("acme"), "1000").await;
        comment(&server, &analyst("acme"), "1000", "after").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut third = server.ws(protocol).await;
            third.init(&reader("acme")).await;
            let mut fourth = server.ws(protocol).await;
            fourth.init(&reader("acme")).await;
            if all_replay(&mut third, &["p", "q", "r"], &after).await
                && all_replay(&mut fourth, &["s", "t"], &after).await
            {
                break;
            }
            assert!(Instant::now() < deadline, "closed sockets did not give their places back");
        }
    }
}

/// Subscribes each id after `cursor`; true when every one replays the entry
/// after it, false when the server refused one.
async fn all_replay(ws: &mut WsClient, ids: &[&str], cursor: &Value) -> bool {
    let query = "subscription($after: String) { caseActivity(caseId: \"1000\", after: $after) { __typename ... on Comment { body } } }";
    for id in ids {
        ws.subscribe(id, query, json!({ "after": cursor })).await;
    }
    for _ in ids {
        match ws.next(10).await {
            WsEvent::Message(m) if m["type"] == "error" => return false,
            WsEvent::Message(m) => assert_eq!(m["payload"]["data"]["caseActivity"]["body"], "after", "{m}"),
            WsEvent::Closed(code, reason) => panic!("closed {code} {reason}"),
        }
    }
    true
}

/// One socket floods 2,000 `subscribe` messages and never reads; another
/// client's query is still answered promptly, and live delivery goes on. With
/// the default caps most are refused; the second run lifts the caps so all
/// 2,000 are set up, to show the socket itself cannot starve the pool.
async fn a_subscription_flood_does_not_starve_other_clients(backend: Backend) {
    flood_and_query(backend, |_| {}).await;
    flood_and_query(backend, |s| {
        s.subscriptions_per_socket = 5_000;
        s.subscriptions_per_caller = 5_000;
        s.rate_limit_per_minute = 0;
    })
    .await;
}

async fn flood_and_query(backend: Backend, settings: impl FnOnce(&mut casebook::http::Settings)) {
    let server = TestServer::start_with(backend, settings).await;
    let analyst = analyst("acme");
    for n in 0..5 {
        create_case(&server, &analyst, &format!("Case {n}"), json!({})).await;
    }
    let baseline = timed_query(&server).await;
    let mut flood = server.ws("graphql-transport-ws").await;
    flood.init(&token("flooder", "acme", &["reader"])).await;
    for n in 0..2000 {
        let id = format!("s{n}");
        let case = 1000 + n % 5;
        let query = format!("subscription {{ caseActivity(caseId: \"{case}\", after: null) {{ id }} }}");
        // The server may stop reading (back-pressure) or drop a socket that
        // does not read its refusals: the flood ends there, which is allowed.
        if !flood.try_send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } })).await {
            break;
        }
    }
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        worst = worst.max(timed_query(&server).await);
    }
    eprintln!("{backend:?}: a query took {baseline:?} before the flood and at most {worst:?} during it");
    assert!(worst < Duration::from_secs(3), "a query took {worst:?} while another socket flooded");
    let mut watcher = server.ws("graphql-transport-ws").await;
    watcher.init(&reader("acme")).await;
    watcher.subscribe("w", WATCH_CASE, json!({ "after": null })).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        comment(&server, &analyst, "1000", "heard").await;
        if let Some(payload) = watcher.try_payload(500).await {
            assert_eq!(payload["data"]["caseActivity"]["body"], "heard");
            break;
        }
        assert!(Instant::now() < deadline, "no live delivery during the flood");
    }
    drop(flood);
}

async fn timed_query(server: &TestServer) -> Duration {
    let started = Instant::now();
    server.ok(&admin("acme"), "{ cases(first: 5) { totalCount nodes { id title status { name } } } }", json!({})).await;
    started.elapsed()
}

/// NUL cannot be stored by PostgreSQL and would be kept by SQLite: both
/// refuse it alike, naming the field, wherever it hides.
async fn nul_characters_are_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = analyst("acme");
    let create = "mutation($input: CreateCaseInput!) { createCase(input: $input) { id } }";
    let attempts = [
        (create, json!({ "input": { "title": "a\0b" } }), "title"),
        (create, json!({ "input": { "title": "ok", "description": "\0" } }), "description"),
        (create, json!({ "input": { "title": "ok", "assigneeId": "anna\0" } }), "assigneeId"),
        ("query($s: String) { cases(filter: { search: $s }) { totalCount } }", json!({ "s": "smb\0" }), "s"),
        ("{ cases(filter: { search: \"smb\\u0000\" }) { totalCount } }", json!({}), "search"),
        ("{ cases(filter: { assigneeIds: [\"a\\u0000\"] }) { totalCount } }", json!({}), "assigneeIds"),
        ("mutation { createCase(input: { title: \"x\\u0000\" }) { id } }", json!({}), "title"),
        ("{ users(search: \"\\u0000\") { id } }", json!({}), "search"),
    ];
    for (query, variables, field) in attempts {
        let body = server.gql(Some(&token), query, variables).await;
        assert_code(&body, "BAD_USER_INPUT");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: must not contain NUL")), "{message}");
    }
    let count = server.ok(&token, "{ cases { totalCount } }", json!({})).await;
    assert_eq!(count["cases"]["totalCount"], 0, "nothing was stored");
}

/// The bounds the node count relies on are enforced: past each, the change
/// is refused naming the field, and nothing is written.
async fn product_bounds_refuse_past_them(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit_per_minute = 0).await;
    let (analyst, admin) = (analyst("acme"), admin("acme"));
    let case = create_case(&server, &analyst, "Busy case", json!({})).await["id"].clone();
    let create_task = "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }";
    for n in 0..200 {
        server.ok(&analyst, create_task, json!({ "i": { "caseId": case, "title": format!("t{n}") } })).await;
    }
    let refused =
        server.gql(Some(&analyst), create_task, json!({ "i": { "caseId": case, "title": "one more" } })).await;
    assert_code(&refused, "BAD_USER_INPUT");
    assert!(refused["errors"][0]["message"].as_str().unwrap().starts_with("caseId: a case holds at most 200 tasks"));

    let incident = create_incident(&server, &analyst, "Campaign", "HIGH").await["id"].clone();
    let link = "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { id } }";
    for n in 0..100 {
        let linked = create_case(&server, &analyst, &format!("Victim {n}"), json!({})).await["id"].clone();
        server.ok(&analyst, link, json!({ "i": { "caseId": linked, "incidentIds": [incident] } })).await;
    }
    let refused = server.gql(Some(&analyst), link, json!({ "i": { "caseId": case, "incidentIds": [incident] } })).await;
    assert_code(&refused, "BAD_USER_INPUT");
    assert!(refused["errors"][0]["message"].as_str().unwrap().starts_with("incidentIds: incident"), "{refused}");
    let detail = server
        .ok(&analyst, "query($id: ID!) { case(id: $id) { version incidents { id } } }", json!({ "id": case }))
        .await;
    assert_eq!(detail["case"]["incidents"], json!([]), "nothing was linked");

    let create_status = "mutation($i: CreateStatusInput!) { createStatus(input: $i) { id } }";
    for n in 3..50 {
        server.ok(&admin, create_status, json!({ "i": { "name": format!("Stage {n}"), "category": "OPEN" } })).await;
    }
    let refused =
        server.gql(Some(&admin), create_status, json!({ "i": { "name": "Stage 50", "category": "OPEN" } })).await;
    assert_code(&refused, "BAD_USER_INPUT");
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("at most 50 statuses"), "{refused}");
    assert_eq!(status_names(&server).await.as_array().unwrap().len(), 50);
}

both_backends!(
    product_bounds_refuse_past_them,
    nul_characters_are_refused_naming_the_field,
    the_fragment_bypass_and_its_variants_are_refused,
    the_domain_refuses_what_the_check_never_saw,
    anonymous_callers_learn_nothing_of_the_schema,
    costly_documents_are_refused_with_the_figure_and_the_limit,
    a_spent_budget_answers_429_until_it_refills,
    a_reused_subscription_id_closes_the_socket_with_4409,
    subscriptions_past_a_cap_get_an_error_and_the_socket_stays,
    a_subscription_flood_does_not_starve_other_clients,
);
