use async_graphql::{Context, Object};

use crate::domain::case::Case;
use crate::domain::relation::{Relation, RelationKind};
use crate::domain::user::User;
use crate::error::AppError;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::types::user::known_user;

/// How a case relates to another case of the tenant, read from the case
/// that lists it (the other case lists the inverse: `PARENT_OF` there is
/// `CHILD_OF` here).
#[Object(name = "CaseRelation")]
impl Relation {
    /// How this case relates to `case`.
    async fn kind(&self) -> RelationKind {
        self.kind
    }
    /// The other case.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Case> {
        let case = loaders(ctx)?.cases.load_one(self.related_id).await?;
        Ok(case.ok_or_else(|| AppError::internal(format!("related case {} is missing", self.related_id)))?)
    }
    /// Who related the cases.
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.created_by).await
    }
    /// When the cases were related.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
}
