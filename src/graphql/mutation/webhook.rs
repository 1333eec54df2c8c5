use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::clearable;
use crate::auth::{ManageSettings, Permission};
use crate::domain::webhook::{
    self, Delivery, DeliveryId, SealingKeys, TargetPolicy, Webhook, WebhookEventType, WebhookId, WebhookInput,
};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::types::{WebhookWithSecret, webhook_id};
use crate::graphql::{WebhookKeys, db, grant};

/// A webhook to create.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// Where events are POSTed: an http(s) URL on a public address (private
    /// ones only when the operator allows them).
    pub url: String,
    /// The event types it takes (ALL: every one, those added later too).
    pub event_types: Vec<WebhookEventType>,
    /// What it is for.
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// A change to a webhook. Absent fields are left alone.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// The webhook.
    pub id: ID,
    /// New URL.
    pub url: Option<String>,
    /// New event types (replaced whole).
    pub event_types: Option<Vec<WebhookEventType>>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
    /// Enable (clears its failure run, resumes its pending deliveries) or disable it.
    pub enabled: Option<bool>,
}

/// A webhook to act on.
#[derive(InputObject)]
pub struct WebhookRefInput {
    /// The webhook.
    pub id: ID,
}

/// A delivery to send again.
#[derive(InputObject)]
pub struct RedeliverWebhookEventInput {
    /// The delivery whose message is sent again.
    pub delivery_id: ID,
}

/// The webhook a rule's action names: a number, else it cannot exist.
pub(crate) fn webhook_ref(field: &str, id: &ID) -> AppResult<WebhookId> {
    numeric_id(id).map(WebhookId).ok_or_else(|| AppError::bad_input(field, format!("no webhook {}", id.as_str())))
}

fn targets<'a>(ctx: &Context<'a>) -> AppResult<&'a TargetPolicy> {
    ctx.data_opt::<TargetPolicy>().ok_or_else(|| AppError::internal("the schema has no webhook target policy"))
}

fn keys<'a>(ctx: &Context<'a>) -> Option<&'a SealingKeys> {
    ctx.data_opt::<WebhookKeys>().and_then(|keys| keys.0.as_deref())
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates a webhook; the answer holds its signing secret, shown this once.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new webhook.")] input: CreateWebhookInput,
    ) -> GqlResult<WebhookWithSecret> {
        let actor = grant::<ManageSettings>(ctx)?;
        let input = WebhookInput {
            url: Some(input.url),
            description: Some(input.description),
            event_types: Some(input.event_types),
            enabled: input.enabled,
        };
        let (webhook, secret) =
            db(ctx)?.write(async |conn| webhook::create(conn, &actor, targets(ctx)?, keys(ctx), input).await).await?;
        Ok(WebhookWithSecret { webhook, secret })
    }

    /// Changes a webhook.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook and its changes.")] input: UpdateWebhookInput,
    ) -> GqlResult<Webhook> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = webhook_id(&input.id)?;
        let changes = WebhookInput {
            url: input.url,
            description: clearable(input.description),
            event_types: input.event_types,
            enabled: input.enabled,
        };
        Ok(db(ctx)?.write(async |conn| webhook::update(conn, &actor, targets(ctx)?, id, changes).await).await?)
    }

    /// Removes a webhook and its deliveries, sent or not. Returns its id.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] input: WebhookRefInput,
    ) -> GqlResult<ID> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = webhook_id(&input.id)?;
        db(ctx)?.write(async |conn| webhook::delete(conn, &actor, id).await).await?;
        Ok(input.id)
    }

    /// Replaces a webhook's signing secret; the answer holds the new one,
    /// shown this once. Messages not yet sent are signed with it and, for
    /// 24 hours (`previousSecretExpiresAt`), with the replaced one as well,
    /// so a receiver can move to the new secret without missing a message.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] input: WebhookRefInput,
    ) -> GqlResult<WebhookWithSecret> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = webhook_id(&input.id)?;
        let (webhook, secret) =
            db(ctx)?.write(async |conn| webhook::rotate_secret(conn, &actor, keys(ctx), id).await).await?;
        Ok(WebhookWithSecret { webhook, secret })
    }

    /// Stops signing with the secret a rotation replaced, before its 24
    /// hours are over (every receiver uses the new one).
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn expire_previous_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] input: WebhookRefInput,
    ) -> GqlResult<Webhook> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = webhook_id(&input.id)?;
        Ok(db(ctx)?.write(async |conn| webhook::expire_previous_secret(conn, &actor, id).await).await?)
    }

    /// Sends a delivery's message again, as a new delivery due now (same
    /// `webhook-id`, so a receiver can tell the repeat).
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn redeliver_webhook_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery.")] input: RedeliverWebhookEventInput,
    ) -> GqlResult<Delivery> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = numeric_id(&input.delivery_id)
            .map(DeliveryId)
            .ok_or_else(|| AppError::not_found("webhook delivery", input.delivery_id.as_str()))?;
        let delivery = db(ctx)?.write(async |conn| webhook::delivery::redeliver(conn, &actor, id).await).await?;
        if let Some(bus) = ctx.data_opt::<crate::events::ActivityBus>() {
            bus.wake_outbox();
        }
        Ok(delivery)
    }
}
