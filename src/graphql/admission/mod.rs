//! Admission: what runs before an operation executes, over HTTP and WebSocket
//! alike. In order, each step cheap enough to refuse before the next costs
//! more:
//!
//! 1. [`lexer`]: token count and bracket nesting, before parsing;
//! 2. parsing, and choosing the operation;
//! 3. [`access`]: the caller may use every root field (`@requiresPermission`);
//! 4. [`text`]: every text within its length bound;
//! 5. [`cost`]: node, selection, alias, repeat, directive and depth limits;
//! 6. [`rate`]: the caller's cost budget.

pub mod access;
pub mod cost;
pub mod lexer;
pub mod rate;
pub mod text;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::registry::Registry;
use async_graphql::{ObjectType, Pos, Request, ServerError, SubscriptionType};

pub use access::{Requirement, Roots};
pub use cost::{Cost, LIMITS, Limits};
pub use rate::{RateLimiter, RateStatus};

use crate::auth::Auth;
use crate::error::AppError;
use crate::graphql::errors::GqlError;

/// The type of the operation a request runs (for metrics), set once admitted.
#[derive(Debug, Clone, Copy)]
pub struct OperationKind(pub async_graphql::parser::types::OperationType);

impl OperationKind {
    pub fn label(self) -> &'static str {
        match self.0 {
            async_graphql::parser::types::OperationType::Query => "query",
            async_graphql::parser::types::OperationType::Mutation => "mutation",
            async_graphql::parser::types::OperationType::Subscription => "subscription",
        }
    }
}

/// Why an operation was refused, and where in the document.
#[derive(Debug)]
pub struct Refusal {
    pub error: AppError,
    pub pos: Option<Pos>,
}

impl Refusal {
    pub fn new(error: AppError) -> Self {
        Refusal { error, pos: None }
    }

    pub fn at(error: AppError, pos: Pos) -> Self {
        Refusal { error, pos: Some(pos) }
    }

    pub fn into_server_error(self) -> ServerError {
        let error = async_graphql::Error::from(GqlError::from(self.error));
        let mut server_error = ServerError::new(error.message, self.pos);
        server_error.extensions = error.extensions;
        server_error
    }
}

/// The schema's types with their directives, and the limits: everything the
/// checks read.
pub struct Admission {
    registry: Registry,
    roots: Roots,
    limits: Limits,
}

impl Admission {
    /// Registers the root types (and every type they reach) the way the schema builder does.
    pub fn of<Q: ObjectType, M: ObjectType, S: SubscriptionType>(limits: Limits) -> Self {
        let mut registry = Registry::default();
        Q::create_type_info(&mut registry);
        M::create_type_info(&mut registry);
        S::create_type_info(&mut registry);
        let roots = Roots {
            query: Q::type_name().into_owned(),
            mutation: M::type_name().into_owned(),
            subscription: S::type_name().into_owned(),
        };
        Admission { registry, roots, limits }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// Checks the request and returns what it costs; parses it once (the
    /// schema reuses the parsed document).
    pub fn admit(&self, request: &mut Request, auth: &Auth) -> Result<Cost, Refusal> {
        lexer::check(&request.query).map_err(Refusal::new)?;
        let document = async_graphql::parser::parse_query(&request.query).map_err(|e| {
            let error = ServerError::from(e);
            let pos = error.locations.first().copied();
            Refusal { error: AppError::bad_input("query", error.message), pos }
        })?;
        // Who asks comes first: a caller without a valid token learns nothing
        // of the schema, not even which operations a document names.
        auth.principal().map_err(Refusal::new)?;
        refuse_nul(&document, request)?;
        let operation = access::select_operation(&document, request.operation_name.as_deref())?;
        text::check(&document, operation, &request.variables)?;
        access::check(&self.registry, &self.roots, &document, operation, auth)?;
        let root_type = match operation.node.ty {
            async_graphql::parser::types::OperationType::Query => &self.roots.query,
            async_graphql::parser::types::OperationType::Mutation => &self.roots.mutation,
            async_graphql::parser::types::OperationType::Subscription => &self.roots.subscription,
        };
        let cost = cost::estimate(&self.registry, root_type, &document, operation, &request.variables, &self.limits)?;
        request.data.insert(OperationKind(operation.node.ty));
        // A document's only operation is named by the document: logs and metrics use that name.
        if request.operation_name.is_none()
            && let async_graphql::parser::types::DocumentOperations::Multiple(named) = &document.operations
            && named.len() == 1
        {
            request.operation_name = named.keys().next().map(ToString::to_string);
        }
        request.set_parsed_query(document);
        Ok(cost)
    }
}

/// No string in a request may hold NUL (PostgreSQL cannot store it and SQLite
/// would keep it silently): refused here once, for document literals and
/// variables alike, naming the input field (or argument, or variable) that
/// holds it. The domain's text rules say the same for the fields they own.
fn refuse_nul(document: &ExecutableDocument, request: &Request) -> Result<(), Refusal> {
    let refuse = |field: &str| Refusal::new(AppError::bad_input(field, "must not contain NUL characters"));
    if request.operation_name.as_deref().is_some_and(|n| n.contains('\0')) {
        return Err(refuse("operationName"));
    }
    for (name, value) in request.variables.iter() {
        if let Some(field) = nul::in_const(name.as_str(), value) {
            return Err(refuse(field));
        }
    }
    nul::in_document(document).map_or(Ok(()), |field| Err(refuse(&field)))
}

mod nul {
    //! Where a NUL hides in a request: the innermost name that holds it.

    use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
    use async_graphql::{Positioned, Value as ConstValue};
    use async_graphql_value::Value;

    pub fn in_const<'v>(name: &'v str, value: &'v ConstValue) -> Option<&'v str> {
        match value {
            ConstValue::String(s) => s.contains('\0').then_some(name),
            ConstValue::List(items) => items.iter().find_map(|item| in_const(name, item)),
            ConstValue::Object(fields) => fields
                .iter()
                .find_map(|(key, item)| if key.contains('\0') { Some(name) } else { in_const(key.as_str(), item) }),
            _ => None,
        }
    }

    fn in_arguments(arguments: &[(Positioned<async_graphql::Name>, Positioned<Value>)]) -> Option<String> {
        arguments.iter().find_map(|(name, value)| {
            // Variables stand in as null: their values are checked on their own.
            let value = value.node.clone().into_const_with(|_| Ok::<_, ()>(ConstValue::Null)).ok()?;
            in_const(name.node.as_str(), &value).map(str::to_owned)
        })
    }

    fn in_selections(set: &SelectionSet) -> Option<String> {
        set.items.iter().find_map(|selection| match &selection.node {
            Selection::Field(field) => in_arguments(&field.node.arguments)
                .or_else(|| field.node.directives.iter().find_map(|d| in_arguments(&d.node.arguments)))
                .or_else(|| in_selections(&field.node.selection_set.node)),
            Selection::InlineFragment(fragment) => fragment
                .node
                .directives
                .iter()
                .find_map(|d| in_arguments(&d.node.arguments))
                .or_else(|| in_selections(&fragment.node.selection_set.node)),
            Selection::FragmentSpread(spread) => {
                spread.node.directives.iter().find_map(|d| in_arguments(&d.node.arguments))
            }
        })
    }

    pub fn in_document(document: &ExecutableDocument) -> Option<String> {
        let operations = document.operations.iter().find_map(|(_, operation)| {
            let defaults = operation.node.variable_definitions.iter().find_map(|definition| {
                let name = definition.node.name.node.as_str();
                definition.node.default_value.as_ref().and_then(|v| in_const(name, &v.node)).map(str::to_owned)
            });
            defaults.or_else(|| in_selections(&operation.node.selection_set.node))
        });
        operations.or_else(|| document.fragments.values().find_map(|f| in_selections(&f.node.selection_set.node)))
    }
}

#[cfg(test)]
mod tests;
