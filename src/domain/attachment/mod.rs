//! Attachments: files on a case or one of its tasks (screenshots, `.eml`
//! files, exports, memory dumps, malware samples), with their hashes.
//!
//! The bytes live in the [`Store`](crate::store::Store), once per tenant and
//! SHA-256 (a *blob*); attachments refer to blobs. An upload streams to the
//! store under a fresh key that is recorded first as STAGING (see
//! [`objects`]); adding the attachment adopts that object as a new blob, or,
//! when the tenant already holds the same bytes, refers to the existing blob
//! and queues the new copy for deletion. Removing the last attachment of a
//! blob deletes the blob row and queues its object, in the same transaction.
//! The sweeper (`jobs::attachments`) deletes queued objects and abandoned
//! uploads: a crash at any point leaves a row it retries, never orphan bytes
//! or a blob without its object.

pub mod link;
pub mod name;
pub mod objects;
pub mod sniff;
pub mod zip;

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts, Principal};
use crate::db::schema::{attachment_blobs, attachment_downloads, attachments};
use crate::db::{Conn, Link};
use crate::domain::activity::{self, AuditAction, Changes, FieldChange, NewAudit};
use crate::domain::case::{self, CaseId};
use crate::domain::now;
use crate::domain::observable::{self, NewObservable, ObservableType};
use crate::domain::task::{self, TaskId};
use crate::domain::values::{MAX_TEXT_CHARS, optional_text, text_enum};
use crate::error::{AppError, AppResult};
use crate::store::Digests;
use crate::with_conn;

/// An attachment's number, unique across tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentId(pub i64);

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How a deployment keeps attachments (`serve`'s configuration).
#[derive(Debug, Clone)]
pub struct AttachmentSettings {
    /// The store; absent: a directory beside the SQLite database, and on
    /// PostgreSQL no attachments until one is configured.
    pub store: Option<crate::store::Store>,
    pub limits: Limits,
    /// How long a signed download link works.
    pub link_ttl: std::time::Duration,
    /// The longest an upload may take; a staged upload older than this (and
    /// the request's run) is abandoned and swept.
    pub upload_timeout: std::time::Duration,
    /// How often the sweeper looks for objects to delete (it is also woken
    /// by each removal).
    pub sweep_interval: std::time::Duration,
    /// The service's public URL (`CASEBOOK_PUBLIC_URL`): download links are
    /// absolute with it, else paths from the server's root.
    pub public_url: Option<String>,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        AttachmentSettings {
            store: None,
            limits: Limits::default(),
            link_ttl: std::time::Duration::from_secs(5 * 60),
            upload_timeout: std::time::Duration::from_secs(60 * 60),
            sweep_interval: std::time::Duration::from_secs(60),
            public_url: None,
        }
    }
}

/// What requests share for attachments: the store, the limits, the link key,
/// and a way to wake the sweeper.
#[derive(Debug, Clone)]
pub struct Attachments {
    pub store: Option<crate::store::Store>,
    pub settings: AttachmentSettings,
    pub link_key: link::LinkKey,
    pub sweep: std::sync::Arc<tokio::sync::Notify>,
}

impl Attachments {
    /// The store, or why there is none.
    pub fn store(&self) -> AppResult<&crate::store::Store> {
        self.store.as_ref().ok_or_else(|| {
            AppError::NotConfigured(
                "attachments need a store: set CASEBOOK_ATTACHMENTS_DIR or CASEBOOK_S3_BUCKET (docs/attachments.md)"
                    .into(),
            )
        })
    }

    /// A signed link to download the attachment, for `user` of `tenant`,
    /// and when it stops working.
    pub fn download_url(&self, tenant: &str, user: &str, id: AttachmentId) -> (String, NaiveDateTime) {
        let ttl = chrono::Duration::from_std(self.settings.link_ttl).unwrap_or(chrono::Duration::minutes(5));
        let expires = now() + ttl;
        let grant = link::Grant {
            tenant: tenant.to_owned(),
            attachment: id,
            user: user.to_owned(),
            expires: expires.and_utc().timestamp(),
        };
        let token = link::sign(&self.link_key, &grant);
        let base = self.settings.public_url.as_deref().unwrap_or_default().trim_end_matches('/');
        (format!("{base}/attachments/{id}?link={token}"), expires)
    }

    /// Wakes the sweeper (objects were queued for deletion).
    pub fn nudge(&self) {
        self.sweep.notify_one();
    }
}

/// What a deployment allows (README, "Limits").
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes per file.
    pub max_file_bytes: u64,
    /// Attachments per case.
    pub max_files_per_case: i64,
    /// Bytes of distinct content per tenant (a file stored once counts once).
    pub tenant_quota_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 100 * 1024 * 1024,
            max_files_per_case: 500,
            tenant_quota_bytes: 10 * 1024 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct AttachmentRow {
    id: i64,
    case_id: i64,
    task_id: Option<i64>,
    file_name: String,
    description: Option<String>,
    is_malware: bool,
    added_by: String,
    added_at: NaiveDateTime,
    updated_by: String,
    updated_at: NaiveDateTime,
}

/// Stored content, shared by the tenant's attachments of the same bytes.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachment_blobs, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Blob {
    pub id: i64,
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
    pub crc32: i64,
    pub size: i64,
    pub content_type: String,
    pub storage_key: String,
}

/// A file on a case (and maybe one of its tasks).
#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: AttachmentId,
    pub case_id: CaseId,
    pub task_id: Option<TaskId>,
    /// As given, made safe ([`name::safe_file_name`]).
    pub file_name: String,
    pub description: Option<String>,
    pub is_malware: bool,
    pub added_by: String,
    pub added_at: NaiveDateTime,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
    pub blob: Blob,
}

impl From<(AttachmentRow, Blob)> for Attachment {
    fn from((row, blob): (AttachmentRow, Blob)) -> Self {
        Attachment {
            id: AttachmentId(row.id),
            case_id: CaseId(row.case_id),
            task_id: row.task_id.map(TaskId),
            file_name: row.file_name,
            description: row.description,
            is_malware: row.is_malware,
            added_by: row.added_by,
            added_at: row.added_at,
            updated_by: row.updated_by,
            updated_at: row.updated_at,
            blob,
        }
    }
}

impl Attachment {
    /// How the audit names the file.
    fn label(&self) -> String {
        format!("{} (#{})", self.file_name, self.id)
    }
}

/// An upload that reached the store, not yet an attachment.
#[derive(Debug, Clone)]
pub struct Staged {
    /// Its key in the store (a STAGING row of [`objects`]).
    pub key: String,
    /// The name the client gave, already made safe.
    pub file_name: String,
    pub digests: Digests,
}

/// A file to attach.
#[derive(Debug)]
pub struct NewAttachment {
    pub case_id: CaseId,
    pub task_id: Option<TaskId>,
    pub description: Option<String>,
    pub is_malware: bool,
    /// Also add its SHA-256, SHA-1, MD5 and name as observables of the case.
    pub add_observables: bool,
}

/// Attaches an uploaded file to a case. Call inside a write transaction.
pub async fn add(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    limits: &Limits,
    staged: &Staged,
    input: NewAttachment,
) -> AppResult<Attachment> {
    let tenant = actor.tenant.as_str();
    let description = optional_text("description", input.description.as_deref(), MAX_TEXT_CHARS)?;
    case::lock_existing(conn, tenant, input.case_id).await?;
    if let Some(task_id) = input.task_id {
        let task = task::find(conn, tenant, task_id).await?;
        if task.is_none_or(|t| t.case_id != input.case_id.0) {
            return Err(AppError::bad_input(
                "taskId",
                format!("task {task_id} is not a task of case {}", input.case_id),
            ));
        }
    }
    let held = count_of_case(conn, tenant, input.case_id).await?;
    if held >= limits.max_files_per_case {
        return Err(AppError::bad_input(
            "caseId",
            format!("a case holds at most {} attachments", limits.max_files_per_case),
        ));
    }
    if staged.digests.size > limits.max_file_bytes {
        return Err(too_large(limits.max_file_bytes));
    }
    lock_tenant_content(conn, tenant).await?;
    objects::expect_staging(conn, tenant, &staged.key).await?;
    let blob = match blob_by_hash(conn, tenant, &staged.digests.sha256).await? {
        Some(blob) => {
            // The same bytes are stored already: this copy goes.
            objects::doom(conn, tenant, &staged.key).await?;
            blob
        }
        None => {
            let used = bytes_used(conn, tenant).await?;
            if used + staged.digests.size > limits.tenant_quota_bytes {
                return Err(AppError::bad_input(
                    "file",
                    format!(
                        "the tenant's attachments hold {used} of {} bytes; this file of {} bytes would exceed the quota",
                        limits.tenant_quota_bytes, staged.digests.size
                    ),
                ));
            }
            let blob = insert_blob(conn, tenant, staged).await?;
            objects::adopt(conn, &staged.key).await?;
            blob
        }
    };
    let now = now();
    let values = (
        attachments::tenant_id.eq(tenant),
        attachments::case_id.eq(input.case_id.0),
        attachments::task_id.eq(input.task_id.map(|t| t.0)),
        attachments::blob_id.eq(blob.id),
        attachments::file_name.eq(&staged.file_name),
        attachments::description.eq(&description),
        attachments::is_malware.eq(input.is_malware),
        attachments::added_by.eq(&actor.user_id),
        attachments::added_at.eq(now),
        attachments::updated_by.eq(&actor.user_id),
        attachments::updated_at.eq(now),
    );
    let row = with_conn!(conn, c => {
        diesel::insert_into(attachments::table)
            .values(values)
            .returning(AttachmentRow::as_returning())
            .get_result(c)
            .await
    })?;
    let attachment = Attachment::from((row, blob));
    let mut changes = vec![
        FieldChange::new("attachment", None, Some(attachment.label())),
        FieldChange::new("size", None, Some(attachment.blob.size.to_string())),
        FieldChange::new("contentType", None, Some(attachment.blob.content_type.clone())),
        FieldChange::new("sha256", None, Some(attachment.blob.sha256.clone())),
    ];
    if input.is_malware {
        changes.push(FieldChange::new("isMalware", None, Some("true".into())));
    }
    if let Some(description) = &description {
        changes.push(FieldChange::new("description", None, Some(description.clone())));
    }
    audit(conn, actor, &attachment, AuditAction::AttachmentAdded, changes).await?;
    if input.add_observables {
        observable::add(conn, actor, input.case_id, &observables_of(&attachment)).await?;
    }
    Ok(attachment)
}

/// The file's hashes and name as observables.
fn observables_of(attachment: &Attachment) -> Vec<NewObservable> {
    let description = Some(format!("attachment {}", attachment.label()));
    [
        (ObservableType::FileHashSha256, &attachment.blob.sha256),
        (ObservableType::FileHashSha1, &attachment.blob.sha1),
        (ObservableType::FileHashMd5, &attachment.blob.md5),
        (ObservableType::FileName, &attachment.file_name),
    ]
    .into_iter()
    .map(|(kind, value)| NewObservable {
        kind,
        value: value.clone(),
        is_ioc: None,
        tlp: None,
        description: description.clone(),
    })
    .collect()
}

pub(crate) fn too_large(max: u64) -> AppError {
    AppError::bad_input("file", format!("a file may hold at most {max} bytes"))
}

/// A change to an attachment: `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct AttachmentChanges {
    pub description: Option<Option<String>>,
    pub is_malware: Option<bool>,
}

/// Changes an attachment's description or malware mark; audited on its case.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    id: AttachmentId,
    input: AttachmentChanges,
) -> AppResult<Attachment> {
    let tenant = actor.tenant.as_str();
    let found = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("attachment", id))?;
    case::lock(conn, tenant, found.case_id).await?;
    // Read again under the case's lock: a change that committed meanwhile is
    // what this one changes (and what its audit shows as before).
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("attachment", id))?;
    let mut changes = Changes::default();
    let description = changes.optional_text(
        "description",
        input.description.as_ref().map(Option::as_deref),
        &current.description,
        MAX_TEXT_CHARS,
    )?;
    let is_malware = input.is_malware.unwrap_or(current.is_malware);
    changes.track("isMalware", &current.is_malware, &is_malware, |m| Some(m.to_string()));
    if changes.is_empty() {
        return Ok(current);
    }
    let values = (
        attachments::description.eq(&description),
        attachments::is_malware.eq(is_malware),
        attachments::updated_by.eq(&actor.user_id),
        attachments::updated_at.eq(now()),
    );
    with_conn!(conn, c => diesel::update(attachments::table.find(id.0)).set(values).execute(c).await)?;
    let updated = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("attachment", id))?;
    let mut listed = vec![FieldChange::new("attachment", Some(current.label()), Some(current.label()))];
    listed.extend(changes.0);
    audit(conn, actor, &updated, AuditAction::AttachmentUpdated, listed).await?;
    Ok(updated)
}

/// Removes an attachment; its bytes go once nothing else refers to them.
pub async fn remove(conn: &mut Conn<'_>, actor: &Granted<'_, ManageAlerts>, id: AttachmentId) -> AppResult<Attachment> {
    let tenant = actor.tenant.as_str();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("attachment", id))?;
    case::lock(conn, tenant, current.case_id).await?;
    lock_tenant_content(conn, tenant).await?;
    let deleted = with_conn!(conn, c => diesel::delete(attachments::table.find(id.0)).execute(c).await)?;
    if deleted == 0 {
        // Another removal committed while this one waited for the case.
        return Err(AppError::not_found("attachment", id));
    }
    let others: i64 = with_conn!(conn, c => {
        attachments::table.filter(attachments::blob_id.eq(current.blob.id)).count().get_result(c).await
    })?;
    if others == 0 {
        with_conn!(conn, c => diesel::delete(attachment_blobs::table.find(current.blob.id)).execute(c).await)?;
        objects::doom(conn, tenant, &current.blob.storage_key).await?;
    }
    let changes = vec![
        FieldChange::new("attachment", Some(current.label()), None),
        FieldChange::new("sha256", Some(current.blob.sha256.clone()), None),
    ];
    audit(conn, actor, &current, AuditAction::AttachmentRemoved, changes).await?;
    Ok(current)
}

async fn audit(
    conn: &mut Conn<'_>,
    actor: &Principal,
    attachment: &Attachment,
    action: AuditAction,
    changes: Vec<FieldChange>,
) -> AppResult<()> {
    let (_, seq) = case::touch(conn, actor, attachment.case_id, 1).await?;
    let audit = NewAudit { task_id: attachment.task_id.map(|t| t.0), ..NewAudit::new(action, changes) };
    activity::record_audits(conn, actor, attachment.case_id, seq, vec![audit]).await
}

/// Serialises the tenant's changes to its stored content across replicas
/// (SQLite's writes already take turns): the quota holds under concurrent
/// uploads, and a blob cannot lose its last reference while another upload
/// takes it up.
async fn lock_tenant_content(conn: &mut Conn<'_>, tenant: &str) -> AppResult<()> {
    if let Link::Postgres(c) = &mut conn.link {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('casebook attachments ' || $1, 0))")
            .bind::<Text, _>(tenant)
            .execute(*c)
            .await?;
    }
    Ok(())
}

async fn blob_by_hash(conn: &mut Conn<'_>, tenant: &str, sha256: &str) -> AppResult<Option<Blob>> {
    let blob = with_conn!(conn, c => {
        attachment_blobs::table
            .filter(attachment_blobs::tenant_id.eq(tenant))
            .filter(attachment_blobs::sha256.eq(sha256))
            .select(Blob::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(blob)
}

async fn insert_blob(conn: &mut Conn<'_>, tenant: &str, staged: &Staged) -> AppResult<Blob> {
    let d = &staged.digests;
    let size = i64::try_from(d.size).map_err(|_| too_large(i64::MAX as u64))?;
    let values = (
        attachment_blobs::tenant_id.eq(tenant),
        attachment_blobs::sha256.eq(&d.sha256),
        attachment_blobs::sha1.eq(&d.sha1),
        attachment_blobs::md5.eq(&d.md5),
        attachment_blobs::crc32.eq(i64::from(d.crc32)),
        attachment_blobs::size.eq(size),
        attachment_blobs::content_type.eq(sniff::content_type(&d.head)),
        attachment_blobs::storage_key.eq(&staged.key),
        attachment_blobs::created_at.eq(now()),
    );
    let blob = with_conn!(conn, c => {
        diesel::insert_into(attachment_blobs::table)
            .values(values)
            .returning(Blob::as_returning())
            .get_result(c)
            .await
    })?;
    Ok(blob)
}

/// Bytes of distinct content the tenant holds.
pub async fn bytes_used(conn: &mut Conn<'_>, tenant: &str) -> AppResult<u64> {
    #[derive(QueryableByName)]
    struct Used {
        #[diesel(sql_type = BigInt)]
        used: i64,
    }
    let sql = crate::db::numbered(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS used FROM attachment_blobs WHERE tenant_id = $1",
        conn.is_postgres(),
    );
    let row: Used = with_conn!(conn, c => {
        diesel::sql_query(sql.as_ref()).bind::<Text, _>(tenant).get_result(c).await
    })?;
    Ok(row.used.max(0) as u64)
}

async fn count_of_case(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<i64> {
    let count = with_conn!(conn, c => {
        attachments::table
            .filter(attachments::tenant_id.eq(tenant))
            .filter(attachments::case_id.eq(case_id.0))
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

/// How many attachments a task has.
pub async fn count_of_task(conn: &mut Conn<'_>, tenant: &str, task_id: TaskId) -> AppResult<i64> {
    let count = with_conn!(conn, c => {
        attachments::table
            .filter(attachments::tenant_id.eq(tenant))
            .filter(attachments::task_id.eq(task_id.0))
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: AttachmentId) -> AppResult<Option<Attachment>> {
    Ok(find_many(conn, tenant, &[id]).await?.pop())
}

pub async fn find_many(conn: &mut Conn<'_>, tenant: &str, ids: &[AttachmentId]) -> AppResult<Vec<Attachment>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<(AttachmentRow, Blob)> = with_conn!(conn, c => {
        attachments::table
            .inner_join(attachment_blobs::table)
            .filter(attachments::tenant_id.eq(tenant))
            .filter(attachments::id.eq_any(&ids))
            .order(attachments::id.desc())
            .select((AttachmentRow::as_select(), Blob::as_select()))
            .load(c)
            .await
    })?;
    Ok(rows.into_iter().map(Attachment::from).collect())
}

/// Which attachments a page lists: of a case, or of one of its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    Case(CaseId),
    Task(TaskId),
}

/// A page of a case's (or a task's) attachments, newest first, after the
/// attachment `after` when given; `limit` rows at most.
pub async fn page(
    conn: &mut Conn<'_>,
    tenant: &str,
    owner: Owner,
    after: Option<AttachmentId>,
    limit: i64,
) -> AppResult<Vec<Attachment>> {
    let after = after.map_or(i64::MAX, |a| a.0);
    let rows: Vec<(AttachmentRow, Blob)> = with_conn!(conn, c => {
        let mut query = attachments::table
            .inner_join(attachment_blobs::table)
            .filter(attachments::tenant_id.eq(tenant))
            .filter(attachments::id.lt(after))
            .order(attachments::id.desc())
            .limit(limit)
            .select((AttachmentRow::as_select(), Blob::as_select()))
            .into_boxed();
        query = match owner {
            Owner::Case(id) => query.filter(attachments::case_id.eq(id.0)),
            Owner::Task(id) => query.filter(attachments::task_id.eq(id.0)),
        };
        query.load(c).await
    })?;
    Ok(rows.into_iter().map(Attachment::from).collect())
}

/// The first pages of several cases' attachments (the newest `limit` of
/// each), in two statements however many cases.
pub async fn newest_of_cases(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_ids: &[CaseId],
    limit: i64,
) -> AppResult<Vec<Attachment>> {
    if case_ids.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let mut placeholders = crate::db::Placeholders::new(conn.is_postgres());
    let (tenant_at, cases, limit_at) = (placeholders.bind(), placeholders.list(case_ids.len()), placeholders.bind());
    let sql = format!(
        "SELECT id FROM (SELECT a.id, ROW_NUMBER() OVER (PARTITION BY a.case_id ORDER BY a.id DESC) AS n \
         FROM attachments a WHERE a.tenant_id = {tenant_at} AND a.case_id IN ({cases})) ranked WHERE n <= {limit_at}"
    );
    let ids: Vec<Id> = with_conn!(conn, c => {
        let mut query = diesel::sql_query(sql.as_str()).into_boxed().bind::<Text, _>(tenant.to_owned());
        for id in case_ids {
            query = query.bind::<BigInt, _>(id.0);
        }
        query.bind::<BigInt, _>(limit).load::<Id>(c).await
    })?;
    let ids: Vec<AttachmentId> = ids.into_iter().map(|i| AttachmentId(i.id)).collect();
    find_many(conn, tenant, &ids).await
}

/// How many attachments each of these cases has.
pub async fn counts_of_cases(conn: &mut Conn<'_>, tenant: &str, case_ids: &[CaseId]) -> AppResult<Vec<(i64, i64)>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let counts = with_conn!(conn, c => {
        attachments::table
            .filter(attachments::tenant_id.eq(tenant))
            .filter(attachments::case_id.eq_any(&ids))
            .group_by(attachments::case_id)
            .select((attachments::case_id, diesel::dsl::count_star()))
            .load(c)
            .await
    })?;
    Ok(counts)
}

text_enum! {
    /// How a file was fetched.
    pub enum DownloadVia {
        /// An authenticated request (a token or an API key).
        Api => "API",
        /// A signed link (`Attachment.downloadUrl`).
        Link => "LINK",
    }
}

/// One fetch of a file.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = attachment_downloads, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Download {
    pub id: i64,
    pub attachment_id: i64,
    pub downloaded_by: String,
    pub downloaded_at: NaiveDateTime,
    pub via: DownloadVia,
    pub byte_range: Option<String>,
}

/// The most downloads one read of the log returns.
pub const MAX_DOWNLOADS_LISTED: i64 = 100;

/// Records that `user` fetched the attachment. Call in a write transaction.
pub async fn record_download(
    conn: &mut Conn<'_>,
    tenant: &str,
    attachment: &Attachment,
    user: &str,
    via: DownloadVia,
    byte_range: Option<&str>,
) -> AppResult<()> {
    let values = (
        attachment_downloads::tenant_id.eq(tenant),
        attachment_downloads::attachment_id.eq(attachment.id.0),
        attachment_downloads::case_id.eq(attachment.case_id.0),
        attachment_downloads::downloaded_by.eq(user),
        attachment_downloads::downloaded_at.eq(now()),
        attachment_downloads::via.eq(via),
        attachment_downloads::byte_range.eq(byte_range),
    );
    with_conn!(conn, c => diesel::insert_into(attachment_downloads::table).values(values).execute(c).await)?;
    Ok(())
}

/// The newest `limit` downloads of each of these attachments, newest first,
/// in one statement however many attachments.
pub async fn downloads_of(
    conn: &mut Conn<'_>,
    tenant: &str,
    ids: &[AttachmentId],
    limit: i64,
) -> AppResult<Vec<Download>> {
    let limit = limit.clamp(0, MAX_DOWNLOADS_LISTED);
    if ids.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let mut placeholders = crate::db::Placeholders::new(conn.is_postgres());
    let (tenant_at, listed, limit_at) = (placeholders.bind(), placeholders.list(ids.len()), placeholders.bind());
    let sql = format!(
        "SELECT id, attachment_id, downloaded_by, downloaded_at, via, byte_range FROM \
         (SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.attachment_id ORDER BY d.id DESC) AS n \
          FROM attachment_downloads d WHERE d.tenant_id = {tenant_at} AND d.attachment_id IN ({listed})) ranked \
         WHERE n <= {limit_at} ORDER BY attachment_id, id DESC"
    );
    let rows: Vec<Download> = with_conn!(conn, c => {
        let mut query = diesel::sql_query(sql.as_str()).into_boxed().bind::<Text, _>(tenant.to_owned());
        for id in ids {
            query = query.bind::<BigInt, _>(id.0);
        }
        query.bind::<BigInt, _>(limit).load::<Download>(c).await
    })?;
    Ok(rows)
}
