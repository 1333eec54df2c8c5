use async_graphql::{Context, ID, InputObject, Object};

use super::case::status_ref;
use super::case_id;
use crate::auth::{ManageAlerts, Permission};
use crate::domain::attachment::{Attachments, Limits};
use crate::domain::case::Case;
use crate::domain::merge::{self, MergeInput, Merged};
use crate::domain::workflow::{Classification, Determination};
use crate::error::AppResult;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant};

/// Duplicate cases to merge into one.
#[derive(InputObject)]
pub struct MergeCasesInput {
    /// The duplicates, at most 100: each closes as DUPLICATE_OF the target.
    pub source_ids: Vec<ID>,
    /// The case that survives and receives the sources' work and evidence.
    pub target_id: ID,
    /// The CLOSED status the sources move to.
    pub closing_status_id: ID,
    /// How the sources are classified (the workflow's
    /// `duplicateClassification` when absent).
    pub classification: Option<Classification>,
    /// Why (the workflow's `duplicateDetermination` when no classification is given).
    pub determination: Option<Determination>,
    /// Plain-text notes on the sources' closing.
    pub closing_comment: Option<String>,
    /// Allow a closed target (refused otherwise: reopen it, or say so here).
    #[graphql(default)]
    pub allow_closed_target: bool,
}

/// What a merge did.
pub struct MergeCasesPayload(Merged);

/// What a merge did.
#[Object]
impl MergeCasesPayload {
    /// Names the merge: every audit entry it wrote (the target's
    /// CASES_MERGED, each source's MERGED_INTO and closing) carries it as
    /// `AuditEvent.operationId`.
    async fn operation_id(&self) -> ID {
        ID(self.0.operation_id.clone())
    }
    /// The surviving case, with what joined it.
    async fn target(&self) -> &Case {
        &self.0.target
    }
    /// The sources, closed as its duplicates, in the order given.
    async fn sources(&self) -> &[Case] {
        &self.0.sources
    }
}

#[derive(Default)]
pub struct MergeMutation;

#[Object]
impl MergeMutation {
    /// Merges duplicate cases into one, in one transaction. The sources'
    /// tasks, linked incidents, observables, tags, techniques and
    /// attachments join the target (deduplicated as adding them would be;
    /// refused past the target's limits); their comments and history stay
    /// on the sources. Each source closes in `closingStatusId` as
    /// DUPLICATE_OF the target (`mergedInto` names it, and `case(id:)` still
    /// answers it) with a MERGED_INTO entry its watchers see; the target's
    /// activity gets one CASES_MERGED entry naming the sources. A case
    /// already merged (by this call's race, or before) is a CONFLICT;
    /// merging a case into itself, into another tenant's case (NOT_FOUND)
    /// or into a closed case without `allowClosedTarget` is refused.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn merge_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The duplicates, the surviving case and how the duplicates close.")] input: MergeCasesInput,
    ) -> GqlResult<MergeCasesPayload> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let max_attachments = ctx
            .data_opt::<Attachments>()
            .map_or_else(|| Limits::default().max_files_per_case, |a| a.settings.limits.max_files_per_case);
        let merge = MergeInput {
            sources: input.source_ids.iter().map(case_id).collect::<AppResult<_>>()?,
            target: case_id(&input.target_id)?,
            closing_status: status_ref("closingStatusId", &input.closing_status_id)?,
            classification: input.classification,
            determination: input.determination,
            closing_comment: input.closing_comment,
            allow_closed_target: input.allow_closed_target,
            max_attachments,
        };
        let mut tx = db(ctx)?.begin().await?;
        let result = merge::merge(&mut tx.conn(), &actor, merge).await;
        Ok(MergeCasesPayload(tx.finish(result).await?))
    }
}
