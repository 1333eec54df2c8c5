//! The GraphQL layer: schema building, resolvers (thin: they call the domain),
//! the permission directive, and the executor that checks it and codes errors.

pub mod admission;
mod compiled;
mod cursor;
mod directive;
mod enums;
pub mod errors;
mod executor;
mod loaders;
mod mutation;
mod prefetch;
mod query;
mod scalars;
mod setup;
mod subscription;
mod types;
pub mod upload;

use async_graphql::{Context, Schema};

use crate::auth::{Auth, Capability, Granted, Principal, ReadData};
use crate::db::Db;
use crate::error::{AppError, AppResult};

pub use compiled::{CompiledReads, compiled_answers, response_json};
pub use errors::ensure_code;
pub(crate) use executor::rate_headers;
pub use executor::{CasebookExecutor, OnSubscriptionEnd};
pub use loaders::Loaders;
pub use mutation::Mutation;
pub use query::Query;
pub use setup::{Setup, SetupTracker};
pub use subscription::Subscription;

use crate::events::ActivityBus;

pub type CasebookSchema = Schema<Query, Mutation, Subscription>;

/// Page sizes: the contract's default and maximum.
pub const DEFAULT_PAGE: i32 = 25;
pub const MAX_PAGE: i32 = 100;

/// What resolvers reach beyond the request: the database, the activity
/// bus, and where webhooks may send.
pub struct Services {
    pub db: Db,
    pub bus: ActivityBus,
    pub webhook_targets: crate::domain::webhook::TargetPolicy,
    /// What seals webhooks' signing secrets (`CASEBOOK_SECRET_KEY`), if configured.
    pub webhook_keys: WebhookKeys,
    /// The attachment store, limits and link key.
    pub attachments: crate::domain::attachment::Attachments,
    /// How many matches of a text search `totalCount` counts exactly.
    pub search_count_limit: crate::domain::search::CountLimit,
}

/// The keys that seal webhooks' secrets, as schema data.
#[derive(Clone, Default)]
pub struct WebhookKeys(pub Option<std::sync::Arc<crate::domain::webhook::SealingKeys>>);

/// Builds the schema. The services are absent only for printing the SDL.
pub fn build_schema(services: Option<Services>) -> CasebookSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(16)
        .limit_complexity(5_000)
        .limit_recursive_depth(32)
        .limit_directives(16);
    if let Some(Services { db, bus, webhook_targets, webhook_keys, attachments, search_count_limit }) = services {
        builder = builder.data(db).data(bus).data(webhook_targets).data(webhook_keys).data(attachments);
        builder = builder.data(search_count_limit);
    }
    builder.finish()
}

/// The SDL, exactly as `casebook schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

/// The authenticated caller.
pub(crate) fn principal<'a>(ctx: &Context<'a>) -> AppResult<&'a Principal> {
    ctx.data_opt::<Auth>().unwrap_or(&Auth::Anonymous).principal()
}

/// The proof that the caller holds `C`'s permission. The executor already
/// checked the field's `@requiresPermission`; this is the domain's own guard,
/// so a resolver that lost its directive still cannot read or write.
pub(crate) fn grant<'a, C: Capability>(ctx: &Context<'a>) -> AppResult<Granted<'a, C>> {
    ctx.data_opt::<Auth>().unwrap_or(&Auth::Anonymous).grant()
}

/// The request's loaders, scoped to the caller's tenant; only for a caller
/// who may read it.
pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> AppResult<&'a Loaders> {
    grant::<ReadData>(ctx)?;
    ctx.data_opt::<Loaders>()
        .or_else(|| ctx.data_opt::<std::sync::Arc<Loaders>>().map(AsRef::as_ref))
        .ok_or_else(|| AppError::internal("the request has no loaders"))
}

/// The data a request executes with: who calls, and loaders for their tenant.
pub fn request_data(request: async_graphql::Request, db: &Db, auth: Auth) -> async_graphql::Request {
    let request = match auth.grant::<ReadData>() {
        Ok(reader) => request.data(Loaders::new(db.clone(), &reader)),
        Err(_) => request,
    };
    request.data(auth)
}

pub(crate) fn db<'a>(ctx: &Context<'a>) -> AppResult<&'a Db> {
    ctx.data_opt::<Db>().ok_or_else(|| AppError::internal("the schema has no database"))
}

/// How many matches of a text search `totalCount` counts exactly.
pub(crate) fn search_count_limit(ctx: &Context<'_>) -> crate::domain::search::CountLimit {
    ctx.data_opt().copied().unwrap_or_default()
}

/// Validates `first` against the contract's page limits.
pub(crate) fn page_size(first: Option<i32>) -> AppResult<i64> {
    match first {
        None => Ok(DEFAULT_PAGE.into()),
        Some(n) if (0..=MAX_PAGE).contains(&n) => Ok(n.into()),
        Some(_) => Err(AppError::bad_input("first", format!("must be between 0 and {MAX_PAGE}"))),
    }
}
