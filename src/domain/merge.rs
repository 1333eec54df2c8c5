//! Merging duplicate cases into one: the sources' tasks, linked incidents,
//! observables, tags, techniques and attachments join the target (each kind
//! deduplicated as adding it would be), each source closes as DUPLICATE_OF
//! the target and remembers it (`merged_into`), and its comments and history
//! stay where they were. One transaction; every case is locked first, in
//! number order, so two merges of the same cases queue and the second finds
//! what the first did (CONFLICT).

use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts};
use crate::db::Conn;
use crate::domain::activity::{self, AuditAction, FieldChange, NewAudit};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::case_edit::{self, CaseChanges};
use crate::domain::facts::Reindex;
use crate::domain::status::{self, StatusCategory, StatusId};
use crate::domain::workflow::{self, Classification, ClosingInput, Determination};
use crate::domain::{attack, bulk, incident, now, observable, relation, tag, task};
use crate::error::{AppError, AppResult};

/// The most cases one merge closes.
pub const MAX_SOURCES: usize = 100;

/// A merge to make.
pub struct MergeInput {
    pub sources: Vec<CaseId>,
    pub target: CaseId,
    /// A CLOSED status the sources move to.
    pub closing_status: StatusId,
    /// How the sources are classified; the workflow's duplicate defaults
    /// when absent.
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub closing_comment: Option<String>,
    /// Merge into a case that is closed (refused otherwise).
    pub allow_closed_target: bool,
    /// The most attachments the target may hold (the deployment's limit).
    pub max_attachments: i64,
}

/// What a merge did.
pub struct Merged {
    pub operation_id: String,
    pub target: Case,
    pub sources: Vec<Case>,
}

/// What moved to the target, by kind, for its CASES_MERGED entry.
#[derive(Default)]
struct Moved {
    tasks: u64,
    incidents: u64,
    observables: u64,
    tags: u64,
    techniques: u64,
    attachments: u64,
}

/// Merges the sources into the target; call inside a write transaction.
pub async fn merge(conn: &mut Conn<'_>, actor: &Granted<'_, ManageAlerts>, input: MergeInput) -> AppResult<Merged> {
    let tenant = actor.tenant.as_str();
    let sources = checked_sources(&input)?;
    let mut all: Vec<CaseId> = sources.iter().copied().chain([input.target]).collect();
    all.sort();
    let mut locked = Vec::with_capacity(all.len());
    for &id in &all {
        locked.push(case::lock_existing(conn, tenant, id).await?);
    }
    for case in &locked {
        if let Some(into) = case.merged_into {
            return Err(AppError::Conflict(format!(
                "case {} was already merged into case {into}: merge into that case instead",
                case.id
            )));
        }
    }
    let target = locked
        .iter()
        .find(|c| c.case_id() == input.target)
        .ok_or_else(|| AppError::internal("a merge's target was not among the cases it locked"))?;
    if target.closed_at.is_some() && !input.allow_closed_target {
        return Err(AppError::bad_input(
            "targetId",
            format!("case {} is closed: reopen it first, or pass allowClosedTarget", target.id),
        ));
    }
    let closing_status = status::assignable(conn, tenant, "closingStatusId", input.closing_status).await?;
    if closing_status.category != StatusCategory::Closed {
        return Err(AppError::bad_input(
            "closingStatusId",
            format!("status {:?} is not a CLOSED status: the sources close as duplicates", closing_status.name),
        ));
    }
    let closing = closing_of(conn, tenant, &input).await?;

    let operation_id = bulk::new_operation_id();
    conn.begin_operation(&operation_id)?;
    let moved = move_evidence(conn, actor, &sources, input.target, input.max_attachments).await?;
    let mut closed = Vec::with_capacity(sources.len());
    for &source in &sources {
        closed.push(close_source(conn, actor, source, input.target, closing_status.id, &closing).await?);
    }
    let target = record_merge(conn, actor, input.target, &sources, &moved).await?;
    conn.end_operation();
    Ok(Merged { operation_id, target, sources: closed })
}

/// The sources, each once: at least one, at most [`MAX_SOURCES`], not the target.
fn checked_sources(input: &MergeInput) -> AppResult<Vec<CaseId>> {
    if input.sources.is_empty() {
        return Err(AppError::bad_input("sourceIds", "name at least one case to merge"));
    }
    if input.sources.len() > MAX_SOURCES {
        return Err(AppError::bad_input("sourceIds", format!("at most {MAX_SOURCES} cases at once")));
    }
    if input.sources.contains(&input.target) {
        return Err(AppError::bad_input("sourceIds", format!("case {} cannot be merged into itself", input.target)));
    }
    let mut unique: Vec<CaseId> = Vec::with_capacity(input.sources.len());
    for &id in &input.sources {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    Ok(unique)
}

/// How the sources close: the call's verdict, else the workflow's duplicate defaults.
async fn closing_of(conn: &mut Conn<'_>, tenant: &str, input: &MergeInput) -> AppResult<ClosingInput> {
    let (classification, determination) = match input.classification {
        Some(classification) => (classification, input.determination),
        None if input.determination.is_some() => {
            return Err(AppError::bad_input("determination", "needs a classification"));
        }
        None => {
            let rules = workflow::settings(conn, tenant).await?;
            (rules.duplicate_classification, rules.duplicate_determination)
        }
    };
    Ok(ClosingInput {
        classification: Some(Some(classification)),
        determination: Some(determination),
        closing_comment: input.closing_comment.clone().map(Some),
    })
}

/// Moves every kind of evidence and work from the sources to the target,
/// refusing past any of the target's limits.
async fn move_evidence(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    sources: &[CaseId],
    target: CaseId,
    max_attachments: i64,
) -> AppResult<Moved> {
    let tenant = actor.tenant.as_str();
    let tasks = task::of_cases(conn, tenant, sources).await?;
    let mut moved = Moved { tasks: tasks.len() as u64, ..Moved::default() };
    let now = now();
    for &source in sources {
        let step = Step { tenant, source, target };
        step.update("tasks").await_on(conn).await?;
        moved.attachments += step.update("attachments").await_on(conn).await?;
        moved.observables += step.observables().await_on(conn).await?;
        step.delete("observables").await_on(conn).await?;
        for (table, key, by, at, count) in [
            ("case_incidents", "incident_id", "linked_by", "linked_at", &mut moved.incidents),
            ("case_tags", "tag_id", "added_by", "added_at", &mut moved.tags),
            ("case_techniques", "technique_id", "added_by", "added_at", &mut moved.techniques),
        ] {
            *count += step.join(table, key, by, at, &actor.user_id, now).await_on(conn).await?;
            step.delete(table).await_on(conn).await?;
        }
    }
    let limits = [
        ("tasks", task::MAX_TASKS_PER_CASE),
        ("attachments", max_attachments),
        ("observables", observable::MAX_PER_CASE),
        ("case_incidents", incident::MAX_LINKS_PER_CASE),
        ("case_tags", tag::MAX_TAGS_PER_CASE as i64),
        ("case_techniques", attack::MAX_TECHNIQUES_PER_CASE as i64),
    ];
    for (table, limit) in limits {
        let held = held(conn, table, tenant, target).await?;
        if held > limit {
            let kind = table.trim_start_matches("case_");
            return Err(AppError::bad_input(
                "sourceIds",
                format!("the merged case would hold {held} {kind}; a case holds at most {limit}: remove some first"),
            ));
        }
    }
    for task in &tasks {
        let moved = task::Task { case_id: target.0, ..task.clone() };
        conn.record(task::indexed(tenant, &moved))?;
    }
    Ok(moved)
}

/// One source's rows, moved to the target by statements that name no list
/// (each is prepared once, whatever the number of sources).
struct Step<'a> {
    tenant: &'a str,
    source: CaseId,
    target: CaseId,
}

/// A statement and its binds, run on either database.
struct Statement {
    sql: String,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Number(i64),
    Time(chrono::NaiveDateTime),
}

impl Step<'_> {
    /// Rows of a table that belong to a case and move with it as they are.
    fn update(&self, table: &str) -> Statement {
        Statement {
            sql: format!("UPDATE {table} SET case_id = $3 WHERE tenant_id = $1 AND case_id = $2"),
            binds: self.binds(),
        }
    }

    /// The source's observables the target lacks (by type and canonical value).
    fn observables(&self) -> Statement {
        Statement {
            sql: "UPDATE observables SET case_id = $3 WHERE tenant_id = $1 AND case_id = $2 AND NOT EXISTS \
                  (SELECT 1 FROM observables o WHERE o.tenant_id = $1 AND o.case_id = $3 \
                  AND o.kind = observables.kind AND o.normalized_value = observables.normalized_value)"
                .to_owned(),
            binds: self.binds(),
        }
    }

    /// A link table's rows of the source that the target lacks, added to it
    /// by the merge's actor.
    fn join(&self, table: &str, key: &str, by: &str, at: &str, actor: &str, now: chrono::NaiveDateTime) -> Statement {
        let mut binds = self.binds();
        binds.extend([Bind::Text(actor.to_owned()), Bind::Time(now)]);
        Statement {
            sql: format!(
                "INSERT INTO {table} (tenant_id, case_id, {key}, {by}, {at}) \
                 SELECT tenant_id, $3, {key}, $4, $5 FROM {table} WHERE tenant_id = $1 AND case_id = $2 \
                 ON CONFLICT DO NOTHING"
            ),
            binds,
        }
    }

    /// What is left of the source's rows in a table.
    fn delete(&self, table: &str) -> Statement {
        Statement {
            sql: format!("DELETE FROM {table} WHERE tenant_id = $1 AND case_id = $2"),
            binds: vec![Bind::Text(self.tenant.to_owned()), Bind::Number(self.source.0)],
        }
    }

    fn binds(&self) -> Vec<Bind> {
        vec![Bind::Text(self.tenant.to_owned()), Bind::Number(self.source.0), Bind::Number(self.target.0)]
    }
}

impl Statement {
    /// Runs the statement; returns the rows it changed.
    async fn await_on(self, conn: &mut Conn<'_>) -> AppResult<u64> {
        let sql = crate::db::numbered(&self.sql, conn.is_postgres()).into_owned();
        macro_rules! bound {
            ($c:expr) => {{
                let mut query = diesel::sql_query(sql).into_boxed();
                for bind in self.binds {
                    query = match bind {
                        Bind::Text(text) => query.bind::<Text, _>(text),
                        Bind::Number(n) => query.bind::<BigInt, _>(n),
                        Bind::Time(at) => query.bind::<Timestamp, _>(at),
                    };
                }
                query.execute($c).await
            }};
        }
        let changed = match &mut conn.link {
            crate::db::Link::Postgres(c) => bound!(&mut **c)?,
            crate::db::Link::Sqlite(c) => bound!(&mut **c)?,
        };
        Ok(changed as u64)
    }
}

/// How many rows of a table the case holds.
async fn held(conn: &mut Conn<'_>, table: &str, tenant: &str, case_id: CaseId) -> AppResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1 AND case_id = $2");
    let sql = crate::db::numbered(&sql, conn.is_postgres()).into_owned();
    let count: Count = crate::with_conn!(conn, c => {
        diesel::sql_query(sql).bind::<Text, _>(tenant).bind::<BigInt, _>(case_id.0).get_result(c).await
    })?;
    Ok(count.n)
}

/// Marks a source merged and closes it as the target's duplicate: a
/// MERGED_INTO entry, then the closing as `updateCase` makes it (its
/// CASE_UPDATED, SLA, rules, webhooks, incidents' sync).
async fn close_source(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    source: CaseId,
    target: CaseId,
    closing_status: StatusId,
    closing: &ClosingInput,
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    case::set_merged_into(conn, tenant, source, target).await?;
    relation::mark_duplicate(conn, actor, source, target).await?;
    let (current, seq) = case::touch(conn, actor, source, 1).await?;
    let change = FieldChange::new("mergedInto", None, Some(target.to_string()));
    activity::record_audits(conn, actor, source, seq, vec![NewAudit::new(AuditAction::MergedInto, vec![change])])
        .await?;
    // Its observables left with the rest: its search entry no longer carries them.
    conn.record(Reindex::Case {
        tenant: tenant.to_owned(),
        case_id: source,
        title: current.title.clone(),
        description: current.description.clone(),
        with_evidence: true,
    })?;
    if current.closed_at.is_some() {
        // Closed already: the verdict it has stands.
        return Ok(current);
    }
    let changes = CaseChanges { status_id: Some(closing_status), closing: closing.clone(), ..CaseChanges::default() };
    case_edit::update(conn, actor, source, changes).await
}

/// The target's CASES_MERGED entry: the sources, and what joined it.
async fn record_merge(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    target: CaseId,
    sources: &[CaseId],
    moved: &Moved,
) -> AppResult<Case> {
    let names: Vec<String> = sources.iter().map(|id| id.to_string()).collect();
    let mut changes = vec![FieldChange::new("sources", None, Some(names.join(", ")))];
    let counts = [
        ("tasks", moved.tasks),
        ("incidents", moved.incidents),
        ("observables", moved.observables),
        ("tags", moved.tags),
        ("techniques", moved.techniques),
        ("attachments", moved.attachments),
    ];
    changes.extend(
        counts.iter().filter(|(_, n)| *n > 0).map(|(kind, n)| FieldChange::new(kind, None, Some(n.to_string()))),
    );
    let (case, seq) = case::touch(conn, actor, target, 1).await?;
    activity::record_audits(conn, actor, target, seq, vec![NewAudit::new(AuditAction::CasesMerged, changes)]).await?;
    if moved.observables > 0 {
        conn.record(Reindex::Case {
            tenant: case.tenant_id.clone(),
            case_id: target,
            title: case.title.clone(),
            description: case.description.clone(),
            with_evidence: true,
        })?;
    }
    Ok(case)
}
