//! The checks on their own: the permission check over every way a document
//! can reach a root field, and the limits.

use std::collections::BTreeSet;

use async_graphql::{EmptySubscription, Object, Request, Variables};

use super::*;
use crate::auth::{Permission, Principal};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::ErrorCode;
use crate::graphql::{Mutation, Query, Subscription};

fn caller(permissions: &[Permission]) -> Auth {
    Auth::Authenticated(Principal {
        user_id: "u".into(),
        tenant: "t".into(),
        display_name: None,
        email: None,
        permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
        expires_at: u64::MAX,
    })
}

fn reader() -> Auth {
    caller(&[Permission::SecurityDataRead])
}

fn admin() -> Auth {
    caller(Permission::ALL)
}

fn admission() -> Admission {
    Admission::of::<Query, Mutation, Subscription>(LIMITS)
}

fn admit(auth: &Auth, query: &str) -> Result<Cost, Refusal> {
    admission().admit(&mut Request::new(query), auth)
}

fn admit_named(auth: &Auth, query: &str, operation: &str) -> Result<Cost, Refusal> {
    admission().admit(&mut Request::new(query).operation_name(operation), auth)
}

fn code(result: Result<Cost, Refusal>) -> ErrorCode {
    match result {
        Ok(cost) => panic!("admitted (cost {cost:?})"),
        Err(refusal) => refusal.error.code(),
    }
}

fn message(result: Result<Cost, Refusal>) -> String {
    match result {
        Ok(cost) => panic!("admitted (cost {cost:?})"),
        Err(refusal) => refusal.error.to_string(),
    }
}

const CREATE_STATUS: &str = r#"createStatus(input: { name: "x", category: OPEN }) { id }"#;

#[test]
fn fragments_nested_past_any_depth_are_still_checked() {
    let nested = |depth: usize| {
        format!("mutation {{ {}{CREATE_STATUS}{} }}", "... on Mutation { ".repeat(depth), "} ".repeat(depth))
    };
    for depth in [1, 16, 17, 50, 60] {
        assert_eq!(code(admit(&reader(), &nested(depth))), ErrorCode::Forbidden, "depth {depth}");
    }
    // Deeper than any bracket nesting the lexer lets through: refused before parsing.
    assert_eq!(code(admit(&reader(), &nested(500))), ErrorCode::BadUserInput);
    assert_eq!(code(admit(&admin(), &nested(500))), ErrorCode::BadUserInput);
    let document = format!("mutation {{ {}{CREATE_STATUS}{} }}", "... on Mutation { ".repeat(40), "} ".repeat(40));
    assert!(admit(&admin(), &document).is_ok());
}

#[test]
fn chained_and_repeated_fragment_spreads_are_followed() {
    let chain: String = (0..40).map(|i| format!("fragment F{i} on Mutation {{ ...F{} }}\n", i + 1)).collect();
    let document = format!("mutation {{ ...F0 }}\n{chain}fragment F40 on Mutation {{ {CREATE_STATUS} }}");
    assert_eq!(code(admit(&reader(), &document)), ErrorCode::Forbidden);
    // The same fragment spread twice, and mixed with inline fragments.
    let document = format!(
        "mutation {{ ...A ... on Mutation {{ ...A }} }} fragment A on Mutation {{ ... {{ ...B }} }} \
         fragment B on Mutation {{ {CREATE_STATUS} }}"
    );
    assert_eq!(code(admit(&reader(), &document)), ErrorCode::Forbidden);
}

#[test]
fn cyclic_and_unknown_fragments_are_refused() {
    let cycle = format!(
        "mutation {{ ...A }} fragment A on Mutation {{ ...B {CREATE_STATUS} }} fragment B on Mutation {{ ...A }}"
    );
    assert_eq!(code(admit(&reader(), &cycle)), ErrorCode::Forbidden);
    assert_eq!(code(admit(&admin(), &cycle)), ErrorCode::BadUserInput);
    assert_eq!(code(admit(&admin(), "mutation { ...Missing }")), ErrorCode::BadUserInput);
    assert_eq!(code(admit(&reader(), "query { ...Missing }")), ErrorCode::BadUserInput);
}

#[test]
fn aliases_do_not_hide_a_field() {
    let document = format!("mutation {{ harmless: {CREATE_STATUS} }}");
    assert_eq!(code(admit(&reader(), &document)), ErrorCode::Forbidden);
    assert_eq!(
        code(admit(&reader(), "mutation { me: createCase(input: { title: \"x\" }) { id } }")),
        ErrorCode::Forbidden
    );
}

#[test]
fn the_operation_that_runs_is_the_one_checked() {
    let document = format!("query Read {{ statuses {{ id }} }} mutation Write {{ {CREATE_STATUS} }}");
    assert!(admit_named(&reader(), &document, "Read").is_ok());
    assert_eq!(code(admit_named(&reader(), &document, "Write")), ErrorCode::Forbidden);
    // Without a name, a document with several operations is refused.
    assert_eq!(code(admit(&reader(), &document)), ErrorCode::BadUserInput);
    assert_eq!(code(admit(&admin(), &document)), ErrorCode::BadUserInput);
    assert_eq!(code(admit_named(&admin(), &document, "Missing")), ErrorCode::BadUserInput);
    assert_eq!(code(admit(&admin(), "fragment A on Query { me { tenant } }")), ErrorCode::BadUserInput);
}

#[test]
fn subscriptions_are_checked_at_subscribe_time() {
    let subscription = r#"subscription { caseActivity(caseId: "1000") { id } }"#;
    assert!(admit(&reader(), subscription).is_ok());
    assert_eq!(code(admit(&caller(&[]), subscription)), ErrorCode::Forbidden);
    let hidden = r#"subscription { ... on Subscription { ... { caseActivity(caseId: "1000") { id } } } }"#;
    assert_eq!(code(admit(&caller(&[]), hidden)), ErrorCode::Forbidden);
    assert_eq!(code(admit(&Auth::Anonymous, subscription)), ErrorCode::Unauthenticated);
}

#[test]
fn every_operation_needs_a_valid_token_introspection_included() {
    for document in [
        "{ __typename }",
        "{ __schema { types { name } } }",
        "{ __type(name: \"Case\") { name } }",
        "{ me { tenant } }",
    ] {
        assert_eq!(code(admit(&Auth::Anonymous, document)), ErrorCode::Unauthenticated, "{document}");
        assert_eq!(code(admit(&Auth::Invalid("expired".into()), document)), ErrorCode::Unauthenticated);
        assert!(admit(&caller(&[]), document).is_ok(), "{document}");
    }
    // `me` is the one root field a token without permissions may use.
    assert_eq!(code(admit(&caller(&[]), "{ me { tenant } statuses { id } }")), ErrorCode::Forbidden);
}

#[test]
fn unknown_root_fields_are_refused() {
    assert_eq!(code(admit(&admin(), "{ nothingHere }")), ErrorCode::BadUserInput);
    assert_eq!(code(admit(&admin(), "mutation { ... on Query { statuses { id } } }")), ErrorCode::BadUserInput);
}

/// A schema with a root field that declares nothing and one whose
/// declaration is unreadable: the check refuses both.
struct Careless;

#[Object]
impl Careless {
    /// Needs only a token (the named exception).
    async fn me(&self) -> i32 {
        1
    }
    /// Declares nothing.
    async fn forgotten(&self) -> i32 {
        1
    }
    /// Declared.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn guarded(&self) -> i32 {
        1
    }
}

struct CarelessMutation;

#[Object]
impl CarelessMutation {
    /// Named like the exception, but on the wrong root type.
    async fn me(&self) -> i32 {
        1
    }
}

#[test]
fn a_root_field_without_a_declaration_is_refused() {
    let admission = Admission::of::<Careless, CarelessMutation, EmptySubscription>(LIMITS);
    let run = |auth: &Auth, q: &str| admission.admit(&mut Request::new(q), auth);
    assert!(run(&admin(), "{ me guarded }").is_ok());
    assert_eq!(code(run(&admin(), "{ forgotten }")), ErrorCode::Forbidden);
    assert!(message(run(&admin(), "{ ... on Careless { forgotten } }")).contains("declares no required permission"));
    assert_eq!(code(run(&admin(), "mutation { me }")), ErrorCode::Forbidden);
    assert_eq!(code(run(&caller(&[]), "{ guarded }")), ErrorCode::Forbidden);
}

const DASHBOARD: &str = r#"query Dashboard($after: String) {
  cases(orderBy: { field: UPDATED_AT, direction: DESC }, first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title priority dueOn updatedAt
      status { id name category }
      assignee { id displayName }
      tasks { id title status owner { displayName } }
      incidents { id title severity }
      activity(first: 5) {
        edges { cursor node { __typename createdAt actor { displayName }
          ... on Comment { body }
          ... on AuditEvent { action changes { field oldValue newValue } } } }
      }
    }
  }
}"#;

#[test]
fn the_readme_dashboard_passes_with_room_to_spare() {
    let cost = admit(&reader(), DASHBOARD).expect("the dashboard is admitted");
    assert!(cost.nodes * 2 < LIMITS.nodes, "dashboard nodes {}", cost.nodes);
    // 50 cases, each fetching tasks, incidents and an activity page, plus the queue itself.
    assert_eq!(cost.lists, 1 + 50 * 3);
    assert_eq!(cost.points(), 2);
    let bigger = DASHBOARD.replace("first: 50", "first: 100");
    assert!(admit(&reader(), &bigger).is_ok());
}

#[test]
fn nested_lists_are_refused_with_the_computed_figure() {
    let chain = "{ cases(first: 100) { nodes { tasks { case { tasks { case { tasks { id } } } } } } } }";
    let refused = message(admit(&reader(), chain));
    assert!(refused.starts_with("query: this query could return"), "{refused}");
    assert!(refused.contains("above the limit of 500000"), "{refused}");
    let through_variables =
        "query($n: Int = 100) { cases(first: $n) { nodes { tasks { case { tasks { case { id } } } } } } }";
    assert_eq!(code(admit(&reader(), through_variables)), ErrorCode::BadUserInput);
    let mut small = Request::new(through_variables);
    small.variables = Variables::from_json(serde_json::json!({ "n": 1 }));
    assert!(admission().admit(&mut small, &reader()).is_ok());
}

#[test]
fn aliases_repeats_directives_and_depth_are_capped() {
    let lookups: String = (0..1000).map(|i| format!("c{i}: case(id: \"{i}\") {{ id }} ")).collect();
    assert!(message(admit(&reader(), &format!("{{ {lookups} }}"))).contains("aliases"));
    let repeated = format!("{{ me {{ {} }} }}", "tenant ".repeat(5000));
    assert_eq!(code(admit(&reader(), &repeated)), ErrorCode::BadUserInput);
    let twenty_one = format!("{{ me {{ {} }} }}", "tenant ".repeat(21));
    assert!(message(admit(&reader(), &twenty_one)).contains("`tenant` is selected more than 20 times"));
    let directives = "{ me { tenant @include(if: true) @include(if: true) @include(if: true) @include(if: true) @include(if: true) @include(if: true) } }";
    assert!(message(admit(&reader(), directives)).contains("directives"));
    let cycle = "activity(first: 1) { nodes { ... on AuditEvent { task { case { ";
    let deep = format!("{{ case(id: \"1\") {{ {}id{} }} }}", cycle.repeat(4), "} } } } } ".repeat(4));
    assert!(message(admit(&reader(), &deep)).contains("nest deeper than the limit of 16"));
    let shallow = format!("{{ case(id: \"1\") {{ {}id{} }} }}", cycle.repeat(3), "} } } } } ".repeat(3));
    assert!(admit(&reader(), &shallow).is_ok());
}

#[test]
fn exponential_fragment_expansion_costs_a_bounded_walk() {
    let mut document = String::from("query { ...F0 }\n");
    for i in 0..30 {
        document.push_str(&format!("fragment F{i} on Query {{ ...F{n} ...F{n} }}\n", n = i + 1));
    }
    document.push_str("fragment F30 on Query { __typename }");
    let started = std::time::Instant::now();
    assert_eq!(code(admit(&reader(), &document)), ErrorCode::BadUserInput);
    // 2^30 expansions are never walked: the selection budget stops the walk.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn every_list_of_objects_has_a_known_size() {
    let admission = admission();
    for (type_name, ty) in &admission.registry().types {
        // MergedObject's internal halves; their fields are checked on the root types.
        let Some(fields) = ty.fields() else { continue };
        let roots = admission.roots();
        let root_part = [&roots.query, &roots.mutation, &roots.subscription].into_iter().any(|root| {
            root != type_name
                && admission
                    .registry()
                    .types
                    .get(root.as_str())
                    .is_some_and(|r| fields.keys().all(|k| r.field_by_name(k).is_some()))
        });
        if type_name.contains("MergedObject") || root_part {
            continue;
        }
        for field in fields.values() {
            let inner = async_graphql::registry::MetaTypeName::concrete_typename(&field.ty);
            let leaf = admission.registry().types.get(inner).is_none_or(|t| t.is_leaf());
            let paged = field.args.contains_key("first") || field.args.contains_key("last");
            let connection_list =
                type_name.ends_with("Connection") && ["edges", "nodes"].contains(&field.name.as_str());
            if field.ty.starts_with('[') && !leaf && !paged && !connection_list {
                assert!(cost::list_bound(type_name, &field.name).is_some(), "{type_name}.{} has no bound", field.name);
            }
        }
    }
}

#[test]
fn every_operation_in_the_readme_and_the_docs_is_admitted() {
    let readme = [
        include_str!("../../../README.md"),
        include_str!("../../../docs/api.md"),
        include_str!("../../../docs/automation.md"),
        include_str!("../../../docs/clients.md"),
        include_str!("../../../docs/live.md"),
    ]
    .concat();
    let mut operations = Vec::new();
    for block in readme.split("```graphql").skip(1).filter_map(|rest| rest.split("```").next()) {
        // One document per operation: blocks list several, one per line start.
        let mut current = String::new();
        for line in block.lines() {
            let starts = ["query", "mutation", "subscription", "{"].iter().any(|k| line.starts_with(k));
            if starts && !current.trim().is_empty() {
                operations.push(std::mem::take(&mut current));
            }
            current.push_str(line);
            current.push('\n');
        }
        if !current.trim().is_empty() {
            operations.push(current);
        }
    }
    assert!(operations.len() >= 15, "found {} operations", operations.len());
    for operation in operations {
        if let Err(refusal) = admit(&admin(), &operation) {
            panic!("{operation}\nrefused: {}", refusal.error);
        }
    }
}
