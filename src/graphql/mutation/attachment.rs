use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::{case_id, clearable, unclearable};
use crate::auth::{ManageAlerts, Permission};
use crate::domain::attachment::{self, Attachment, AttachmentChanges, AttachmentId, Attachments, NewAttachment};
use crate::domain::case::Case;
use crate::domain::task::TaskId;
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::numeric_id;
use crate::graphql::upload::{Upload, Uploads};
use crate::graphql::{db, grant, loaders};

/// A file to attach to a case (or one of its tasks).
#[derive(InputObject)]
pub struct AddAttachmentInput {
    /// The case number.
    pub case_id: ID,
    /// A task of that case to attach the file to (it stays on the case if
    /// the task is deleted).
    pub task_id: Option<ID>,
    /// The file: a part of this multipart request (the GraphQL multipart
    /// request spec; `Apollo-Require-Preflight` header required). Its name
    /// is kept made safe; its type is sniffed from its bytes; its SHA-256,
    /// SHA-1 and MD5 are computed as it streams to the store.
    pub file: Upload,
    /// What the file is.
    pub description: Option<String>,
    /// The file is (or holds) malware: it will only be served zipped with
    /// the password `infected` (default false).
    #[graphql(default)]
    pub is_malware: bool,
    /// Also add the file's SHA-256, SHA-1, MD5 and name as observables of
    /// the case, so the pivot finds other cases that saw the same file
    /// (default false).
    #[graphql(default)]
    pub add_observables: bool,
}

/// A change to an attachment. Absent fields are left alone; `null` clears
/// the description.
#[derive(InputObject)]
pub struct UpdateAttachmentInput {
    /// The attachment's id.
    pub id: ID,
    /// New description.
    pub description: MaybeUndefined<String>,
    /// Mark or unmark the file as malware; cannot be null.
    pub is_malware: MaybeUndefined<bool>,
}

/// The attachment to remove.
#[derive(InputObject)]
pub struct RemoveAttachmentInput {
    /// The attachment's id.
    pub id: ID,
}

/// What `removeAttachment` answers.
#[derive(SimpleObject)]
pub struct RemoveAttachmentPayload {
    /// The id the attachment had.
    pub removed_attachment_id: ID,
    /// The case the file was on, after the change.
    pub case: Case,
}

fn attachment_id(id: &ID) -> AppResult<AttachmentId> {
    numeric_id(id).map(AttachmentId).ok_or_else(|| AppError::not_found("attachment", id.as_str()))
}

fn settings<'a>(ctx: &Context<'a>) -> AppResult<&'a Attachments> {
    ctx.data_opt::<Attachments>().ok_or_else(|| AppError::internal("the schema has no attachment settings"))
}

#[derive(Default)]
pub struct AttachmentMutation;

#[Object]
impl AttachmentMutation {
    /// Attaches a file, sent in the same multipart request, to a case or one
    /// of its tasks. Audited (`ATTACHMENT_ADDED`), told to the case's live
    /// watchers, and a change of the case (`version`, `updatedAt`). The same
    /// bytes are stored once per tenant however often they are attached.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn add_attachment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The file and where it goes.")] input: AddAttachmentInput,
    ) -> GqlResult<Attachment> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let attachments = settings(ctx)?;
        attachments.store()?;
        let uploads = ctx.data_opt::<Uploads>().ok_or_else(|| {
            AppError::bad_input(
                "file",
                "send the file in a multipart request (the GraphQL multipart request spec), not in JSON",
            )
        })?;
        let staged = uploads.take(&input.file)?;
        let new = NewAttachment {
            case_id: case_id(&input.case_id)?,
            task_id: input
                .task_id
                .as_ref()
                .map(|id| numeric_id(id).map(TaskId).ok_or_else(|| AppError::not_found("task", id.as_str())))
                .transpose()?,
            description: input.description,
            is_malware: input.is_malware,
            add_observables: input.add_observables,
        };
        let limits = &attachments.settings.limits;
        // A copy of bytes the tenant held already is queued for deletion and
        // goes with the next sweep.
        Ok(db(ctx)?.write(async |conn| attachment::add(conn, &actor, limits, &staged, new).await).await?)
    }

    /// Changes an attachment's description or malware mark; audited on its
    /// case (`ATTACHMENT_UPDATED`).
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn update_attachment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The attachment and its changes.")] input: UpdateAttachmentInput,
    ) -> GqlResult<Attachment> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id = attachment_id(&input.id)?;
        let changes = AttachmentChanges {
            description: clearable(input.description),
            is_malware: unclearable("isMalware", input.is_malware)?,
        };
        Ok(db(ctx)?.write(async |conn| attachment::update(conn, &actor, id, changes).await).await?)
    }

    /// Removes an attachment; the case's audit keeps its name and hashes
    /// (`ATTACHMENT_REMOVED`). The bytes are deleted from the store once no
    /// other attachment of the tenant holds them.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn remove_attachment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The attachment to remove.")] input: RemoveAttachmentInput,
    ) -> GqlResult<RemoveAttachmentPayload> {
        let actor = grant::<ManageAlerts>(ctx)?;
        let id = attachment_id(&input.id)?;
        let removed = db(ctx)?.write(async |conn| attachment::remove(conn, &actor, id).await).await?;
        settings(ctx)?.nudge();
        let case = loaders(ctx)?.cases.load_one(removed.case_id.0).await?;
        let case = case.ok_or_else(|| AppError::not_found("case", removed.case_id))?;
        Ok(RemoveAttachmentPayload { removed_attachment_id: input.id, case })
    }
}
