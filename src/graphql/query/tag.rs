use async_graphql::{Context, Object, SimpleObject};

use crate::auth::{Permission, ReadData};
use crate::domain::tag;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant, page_size};

/// A tag of the tenant and how much it is used.
#[derive(SimpleObject)]
pub struct Tag {
    /// The name, as first written.
    pub name: String,
    /// How many cases not in a CLOSED status carry it.
    pub open_case_count: i64,
}

#[derive(Default)]
pub struct TagQuery;

#[Object]
impl TagQuery {
    /// The tenant's tags by name, for pickers.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only tags whose name contains this, ignoring case.")] search: Option<String>,
        #[graphql(desc = "How many (default 25, at most 100).")] first: Option<i32>,
    ) -> GqlResult<Vec<Tag>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let limit = page_size(first)?;
        if let Some(search) = &search {
            crate::domain::refuse_nul("search", search)?;
        }
        let mut conn = db(ctx)?.get().await?;
        let found = tag::list(&mut conn.conn(), tenant, search.as_deref(), limit).await?;
        Ok(found.into_iter().map(|t| Tag { name: t.name, open_case_count: t.open_cases }).collect())
    }
}
