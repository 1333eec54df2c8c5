//! The case queue: every filter, combinable; every ordering, paginated with
//! cursors that never skip or repeat a case; page-size limits.

use crate::common::*;
use serde_json::{Value, json};

const QUEUE: &str = "query($filter: CaseFilter, $orderBy: CaseOrder, $first: Int, $after: String) {
  cases(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    edges { cursor node { id title priority dueOn updatedAt createdAt } }
    nodes { id }
    pageInfo { hasNextPage endCursor hasPreviousPage startCursor }
  }
}";

async fn ids(server: &TestServer, token: &str, filter: Value) -> Vec<String> {
    let data = server.ok(token, QUEUE, json!({ "filter": filter, "first": 100 })).await;
    data["cases"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect()
}

/// Seeds a small, varied queue and returns the analyst's token.
async fn seed(server: &TestServer) -> (String, Vec<Value>) {
    let analyst = analyst("acme");
    let admin = admin("acme");
    server.ok(&token("bo", "acme", &["reader"]), "{ me { tenant } }", json!({})).await;
    server.ok(&admin, "{ me { tenant } }", json!({})).await;
    let specs = [
        (
            "Burrowing attack",
            json!({ "priority": "HIGH", "assigneeId": "anna", "dueOn": "2020-01-01T00:00:00Z", "description": "SMB tunnel on FS01" }),
        ),
        ("Phishing wave", json!({ "priority": "LOW", "assigneeId": "bo", "dueOn": "2099-01-01T00:00:00Z" })),
        ("apt in the DMZ", json!({ "priority": "CRITICAL" })),
        ("Credential stuffing", json!({ "priority": "HIGH", "dueOn": "2021-06-01T00:00:00Z", "assigneeId": "anna" })),
        ("Insider exfiltration", json!({ "description": "Large uploads to a personal drive (tunnel suspected)" })),
        ("Burrowing attack II", json!({ "priority": "MEDIUM", "dueOn": "2099-01-01T00:00:00Z" })),
    ];
    let mut cases = Vec::new();
    for (title, extra) in specs {
        cases.push(create_case(server, &analyst, title, extra).await);
    }
    // The fourth is closed; an incident links the first and the fifth; the sixth is the admin's.
    let closed = status_id(server, &analyst, "Closed").await;
    let close = json!({ "id": cases[3]["id"], "statusId": closed, "classification": "BENIGN_POSITIVE" });
    assert!(update_case(server, &analyst, close).await.get("errors").is_none());
    let incident = create_incident(server, &analyst, "Tunnel alert", "HIGH").await;
    for case in [&cases[0], &cases[4]] {
        server
            .ok(
                &analyst,
                "mutation($i: CaseIncidentsInput!) { linkIncidents(input: $i) { id } }",
                json!({ "i": { "caseId": case["id"], "incidentIds": [incident["id"]] } }),
            )
            .await;
    }
    cases.push(incident);
    (analyst, cases)
}

async fn every_filter_narrows_the_queue(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (t, seeded) = seed(&server).await;
    let incident = seeded[6]["id"].clone();
    let open = status_id(&server, &t, "Open").await;
    let new = status_id(&server, &t, "New").await;
    assert_eq!(
        ids(&server, &t, json!({})).await,
        ["1005", "1004", "1003", "1002", "1001", "1000"],
        "default: newest first"
    );
    assert_eq!(ids(&server, &t, json!({ "priorities": ["HIGH"] })).await, ["1003", "1000"]);
    assert_eq!(
        ids(&server, &t, json!({ "priorities": ["HIGH", "CRITICAL"], "assigneeIds": ["anna"] })).await,
        ["1003", "1000"]
    );
    assert_eq!(ids(&server, &t, json!({ "assigneeIds": ["bo"] })).await, ["1001"]);
    assert_eq!(ids(&server, &t, json!({ "unassigned": true })).await, ["1005", "1004", "1002"]);
    assert_eq!(ids(&server, &t, json!({ "unassigned": false })).await, ["1003", "1001", "1000"]);
    assert_eq!(
        ids(&server, &t, json!({ "unassigned": true, "assigneeIds": ["bo"] })).await,
        ["1005", "1004", "1002", "1001"]
    );
    assert_eq!(ids(&server, &t, json!({ "statusCategories": ["CLOSED"] })).await, ["1003"]);
    assert_eq!(ids(&server, &t, json!({ "statusIds": [new] })).await, ["1005", "1004", "1002", "1001", "1000"]);
    assert_eq!(ids(&server, &t, json!({ "statusIds": [open] })).await, Vec::<String>::new());
    assert_eq!(ids(&server, &t, json!({ "createdByIds": ["anna"] })).await.len(), 6);
    assert_eq!(ids(&server, &t, json!({ "createdByIds": ["adam"] })).await, Vec::<String>::new());
    assert_eq!(ids(&server, &t, json!({ "dueBefore": "2030-01-01T00:00:00Z" })).await, ["1003", "1000"]);
    assert_eq!(ids(&server, &t, json!({ "dueAfter": "2030-01-01T00:00:00Z" })).await, ["1005", "1001"]);
    // Overdue: due in the past and not closed (1003 is closed).
    assert_eq!(ids(&server, &t, json!({ "overdue": true })).await, ["1000"]);
    assert_eq!(ids(&server, &t, json!({ "overdue": false })).await, ["1005", "1004", "1003", "1002", "1001"]);
    assert_eq!(ids(&server, &t, json!({ "incidentId": incident })).await, ["1004", "1000"]);
    // Search: every word, in title or description, ignoring case.
    assert_eq!(ids(&server, &t, json!({ "search": "BURROWING" })).await, ["1005", "1000"]);
    assert_eq!(ids(&server, &t, json!({ "search": "tunnel" })).await, ["1004", "1000"]);
    assert_eq!(ids(&server, &t, json!({ "search": "burrowing tunnel" })).await, ["1000"]);
    assert_eq!(ids(&server, &t, json!({ "search": "100%" })).await, Vec::<String>::new(), "wildcards match literally");
    // Combined.
    assert_eq!(
        ids(&server, &t, json!({ "search": "attack", "priorities": ["MEDIUM"], "dueAfter": "2030-01-01T00:00:00Z" }))
            .await,
        ["1005"]
    );
    let total = server.ok(&t, QUEUE, json!({ "filter": { "priorities": ["HIGH"] }, "first": 1 })).await;
    assert_eq!(total["cases"]["totalCount"], 2);
    assert_eq!(total["cases"]["pageInfo"]["hasNextPage"], true);
    // Bad dates and ids in filters name the field.
    let body = server.gql(Some(&t), QUEUE, json!({ "filter": { "dueBefore": "soon" } })).await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("dueBefore"), "{body}");
}

async fn every_ordering_pages_through_each_case_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (t, _) = seed(&server).await;
    // More cases sharing sort values, so ties need the id tie-break.
    for n in 0..7 {
        create_case(&server, &t, if n % 2 == 0 { "Same title" } else { "same TITLE" }, json!({ "priority": "HIGH" }))
            .await;
    }
    let all = server.ok(&t, QUEUE, json!({ "first": 100 })).await["cases"]["edges"].as_array().unwrap().clone();
    assert_eq!(all.len(), 13);
    let rank =
        |p: &Value| ["VERY_LOW", "LOW", "MEDIUM", "HIGH", "CRITICAL"].iter().position(|x| p == x).map_or(0, |i| i + 1);
    for field in ["ID", "CREATED_AT", "UPDATED_AT", "PRIORITY", "DUE_ON", "TITLE"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({ "field": field, "direction": direction });
            let (mut seen, mut after, mut pages) = (Vec::<Value>::new(), Value::Null, 0);
            loop {
                let data = server.ok(&t, QUEUE, json!({ "orderBy": order, "first": 4, "after": after })).await;
                let cases = &data["cases"];
                assert_eq!(cases["totalCount"], 13);
                assert_eq!(cases["pageInfo"]["hasPreviousPage"], pages > 0);
                seen.extend(cases["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
                pages += 1;
                if cases["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = cases["pageInfo"]["endCursor"].clone();
            }
            let seen_ids: Vec<i64> = seen.iter().map(|c| c["id"].as_str().unwrap().parse().unwrap()).collect();
            let mut unique = seen_ids.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 13, "{field} {direction}: every case exactly once: {seen_ids:?}");
            assert_eq!(seen.len(), 13, "{field} {direction}");
            assert_eq!(pages, 4);
            // The order is the asked one, ties broken by id in the same direction.
            let key = |c: &Value| -> (String, i64) {
                let id: i64 = c["id"].as_str().unwrap().parse().unwrap();
                let value = match field {
                    "ID" => String::new(),
                    "CREATED_AT" => c["createdAt"].as_str().unwrap().to_owned(),
                    "UPDATED_AT" => c["updatedAt"].as_str().unwrap().to_owned(),
                    "PRIORITY" => rank(&c["priority"]).to_string(),
                    // nulls last ascending
                    "DUE_ON" => c["dueOn"].as_str().map_or("~".to_owned(), str::to_owned),
                    _ => c["title"].as_str().unwrap().to_lowercase(),
                };
                (value, id)
            };
            let mut expected = seen.clone();
            expected.sort_by_key(key);
            if direction == "DESC" {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{field} {direction}");
        }
    }
    // A cursor from one ordering does not fit another.
    let data = server.ok(&t, QUEUE, json!({ "orderBy": { "field": "TITLE", "direction": "ASC" }, "first": 2 })).await;
    let cursor = data["cases"]["pageInfo"]["endCursor"].clone();
    let body = server
        .gql(Some(&t), QUEUE, json!({ "orderBy": { "field": "PRIORITY", "direction": "ASC" }, "after": cursor }))
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    let body = server.gql(Some(&t), QUEUE, json!({ "after": "not-a-cursor" })).await;
    assert_code(&body, "BAD_USER_INPUT");
}

async fn page_sizes_default_to_25_and_stop_at_100(backend: Backend) {
    let server = TestServer::start(backend).await;
    let t = analyst("acme");
    for n in 0..26 {
        create_case(&server, &t, &format!("Case {n}"), json!({})).await;
    }
    let data = server.ok(&t, QUEUE, json!({})).await;
    assert_eq!(data["cases"]["nodes"].as_array().unwrap().len(), 25);
    assert_eq!(data["cases"]["pageInfo"]["hasNextPage"], true);
    let body = server.gql(Some(&t), QUEUE, json!({ "first": 101 })).await;
    assert_code(&body, "BAD_USER_INPUT");
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("first"), "{body}");
    let body = server.gql(Some(&t), QUEUE, json!({ "first": -1 })).await;
    assert_code(&body, "BAD_USER_INPUT");
    let body = server.gql(Some(&t), "{ users(first: 1000) { id } }", json!({})).await;
    assert_code(&body, "BAD_USER_INPUT");
}

both_backends!(
    every_filter_narrows_the_queue,
    every_ordering_pages_through_each_case_once,
    page_sizes_default_to_25_and_stop_at_100,
);

async fn incidents_filter_and_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let t = analyst("acme");
    let create = "mutation($i: CreateIncidentInput!) { createIncident(input: $i) { id } }";
    for (n, (severity, status)) in
        [("HIGH", "ACTIVE"), ("LOW", "RESOLVED"), ("HIGH", "RESOLVED"), ("MEDIUM", "IN_PROGRESS"), ("HIGH", "ACTIVE")]
            .iter()
            .enumerate()
    {
        let title = if n % 2 == 0 { format!("SMB tunnel {n}") } else { format!("DNS beacon {n}") };
        server.ok(&t, create, json!({ "i": { "title": title, "severity": severity, "status": status, "externalId": format!("DET-{n}") } })).await;
    }
    let list = "query($f: IncidentFilter, $first: Int, $after: String) { incidents(filter: $f, first: $first, after: $after) { totalCount nodes { title } pageInfo { hasNextPage endCursor } } }";
    let titles = |data: &Value| -> Vec<String> {
        data["incidents"]["nodes"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap().to_owned()).collect()
    };
    let high = server.ok(&t, list, json!({ "f": { "severities": ["HIGH"] } })).await;
    assert_eq!(titles(&high), ["SMB tunnel 4", "SMB tunnel 2", "SMB tunnel 0"], "newest first");
    let open_high = server.ok(&t, list, json!({ "f": { "severities": ["HIGH"], "statuses": ["ACTIVE"] } })).await;
    assert_eq!(open_high["incidents"]["totalCount"], 2);
    let search = server.ok(&t, list, json!({ "f": { "search": "dns" } })).await;
    assert_eq!(titles(&search), ["DNS beacon 3", "DNS beacon 1"]);
    let by_external = server.ok(&t, list, json!({ "f": { "search": "det-3" } })).await;
    assert_eq!(titles(&by_external), ["DNS beacon 3"]);
    // Pages cover every incident once.
    let (mut seen, mut after) = (Vec::new(), Value::Null);
    loop {
        let page = server.ok(&t, list, json!({ "first": 2, "after": after })).await;
        seen.extend(titles(&page));
        if page["incidents"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["incidents"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 5);
    // A changed external id that collides is a conflict, and changes nothing.
    let ids = server.ok(&t, "{ incidents(filter: { search: \"det-0\" }) { nodes { id } } }", json!({})).await;
    let id = ids["incidents"]["nodes"][0]["id"].clone();
    let body = server
        .gql(
            Some(&t),
            "mutation($i: UpdateIncidentInput!) { updateIncident(input: $i) { id } }",
            json!({ "i": { "id": id, "externalId": "DET-1" } }),
        )
        .await;
    assert_code(&body, "CONFLICT");
    // Bad cursors and page sizes name their field.
    assert_code(&server.gql(Some(&t), list, json!({ "after": "nope" })).await, "BAD_USER_INPUT");
    assert_code(&server.gql(Some(&t), list, json!({ "first": 101 })).await, "BAD_USER_INPUT");
}

both_backends!(incidents_filter_and_page);

/// A page and its count judge `overdue` at the moment the filter names, so
/// both agree on a case whose due date falls between them (a request fixes
/// that moment once): before its due date the case is neither listed nor
/// counted, after it both; counted by the counters and by the cases alike,
/// after a fold has filed its due day among the days long past too.
async fn a_page_and_its_count_judge_at_one_moment(backend: Backend) {
    use casebook::domain::queue::{self, CaseFilter, CaseOrderField, OrderDirection};
    let server = TestServer::start(backend).await;
    let analyst = analyst("acme");
    let case = create_case(&server, &analyst, "Due mid-2020", json!({ "dueOn": "2020-06-01T00:00:00Z" })).await;
    // One write in 32 folds: this test folds always.
    fold_counts(&server, "acme").await;
    let at =
        |date: &str| Some(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap());
    let mut pooled = server.state.db().get().await.unwrap();
    let conn = &mut pooled.conn();
    // Overdue alone is summed from the counters; with a relation criterion the cases are counted.
    for has_parent in [None, Some(false)] {
        for (moment, expected) in [("2020-01-01", 0), ("2021-01-01", 1)] {
            let filter = CaseFilter { overdue: Some(true), has_parent, as_of: at(moment), ..CaseFilter::default() };
            let order = (CaseOrderField::UpdatedAt, OrderDirection::Desc);
            let page = queue::page(conn, "acme", &filter, order, None, 10, None).await.unwrap();
            let listed: Vec<i64> = page.cases.iter().map(|(c, _)| c.id).collect();
            let count = queue::count(conn, "acme", &filter, Default::default()).await.unwrap();
            assert_eq!((listed.len(), count.count, count.exact), (expected, expected as i64, true), "as of {moment}");
            if expected == 1 {
                assert_eq!(listed[0].to_string(), case["id"].as_str().unwrap());
            }
        }
    }
}

both_backends!(a_page_and_its_count_judge_at_one_moment);
