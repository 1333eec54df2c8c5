//! Nested reads go through loaders: a dashboard page costs the same handful of
//! SQL statements for 10 cases as for 100. Counted with diesel's
//! instrumentation; the test fails when an N+1 comes back.

use crate::common::*;
use casebook::demo::{DemoSize, PerCase, seed};
use serde_json::json;

/// The dashboard: a page of cases with everything nested.
pub const DASHBOARD: &str = "query($first: Int) {
  cases(first: $first, orderBy: { field: UPDATED_AT, direction: DESC }) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title priority dueOn updatedAt version
      status { id name category }
      assignee { id displayName }
      createdBy { id displayName }
      tasks { id title status owner { id displayName } }
      incidents { id title severity }
      activity(first: 5) {
        totalCount
        nodes { __typename id createdAt actor { id displayName } ... on Comment { body } ... on AuditEvent { action changes { field oldValue newValue } } }
      }
    }
  }
}";

async fn statements_for(server: &TestServer, token: &str, query: &str, variables: serde_json::Value) -> u64 {
    let before = server.state.db().statements();
    let body = server.gql(Some(token), query, variables).await;
    assert!(body.get("errors").is_none(), "{body}");
    server.state.db().statements() - before
}

async fn a_dashboard_page_costs_the_same_few_statements_for_10_and_100_cases(backend: Backend) {
    // The counter counts the pool's statements: the SLA monitor, the
    // webhook worker and the attachment sweeper stay idle.
    let server = TestServer::start_with(backend, |s| {
        s.sla_interval = std::time::Duration::from_secs(24 * 3600);
        s.webhooks.concurrency = 0;
        s.attachments.sweep_interval = std::time::Duration::from_secs(24 * 3600);
    })
    .await;
    let size = DemoSize { cases: 120, fixed: Some(PerCase { tasks: 10, incidents: 3, comments: 5 }) };
    seed(server.state.db(), "acme", &size, |_| {}).await.unwrap();
    let token = reader("acme");
    server.ok(&token, "{ me { tenant } }", json!({})).await; // records the caller once
    // The newest case has no tasks, incidents or comments: relations that are
    // empty must be cached as empty, not asked for again case by case.
    create_case(&server, &analyst("acme"), "Nothing linked yet", json!({})).await;

    let ten = statements_for(&server, &token, DASHBOARD, json!({ "first": 10 })).await;
    let hundred = statements_for(&server, &token, DASHBOARD, json!({ "first": 100 })).await;
    assert!(hundred <= 7, "a dashboard page of 100 cases ran {hundred} statements");
    assert_eq!(ten, hundred, "the cost must not grow with the page");

    // Each linked incident's cases (bounded by the node limit to smaller pages).
    let linked = "query($first: Int) { cases(first: $first) { nodes { id incidents { id cases { id title } } } } }";
    let ten = statements_for(&server, &token, linked, json!({ "first": 10 })).await;
    let forty = statements_for(&server, &token, linked, json!({ "first": 40 })).await;
    assert_eq!(ten, forty, "incident cases are batched");
    assert!(forty <= 4, "{forty}");

    // The triage view: a page of incidents with their alerts, indicators and cases.
    let triage = "query($first: Int) { incidents(first: $first) { totalCount nodes { id title source alertCount
      alerts { externalId title techniqueIds } observables { type normalizedValue } cases { id } } } }";
    let ten = statements_for(&server, &token, triage, json!({ "first": 10 })).await;
    let hundred = statements_for(&server, &token, triage, json!({ "first": 100 })).await;
    assert_eq!(ten, hundred, "alerts, indicators and cases of incidents are batched");
    assert!(hundred <= 5, "a triage page of 100 incidents ran {hundred} statements");

    // Evidence on each case (tags, techniques, a first page of observables) and its SLA.
    let evidence = "query($first: Int) { cases(first: $first) { nodes { id tags techniques { id name tactics { id } } sla { state resolveBy }
      observables(first: 5) { totalCount pageInfo { hasNextPage } nodes { type normalizedValue addedBy { id } } } } } }";
    let seeded = server.ok(&token, evidence, json!({ "first": 100 })).await;
    let nodes = seeded["cases"]["nodes"].as_array().unwrap();
    assert!(nodes.iter().any(|n| n["tags"].as_array().unwrap().len() > 1), "the demo seeds tags");
    assert!(nodes.iter().any(|n| n["techniques"].as_array().unwrap().len() > 1), "and techniques");
    assert!(nodes.iter().any(|n| n["observables"]["totalCount"].as_i64().unwrap() > 5), "and observables");
    let ten = statements_for(&server, &token, evidence, json!({ "first": 10 })).await;
    let hundred = statements_for(&server, &token, evidence, json!({ "first": 100 })).await;
    assert_eq!(ten, hundred, "evidence and SLA policies are batched");
    assert!(hundred <= 7, "evidence of 100 cases ran {hundred} statements");

    // Case detail, and filtered activity with counts, stay constant too.
    let detail = "query($id: ID!) { case(id: $id) { id tasks { owner { id } } incidents { id } activity(first: 100) { totalCount nodes { id actor { id } ... on AuditEvent { task { id } incident { id } } } } } }";
    let one = statements_for(&server, &token, detail, json!({ "id": "1050" })).await;
    assert!(one <= 8, "case detail ran {one} statements");
    let kinds = "query($first: Int) { cases(first: $first) { nodes { activity(kinds: [COMMENT], first: 2) { totalCount nodes { id } } } } }";
    let few = statements_for(&server, &token, kinds, json!({ "first": 10 })).await;
    let many = statements_for(&server, &token, kinds, json!({ "first": 100 })).await;
    assert_eq!(few, many, "filtered activity pages are batched too");
    assert!(many <= 4, "{many}");

    // Each case's first page of files, with who added them and on which task.
    let writer = analyst("acme");
    for (case, name) in [("1120", "a.png"), ("1119", "b.txt"), ("1119", "c.txt"), ("1060", "d.txt")] {
        let body = crate::attachments::upload(&server, &writer, json!({ "caseId": case }), name, name.as_bytes()).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let files = "query($first: Int) { cases(first: $first) { nodes { attachments(first: 2) { totalCount \
      pageInfo { hasNextPage } nodes { fileName sha256 addedBy { id } task { id } downloads(first: 3) { via } } } } } }";
    let ten = statements_for(&server, &token, files, json!({ "first": 10 })).await;
    let hundred = statements_for(&server, &token, files, json!({ "first": 100 })).await;
    assert_eq!(ten, hundred, "attachments of a page of cases are batched");
    // The page, its ids, counts, adders, and the files' download logs.
    assert!(hundred <= 6, "attachments of 100 cases ran {hundred} statements");

    // Relations and children: the dashboard shows each case's parent progress.
    let relate = "mutation($i: AddCaseRelationInput!) { addCaseRelation(input: $i) { id } }";
    for (case, kind, other) in
        [("1120", "PARENT_OF", "1119"), ("1120", "PARENT_OF", "1118"), ("1119", "BLOCKS", "1060")]
    {
        let input = json!({ "caseId": case, "kind": kind, "relatedCaseId": other });
        server.ok(&writer, relate, json!({ "i": input })).await;
    }
    let related = "query($first: Int) { cases(first: $first) { nodes { childCount closedChildCount mergedInto { id }       relations { kind createdBy { id } case { id title status { name } } } } } }";
    let ten = statements_for(&server, &token, related, json!({ "first": 10 })).await;
    let hundred = statements_for(&server, &token, related, json!({ "first": 100 })).await;
    assert_eq!(ten, hundred, "relations of a page of cases are batched");
    // The page, its ids, children counts, relations, related cases, their statuses, people.
    assert!(hundred <= 8, "relations of 100 cases ran {hundred} statements");

    // Search hits, each with its case, task or comment and their people.
    let search = "query($first: Int) { search(query: \"detection OR found OR blocked OR collect\", first: $first) {
      totalCount
      nodes { case { id title status { name } assignee { displayName } } snippet { text }
              ... on TaskHit { task { id owner { id } } } ... on CommentHit { comment { id actor { id } } } } } }";
    let ten = statements_for(&server, &token, search, json!({ "first": 10 })).await;
    let hundred = statements_for(&server, &token, search, json!({ "first": 100 })).await;
    // Ten hits may all be cases (no task or comment to load): a bound, not equality.
    assert!(ten <= 10 && hundred <= 10, "search pages of 10 and 100 hits ran {ten} and {hundred} statements");
}

both_backends!(a_dashboard_page_costs_the_same_few_statements_for_10_and_100_cases);
