use async_graphql::{Context, ID, InputObject, Object};

use crate::auth::{ManageSettings, Permission};
use crate::domain::api_key::{self, ApiKey, ApiKeyId, NewApiKey};
use crate::error::AppError;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, numeric_id, optional_time};
use crate::graphql::types::api_key::ApiKeyWithSecret;
use crate::graphql::{db, grant};

/// An API key to create.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// What the key is for (a connector's name); 1 to 128 characters.
    pub name: String,
    /// What it may do: at least one, each held by the creator
    /// (`INCIDENTS_INGEST` alone for an ingestion connector).
    pub permissions: Vec<Permission>,
    /// When it stops being accepted; absent for never. Must be in the future.
    pub expires_at: Option<DateTime>,
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key; the answer holds its secret, shown this once (a
    /// tenant holds at most 100 keys that are not revoked).
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new key.")] input: CreateApiKeyInput,
    ) -> GqlResult<ApiKeyWithSecret> {
        let actor = grant::<ManageSettings>(ctx)?;
        let new = NewApiKey {
            name: input.name,
            permissions: input.permissions,
            expires_at: optional_time("expiresAt", input.expires_at.as_ref())?,
        };
        let (api_key, secret) = db(ctx)?.write(async |conn| api_key::create(conn, &actor, new).await).await?;
        Ok(ApiKeyWithSecret { api_key, secret })
    }

    /// Revokes an API key: from now on it authenticates no request. Revoking
    /// a revoked key changes nothing.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn revoke_api_key(&self, ctx: &Context<'_>, #[graphql(desc = "The key's id.")] id: ID) -> GqlResult<ApiKey> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = numeric_id(&id).map(ApiKeyId).ok_or_else(|| AppError::not_found("API key", id.as_str()))?;
        Ok(db(ctx)?.write(async |conn| api_key::revoke(conn, &actor, id).await).await?)
    }
}
