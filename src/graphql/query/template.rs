use async_graphql::{Context, ID, Object};

use crate::auth::{Permission, ReadData};
use crate::domain::template::{self, CaseTemplate, TemplateId};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::{db, grant};

/// The tenant's case templates.
#[derive(Default)]
pub struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// The tenant's case templates by name.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn case_templates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Also archived ones.", default = false)] include_archived: bool,
    ) -> GqlResult<Vec<CaseTemplate>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(template::list(&mut conn.conn(), tenant, include_archived).await?)
    }

    /// A case template by id; null when the tenant has none such.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn case_template(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The template's id.")] id: ID,
    ) -> GqlResult<Option<CaseTemplate>> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let Some(id) = numeric_id(&id).map(TemplateId) else { return Ok(None) };
        let mut conn = db(ctx)?.get().await?;
        Ok(template::find(&mut conn.conn(), tenant, id).await?)
    }
}
