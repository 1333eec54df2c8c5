use async_graphql::{Context, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::attack::catalogue;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::types::{AttackTactic, AttackTechnique};
use crate::graphql::{grant, page_size};

#[derive(Default)]
pub struct AttackQuery;

#[Object]
impl AttackQuery {
    /// Techniques for a picker, by id: those whose id starts with `search`
    /// (`T1021`) or whose name holds each of its words (`admin shares`).
    /// Deprecated and revoked techniques are left out.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn attack_techniques(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An id prefix or words of the name, ignoring case.")] search: Option<String>,
        #[graphql(desc = "Only techniques of this tactic (id such as `TA0008`, or name).")] tactic: Option<String>,
        #[graphql(desc = "How many (default 25, at most 100).")] first: Option<i32>,
    ) -> GqlResult<Vec<AttackTechnique>> {
        grant::<ReadData>(ctx)?;
        let limit = page_size(first)? as usize;
        let catalogue = catalogue();
        let tactic = tactic.as_deref().map(|wanted| catalogue.require_tactic("tactic", wanted)).transpose()?;
        Ok(catalogue.find(search.as_deref(), tactic, limit).into_iter().map(AttackTechnique).collect())
    }

    /// The tactics of the ATT&CK Enterprise matrix, in matrix order.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn attack_tactics(&self, ctx: &Context<'_>) -> GqlResult<Vec<AttackTactic>> {
        grant::<ReadData>(ctx)?;
        Ok(catalogue().tactics.iter().map(AttackTactic).collect())
    }

    /// The ATT&CK Enterprise release the shipped catalogue comes from, such as `18.1`.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn attack_catalogue_version(&self, ctx: &Context<'_>) -> GqlResult<&'static str> {
        grant::<ReadData>(ctx)?;
        Ok(&catalogue().version)
    }
}
