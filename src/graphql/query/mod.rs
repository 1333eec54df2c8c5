//! Query root, merged from one object per entity.

mod me;
mod status;
mod user;

use async_graphql::MergedObject;

/// Read the tenant's data.
#[derive(MergedObject, Default)]
pub struct Query(me::MeQuery, status::StatusQuery, user::UserQuery);
