use async_graphql::{Context, ID, Object};

use crate::auth::{ManageSettings, Permission};
use crate::domain::automation::{self, Rule, RuleId};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::{db, grant};

/// The tenant's automation rules (admins).
#[derive(Default)]
pub struct AutomationQuery;

#[Object]
impl AutomationQuery {
    /// The tenant's automation rules in the order they run.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn automation_rules(&self, ctx: &Context<'_>) -> GqlResult<Vec<Rule>> {
        let tenant = grant::<ManageSettings>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(automation::list(&mut conn.conn(), tenant).await?)
    }

    /// An automation rule by id; null when the tenant has none such.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn automation_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule's id.")] id: ID,
    ) -> GqlResult<Option<Rule>> {
        let tenant = grant::<ManageSettings>(ctx)?.tenant();
        let Some(id) = numeric_id(&id).map(RuleId) else { return Ok(None) };
        let mut conn = db(ctx)?.get().await?;
        Ok(automation::find(&mut conn.conn(), tenant, id).await?)
    }
}
