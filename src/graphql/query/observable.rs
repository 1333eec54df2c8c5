use async_graphql::{Context, ID, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::observable::{self, Observable, ObservableId};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::types::{ObservableConnection, ObservableFilterInput, observable_after};
use crate::graphql::{db, grant, page_size};

#[derive(Default)]
pub struct ObservableQuery;

#[Object]
impl ObservableQuery {
    /// One observable; null when it does not exist in the caller's tenant.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn observable(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The observable's id.")] id: ID,
    ) -> GqlResult<Option<Observable>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let Some(id) = numeric_id(&id) else { return Ok(None) };
        let mut conn = db(ctx)?.get().await?;
        Ok(observable::find(&mut conn.conn(), tenant, ObservableId(id)).await?)
    }

    /// The tenant's observables across its cases, newest first: with `value`,
    /// every case's sighting of one indicator.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn observables(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which observables (all when absent).")] filter: Option<ObservableFilterInput>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the observable this page follows.")] after: Option<String>,
    ) -> GqlResult<ObservableConnection> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let limit = page_size(first)?;
        let filter = filter.unwrap_or_default().into_domain();
        let after = observable_after(after.as_deref())?;
        let mut conn = db(ctx)?.get().await?;
        let rows = observable::list(&mut conn.conn(), tenant, &filter, after, limit + 1).await?;
        Ok(ObservableConnection::new(rows, limit, after.is_some(), filter))
    }
}
