use async_graphql::{Context, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::user::{self, User};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant, page_size};

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// People of the tenant, for assignee pickers: `search` matches id, name or
    /// email, ignoring case.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Part of an id, display name or email, ignoring case.")] search: Option<String>,
        #[graphql(desc = "At most this many (default 25, at most 100).")] first: Option<i32>,
    ) -> GqlResult<Vec<User>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let limit = page_size(first)?;
        let mut conn = db(ctx)?.get().await?;
        Ok(user::search(&mut conn.conn(), tenant, search.as_deref(), limit).await?)
    }
}
