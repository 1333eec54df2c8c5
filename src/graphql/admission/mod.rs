//! Admission: what runs before an operation executes, over HTTP and WebSocket
//! alike. In order, each step cheap enough to refuse before the next costs
//! more:
//!
//! 1. [`lexer`]: token count and bracket nesting, before parsing;
//! 2. parsing, and choosing the operation;
//! 3. [`access`]: the caller may use every root field (`@requiresPermission`);
//! 4. [`cost`]: node, selection, alias, repeat, directive and depth limits;
//! 5. [`rate`]: the caller's cost budget.

pub mod access;
pub mod cost;
pub mod lexer;
pub mod rate;

use async_graphql::registry::Registry;
use async_graphql::{ObjectType, Pos, Request, ServerError, SubscriptionType};

pub use access::{Requirement, Roots};
pub use cost::{Cost, LIMITS, Limits};
pub use rate::{RateLimiter, RateStatus};

use crate::auth::Auth;
use crate::error::{AppError, GqlError};

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
        let operation = access::select_operation(&document, request.operation_name.as_deref())?;
        access::check(&self.registry, &self.roots, &document, operation, auth)?;
        let root_type = match operation.node.ty {
            async_graphql::parser::types::OperationType::Query => &self.roots.query,
            async_graphql::parser::types::OperationType::Mutation => &self.roots.mutation,
            async_graphql::parser::types::OperationType::Subscription => &self.roots.subscription,
        };
        let cost = cost::estimate(&self.registry, root_type, &document, operation, &request.variables, &self.limits)?;
        request.set_parsed_query(document);
        Ok(cost)
    }
}

#[cfg(test)]
mod tests;
