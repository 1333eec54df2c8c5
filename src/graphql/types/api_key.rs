use async_graphql::{Context, ID, Object, SimpleObject};

use crate::auth::Permission;
use crate::domain::api_key::ApiKey;
use crate::domain::user::User;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::types::user::known_user;

/// A service account a connector authenticates as (`Authorization: Bearer
/// cbk_...`). It acts as its own principal: the audit names it as the user
/// `apikey:<id>`, and it is rate-limited like a person.
#[Object]
impl ApiKey {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// What the key is for, as its creator named it.
    async fn name(&self) -> &str {
        &self.name
    }
    /// The user id the key acts as (`apikey:<id>`), as the audit shows it.
    async fn subject(&self) -> String {
        self.principal_id()
    }
    /// The secret's first characters, to recognise the key by; the secret
    /// itself is never kept.
    async fn secret_hint(&self) -> &str {
        &self.secret_hint
    }
    /// What the key may do: a subset of its creator's permissions.
    async fn permissions(&self) -> &[Permission] {
        &self.permissions.0
    }
    /// Who created it.
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.created_by).await
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// When it last authenticated a request (to the minute); null when never.
    async fn last_used_at(&self) -> Option<DateTime> {
        self.last_used_at.map(utc)
    }
    /// When it stops being accepted; null when it does not expire.
    async fn expires_at(&self) -> Option<DateTime> {
        self.expires_at.map(utc)
    }
    /// When it was revoked; null while it is live.
    async fn revoked_at(&self) -> Option<DateTime> {
        self.revoked_at.map(utc)
    }
}

/// What `createApiKey` answers: the key and its secret, shown this once.
#[derive(SimpleObject)]
pub struct ApiKeyWithSecret {
    /// The key.
    pub api_key: ApiKey,
    /// The secret to send as `Authorization: Bearer <secret>` (`cbk_` and
    /// 43 characters). It cannot be read again: keep it now.
    pub secret: String,
}
