use async_graphql::{Context, ID, InputObject, Object};

use super::case_id;
use crate::auth::{ManageAlerts, Permission};
use crate::domain::attack;
use crate::domain::case::Case;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// The ATT&CK techniques a case carries.
#[derive(InputObject)]
pub struct SetCaseTechniquesInput {
    /// The case number.
    pub case_id: ID,
    /// Every technique the case carries from now on (ids such as `T1021.002`,
    /// at most 50; an empty list clears them).
    pub technique_ids: Vec<String>,
}

#[derive(Default)]
pub struct AttackMutation;

#[Object]
impl AttackMutation {
    /// Sets a case's ATT&CK techniques. Unknown ids, and deprecated or revoked
    /// ones the case does not already carry, are refused.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn set_case_techniques(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The case and its techniques.")] input: SetCaseTechniquesInput,
    ) -> GqlResult<Case> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let case = case_id(&input.case_id)?;
        Ok(db(ctx)?.write(async |conn| attack::set(conn, &actor, case, &input.technique_ids).await).await?)
    }
}
