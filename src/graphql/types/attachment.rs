use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};

use super::connection::{PageInfo, split_page};
use super::user::known_user;
use crate::auth::ReadData;
use crate::domain::attachment::{self, Attachment, AttachmentId, Attachments, Download, DownloadVia, Owner};
use crate::domain::case::Case;
use crate::domain::task::Task;
use crate::domain::user::User;
use crate::error::AppError;
use crate::graphql::cursor::{self, IdCursor};
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{DownloadsKey, NewestKey};
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::{db, grant, loaders, page_size, principal};

/// A file on a case, or on one of its tasks: a screenshot, an `.eml`, an
/// export, a memory dump, a malware sample. Its bytes are stored once per
/// tenant whatever the number of attachments that hold them.
#[Object]
impl Attachment {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The case the file is on.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Case> {
        let case = loaders(ctx)?.cases.load_one(self.case_id.0).await?;
        Ok(case.ok_or_else(|| AppError::internal(format!("attachment {} has no case", self.id)))?)
    }
    /// The task the file was added to, if any (null once that task is deleted:
    /// the file stays on the case).
    async fn task(&self, ctx: &Context<'_>) -> GqlResult<Option<Task>> {
        match self.task_id {
            Some(id) => Ok(loaders(ctx)?.tasks.load_one(id.0).await?),
            None => Ok(None),
        }
    }
    /// The file's name as the client gave it, made safe to show and to save:
    /// the last path segment only, without control or bidirectional
    /// characters, at most 200 characters, `_` before a Windows device name.
    async fn file_name(&self) -> &str {
        &self.file_name
    }
    /// The media type sniffed from the file's first bytes (never the
    /// client's claim): `image/png`, `application/pdf`, `message/rfc822`,
    /// `text/html`, `application/octet-stream`... Downloads serve what a
    /// browser would run (HTML, SVG, XML, scripts) as `application/octet-stream`.
    async fn content_type(&self) -> &str {
        &self.blob.content_type
    }
    /// Bytes.
    async fn size(&self) -> i32 {
        i32::try_from(self.blob.size).unwrap_or(i32::MAX)
    }
    /// SHA-256 of the bytes, lower-case hex.
    async fn sha256(&self) -> &str {
        &self.blob.sha256
    }
    /// SHA-1 of the bytes, lower-case hex.
    async fn sha1(&self) -> &str {
        &self.blob.sha1
    }
    /// MD5 of the bytes, lower-case hex.
    async fn md5(&self) -> &str {
        &self.blob.md5
    }
    /// What the file is, in the analyst's words.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The file is (or holds) malware: it is only ever downloaded inside a
    /// zip encrypted with the password `infected`, never as its raw bytes.
    async fn is_malware(&self) -> bool {
        self.is_malware
    }
    /// Who added the file.
    async fn added_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.added_by).await
    }
    /// When the file was added.
    async fn added_at(&self) -> DateTime {
        utc(self.added_at)
    }
    /// Who changed the description or the malware mark last (the adder until then).
    async fn updated_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.updated_by).await
    }
    /// When the attachment last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
    /// A link to download the file without a bearer token (for a browser's
    /// `<a href>`), made for the caller, valid for a few minutes (5 by
    /// default: `CASEBOOK_ATTACHMENT_LINK_TTL`) and only for this file of
    /// this tenant. A path from the server's root unless `CASEBOOK_PUBLIC_URL`
    /// is set. With a token, `GET /attachments/{id}` serves the same file.
    async fn download_url(&self, ctx: &Context<'_>) -> GqlResult<String> {
        let reader = grant::<ReadData>(ctx)?;
        let attachments = ctx.data_opt::<Attachments>().ok_or_else(|| AppError::internal("no attachment settings"))?;
        let user = &principal(ctx)?.user_id;
        Ok(attachments.download_url(reader.tenant(), user, self.id).0)
    }
    /// Who fetched the file and when, newest first (downloads with a token
    /// and through signed links).
    async fn downloads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many (default 25, at most 100).")] first: Option<i32>,
    ) -> GqlResult<Vec<Download>> {
        let key = DownloadsKey { attachment_id: self.id.0, limit: page_size(first)? };
        Ok(loaders(ctx)?.downloads.load_one(key).await?.map(|log| log.to_vec()).unwrap_or_default())
    }
}

/// One fetch of an attachment's bytes.
#[Object(name = "AttachmentDownload")]
impl Download {
    /// Who fetched it (for a signed link: who the link was made for).
    async fn downloaded_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.downloaded_by).await
    }
    /// When.
    async fn downloaded_at(&self) -> DateTime {
        utc(self.downloaded_at)
    }
    /// With a token (`API`) or through a signed link (`LINK`).
    async fn via(&self) -> DownloadVia {
        self.via
    }
    /// The byte range asked for (`bytes=0-1023`), when not the whole file.
    async fn range(&self) -> Option<&str> {
        self.byte_range.as_deref()
    }
}

/// An attachment and its cursor.
#[derive(SimpleObject)]
pub struct AttachmentEdge {
    /// Pass as `after` for the attachments that follow this one.
    pub cursor: String,
    /// The attachment.
    pub node: Attachment,
}

/// A page of attachments, newest first.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AttachmentConnection {
    /// The attachments of this page with their cursors.
    pub edges: Vec<AttachmentEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub owner: Owner,
}

#[ComplexObject]
impl AttachmentConnection {
    /// The attachments of this page.
    async fn nodes(&self) -> Vec<&Attachment> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// How many attachments there are, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        match self.owner {
            Owner::Case(case_id) => Ok(loaders(ctx)?.attachment_counts.load_one(case_id.0).await?.unwrap_or(0)),
            Owner::Task(task_id) => {
                let tenant = grant::<ReadData>(ctx)?.tenant();
                let mut conn = db(ctx)?.get().await?;
                Ok(attachment::count_of_task(&mut conn.conn(), tenant, task_id).await?)
            }
        }
    }
}

/// A page of a case's or a task's attachments (first pages of cases are
/// batched across a page of cases).
pub async fn attachment_page(
    ctx: &Context<'_>,
    owner: Owner,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<AttachmentConnection> {
    let limit = page_size(first)?;
    let after = after.map(|a| cursor::decode::<IdCursor>("after", &a)).transpose()?.map(|c| AttachmentId(c.id));
    let mut rows = match (owner, after) {
        (Owner::Case(case_id), None) => {
            let key = NewestKey { case_id: case_id.0, limit: limit + 1 };
            loaders(ctx)?.newest_attachments.load_one(key).await?.map(|page| page.to_vec()).unwrap_or_default()
        }
        _ => {
            let tenant = grant::<ReadData>(ctx)?.tenant();
            let mut conn = db(ctx)?.get().await?;
            attachment::page(&mut conn.conn(), tenant, owner, after, limit + 1).await?
        }
    };
    let has_next = split_page(&mut rows, limit);
    let edges: Vec<AttachmentEdge> = rows
        .into_iter()
        .map(|a| AttachmentEdge { cursor: cursor::encode(&IdCursor { id: a.id.0 }), node: a })
        .collect();
    let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
    Ok(AttachmentConnection { page_info: PageInfo::new(&cursors, has_next, after.is_some()), edges, owner })
}
