//! `@requiresPermission`: declared once per root field, shown in the SDL, and
//! enforced from that same declaration.
//!
//! The directive is applied with `#[graphql(directive = requires_permission::apply(..))]`,
//! which puts it in the schema registry (and so in the SDL). The executor
//! ([`super::executor`]) reads it back from a registry built from the same root
//! types before an operation executes, so a field cannot show one permission
//! and check another. Checking once per operation, before execution, also
//! rejects a subscription at subscribe time instead of on every event.

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ObjectType, Pos, ServerError, ServerResult, SubscriptionType, TypeDirective, Value};

use crate::auth::{Auth, Permission};
use crate::error::{AppError, GqlError};

/// The SDL declaration: `directive @requiresPermission(permission: Permission!) on FIELD_DEFINITION`.
#[TypeDirective(name = "requiresPermission", location = "FieldDefinition")]
pub fn requires_permission(permission: Permission) {}

/// What a root field asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A valid token (only `me`).
    Authenticated,
    Permission(Permission),
}

/// The requirement of `field` on the root type `root_type`, read from the
/// applied directive. `None` when the field does not exist.
pub fn requirement(registry: &Registry, root_type: &str, field: &str) -> Option<Requirement> {
    let field = registry.types.get(root_type)?.field_by_name(field)?;
    let permission = field.directive_invocations.iter().find(|d| d.name == "requiresPermission").and_then(|d| match d
        .args
        .get("permission")
    {
        Some(Value::Enum(name)) => Permission::from_name(name.as_str()),
        _ => None,
    });
    Some(permission.map_or(Requirement::Authenticated, Requirement::Permission))
}

/// The root types' fields with their directives: the part of the schema
/// registry the check reads.
pub struct RootFields {
    registry: Registry,
    query: String,
    mutation: String,
    subscription: String,
}

impl RootFields {
    /// Registers the root types the way the schema builder does.
    pub fn of<Q: ObjectType, M: ObjectType, S: SubscriptionType>() -> Self {
        let mut registry = Registry::default();
        Q::create_type_info(&mut registry);
        M::create_type_info(&mut registry);
        S::create_type_info(&mut registry);
        let (query, mutation, subscription) = (Q::type_name(), M::type_name(), S::type_name());
        RootFields {
            registry,
            query: query.into_owned(),
            mutation: mutation.into_owned(),
            subscription: subscription.into_owned(),
        }
    }

    /// Checks every root field the selected operation asks for.
    pub fn check(&self, document: &ExecutableDocument, operation_name: Option<&str>, auth: &Auth) -> ServerResult<()> {
        check_document(self, document, operation_name, auth)
    }
}

fn check_document(
    roots: &RootFields,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    auth: &Auth,
) -> ServerResult<()> {
    // An unknown operation is left to the executor, which reports it.
    let operation = match operation_name {
        Some(name) => document.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
        None => document.operations.iter().next(),
    };
    let Some((_, operation)) = operation else {
        return Ok(());
    };
    let root_type = match operation.node.ty {
        OperationType::Query => &roots.query,
        OperationType::Mutation => &roots.mutation,
        OperationType::Subscription => &roots.subscription,
    };
    // Fail closed: without the root type, no field could be checked.
    if !roots.registry.types.contains_key(root_type) {
        return Err(into_server_error(AppError::internal(format!("no root type {root_type}")), operation.pos));
    }
    let mut fields = Vec::new();
    collect_root_fields(document, &operation.node.selection_set.node, &mut fields, 0);
    for (name, pos) in fields {
        // Introspection reveals only the schema, which is public.
        if name.starts_with("__") {
            continue;
        }
        let result = match requirement(&roots.registry, root_type, name) {
            None => Ok(()), // unknown field: validation reports it
            Some(Requirement::Authenticated) => auth.principal().map(|_| ()),
            Some(Requirement::Permission(p)) => auth.require(p).map(|_| ()),
        };
        if let Err(error) = result {
            return Err(into_server_error(error, pos));
        }
    }
    Ok(())
}

/// Root field names, following fragments (bounded: validation rejects cycles later).
fn collect_root_fields<'d>(
    document: &'d ExecutableDocument,
    selection_set: &'d SelectionSet,
    out: &mut Vec<(&'d str, Pos)>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    for selection in &selection_set.items {
        match &selection.node {
            Selection::Field(field) => out.push((field.node.name.node.as_str(), field.pos)),
            Selection::InlineFragment(fragment) => {
                collect_root_fields(document, &fragment.node.selection_set.node, out, depth + 1)
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect_root_fields(document, &fragment.node.selection_set.node, out, depth + 1);
                }
            }
        }
    }
}

fn into_server_error(error: AppError, pos: Pos) -> ServerError {
    async_graphql::Error::from(GqlError::from(error)).into_server_error(pos)
}
