use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::clearable;
use crate::auth::{ManageSettings, Permission};
use crate::domain::user::{self, User, UserUpsert};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// A user to record ahead of their first call (to assign them work), or to correct.
#[derive(InputObject)]
pub struct UpsertUserInput {
    /// The identity provider's subject (`sub`).
    pub id: ID,
    /// Absent leaves it alone; `null` clears it.
    pub display_name: MaybeUndefined<String>,
    /// Absent leaves it alone; `null` clears it.
    pub email: MaybeUndefined<String>,
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Records or changes a user of the tenant.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn upsert_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and its details.")] input: UpsertUserInput,
    ) -> GqlResult<User> {
        let actor = grant::<ManageSettings>(ctx)?;
        let upsert =
            UserUpsert { id: input.id.0, display_name: clearable(input.display_name), email: clearable(input.email) };
        Ok(db(ctx)?.write(async |conn| user::upsert(conn, &actor, upsert).await).await?)
    }
}
