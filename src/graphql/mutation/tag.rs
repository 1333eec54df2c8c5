use async_graphql::{Context, ID, InputObject, Object};

use super::case_id;
use crate::auth::{ManageAlerts, Permission};
use crate::domain::case::Case;
use crate::domain::tag;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// Tags to add to, or remove from, a case.
#[derive(InputObject)]
pub struct CaseTagsInput {
    /// The case number.
    pub case_id: ID,
    /// Tag names, ignoring case; 1 to 64 characters each, no commas, at most 20.
    pub tags: Vec<String>,
}

#[derive(Default)]
pub struct TagMutation;

#[Object]
impl TagMutation {
    /// Tags a case (a case carries at most 20 tags); new names become the
    /// tenant's tags, a tag the case has is skipped.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn add_case_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the tags.")] input: CaseTagsInput,
    ) -> GqlResult<Case> {
        change_tags(ctx, input, Change::Add).await
    }

    /// Removes tags from a case; one it does not carry is skipped.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn remove_case_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and the tags.")] input: CaseTagsInput,
    ) -> GqlResult<Case> {
        change_tags(ctx, input, Change::Remove).await
    }
}

/// Which way a tag change goes.
enum Change {
    Add,
    Remove,
}

async fn change_tags(ctx: &Context<'_>, input: CaseTagsInput, change: Change) -> GqlResult<Case> {
    let actor = grant::<ManageAlerts>(ctx)?;
    let case = case_id(&input.case_id)?;
    let mut tx = db(ctx)?.begin().await?;
    let result = match change {
        Change::Add => tag::add(&mut tx.conn(), &actor, case, &input.tags).await,
        Change::Remove => tag::remove(&mut tx.conn(), &actor, case, &input.tags).await,
    };
    Ok(tx.finish(result).await?)
}
