//! Changes to many cases in one call: the cases named or the queue's filter
//! selects, each changed by the same domain write a single change makes, so
//! every rule holds per case and the audit, counters, live watchers, SLAs,
//! rules and webhooks see each case's change as if it were made alone.
//!
//! Per case, not all-or-nothing: each case's change runs in a savepoint, and a
//! case that a rule refuses is rolled back alone and reported (a stale
//! version, a missing classification, an unfinished task should not hold back
//! the other 499). Since no case depends on another, the cases commit in
//! slices of [`CASES_PER_TRANSACTION`], each slice one transaction. Every
//! entry the call writes names the operation (`Conn::begin_operation`). A dry
//! run does the same work and rolls each slice back.

use crate::auth::{Granted, ManageAlerts};
use crate::db::{Conn, Db};
use crate::domain::case::CaseId;
use crate::domain::case_edit::{self, CaseChanges};
use crate::domain::filter::CaseFilter;
use crate::domain::incident::{self, IncidentId, LinkChange};
use crate::domain::values::text_enum;
use crate::domain::{queue, tag};
use crate::error::{AppError, AppResult};

/// The most cases one call changes.
pub const MAX_CASES: usize = 500;

/// Which cases a bulk change acts on (chosen once, when the call starts).
pub enum Selection {
    /// These, in this order (repeats dropped).
    Ids(Vec<CaseId>),
    /// Every case the queue's filter selects, by number.
    Filter(Box<CaseFilter>),
}

/// What a bulk change does to each case.
pub enum BulkChange {
    /// `updateCase`'s changes (the version each case must be at comes
    /// from `expected_versions`), then tags added and removed.
    Update { changes: CaseChanges, add_tags: Vec<String>, remove_tags: Vec<String> },
    /// Tags added to each case.
    AddTags(Vec<String>),
    /// Incidents linked to each case.
    LinkIncidents(Vec<IncidentId>),
}

/// A fresh id for a bulk change or merge: what its entries name.
pub fn new_operation_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

text_enum! {
    /// How one case of a bulk change came out.
    pub enum CaseOutcome {
        /// The case changed (in a dry run: would change).
        Changed => "CHANGED",
        /// The case already was as asked: nothing was written.
        Unchanged => "UNCHANGED",
        /// A rule refused the change (`error` says which); the case kept
        /// everything it had.
        Refused => "REFUSED",
    }
}

/// How one case came out, with what refused it.
#[derive(Debug)]
pub struct CaseResult {
    pub case_id: CaseId,
    pub outcome: CaseOutcome,
    pub refusal: Option<AppError>,
}

/// What a bulk change did, per case in the order they were selected.
#[derive(Debug)]
pub struct Report {
    pub operation_id: String,
    pub cases: Vec<CaseResult>,
}

/// The cases a selection names: at most [`MAX_CASES`]; a filter that selects
/// more is refused (narrow it), never cut short.
pub async fn select(conn: &mut Conn<'_>, tenant: &str, selection: Selection) -> AppResult<Vec<CaseId>> {
    match selection {
        Selection::Ids(ids) => {
            if ids.len() > MAX_CASES {
                return Err(AppError::bad_input("ids", format!("at most {MAX_CASES} cases at once")));
            }
            let mut unique = Vec::with_capacity(ids.len());
            for id in ids {
                if !unique.contains(&id) {
                    unique.push(id);
                }
            }
            Ok(unique)
        }
        Selection::Filter(filter) => {
            let ids = queue::select_ids(conn, tenant, &filter, MAX_CASES as i64 + 1).await?;
            if ids.len() > MAX_CASES {
                return Err(AppError::bad_input(
                    "filter",
                    format!("selects more than {MAX_CASES} cases; at most {MAX_CASES} at once: narrow it"),
                ));
            }
            Ok(ids)
        }
    }
}

/// Cases changed per transaction. Each case stands alone, so a bulk change
/// commits in slices: on SQLite each slice is one write turn, and other
/// writers (other tenants' too) take theirs between slices instead of
/// waiting for all 500 cases.
pub const CASES_PER_TRANSACTION: usize = 50;

/// Selects the cases and applies `change` to each, slice by slice; a dry run
/// rolls every slice back. `expected_versions` holds the version named cases
/// must still be at. A failure of the service (not a refusal) stops the run:
/// slices already committed stay, and the same call again reports their
/// cases UNCHANGED.
pub async fn run(
    db: &Db,
    actor: &Granted<'_, ManageAlerts>,
    selection: Selection,
    change: &BulkChange,
    expected_versions: &[(CaseId, i32)],
    dry_run: bool,
) -> AppResult<Report> {
    let ids = {
        let mut pooled = db.get().await?;
        select(&mut pooled.conn(), actor.tenant.as_str(), selection).await?
    };
    if let Some((id, _)) = expected_versions.iter().find(|(id, _)| !ids.contains(id)) {
        return Err(AppError::bad_input("expectedVersions", format!("case {id} is not one of the cases changed")));
    }
    let operation_id = new_operation_id();
    // Cases are locked in number order, so two bulk changes over the same
    // cases queue instead of deadlocking; the report keeps the named order.
    let mut order = ids.clone();
    order.sort();
    let mut cases = Vec::with_capacity(ids.len());
    for slice in order.chunks(CASES_PER_TRANSACTION) {
        let mut tx = db.begin().await?;
        let applied = apply(&mut tx.conn(), actor, &operation_id, slice, change, expected_versions).await;
        let applied = if dry_run {
            let applied = applied?;
            tx.rollback().await?;
            applied
        } else {
            tx.finish(applied).await?
        };
        cases.extend(applied);
    }
    cases.sort_by_key(|result| ids.iter().position(|id| *id == result.case_id));
    Ok(Report { operation_id, cases })
}

/// Applies `change` to each case in its own savepoint, inside a write
/// transaction; the entries it writes name the operation.
async fn apply(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    operation_id: &str,
    ids: &[CaseId],
    change: &BulkChange,
    expected_versions: &[(CaseId, i32)],
) -> AppResult<Vec<CaseResult>> {
    conn.begin_operation(operation_id)?;
    let mut cases = Vec::with_capacity(ids.len());
    for &id in ids {
        let expected = expected_versions.iter().find(|(case, _)| *case == id).map(|(_, v)| *v);
        let savepoint = conn.savepoint().await?;
        match apply_one(conn, actor, id, change, expected).await {
            Ok(changed) => {
                conn.release(savepoint).await?;
                let outcome = if changed { CaseOutcome::Changed } else { CaseOutcome::Unchanged };
                cases.push(CaseResult { case_id: id, outcome, refusal: None });
            }
            Err(refusal) if refusal.is_refusal() => {
                conn.roll_back_to(savepoint).await?;
                cases.push(CaseResult { case_id: id, outcome: CaseOutcome::Refused, refusal: Some(refusal) });
            }
            Err(failure) => {
                conn.end_operation();
                return Err(failure);
            }
        }
    }
    conn.end_operation();
    Ok(cases)
}

/// Changes one case; whether anything changed (a change records what it
/// did for the reactions; a change that changes nothing records nothing).
async fn apply_one(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    id: CaseId,
    change: &BulkChange,
    expected_version: Option<i32>,
) -> AppResult<bool> {
    let before = conn.facts_recorded();
    match change {
        BulkChange::Update { changes, add_tags, remove_tags } => {
            let changes = CaseChanges { expected_version, ..changes.clone() };
            case_edit::update(conn, actor, id, changes).await?;
            if !add_tags.is_empty() {
                tag::add(conn, actor, id, add_tags).await?;
            }
            if !remove_tags.is_empty() {
                tag::remove(conn, actor, id, remove_tags).await?;
            }
        }
        BulkChange::AddTags(names) => {
            tag::add(conn, actor, id, names).await?;
        }
        BulkChange::LinkIncidents(ids) => {
            incident::change_links(conn, actor, id, ids, LinkChange::Link).await?;
        }
    }
    Ok(conn.facts_recorded() > before)
}
