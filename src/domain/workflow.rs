//! The tenant's workflow rules: closing a case with a classification that
//! reporting can trust, optionally only once its tasks are finished. (The
//! moves each status allows are the statuses' own: see `status`.)

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageSettings};
use crate::db::Conn;
use crate::db::schema::workflow_settings;
use crate::domain::activity::Changes;
use crate::domain::case::{Case, CaseId};
use crate::domain::now;
use crate::domain::status::{Status, StatusCategory};
use crate::domain::values::{MAX_TEXT_CHARS, optional_text};
pub use crate::domain::verdict::{Classification, Determination};
use crate::domain::{relation, task};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The tenant's rules for closing cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = workflow_settings, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct WorkflowSettings {
    /// A case entering a CLOSED status needs a classification.
    pub require_classification: bool,
    /// A case entering a CLOSED status needs every task finished.
    pub require_finished_tasks: bool,
    /// A parent case entering a CLOSED status needs its children closed.
    pub require_closed_children: bool,
    /// How a merge classifies the sources it closes, unless the call says.
    pub duplicate_classification: Classification,
    /// Why (one of the classification's determinations), unless the call says.
    pub duplicate_determination: Option<Determination>,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        WorkflowSettings {
            require_classification: true,
            require_finished_tasks: false,
            require_closed_children: false,
            duplicate_classification: Classification::Undetermined,
            duplicate_determination: None,
        }
    }
}

/// The tenant's settings (the defaults until an admin changes them).
pub async fn settings(conn: &mut Conn<'_>, tenant: &str) -> AppResult<WorkflowSettings> {
    let key = ("workflow", tenant.to_owned());
    if let Some(settings) = conn.recall(&key) {
        return Ok(settings);
    }
    let row: Option<WorkflowSettings> = with_conn!(conn, c => {
        workflow_settings::table.find(tenant).select(WorkflowSettings::as_select()).first(c).await.optional()
    })?;
    let settings = row.unwrap_or_default();
    conn.remember(key, &settings);
    Ok(settings)
}

/// A change to the settings: `None` leaves a rule alone.
#[derive(Debug, Default)]
pub struct SettingsChanges {
    pub require_classification: Option<bool>,
    pub require_finished_tasks: Option<bool>,
    pub require_closed_children: Option<bool>,
    pub duplicate_classification: Option<Classification>,
    pub duplicate_determination: Option<Option<Determination>>,
}

pub async fn update_settings(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    changes: SettingsChanges,
) -> AppResult<WorkflowSettings> {
    let tenant = actor.tenant();
    let current = settings(conn, tenant).await?;
    let new = WorkflowSettings {
        require_classification: changes.require_classification.unwrap_or(current.require_classification),
        require_finished_tasks: changes.require_finished_tasks.unwrap_or(current.require_finished_tasks),
        require_closed_children: changes.require_closed_children.unwrap_or(current.require_closed_children),
        duplicate_classification: changes.duplicate_classification.unwrap_or(current.duplicate_classification),
        duplicate_determination: changes.duplicate_determination.unwrap_or(current.duplicate_determination),
    };
    if let Some(determination) = new.duplicate_determination {
        check_determination("duplicateDetermination", new.duplicate_classification, determination)?;
    }
    let columns = (
        workflow_settings::require_classification.eq(new.require_classification),
        workflow_settings::require_finished_tasks.eq(new.require_finished_tasks),
        workflow_settings::require_closed_children.eq(new.require_closed_children),
        workflow_settings::duplicate_classification.eq(new.duplicate_classification),
        workflow_settings::duplicate_determination.eq(new.duplicate_determination),
        workflow_settings::updated_at.eq(now()),
    );
    with_conn!(conn, c => {
        diesel::insert_into(workflow_settings::table)
            .values((workflow_settings::tenant_id.eq(tenant), columns))
            .on_conflict(workflow_settings::tenant_id)
            .do_update()
            .set(columns)
            .execute(c)
            .await
    })?;
    Ok(new)
}

/// Refuses a determination that does not explain the classification.
pub fn check_determination(field: &str, classification: Classification, determination: Determination) -> AppResult<()> {
    if determination.classification().is_some_and(|c| c != classification) {
        let allowed: Vec<&str> = Determination::of(classification).iter().map(|d| d.as_str()).collect();
        return Err(AppError::bad_input(
            field,
            format!(
                "{} is not a determination of {}: one of {}",
                determination.as_str(),
                classification.as_str(),
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// How a case is closed, as a change gives it: `None` leaves a field alone,
/// `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct ClosingInput {
    pub classification: Option<Option<Classification>>,
    pub determination: Option<Option<Determination>>,
    pub closing_comment: Option<Option<String>>,
}

impl ClosingInput {
    /// The first field the input gives a value (not `null`), by its schema name.
    fn first_set(&self) -> Option<&'static str> {
        [
            ("classification", matches!(self.classification, Some(Some(_)))),
            ("determination", matches!(self.determination, Some(Some(_)))),
            ("closingComment", matches!(self.closing_comment, Some(Some(_)))),
        ]
        .into_iter()
        .find_map(|(field, set)| set.then_some(field))
    }
}

/// How a case is closed, as it is stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Closing {
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub closing_comment: Option<String>,
}

impl Closing {
    pub fn of(case: &Case) -> Closing {
        Closing {
            classification: case.classification,
            determination: case.determination,
            closing_comment: case.closing_comment.clone(),
        }
    }
}

/// A case's move, for the closing rules: where it was and where it goes.
pub struct Move<'a> {
    pub case_id: Option<CaseId>,
    /// `None` for a new case.
    pub from: Option<&'a Status>,
    pub to: &'a Status,
}

/// Applies the closing rules to a change and returns the closing the case
/// keeps, recording what changed. Entering a CLOSED status may need a
/// classification and finished tasks (the tenant's settings); leaving one
/// clears the classification (the audit keeps it); a case that is not closed
/// has none.
pub async fn closing(
    conn: &mut Conn<'_>,
    tenant: &str,
    step: Move<'_>,
    current: Closing,
    input: &ClosingInput,
    changes: &mut Changes,
) -> AppResult<Closing> {
    let closed_before = step.from.is_some_and(|s| s.category == StatusCategory::Closed);
    let closed_after = step.to.category == StatusCategory::Closed;
    if !closed_after {
        if let Some(field) = input.first_set() {
            return Err(AppError::bad_input(
                field,
                "a case is classified only in a CLOSED status: give it with the move to one",
            ));
        }
        // Reopening clears it; the audit below keeps what it was.
        let cleared = Closing::default();
        record(changes, &current, &cleared);
        return Ok(cleared);
    }
    let comment = match &input.closing_comment {
        Some(text) => optional_text("closingComment", text.as_deref(), MAX_TEXT_CHARS)?,
        None => current.closing_comment.clone(),
    };
    let next = Closing {
        classification: input.classification.unwrap_or(current.classification),
        determination: input.determination.unwrap_or(current.determination),
        closing_comment: comment,
    };
    match (next.classification, next.determination) {
        (None, Some(_)) => {
            return Err(AppError::bad_input("determination", "needs a classification"));
        }
        (Some(classification), Some(determination)) => {
            check_determination("determination", classification, determination)?;
        }
        _ => {}
    }
    // The rules apply to a case entering a CLOSED status, and to removing the
    // classification of a closed one; a case closed before classifications
    // existed is left as it is by other changes.
    let entering = !closed_before;
    if entering || input.classification == Some(None) {
        let rules = settings(conn, tenant).await?;
        if rules.require_classification && next.classification.is_none() {
            return Err(AppError::bad_input(
                "classification",
                format!("required to close a case (status {:?} is CLOSED): give one with the move", step.to.name),
            ));
        }
        if rules.require_finished_tasks
            && entering
            && let Some(case_id) = step.case_id
        {
            let open = task::unfinished_titles(conn, tenant, case_id).await?;
            if !open.is_empty() {
                let titles: Vec<String> = open.iter().map(|t| format!("{t:?}")).collect();
                return Err(AppError::bad_input(
                    "statusId",
                    format!("finish the case's tasks before closing it: {} not finished", titles.join(", ")),
                ));
            }
        }
        if rules.require_closed_children
            && entering
            && let Some(case_id) = step.case_id
        {
            let open = relation::open_children(conn, tenant, case_id).await?;
            if !open.is_empty() {
                let named: Vec<String> = open.iter().map(|(id, title)| format!("{id} {title:?}")).collect();
                return Err(AppError::bad_input(
                    "statusId",
                    format!("close the case's child cases before closing it: {} not closed", named.join(", ")),
                ));
            }
        }
    }
    record(changes, &current, &next);
    Ok(next)
}

fn record(changes: &mut Changes, old: &Closing, new: &Closing) {
    changes.track("classification", &old.classification, &new.classification, |c| c.map(|c| c.as_str().to_owned()));
    changes.track("determination", &old.determination, &new.determination, |d| d.map(|d| d.as_str().to_owned()));
    changes.track("closingComment", &old.closing_comment, &new.closing_comment, Clone::clone);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_determination_but_other_explains_exactly_one_classification() {
        for &classification in Classification::ALL {
            let allowed = Determination::of(classification);
            assert!(allowed.contains(&Determination::Other));
            assert!(allowed.len() >= 2, "{classification:?} has a determination of its own");
        }
        let owned: usize = Classification::ALL.iter().map(|&c| Determination::of(c).len() - 1).sum();
        assert_eq!(owned, Determination::ALL.len() - 1, "each determination belongs to one classification");
    }
}
