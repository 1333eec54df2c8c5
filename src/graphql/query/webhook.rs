use async_graphql::{Context, ID, Object};

use crate::auth::{ManageSettings, Permission};
use crate::domain::webhook::{self, Webhook, WebhookId};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::{db, grant};

/// The tenant's webhooks (admins).
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The tenant's webhooks, oldest first.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn webhooks(&self, ctx: &Context<'_>) -> GqlResult<Vec<Webhook>> {
        let tenant = grant::<ManageSettings>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(webhook::list(&mut conn.conn(), tenant).await?)
    }

    /// A webhook by id; null when the tenant has none such.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook's id.")] id: ID,
    ) -> GqlResult<Option<Webhook>> {
        let tenant = grant::<ManageSettings>(ctx)?.tenant();
        let Some(id) = numeric_id(&id).map(WebhookId) else { return Ok(None) };
        let mut conn = db(ctx)?.get().await?;
        Ok(webhook::find(&mut conn.conn(), tenant, id).await?)
    }
}
