//! The schema as clients and codegen see it: the checked-in SDL, its
//! descriptions, and `@requiresPermission` on every root field, enforced exactly.

use crate::common::*;
use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{ServiceDocument, TypeKind, TypeSystemDefinition};
use serde_json::json;

fn document() -> ServiceDocument {
    parse_schema(casebook::graphql::sdl()).expect("the SDL parses")
}

#[test]
fn checked_in_schema_matches_the_code() {
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the top level");
    let generated = casebook::graphql::sdl();
    assert!(
        checked_in == generated,
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn every_type_field_and_argument_is_described() {
    let mut missing = Vec::new();
    for definition in document().definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = &ty.node;
        let name = ty.name.node.as_str();
        if ty.description.is_none() {
            missing.push(name.to_owned());
        }
        match &ty.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    if field.node.description.is_none() {
                        missing.push(format!("{name}.{}", field.node.name.node));
                    }
                    for arg in &field.node.arguments {
                        if arg.node.description.is_none() {
                            missing.push(format!("{name}.{}({})", field.node.name.node, arg.node.name.node));
                        }
                    }
                }
            }
            TypeKind::Interface(interface) => {
                for field in &interface.fields {
                    if field.node.description.is_none() {
                        missing.push(format!("{name}.{}", field.node.name.node));
                    }
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    if field.node.description.is_none() {
                        missing.push(format!("{name}.{}", field.node.name.node));
                    }
                }
            }
            TypeKind::Enum(e) => {
                for value in &e.values {
                    if value.node.description.is_none() {
                        missing.push(format!("{name}.{}", value.node.value.node));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(missing.is_empty(), "undocumented in the schema: {missing:#?}");
}

/// Each root field with the permission its SDL declaration names (`None`: only `me`).
fn root_fields() -> Vec<(&'static str, String, Option<String>)> {
    let mut fields = Vec::new();
    for definition in document().definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let keyword = match ty.node.name.node.as_str() {
            "Query" => "query",
            "Mutation" => "mutation",
            "Subscription" => "subscription",
            _ => continue,
        };
        let TypeKind::Object(object) = &ty.node.kind else {
            continue;
        };
        for field in &object.fields {
            let permission = field
                .node
                .directives
                .iter()
                .find(|d| d.node.name.node == "requiresPermission")
                .and_then(|d| d.node.get_argument("permission").map(|v| v.node.to_string()));
            fields.push((keyword, field.node.name.node.to_string(), permission));
        }
    }
    fields
}

#[test]
fn every_root_field_but_me_declares_its_permission() {
    let fields = root_fields();
    assert!(fields.iter().any(|(k, _, _)| *k == "mutation"));
    for (keyword, name, permission) in &fields {
        match name.as_str() {
            "me" => assert_eq!(permission, &None, "me needs only a valid token"),
            _ => assert!(permission.is_some(), "{keyword} field {name} lacks @requiresPermission"),
        }
    }
    let sdl = casebook::graphql::sdl();
    assert!(sdl.contains("directive @requiresPermission(permission: Permission!) on FIELD_DEFINITION"));
}

/// The weakest role holding `permission`, and a token holding everything but it.
fn tokens_around(permission: &str) -> (String, String) {
    match permission {
        "SECURITY_DATA_READ" => (token("r", "acme", &["reader"]), token("n", "acme", &[])),
        "ALERTS_MANAGE" => (token("a", "acme", &["analyst"]), token("r", "acme", &["reader"])),
        "CORE_SECURITY_SETTINGS_MANAGE" => (token("d", "acme", &["admin"]), token("a", "acme", &["analyst"])),
        "INCIDENTS_INGEST" => (token("a", "acme", &["analyst"]), token("r", "acme", &["reader"])),
        other => panic!("unknown permission {other}"),
    }
}

/// For every root field, the permission the SDL shows is exactly the one
/// enforced: a token lacking it is FORBIDDEN, the weakest role holding it is not.
/// (The check runs before validation, so selecting the bare field is enough.)
async fn sdl_permission_is_the_enforced_permission(backend: Backend) {
    let server = TestServer::start(backend).await;
    for (keyword, name, permission) in root_fields() {
        let operation = format!("{keyword} {{ {name} {{ __typename }} }}");
        let Some(permission) = permission else {
            assert_code(&server.gql(None, &operation, json!({})).await, "UNAUTHENTICATED");
            continue;
        };
        let (holder, lacker) = tokens_around(&permission);
        let denied = server.gql(Some(&lacker), &operation, json!({})).await;
        assert_code(&denied, "FORBIDDEN");
        assert!(denied["errors"][0]["message"].as_str().unwrap().contains(&permission), "{denied}");
        let allowed = server.gql(Some(&holder), &operation, json!({})).await;
        let codes = error_codes(&allowed);
        assert!(
            !codes.iter().any(|c| c == "FORBIDDEN" || c == "UNAUTHENTICATED"),
            "{name} refused a holder of {permission}: {allowed}"
        );
        assert_code(&server.gql(None, &operation, json!({})).await, "UNAUTHENTICATED");
    }
}

both_backends!(sdl_permission_is_the_enforced_permission);
