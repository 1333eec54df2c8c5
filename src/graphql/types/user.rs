use async_graphql::{Context, ID, Object};

use crate::domain::user::User;
use crate::error::AppError;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;

/// A person of the tenant: recorded on their first call, or by an admin.
#[Object]
impl User {
    /// The identity provider's subject (`sub`).
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// The name to show, when known.
    async fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }
    /// Email address, when known.
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

/// A user the row names; present by the foreign keys.
pub(crate) async fn known_user(ctx: &Context<'_>, id: &str) -> GqlResult<User> {
    let user = loaders(ctx)?.users.load_one(id.to_owned()).await?;
    Ok(user.ok_or_else(|| AppError::internal(format!("user {id} is missing")))?)
}
