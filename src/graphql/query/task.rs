use async_graphql::{Context, ID, Object};

use crate::auth::Permission;
use crate::domain::task::Task;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;
use crate::graphql::scalars::numeric_id;

#[derive(Default)]
pub struct TaskQuery;

#[Object]
impl TaskQuery {
    /// One task; null when it does not exist in the caller's tenant.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn task(&self, ctx: &Context<'_>, #[graphql(desc = "The task's id.")] id: ID) -> GqlResult<Option<Task>> {
        match numeric_id(&id) {
            Some(id) => Ok(loaders(ctx)?.tasks.load_one(id).await?),
            None => Ok(None),
        }
    }
}
