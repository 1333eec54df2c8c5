//! Every operation, over HTTP or WebSocket, runs through [`CasebookExecutor`]:
//! it checks `@requiresPermission` once, before execution, and gives every
//! error a code.
//!
//! These are not async-graphql extensions on purpose: as soon as a schema has
//! one extension, async-graphql wraps the resolution of every field of every
//! response in extension hooks (boxed futures and a registry lookup per
//! field), which made a nested dashboard page far slower.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::futures_util::stream::{self, BoxStream};
use async_graphql::{Data, Executor, Request, Response, ServerError};
use futures_util::StreamExt;

use super::directive::RootFields;
use super::errors::with_codes;
use super::{CasebookSchema, Mutation, Query, Subscription};
use crate::auth::Auth;

#[derive(Clone)]
pub struct CasebookExecutor {
    schema: CasebookSchema,
    roots: Arc<RootFields>,
}

impl CasebookExecutor {
    pub fn new(schema: CasebookSchema) -> Self {
        CasebookExecutor { schema, roots: Arc::new(RootFields::of::<Query, Mutation, Subscription>()) }
    }

    /// Parses the request (the schema reuses the parsed document) and checks
    /// the caller may use every root field the operation selects.
    fn admit(&self, request: &mut Request, session: Option<&Data>) -> Result<(), Vec<ServerError>> {
        let auth = auth_in(&request.data).or_else(|| session.and_then(auth_in)).cloned().unwrap_or(Auth::Anonymous);
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().map_err(|e| vec![e])?;
        self.roots.check(document, operation_name.as_deref(), &auth).map_err(|e| vec![e])
    }
}

fn auth_in(data: &Data) -> Option<&Auth> {
    data.get(&TypeId::of::<Auth>()).and_then(|d| d.downcast_ref::<Auth>())
}

impl Executor for CasebookExecutor {
    async fn execute(&self, mut request: Request) -> Response {
        if let Err(errors) = self.admit(&mut request, None) {
            return with_codes(Response::from_errors(errors));
        }
        with_codes(self.schema.execute(request).await)
    }

    fn execute_stream(&self, mut request: Request, session: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        if let Err(errors) = self.admit(&mut request, session.as_deref()) {
            return stream::once(async move { with_codes(Response::from_errors(errors)) }).boxed();
        }
        self.schema.execute_stream_with_session_data(request, session.unwrap_or_default()).map(with_codes).boxed()
    }
}
