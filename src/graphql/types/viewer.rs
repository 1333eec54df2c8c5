use async_graphql::SimpleObject;

use crate::auth::Permission;
use crate::domain::user::User;

/// The caller: who they are, their tenant, and what they may do.
#[derive(SimpleObject)]
pub struct Viewer {
    /// The caller as recorded in the tenant.
    pub user: User,
    /// The tenant every request of this caller sees.
    pub tenant: String,
    /// The permissions the caller's roles grant.
    pub permissions: Vec<Permission>,
}
