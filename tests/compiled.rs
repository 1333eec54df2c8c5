//! The compiled read path (`src/graphql/compiled.rs`) against the generic
//! resolvers: two servers on one database, one of them generic only, answer
//! the same random selections over the hot types (fields, aliases, repeated
//! keys, named and inline fragments, `__typename`, arguments, directives,
//! bad arguments, relations the compiled path leaves to the generic one), and
//! their answers must be identical, errors and nulls included (key order
//! aside: see below).
//!
//! Bounded for CI (`CASEBOOK_DIFF_CASES`, default 150 per backend, fixed
//! seed; `CASEBOOK_FUZZ_SEED` picks another).

use std::sync::Arc;

use crate::common::*;
use casebook::demo::{DemoSize, seed};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// The fields of each type a selection draws from; relations name their type.
const CASE: &[&str] = &[
    "id",
    "title",
    "description",
    "priority",
    "dueOn",
    "createdAt",
    "updatedAt",
    "version",
    "status:Status",
    "assignee:User",
    "createdBy:User",
    "updatedBy:User",
    "tasks:Task",
    "incidents:Incident",
    "activity:ActivityConnection",
];
const STATUS: &[&str] = &["id", "name", "category", "position", "isDefault", "archived", "createdAt", "updatedAt"];
const USER: &[&str] = &["id", "displayName", "email"];
const TASK: &[&str] = &[
    "id",
    "title",
    "description",
    "status",
    "priority",
    "dueOn",
    "closingNotes",
    "createdAt",
    "updatedAt",
    "owner:User",
    "createdBy:User",
    "updatedBy:User",
    "case:Case",
];
const INCIDENT: &[&str] = &["id", "externalId", "title", "severity", "status", "createdAt", "updatedAt", "cases:Case"];
const CONNECTION: &[&str] = &["totalCount", "nodes:ActivityEvent", "edges:ActivityEdge", "pageInfo:PageInfo"];
const EDGE: &[&str] = &["cursor", "node:ActivityEvent"];
const PAGE_INFO: &[&str] = &["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"];
const ENTRY: &[&str] = &["id", "createdAt", "actor:User", "case:Case"];
const COMMENT: &[&str] = &["body"];
const AUDIT: &[&str] = &["action", "changes:FieldChange", "task:Task", "incident:Incident"];
const CHANGE: &[&str] = &["field", "oldValue", "newValue"];

struct Gen {
    rng: StdRng,
    fragments: Vec<String>,
}

impl Gen {
    fn chance(&mut self, percent: u32) -> bool {
        self.rng.random_range(0..100) < percent
    }

    fn fields_of(ty: &str) -> &'static [&'static str] {
        match ty {
            "Case" => CASE,
            "Status" => STATUS,
            "User" => USER,
            "Task" => TASK,
            "Incident" => INCIDENT,
            "ActivityConnection" => CONNECTION,
            "ActivityEdge" => EDGE,
            "PageInfo" => PAGE_INFO,
            "ActivityEvent" => ENTRY,
            "Comment" => COMMENT,
            "AuditEvent" => AUDIT,
            _ => CHANGE,
        }
    }

    /// A selection set on `ty`, `depth` levels of relations at most.
    fn selection(&mut self, ty: &str, depth: u32) -> String {
        let mut items = Vec::new();
        for _ in 0..self.rng.random_range(1..=5) {
            items.push(self.item(ty, depth));
        }
        if ty == "ActivityEvent" {
            // Type-specific fields, inline or as named fragments.
            for concrete in ["Comment", "AuditEvent"] {
                if self.chance(70) {
                    let inner = self.item(concrete, depth);
                    items.push(self.fragment(concrete, inner));
                }
            }
        }
        if self.chance(15) {
            items.push("__typename".to_owned());
        }
        format!("{{ {} }}", items.join(" "))
    }

    fn item(&mut self, ty: &str, depth: u32) -> String {
        let field = *Self::fields_of(ty).choose(&mut self.rng).unwrap();
        let mut text = match field.split_once(':') {
            None => field.to_owned(),
            Some(_) if depth == 0 => {
                // Too deep for a relation: a scalar of the type instead.
                let scalar = Self::fields_of(ty).iter().find(|f| !f.contains(':')).copied().unwrap_or("__typename");
                scalar.to_owned()
            }
            Some((name, of)) if name == "activity" => {
                // One key per distinct arguments: the same key with other
                // arguments is not valid GraphQL.
                let arguments = self.activity_arguments();
                let key: String = arguments.chars().filter(char::is_ascii_alphanumeric).collect();
                format!("log{key}: {name}{arguments} {}", self.selection(of, depth - 1))
            }
            Some((name, of)) => format!("{name} {}", self.selection(of, depth - 1)),
        };
        if self.chance(15) && !text.starts_with("log") {
            // An alias of this field only (a key shared with another field is
            // not valid GraphQL); picking the field twice repeats the key.
            let name = text.split([' ', '(']).next().unwrap_or("x").to_owned();
            text = format!("the_{name}: {text}");
        }
        if self.chance(4) {
            // Directives that keep the field: an object whose every field is
            // skipped, merged with another selection of it, is answered in
            // completion order by async-graphql, so not comparable.
            let directive = ["@include(if: true)", "@skip(if: false)"].choose(&mut self.rng).unwrap();
            text = text.replacen(' ', &format!(" {directive} "), 1);
            if !text.contains(directive) {
                text = format!("{text} {directive}");
            }
        }
        if self.chance(12) {
            return self.fragment(ty, text);
        }
        text
    }

    fn activity_arguments(&mut self) -> String {
        let first = [None, Some("0"), Some("1"), Some("3"), Some("5"), Some("100"), Some("101"), Some("$first")];
        let mut arguments = Vec::new();
        if let Some(first) = first.choose(&mut self.rng).unwrap() {
            arguments.push(format!("first: {first}"));
        }
        if self.chance(10) {
            arguments.push(
                ["kinds: [COMMENT]", "kinds: []", "kinds: [AUDIT, COMMENT]"].choose(&mut self.rng).unwrap().to_string(),
            );
        }
        if self.chance(5) {
            arguments.push("after: \"bm90IGEgY3Vyc29y\"".to_owned());
        }
        if arguments.is_empty() { String::new() } else { format!("({})", arguments.join(", ")) }
    }

    /// `text` inside an inline fragment or a named one on `ty`.
    fn fragment(&mut self, ty: &str, text: String) -> String {
        if self.chance(50) {
            let condition = if self.chance(80) { format!("on {ty} ") } else { String::new() };
            format!("... {condition}{{ {text} }}")
        } else {
            let name = format!("F{}", self.fragments.len());
            self.fragments.push(format!("fragment {name} on {ty} {{ {text} }}"));
            format!("...{name}")
        }
    }

    fn document(&mut self) -> String {
        self.fragments.clear();
        let first = self.rng.random_range(0..=30);
        let body = self.selection("Case", 3);
        let nodes = if self.chance(80) { format!("nodes {body}") } else { format!("edges {{ cursor node {body} }}") };
        let order = ["ID", "UPDATED_AT", "PRIORITY"].choose(&mut self.rng).unwrap();
        let fragments = self.fragments.join(" ");
        // Declared only where used: unused ones are errors, listed in no fixed order.
        let used = |name: &str| nodes.contains(name) || fragments.contains(name);
        let mut declared = Vec::new();
        if used("$first") {
            declared.push("$first: Int");
        }
        let declared = if declared.is_empty() { String::new() } else { format!("({})", declared.join(", ")) };
        format!(
            "query{declared} {{ cases(first: {first}, orderBy: {{ field: {order}, direction: DESC }}) {{ totalCount {nodes} }} }} {fragments}"
        )
    }
}

async fn raw(server: &TestServer, token: &str, query: &str, variables: &serde_json::Value) -> String {
    let response = server
        .client
        .post(server.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

async fn the_compiled_path_answers_exactly_as_the_generic_resolvers(backend: Backend) {
    let cases: u32 = std::env::var("CASEBOOK_DIFF_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(150);
    let seed_value: u64 = std::env::var("CASEBOOK_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xD1FF);
    let compiled = TestServer::start_with(backend, |s| s.rate_limit_per_minute = 0).await;
    let database = Arc::clone(&compiled.database);
    let generic = TestServer::start_adjusted(backend, database, |s| {
        s.rate_limit_per_minute = 0;
        s.compiled_reads = false;
    })
    .await;
    // The demo's mix: cases with and without assignee, tasks, incidents, comments.
    seed(compiled.state.db(), "acme", &DemoSize { cases: 40, fixed: None }, |_| {}).await.unwrap();
    let token = reader("acme");

    let mut generator = Gen { rng: StdRng::seed_from_u64(seed_value), fragments: Vec::new() };
    let mut answered = 0;
    let compiled_before = casebook::graphql::compiled_answers();
    for n in 0..cases {
        let query = generator.document();
        let first = [2, 5, 200][n as usize % 3];
        let variables = json!({ "first": first });
        let expected = raw(&generic, &token, &query, &variables).await;
        let actual = raw(&compiled, &token, &query, &variables).await;
        // Compared as JSON values: everything must agree except the order of
        // an object's keys, which the generic resolvers do not fix (async-graphql
        // 7.2 inserts each field as its future completes; the compiled path
        // keeps the selection's order, as the GraphQL spec asks).
        // Errors likewise come in completion order: compared as a set.
        let parse = |body: &str| {
            let mut body = serde_json::from_str::<serde_json::Value>(body).unwrap();
            without_request_ids(&mut body);
            if let Some(errors) = body.get_mut("errors").and_then(|e| e.as_array_mut()) {
                errors.sort_by_key(|e| e.to_string());
            }
            body
        };
        assert_eq!(parse(&actual), parse(&expected), "case {n} (CASEBOOK_FUZZ_SEED={seed_value}): {query} {variables}");
        answered += usize::from(!expected.contains("\"errors\""));
    }
    // Most random selections are valid: the comparison is mostly over data.
    assert!(answered * 2 > cases as usize, "only {answered} of {cases} answered without errors");
    // And most of them went through the compiled path (this process-wide count
    // may include the other backend's run: it can only make this looser).
    let compiled_answers = casebook::graphql::compiled_answers() - compiled_before;
    eprintln!("{cases} selections: {answered} without errors, {compiled_answers} lists compiled");
    assert!(compiled_answers * 3 > u64::from(cases), "the compiled path answered only {compiled_answers} of {cases}");
}

both_backends!(the_compiled_path_answers_exactly_as_the_generic_resolvers);
