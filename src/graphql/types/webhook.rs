use async_graphql::{Context, ID, Object, SimpleObject};

use super::{PageInfo, split_page};
use crate::domain::case::Case;
use crate::domain::webhook::{self, Delivery, Webhook, WebhookDeliveryStatus, WebhookEventType, WebhookId};
use crate::error::{AppError, AppResult};
use crate::graphql::cursor::{self, IdCursor};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::{db, loaders, page_size};

/// An endpoint that hears about the tenant's changes: each event is POSTed
/// as JSON, signed per the Standard Webhooks specification (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`) with a secret shown only when
/// created or rotated.
#[Object]
impl Webhook {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.0.to_string())
    }
    /// Where events are POSTed.
    async fn url(&self) -> &str {
        &self.url
    }
    /// What it is for.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The event types it takes (ALL: every one).
    async fn event_types(&self) -> &[WebhookEventType] {
        &self.event_types
    }
    /// A disabled webhook gets no new events; its pending ones wait.
    async fn enabled(&self) -> bool {
        self.enabled
    }
    /// Failed attempts since the last success.
    async fn consecutive_failures(&self) -> i32 {
        self.consecutive_failures
    }
    /// When it was last disabled, by a person or automatically after a run of failures.
    async fn disabled_at(&self) -> Option<DateTime> {
        self.disabled_at.map(utc)
    }
    /// Who or what disabled it, and why.
    async fn disabled_reason(&self) -> Option<&str> {
        self.disabled_reason.as_deref()
    }
    /// While set and in the future, the endpoint failed too often in a row
    /// and nothing is sent to it before then; afterwards one delivery at a
    /// time until one gets through.
    async fn circuit_open_until(&self) -> Option<DateTime> {
        self.circuit_open_until.map(utc)
    }
    /// After `rotateWebhookSecret`: until then messages carry a second
    /// signature, made with the replaced secret (null when there is none).
    async fn previous_secret_expires_at(&self) -> Option<DateTime> {
        self.previous_secret_expires_at.map(utc)
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
    /// Its deliveries, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "The cursor of the last delivery of the previous page.")] after: Option<String>,
    ) -> GqlResult<WebhookDeliveryConnection> {
        let limit = page_size(first)?;
        let before = after.as_deref().map(|a| cursor::decode::<IdCursor>("after", a)).transpose()?.map(|c| c.id);
        let tenant = crate::graphql::grant::<crate::auth::ManageSettings>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        let rows = webhook::delivery::page(&mut conn.conn(), tenant, self.id, before, limit + 1).await?;
        Ok(WebhookDeliveryConnection::new(rows, limit, before.is_some(), self.id))
    }
}

/// What `createWebhook` and `rotateWebhookSecret` answer: the webhook and
/// its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct WebhookWithSecret {
    /// The webhook.
    pub webhook: Webhook,
    /// The signing secret (`whsec_` + base64 key, as Standard Webhooks
    /// libraries take it). It cannot be read again: keep it now.
    pub secret: String,
}

/// One event on its way to one webhook, with its last attempt.
#[Object(name = "WebhookDelivery")]
impl Delivery {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The `webhook-id` header: the same on every attempt and redelivery of the message.
    async fn message_id(&self) -> &str {
        &self.message_id
    }
    /// The event's type.
    async fn event_type(&self) -> WebhookEventType {
        self.event_type
    }
    /// The case it is about.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Option<Case>> {
        let Some(id) = self.case_id else { return Ok(None) };
        Ok(loaders(ctx)?.cases.load_one(id).await?)
    }
    /// The JSON body sent.
    async fn payload(&self) -> &str {
        &self.payload
    }
    /// Where it stands.
    async fn status(&self) -> WebhookDeliveryStatus {
        self.status
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.attempts
    }
    /// The HTTP status of the last answer, when there was one.
    async fn http_status(&self) -> Option<i32> {
        self.response_status
    }
    /// How long the last attempt took, in milliseconds.
    async fn duration_ms(&self) -> Option<i32> {
        self.duration_ms
    }
    /// The start of the last answer's body (at most 1024 characters).
    async fn response_body(&self) -> Option<&str> {
        self.response_body.as_deref()
    }
    /// Why the last attempt failed.
    async fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    /// When the next attempt is due (PENDING only).
    async fn next_attempt_at(&self) -> Option<DateTime> {
        (self.status == WebhookDeliveryStatus::Pending).then(|| utc(self.next_attempt_at))
    }
    /// When the last attempt was made.
    async fn last_attempt_at(&self) -> Option<DateTime> {
        self.last_attempt_at.map(utc)
    }
    /// When the endpoint accepted it.
    async fn delivered_at(&self) -> Option<DateTime> {
        self.delivered_at.map(utc)
    }
    /// When the event was written.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
}

/// An edge of a webhook's deliveries.
#[derive(SimpleObject)]
pub struct WebhookDeliveryEdge {
    /// Pass as `after` for the deliveries after this one.
    pub cursor: String,
    /// The delivery.
    pub node: Delivery,
}

/// A page of a webhook's deliveries (see the schema description on its `#[Object]` impl).
pub struct WebhookDeliveryConnection {
    edges: Vec<WebhookDeliveryEdge>,
    page_info: PageInfo,
    webhook: WebhookId,
}

/// A page of a webhook's deliveries, newest first (Relay connection).
#[Object]
impl WebhookDeliveryConnection {
    /// The deliveries with their cursors.
    async fn edges(&self) -> &[WebhookDeliveryEdge] {
        &self.edges
    }
    /// The deliveries.
    async fn nodes(&self) -> Vec<&Delivery> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// Where the page sits.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }
    /// All the webhook's deliveries.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        let tenant = crate::graphql::grant::<crate::auth::ManageSettings>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(webhook::delivery::count(&mut conn.conn(), tenant, self.webhook).await?)
    }
}

impl WebhookDeliveryConnection {
    fn new(mut rows: Vec<Delivery>, limit: i64, after_given: bool, webhook: WebhookId) -> Self {
        let has_next = split_page(&mut rows, limit);
        let edges: Vec<WebhookDeliveryEdge> = rows
            .into_iter()
            .map(|d| WebhookDeliveryEdge { cursor: cursor::encode(&IdCursor { id: d.id }), node: d })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        WebhookDeliveryConnection { page_info: PageInfo::new(&cursors, has_next, after_given), edges, webhook }
    }
}

/// The webhook an argument names: a number, else it cannot exist.
pub fn webhook_id(id: &ID) -> AppResult<WebhookId> {
    crate::graphql::scalars::numeric_id(id).map(WebhookId).ok_or_else(|| AppError::not_found("webhook", id.as_str()))
}
