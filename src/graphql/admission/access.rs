//! Who may run an operation: every root field it selects is checked against
//! the `@requiresPermission` it declares, before anything executes.
//!
//! The check fails closed. Whatever it cannot see or classify refuses the
//! operation: an unknown or ambiguous operation, a fragment it cannot resolve,
//! a root field that is unknown, declares no requirement or declares one it
//! cannot read. Fragments are followed with a visited set, however deep they
//! nest. Every operation needs a valid token, introspection included.

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{Pos, Positioned, Value};

use super::Refusal;
use crate::auth::{Auth, Permission};
use crate::error::AppError;

/// The one place a root field may go without `@requiresPermission`: these
/// need only a valid token.
const TOKEN_ONLY: [(OperationType, &str); 1] = [(OperationType::Query, "me")];

/// Meta fields every authenticated caller may select at the root.
const META_FIELDS: [&str; 3] = ["__typename", "__schema", "__type"];

/// What a root field asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A valid token.
    Authenticated,
    Permission(Permission),
}

/// The root types' names in the registry.
pub struct Roots {
    pub query: String,
    pub mutation: String,
    pub subscription: String,
}

impl Roots {
    fn name(&self, ty: OperationType) -> &str {
        match ty {
            OperationType::Query => &self.query,
            OperationType::Mutation => &self.mutation,
            OperationType::Subscription => &self.subscription,
        }
    }
}

/// The operation a request runs: the one named, or the only one.
pub fn select_operation<'d>(
    document: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Result<&'d Positioned<OperationDefinition>, Refusal> {
    let mut operations = document.operations.iter();
    match operation_name {
        Some(wanted) => {
            operations.find(|(name, _)| name.is_some_and(|n| n.as_str() == wanted)).map(|(_, op)| op).ok_or_else(|| {
                // Quoted in part: the name is the caller's, of any length.
                let shown: String = wanted.chars().take(100).collect();
                let more = if shown.len() < wanted.len() { "…" } else { "" };
                Refusal::new(AppError::bad_input("operationName", format!("no operation named `{shown}{more}`")))
            })
        }
        None => {
            let first = operations.next();
            match (first, operations.next()) {
                (Some((_, op)), None) => Ok(op),
                (None, _) => Err(Refusal::new(AppError::bad_input("query", "the document has no operation"))),
                (Some(_), Some(_)) => Err(Refusal::new(AppError::bad_input(
                    "operationName",
                    "the document has several operations: name the one to run",
                ))),
            }
        }
    }
}

/// Checks that `auth` may run every root field `operation` selects.
pub fn check(
    registry: &Registry,
    roots: &Roots,
    document: &ExecutableDocument,
    operation: &Positioned<OperationDefinition>,
    auth: &Auth,
) -> Result<(), Refusal> {
    let principal = auth.principal().map_err(|e| Refusal::at(e, operation.pos))?;
    let ty = operation.node.ty;
    for (field, pos) in root_fields(document, &operation.node.selection_set.node)? {
        let requirement = requirement(registry, roots, ty, field).map_err(|e| Refusal::at(e, pos))?;
        if let Requirement::Permission(permission) = requirement
            && !principal.has(permission)
        {
            return Err(Refusal::at(AppError::Forbidden(permission.as_str()), pos));
        }
    }
    Ok(())
}

/// What the root field `field` of the operation type `ty` requires, read from
/// its applied directive.
pub fn requirement(
    registry: &Registry,
    roots: &Roots,
    ty: OperationType,
    field: &str,
) -> Result<Requirement, AppError> {
    if META_FIELDS.contains(&field) {
        return Ok(Requirement::Authenticated);
    }
    let root = roots.name(ty);
    let root_type = registry.types.get(root).ok_or_else(|| AppError::internal(format!("no root type {root}")))?;
    let meta = root_type.field_by_name(field).ok_or_else(|| {
        let known = root_type.fields().map(|f| f.keys().map(String::as_str).collect()).unwrap_or_default();
        AppError::bad_input("query", format!("unknown field `{field}` on type `{root}`{}", suggestion(field, known)))
    })?;
    let mut declared = meta.directive_invocations.iter().filter(|d| d.name == "requiresPermission");
    match (declared.next(), declared.next()) {
        (Some(directive), None) => match directive.args.get("permission") {
            Some(Value::Enum(name)) => Permission::from_name(name.as_str())
                .map(Requirement::Permission)
                .ok_or_else(|| AppError::Undeclared(format!("`{field}` requires an unknown permission `{name}`"))),
            _ => Err(AppError::Undeclared(format!("`{field}` has an unreadable @requiresPermission"))),
        },
        (None, _) if TOKEN_ONLY.contains(&(ty, field)) => Ok(Requirement::Authenticated),
        (None, _) => Err(AppError::Undeclared(format!("`{field}` declares no required permission"))),
        (Some(_), Some(_)) => Err(AppError::Undeclared(format!("`{field}` declares more than one permission"))),
    }
}

/// "Did you mean ...?" for a misspelt field (only callers with a token get
/// this far, so the schema is theirs to see).
fn suggestion(wanted: &str, known: Vec<&str>) -> String {
    let mut close: Vec<(usize, &str)> = known
        .into_iter()
        .map(|name| (strsim::levenshtein(wanted, name), name))
        .filter(|&(distance, name)| distance <= (name.len().max(wanted.len()) / 3).max(1))
        .collect();
    close.sort();
    let names: Vec<String> = close.iter().take(3).map(|(_, name)| format!("\"{name}\"")).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => format!(". Did you mean {one}?"),
        [rest @ .., last] => format!(". Did you mean {} or {last}?", rest.join(", ")),
    }
}

/// The root fields a selection set selects, through any nesting of inline
/// fragments and fragment spreads (each named fragment is expanded once).
fn root_fields<'d>(
    document: &'d ExecutableDocument,
    selection_set: &'d SelectionSet,
) -> Result<Vec<(&'d str, Pos)>, Refusal> {
    let mut fields = Vec::new();
    let mut visited = HashSet::new();
    let mut pending = vec![selection_set];
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => fields.push((field.node.name.node.as_str(), field.pos)),
                Selection::InlineFragment(fragment) => pending.push(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if visited.insert(name) {
                        let fragment = document.fragments.get(name).ok_or_else(|| {
                            Refusal::at(AppError::bad_input("query", format!("unknown fragment `{name}`")), spread.pos)
                        })?;
                        pending.push(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
    Ok(fields)
}
