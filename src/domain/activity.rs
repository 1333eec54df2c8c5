//! The activity log of a case: comments and audit events, append-only.
//!
//! Every entry has a per-case sequence number taken while the case row is
//! locked (see [`case::lock`](super::case::lock)), so entries of one case
//! commit in sequence order and a cursor (the sequence) never skips one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use super::values::{self, text_enum};
use crate::auth::Principal;
use crate::db::schema::{activity, cases};
use crate::db::{Conn, Json};
use crate::domain::now;
use crate::domain::values::{CaseId, IdText, TimeText};
use crate::error::{AppError, AppResult};
use crate::with_conn;

text_enum! {
    /// The kinds of activity entries.
    pub enum ActivityKind {
        /// A person's note.
        Comment => "COMMENT",
        /// A change the system recorded.
        Audit => "AUDIT",
    }
}

text_enum! {
    /// What an audit event records.
    pub enum AuditAction {
        /// The case was opened.
        CaseCreated => "CASE_CREATED",
        /// Fields of the case changed.
        CaseUpdated => "CASE_UPDATED",
        /// A task was added to the case.
        TaskCreated => "TASK_CREATED",
        /// A task of the case changed.
        TaskUpdated => "TASK_UPDATED",
        /// A task was removed from the case.
        TaskDeleted => "TASK_DELETED",
        /// An incident was linked to the case.
        IncidentLinked => "INCIDENT_LINKED",
        /// An incident was unlinked from the case.
        IncidentUnlinked => "INCIDENT_UNLINKED",
        /// Observables were added to the case (one event lists them all).
        ObservablesAdded => "OBSERVABLES_ADDED",
        /// An observable's IOC flag, TLP or description changed.
        ObservableUpdated => "OBSERVABLE_UPDATED",
        /// An observable was removed from the case (the event keeps its value).
        ObservableRemoved => "OBSERVABLE_REMOVED",
        /// Tags were added to the case.
        TagsAdded => "TAGS_ADDED",
        /// Tags were removed from the case.
        TagsRemoved => "TAGS_REMOVED",
        /// The case's ATT&CK techniques changed (old and new lists).
        TechniquesChanged => "TECHNIQUES_CHANGED",
        /// The at-risk share of an SLA deadline's window was used (written
        /// by the SLA monitor; the change names the deadline).
        SlaAtRisk => "SLA_AT_RISK",
        /// An SLA deadline passed unmet (written by the SLA monitor; the
        /// change names the deadline).
        SlaBreached => "SLA_BREACHED",
        /// A case template's tasks were added to the case (the event names
        /// the template and lists the tasks).
        TemplateApplied => "TEMPLATE_APPLIED",
        /// An automation rule could not act on the case and was rolled back
        /// alone (written by the rule; the changes name the rule, the action
        /// and the reason). The change that triggered it stands.
        AutomationFailed => "AUTOMATION_FAILED",
        /// A linked incident took the case's verdict as the case closed (status
        /// RESOLVED, its classification and determination), or was reopened
        /// with it; `incident` names it. Its source's connector hears of it by
        /// the INCIDENT_UPDATED webhook event.
        IncidentUpdated => "INCIDENT_UPDATED",
        /// A file was attached to the case (or one of its tasks): the
        /// changes give its name and id, size, content type and SHA-256.
        AttachmentAdded => "ATTACHMENT_ADDED",
        /// An attachment's description or malware mark changed.
        AttachmentUpdated => "ATTACHMENT_UPDATED",
        /// An attachment was removed (the event keeps its name and id).
        AttachmentRemoved => "ATTACHMENT_REMOVED",
        /// The case was related to another (`relation` gives the kind as seen
        /// from this case and the other case's number); both cases record it.
        RelationAdded => "RELATION_ADDED",
        /// A relation to another case was removed; both cases record it.
        RelationRemoved => "RELATION_REMOVED",
        /// Other cases were merged into this one: `sources` names them, and
        /// the other changes count what joined (tasks, incidents, observables,
        /// tags, techniques, attachments).
        CasesMerged => "CASES_MERGED",
        /// This case was merged into another (`mergedInto` names it) and
        /// closed as its duplicate; its evidence and tasks moved there, its
        /// comments and history stay here.
        MergedInto => "MERGED_INTO",
    }
}

/// One changed field, with values as a person reads them (names, not ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

impl FieldChange {
    pub fn new(field: &str, old_value: Option<String>, new_value: Option<String>) -> Self {
        FieldChange { field: field.to_owned(), old_value, new_value }
    }
}

/// Collects the fields that really changed.
#[derive(Debug, Default)]
pub struct Changes(pub Vec<FieldChange>);

impl Changes {
    /// Records `field` when `old != new`.
    pub fn track<T: PartialEq>(&mut self, field: &str, old: &T, new: &T, show: impl Fn(&T) -> Option<String>) {
        if old != new {
            self.0.push(FieldChange::new(field, show(old), show(new)));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A required text field: validated when given, recorded when it changed.
    pub fn required_text(
        &mut self,
        field: &str,
        new: Option<&str>,
        current: &str,
        max_chars: usize,
    ) -> AppResult<String> {
        let value = match new {
            Some(text) => values::required_text(field, text, max_chars)?,
            None => current.to_owned(),
        };
        self.track(field, &current.to_owned(), &value, |t| Some(t.clone()));
        Ok(value)
    }

    /// An optional text field (blank clears it): validated when given, recorded when it changed.
    pub fn optional_text(
        &mut self,
        field: &str,
        new: Option<Option<&str>>,
        current: &Option<String>,
        max_chars: usize,
    ) -> AppResult<Option<String>> {
        let value = match new {
            Some(text) => values::optional_text(field, text, max_chars)?,
            None => current.clone(),
        };
        self.track(field, current, &value, Clone::clone);
        Ok(value)
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = activity, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct ActivityRow {
    id: i64,
    case_id: i64,
    seq: i64,
    kind: ActivityKind,
    actor_id: String,
    created_at: NaiveDateTime,
    body: Option<String>,
    action: Option<AuditAction>,
    changes: Option<Json<Vec<FieldChange>>>,
    task_id: Option<i64>,
    incident_id: Option<i64>,
    observable_id: Option<i64>,
    operation_id: Option<String>,
}

/// An entry of a case's activity log.
#[derive(Debug, Clone)]
pub struct Activity {
    pub id: i64,
    pub case_id: CaseId,
    /// Position in the case's log; the cursor.
    pub seq: i64,
    pub actor_id: String,
    pub created_at: NaiveDateTime,
    pub entry: Entry,
}

#[derive(Debug, Clone)]
pub enum Entry {
    Comment {
        body: String,
    },
    Audit {
        action: AuditAction,
        changes: Vec<FieldChange>,
        task_id: Option<i64>,
        incident_id: Option<i64>,
        observable_id: Option<i64>,
        /// The bulk change or merge that wrote it.
        operation_id: Option<String>,
    },
}

impl Activity {
    /// The incident an audit entry names.
    pub fn incident_id(&self) -> Option<i64> {
        match &self.entry {
            Entry::Audit { incident_id, .. } => *incident_id,
            Entry::Comment { .. } => None,
        }
    }
}

/// An entry as readers of the case's activity see it, in the schema's names
/// and scalars: the one serialisation of an entry outside GraphQL's
/// resolvers (webhook payloads write it whole, the compiled read path field
/// by field through the same value types).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryJson<'a> {
    pub id: IdText,
    pub seq: i64,
    pub created_at: TimeText,
    pub actor: ActorJson<'a>,
    #[serde(flatten)]
    pub fields: EntryFieldsJson<'a>,
}

/// Who wrote an entry, as `User { id displayName }`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorJson<'a> {
    pub id: &'a str,
    pub display_name: Option<&'a str>,
}

/// The fields of an entry's concrete type, tagged with its `__typename`.
#[derive(Debug, Serialize)]
#[serde(tag = "__typename")]
pub enum EntryFieldsJson<'a> {
    Comment {
        body: &'a str,
    },
    #[serde(rename_all = "camelCase")]
    AuditEvent {
        action: AuditAction,
        changes: &'a [FieldChange],
        task_id: Option<IdText>,
        incident_id: Option<IdText>,
        observable_id: Option<IdText>,
        operation_id: Option<&'a str>,
    },
}

impl Activity {
    /// The entry as readers see it, written by the user named `actor_name`.
    pub fn json<'a>(&'a self, actor_name: Option<&'a str>) -> EntryJson<'a> {
        let fields = match &self.entry {
            Entry::Comment { body } => EntryFieldsJson::Comment { body },
            Entry::Audit { action, changes, task_id, incident_id, observable_id, operation_id } => {
                EntryFieldsJson::AuditEvent {
                    action: *action,
                    changes,
                    task_id: task_id.map(IdText),
                    incident_id: incident_id.map(IdText),
                    observable_id: observable_id.map(IdText),
                    operation_id: operation_id.as_deref(),
                }
            }
        };
        EntryJson {
            id: IdText(self.id),
            seq: self.seq,
            created_at: TimeText(self.created_at),
            actor: ActorJson { id: &self.actor_id, display_name: actor_name },
            fields,
        }
    }
}

impl TryFrom<ActivityRow> for Activity {
    type Error = AppError;
    fn try_from(row: ActivityRow) -> AppResult<Self> {
        let entry = match row.kind {
            ActivityKind::Comment => Entry::Comment { body: row.body.unwrap_or_default() },
            ActivityKind::Audit => Entry::Audit {
                action: row
                    .action
                    .ok_or_else(|| AppError::internal(format!("audit entry {} has no action", row.id)))?,
                changes: row.changes.map(|changes| changes.0).unwrap_or_default(),
                task_id: row.task_id,
                incident_id: row.incident_id,
                observable_id: row.observable_id,
                operation_id: row.operation_id,
            },
        };
        Ok(Activity {
            id: row.id,
            case_id: CaseId(row.case_id),
            seq: row.seq,
            actor_id: row.actor_id,
            created_at: row.created_at,
            entry,
        })
    }
}

/// A whole activity row, for bulk loading (the demo data set).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = activity, treat_none_as_default_value = false)]
pub struct ActivityInsert {
    pub tenant_id: String,
    pub case_id: i64,
    pub seq: i64,
    pub kind: ActivityKind,
    pub actor_id: String,
    pub created_at: NaiveDateTime,
    pub body: Option<String>,
    pub action: Option<AuditAction>,
    pub changes: Option<Json<Vec<FieldChange>>>,
    pub task_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub observable_id: Option<i64>,
    pub operation_id: Option<String>,
}

impl ActivityInsert {
    pub fn comment(tenant: &str, case_id: i64, seq: i64, actor: &str, at: NaiveDateTime, body: &str) -> Self {
        ActivityInsert {
            tenant_id: tenant.to_owned(),
            case_id,
            seq,
            kind: ActivityKind::Comment,
            actor_id: actor.to_owned(),
            created_at: at,
            body: Some(body.to_owned()),
            action: None,
            changes: None,
            task_id: None,
            incident_id: None,
            observable_id: None,
            operation_id: None,
        }
    }

    pub fn audit(
        tenant: &str,
        case_id: i64,
        seq: i64,
        actor: &str,
        at: NaiveDateTime,
        audit: NewAudit,
        operation_id: Option<String>,
    ) -> AppResult<Self> {
        Ok(ActivityInsert {
            tenant_id: tenant.to_owned(),
            case_id,
            seq,
            kind: ActivityKind::Audit,
            actor_id: actor.to_owned(),
            created_at: at,
            body: None,
            action: Some(audit.action),
            changes: Some(Json(audit.changes)),
            task_id: audit.task_id,
            incident_id: audit.incident_id,
            observable_id: audit.observable_id,
            operation_id,
        })
    }
}

/// Inserts prepared entries in one statement (bulk loading only: no notice);
/// returns `(id, case_id, seq)` of each, in no particular order.
pub async fn insert_rows(conn: &mut Conn<'_>, rows: &[ActivityInsert]) -> AppResult<Vec<(i64, i64, i64)>> {
    let returning = (activity::id, activity::case_id, activity::seq);
    Ok(crate::bulk_insert!(conn, activity::table, rows, returning returning)?)
}

/// Inserts one entry (the API's write path; the demo loads many with [`insert_rows`]).
async fn insert(conn: &mut Conn<'_>, row: ActivityInsert) -> AppResult<Activity> {
    let row = with_conn!(conn, c => {
        diesel::insert_into(activity::table).values(row).returning(ActivityRow::as_returning()).get_result(c).await
    })?;
    row.try_into()
}

/// An audit event to record.
#[derive(Debug)]
pub struct NewAudit {
    pub action: AuditAction,
    pub changes: Vec<FieldChange>,
    pub task_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub observable_id: Option<i64>,
    /// The change moved the case to a closed status (webhooks tell it as CASE_CLOSED).
    pub closes_case: bool,
}

impl NewAudit {
    pub fn new(action: AuditAction, changes: Vec<FieldChange>) -> Self {
        NewAudit { action, changes, task_id: None, incident_id: None, observable_id: None, closes_case: false }
    }
}

/// The most field changes one audit event lists (every audited entity has
/// fewer fields; it bounds `AuditEvent.changes`).
pub const MAX_CHANGES_PER_EVENT: usize = 16;

/// Appends audit events with the sequence numbers `first_seq..`; the caller
/// holds the case lock and has reserved them. Call in the change's transaction.
/// Inside a bulk change or merge (`Conn::operation`), each names it.
pub async fn record_audits(
    conn: &mut Conn<'_>,
    actor: &Principal,
    case_id: CaseId,
    first_seq: i64,
    audits: Vec<NewAudit>,
) -> AppResult<()> {
    let now = now();
    let mut entries = Vec::with_capacity(audits.len());
    for (seq, audit) in (first_seq..).zip(audits) {
        if audit.changes.len() > MAX_CHANGES_PER_EVENT {
            return Err(AppError::internal(format!("an audit event with {} changes", audit.changes.len())));
        }
        let closes_case = audit.closes_case;
        let operation = conn.operation();
        let row = ActivityInsert::audit(&actor.tenant, case_id.0, seq, &actor.user_id, now, audit, operation)?;
        entries.push(LoggedEntry { entry: insert(conn, row).await?, closes_case });
    }
    log(conn, actor, case_id, entries)
}

/// Entries a write added to a case's log, as a fact for the reactions (the
/// webhook outbox tells them).
#[derive(Debug)]
pub struct Logged {
    pub actor: Principal,
    pub case_id: CaseId,
    pub entries: Vec<LoggedEntry>,
}

#[derive(Debug)]
pub struct LoggedEntry {
    pub entry: Activity,
    /// The change moved the case to a closed status.
    pub closes_case: bool,
}

/// Tells watchers (on commit) and the reactions (before it) of new entries.
fn log(conn: &mut Conn<'_>, actor: &Principal, case_id: CaseId, entries: Vec<LoggedEntry>) -> AppResult<()> {
    conn.changed(&actor.tenant, case_id.0)?;
    conn.record(Logged { actor: actor.clone(), case_id, entries })
}

/// Longest comment, in bytes of UTF-8.
pub const MAX_COMMENT_BYTES: usize = 16 * 1024;

/// A comment's body as it is kept: trimmed, not blank, no NUL, at most
/// [`MAX_COMMENT_BYTES`]. The one rule for every comment, a person's or a
/// rule's, so a rule cannot be saved with a comment its run would refuse.
pub fn parse_comment(field: &str, body: &str) -> AppResult<String> {
    super::refuse_nul(field, body)?;
    let body = body.trim();
    if body.is_empty() {
        return Err(AppError::bad_input(field, "must not be blank"));
    }
    if body.len() > MAX_COMMENT_BYTES {
        return Err(AppError::bad_input(field, format!("must be at most {MAX_COMMENT_BYTES} bytes")));
    }
    Ok(body.to_owned())
}

/// Appends a comment at sequence `seq` (reserved by the caller, who holds
/// the case). Call inside a write transaction.
pub async fn append_comment(
    conn: &mut Conn<'_>,
    actor: &Principal,
    case_id: CaseId,
    seq: i64,
    body: &str,
) -> AppResult<Activity> {
    let row = ActivityInsert::comment(&actor.tenant, case_id.0, seq, &actor.user_id, now(), body);
    let comment = insert(conn, row).await?;
    log(conn, actor, case_id, vec![LoggedEntry { entry: comment.clone(), closes_case: false }])?;
    Ok(comment)
}

/// A page of a case's log, newest first: entries older than `before_seq`.
pub async fn page(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_id: CaseId,
    kinds: &[ActivityKind],
    before_seq: Option<i64>,
    limit: i64,
) -> AppResult<Vec<Activity>> {
    let rows = with_conn!(conn, c => {
        let mut query = activity::table
            .filter(activity::tenant_id.eq(tenant))
            .filter(activity::case_id.eq(case_id.0))
            .order(activity::seq.desc())
            .limit(limit)
            .select(ActivityRow::as_select())
            .into_boxed();
        if !kinds.is_empty() {
            query = query.filter(activity::kind.eq_any(kinds));
        }
        if let Some(before) = before_seq {
            query = query.filter(activity::seq.lt(before));
        }
        query.load(c).await
    })?;
    rows.into_iter().map(Activity::try_from).collect()
}

/// A case's log as the page's case row saw it: the case and its newest sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogHead {
    pub case_id: CaseId,
    pub newest_seq: i64,
}

/// The newest `limit` entries of each case, newest first per case, in one
/// statement. Sequences are dense per case (taken and written in the same
/// transaction), so for all kinds "newest N" is "seq above the case's newest
/// minus N", one index range per case, given from the case rows the caller
/// already holds (joining `cases` here made the planner hash the tenant's
/// every case). Entries written since the caller read its cases come too:
/// the caller keeps the newest `limit`. For some kinds, a window function
/// ranks them.
pub async fn newest_of_cases(
    conn: &mut Conn<'_>,
    tenant: &str,
    logs: &[LogHead],
    kinds: &[ActivityKind],
    limit: i64,
) -> AppResult<Vec<Activity>> {
    if logs.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<ActivityRow> = if !kinds.is_empty() {
        let sql = ranked_sql(conn.is_postgres(), logs.len(), kinds.len());
        with_conn!(conn, c => {
            let mut query = diesel::sql_query(sql.as_str()).into_boxed().bind::<Text, _>(tenant.to_owned());
            for log in logs {
                query = query.bind::<BigInt, _>(log.case_id.0);
            }
            for kind in kinds {
                query = query.bind::<Text, _>(*kind);
            }
            query.bind::<BigInt, _>(limit).load::<ActivityRow>(c).await
        })?
    } else {
        match &mut conn.link {
            crate::db::Link::Postgres(c) => NewestOnPostgres::of(tenant, logs, limit).load(c).await?,
            crate::db::Link::Sqlite(c) => {
                let mut query = diesel::sql_query(newest_sql(logs.len())).into_boxed();
                for log in logs {
                    query = query.bind::<BigInt, _>(log.case_id.0).bind::<BigInt, _>(log.newest_seq - limit);
                }
                query.bind::<Text, _>(tenant.to_owned()).load::<ActivityRow>(c).await?
            }
        }
    };
    rows.into_iter().map(Activity::try_from).collect()
}

/// The columns of `ActivityRow`, in its order, from `activity a` (both
/// backends' newest-entries statements).
const NEWEST_SELECT: &str = "SELECT a.id, a.case_id, a.seq, a.kind, a.actor_id, a.created_at, a.body, a.action, \
     a.changes, a.task_id, a.incident_id, a.observable_id, a.operation_id";

/// Each case's entries above a sequence, on PostgreSQL: one statement text
/// whatever the number of cases (the cases come as arrays), so it is prepared
/// once per connection and not parsed and planned for every page.
struct NewestOnPostgres<'a> {
    tenant: &'a str,
    case_ids: Vec<i64>,
    above: Vec<i64>,
}

impl<'a> NewestOnPostgres<'a> {
    fn of(tenant: &'a str, logs: &[LogHead], limit: i64) -> Self {
        NewestOnPostgres {
            tenant,
            case_ids: logs.iter().map(|log| log.case_id.0).collect(),
            above: logs.iter().map(|log| log.newest_seq - limit).collect(),
        }
    }
}

/// The statement's identity in the prepared-statement cache.
struct NewestOnPostgresId;

impl diesel::query_builder::QueryId for NewestOnPostgres<'_> {
    type QueryId = NewestOnPostgresId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for NewestOnPostgres<'_> {
    type SqlType = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<ActivityRow, diesel::pg::Pg>>;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for NewestOnPostgres<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        use diesel::sql_types::Array;
        out.push_sql(NEWEST_SELECT);
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&self.case_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.above)?;
        out.push_sql(") AS heads (case_id, above) JOIN activity a ON a.tenant_id = ");
        out.push_bind_param::<Text, _>(&self.tenant)?;
        out.push_sql(" AND a.case_id = heads.case_id AND a.seq > heads.above ORDER BY a.case_id, a.seq DESC");
        Ok(())
    }
}

/// Each case's entries above a sequence (SQLite). Binds, in the order `?`
/// appear: (case id, sequence) per case, then the tenant.
fn newest_sql(cases: usize) -> String {
    format!(
        "WITH heads (case_id, above) AS (VALUES {}) {NEWEST_SELECT} FROM heads JOIN activity a \
         ON a.tenant_id = ? AND a.case_id = heads.case_id AND a.seq > heads.above ORDER BY a.case_id, a.seq DESC",
        vec!["(?, ?)"; cases].join(", ")
    )
}

/// Ranks each case's entries of some kinds, newest first, and keeps the top.
/// Binds: tenant, the case ids, the kinds, the limit.
fn ranked_sql(postgres: bool, cases: usize, kinds: usize) -> String {
    let mut placeholders = crate::db::Placeholders::new(postgres);
    let tenant = placeholders.bind();
    let case_list = placeholders.list(cases);
    let kind_list = placeholders.list(kinds);
    let limit = placeholders.bind();
    format!(
        "SELECT id, case_id, seq, kind, actor_id, created_at, body, action, changes, task_id, incident_id, observable_id, operation_id FROM (\
           SELECT a.*, ROW_NUMBER() OVER (PARTITION BY a.case_id ORDER BY a.seq DESC) AS rank \
           FROM activity a WHERE a.tenant_id = {tenant} AND a.case_id IN ({case_list}) AND a.kind IN ({kind_list})\
         ) ranked WHERE rank <= {limit} ORDER BY case_id, seq DESC"
    )
}

/// How many entries of each kind each case has: (case, kind, count).
pub async fn counts_of_cases(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_ids: &[CaseId],
) -> AppResult<Vec<(i64, String, i64)>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let counts = with_conn!(conn, c => {
        activity::table
            .filter(activity::tenant_id.eq(tenant))
            .filter(activity::case_id.eq_any(&ids))
            .group_by((activity::case_id, activity::kind))
            .select((activity::case_id, activity::kind, diesel::dsl::count_star()))
            .load::<(i64, String, i64)>(c)
            .await
    })?;
    Ok(counts)
}

/// Entries after `after_seq`, oldest first (replay for subscriptions).
pub async fn since(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_id: CaseId,
    after_seq: i64,
    limit: i64,
) -> AppResult<Vec<Activity>> {
    let rows = with_conn!(conn, c => {
        activity::table
            .filter(activity::tenant_id.eq(tenant))
            .filter(activity::case_id.eq(case_id.0))
            .filter(activity::seq.gt(after_seq))
            .order(activity::seq.asc())
            .limit(limit)
            .select(ActivityRow::as_select())
            .load(c)
            .await
    })?;
    rows.into_iter().map(Activity::try_from).collect()
}

/// The tenant's comments with these ids; other ids are skipped.
pub async fn find_comments(conn: &mut Conn<'_>, tenant: &str, ids: &[i64]) -> AppResult<Vec<Activity>> {
    let rows = with_conn!(conn, c => {
        activity::table
            .filter(activity::id.eq_any(ids))
            .filter(activity::tenant_id.eq(tenant))
            .filter(activity::kind.eq(ActivityKind::Comment))
            .select(ActivityRow::as_select())
            .load(c)
            .await
    })?;
    rows.into_iter().map(Activity::try_from).collect()
}

/// The newest sequence number of a case (0 when its log is empty).
pub async fn last_seq(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<Option<i64>> {
    let seq = with_conn!(conn, c => {
        cases::table
            .find((tenant, case_id.0))
            .select(cases::activity_seq)
            .first::<i64>(c)
            .await
            .optional()
    })?;
    Ok(seq)
}
