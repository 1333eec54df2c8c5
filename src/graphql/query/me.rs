use async_graphql::{Context, Object};

use crate::domain::user;
use crate::graphql::errors::GqlResult;
use crate::graphql::types::Viewer;
use crate::graphql::{db, principal};

#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    /// The caller. Needs only a valid token.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Viewer> {
        let principal = principal(ctx)?;
        let mut conn = db(ctx)?.get().await?;
        let recorded = user::find(&mut conn.conn(), &principal.tenant, &principal.user_id).await?;
        let user = recorded.unwrap_or_else(|| user::User {
            tenant_id: principal.tenant.clone(),
            id: principal.user_id.clone(),
            display_name: principal.display_name.clone(),
            email: principal.email.clone(),
            created_at: crate::domain::now(),
            updated_at: crate::domain::now(),
        });
        Ok(Viewer {
            user,
            tenant: principal.tenant.clone(),
            permissions: principal.permissions.iter().copied().collect(),
        })
    }
}
