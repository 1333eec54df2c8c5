use async_graphql::{Context, Object};

use crate::auth::{ManageSettings, Permission};
use crate::domain::api_key::{self, ApiKey};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// The tenant's API keys (admins).
#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The tenant's API keys, newest first (at most 500).
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Also list revoked keys.", default = false)] include_revoked: bool,
    ) -> GqlResult<Vec<ApiKey>> {
        let tenant = grant::<ManageSettings>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(api_key::list(&mut conn.conn(), tenant, include_revoked).await?)
    }
}
