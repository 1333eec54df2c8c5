use async_graphql::{Context, ID, InputObject, Object};

use super::case_id;
use crate::auth::{ManageAlerts, Permission};
use crate::domain::case::Case;
use crate::domain::relation::{self, RelationKind};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// A relation to add between two cases of the tenant.
#[derive(InputObject)]
pub struct AddCaseRelationInput {
    /// The case that has the relation.
    pub case_id: ID,
    /// How `caseId` relates to `relatedCaseId` (the other case records the
    /// inverse: `CHILD_OF` for `PARENT_OF`).
    pub kind: RelationKind,
    /// The other case.
    pub related_case_id: ID,
}

/// Two cases whose relation to remove.
#[derive(InputObject)]
pub struct RemoveCaseRelationInput {
    /// One case.
    pub case_id: ID,
    /// The other case.
    pub related_case_id: ID,
}

#[derive(Default)]
pub struct RelationMutation;

#[Object]
impl RelationMutation {
    /// Relates two cases of the tenant; both cases' logs record it
    /// (RELATION_ADDED) and both cases' watchers hear of it. Two cases have
    /// one relation: the same one again changes nothing, another is a
    /// CONFLICT. A case has one parent and duplicates one case (CONFLICT
    /// otherwise); parents cannot form a cycle (BAD_USER_INPUT).
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn add_case_relation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The two cases and how they relate.")] input: AddCaseRelationInput,
    ) -> GqlResult<Case> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let (case, other) = (case_id(&input.case_id)?, case_id(&input.related_case_id)?);
        let mut tx = db(ctx)?.begin().await?;
        let result = relation::add(&mut tx.conn(), &actor, case, input.kind, other).await;
        Ok(tx.finish(result).await?)
    }

    /// Removes the relation between two cases, recorded on both
    /// (RELATION_REMOVED); two unrelated cases change nothing.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn remove_case_relation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The two cases.")] input: RemoveCaseRelationInput,
    ) -> GqlResult<Case> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let (case, other) = (case_id(&input.case_id)?, case_id(&input.related_case_id)?);
        let mut tx = db(ctx)?.begin().await?;
        let result = relation::remove(&mut tx.conn(), &actor, case, other).await;
        Ok(tx.finish(result).await?)
    }
}
