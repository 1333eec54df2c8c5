use async_graphql::{ID, Object};

use crate::domain::user::User;

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
