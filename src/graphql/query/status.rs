use async_graphql::{Context, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::status::{self, Status};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

#[derive(Default)]
pub struct StatusQuery;

#[Object]
impl StatusQuery {
    /// The tenant's case statuses in workflow order.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn statuses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Include archived statuses.", default_with = "Some(false)")] include_archived: Option<bool>,
    ) -> GqlResult<Vec<Status>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(status::list(&mut conn.conn(), tenant, include_archived.unwrap_or(false)).await?)
    }
}
