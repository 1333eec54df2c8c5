use async_graphql::{Context, ID, InputObject, Object};

use super::case_id;
use crate::auth::{ManageAlerts, Permission};
use crate::domain::comment;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::types::Comment;
use crate::graphql::{db, grant};

/// A comment to add to a case's activity log.
#[derive(InputObject)]
pub struct AddCommentInput {
    /// The case number.
    pub case_id: ID,
    /// Plain text, at most 16 KiB.
    pub body: String,
}

#[derive(Default)]
pub struct CommentMutation;

#[Object]
impl CommentMutation {
    /// Adds a comment to a case's activity log.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the text.")] input: AddCommentInput,
    ) -> GqlResult<Comment> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let case = case_id(&input.case_id)?;
        let comment = db(ctx)?.write(async |conn| comment::add(conn, &actor, case, &input.body).await).await?;
        Ok(Comment(comment))
    }
}
