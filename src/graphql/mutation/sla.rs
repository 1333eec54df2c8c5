use async_graphql::{Context, InputObject, Object};

use crate::auth::{ManageSettings, Permission};
use crate::domain::sla::{self, Policy, PolicyInput};
use crate::domain::values::CasePriority;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// An SLA policy to set; it replaces the priority's policy and applies to open cases from now on.
#[derive(InputObject)]
pub struct SetSlaPolicyInput {
    /// The priority it applies to; absent or null: every case whose priority has no policy of its own.
    pub priority: Option<CasePriority>,
    /// Time from creation to acknowledgement, an ISO 8601 duration such as `PT1H`.
    pub acknowledge_within: Option<String>,
    /// Time from creation to a CLOSED status, such as `P2D`; paused time does not count.
    pub resolve_within: Option<String>,
    /// AT_RISK from this share of a window used, 1 to 99 (default 80).
    pub at_risk_percent: Option<i32>,
}

/// The SLA policy to remove.
#[derive(InputObject)]
pub struct RemoveSlaPolicyInput {
    /// Its priority; absent or null: the default policy.
    pub priority: Option<CasePriority>,
}

#[derive(Default)]
pub struct SlaMutation;

#[Object]
impl SlaMutation {
    /// Sets the SLA policy of a priority (or the default).
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn set_sla_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy.")] input: SetSlaPolicyInput,
    ) -> GqlResult<Policy> {
        let actor = grant::<ManageSettings>(ctx)?;
        let input = PolicyInput {
            priority: input.priority,
            acknowledge_within: input.acknowledge_within,
            resolve_within: input.resolve_within,
            at_risk_percent: input.at_risk_percent,
        };
        Ok(db(ctx)?.write(async |conn| sla::set_policy(conn, &actor, input).await).await?)
    }

    /// Removes the SLA policy of a priority (or the default); returns the policies left.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn remove_sla_policy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The policy's priority.")] input: RemoveSlaPolicyInput,
    ) -> GqlResult<Vec<Policy>> {
        let actor = grant::<ManageSettings>(ctx)?;
        Ok(db(ctx)?.write(async |conn| sla::remove_policy(conn, &actor, input.priority).await).await?)
    }
}
