//! Query root, merged from one object per entity.

mod case;
mod incident;
mod me;
mod rate_limit;
mod search;
mod status;
mod task;
mod user;

use async_graphql::MergedObject;

/// Read the tenant's data.
#[derive(MergedObject, Default)]
pub struct Query(
    me::MeQuery,
    case::CaseQuery,
    task::TaskQuery,
    incident::IncidentQuery,
    status::StatusQuery,
    user::UserQuery,
    search::SearchQuery,
    rate_limit::RateLimitQuery,
);
