//! Mutation root, merged from one object per entity. Each mutation runs in
//! one write transaction that holds the change and its audit.

mod api_key;
mod attachment;
mod attack;
mod automation;
mod bulk;
mod case;
mod comment;
mod incident;
mod merge;
mod observable;
mod relation;
mod sla;
mod status;
mod tag;
mod task;
mod template;
mod user;
mod webhook;
mod workflow;

use async_graphql::{ID, MaybeUndefined, MergedObject};

use crate::db::{Db, WriteTx};
use crate::domain::{self, case::Case, case::CaseId};
use crate::error::{AppError, AppResult};
use crate::graphql::scalars::numeric_id;

/// Change the tenant's data.
#[derive(MergedObject, Default)]
pub struct Mutation(
    case::CaseMutation,
    bulk::BulkMutation,
    relation::RelationMutation,
    merge::MergeMutation,
    attack::AttackMutation,
    attachment::AttachmentMutation,
    task::TaskMutation,
    incident::IncidentMutation,
    incident::IngestMutation,
    observable::ObservableMutation,
    comment::CommentMutation,
    status::StatusMutation,
    sla::SlaMutation,
    tag::TagMutation,
    template::TemplateMutation,
    automation::AutomationMutation,
    webhook::WebhookMutation,
    api_key::ApiKeyMutation,
    user::UserMutation,
    workflow::WorkflowMutation,
);

/// Finishes a write that returns a case, as it stands once the write's
/// reactions ran: a case that automation rules changed after the write is
/// read again (after the commit), so the answer shows what they did.
pub(crate) async fn finish_case(db: &Db, tx: WriteTx, result: AppResult<Case>) -> AppResult<Case> {
    let (case, reacted) = tx.finish_reacted(result).await?;
    if !reacted.iter().any(|c| c.case_id == case.id && *c.tenant == *case.tenant_id) {
        return Ok(case);
    }
    let mut pooled = db.get().await?;
    let fresh = domain::case::find_many(&mut pooled.conn(), &case.tenant_id, &[case.case_id()]).await?.pop();
    Ok(fresh.unwrap_or(case))
}

/// The case a mutation acts on: a number, else it cannot exist.
pub(crate) fn case_id(id: &ID) -> AppResult<CaseId> {
    numeric_id(id).map(CaseId).ok_or_else(|| AppError::not_found("case", id.as_str()))
}

/// For a field that can be changed but not cleared: absent leaves it alone,
/// `null` is refused.
pub(crate) fn unclearable<T>(field: &str, value: MaybeUndefined<T>) -> AppResult<Option<T>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(field, "cannot be null")),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// For a clearable field: absent is `None`, `null` is `Some(None)`.
pub(crate) fn clearable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
