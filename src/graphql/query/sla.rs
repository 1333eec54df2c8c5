use async_graphql::{Context, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::sla::{self, Policy};
use crate::error::GqlResult;
use crate::graphql::directive::requires_permission;
use crate::graphql::{db, grant};

#[derive(Default)]
pub struct SlaQuery;

#[Object]
impl SlaQuery {
    /// The tenant's SLA policies: the default (no priority) first, then by priority.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn sla_policies(&self, ctx: &Context<'_>) -> GqlResult<Vec<Policy>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(sla::policies(&mut conn.conn(), tenant).await?)
    }
}
