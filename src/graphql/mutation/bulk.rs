use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::case::status_ref;
use super::{clearable, unclearable};
use crate::auth::{ManageAlerts, Permission};
use crate::domain::bulk::{self, BulkChange, CaseOutcome, CaseResult, Report, Selection};
use crate::domain::case::{Case, CaseId};
use crate::domain::case_edit::CaseChanges;
use crate::domain::incident::IncidentId;
use crate::domain::values::CasePriority;
use crate::domain::workflow::{Classification, ClosingInput, Determination};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::query::CaseFilterInput;
use crate::graphql::scalars::{DateTime, numeric_id, optional_time};
use crate::graphql::{db, grant, loaders};

/// The version a case must still be at for a bulk change to touch it.
#[derive(InputObject)]
pub struct CaseVersionInput {
    /// The case number (one of the cases changed).
    pub id: ID,
    /// Refuse this case with CONFLICT unless it is still at this version.
    pub version: i32,
}

/// What a bulk change does to each case: `updateCase`'s changes, then tags.
/// Absent fields are left alone; `null` clears a field.
#[derive(InputObject)]
pub struct CaseBulkChangesInput {
    /// New priority.
    pub priority: MaybeUndefined<CasePriority>,
    /// New status; cannot be cleared, nor an archived one. Each case's move
    /// must be one its status allows.
    pub status_id: MaybeUndefined<ID>,
    /// New assignee: a user known in the tenant.
    pub assignee_id: MaybeUndefined<ID>,
    /// New due date.
    pub due_on: MaybeUndefined<DateTime>,
    /// What the cases turned out to be, with the move to a CLOSED status.
    pub classification: MaybeUndefined<Classification>,
    /// Why: one of the classification's determinations.
    pub determination: MaybeUndefined<Determination>,
    /// Plain-text notes on the closing.
    pub closing_comment: MaybeUndefined<String>,
    /// Tags to add (as `addCaseTags`: at most 20, a case carries at most 20).
    pub add_tags: Option<Vec<String>>,
    /// Tags to remove (as `removeCaseTags`).
    pub remove_tags: Option<Vec<String>>,
}

/// Cases to change and how: name them by `ids` or select them by `filter`,
/// exactly one of the two.
#[derive(InputObject)]
pub struct UpdateCasesInput {
    /// The case numbers, at most 500 (repeats count once).
    pub ids: Option<Vec<ID>>,
    /// The queue's filter: every case it selects, at most 500 (more is
    /// refused: narrow the filter).
    pub filter: Option<CaseFilterInput>,
    /// What to change on each case.
    pub changes: CaseBulkChangesInput,
    /// Versions named cases must still be at (optimistic concurrency per case).
    pub expected_versions: Option<Vec<CaseVersionInput>>,
    /// Report what would happen to each case and write nothing.
    #[graphql(default)]
    pub dry_run: bool,
}

/// Tags to add to many cases: name them by `ids` or select them by `filter`,
/// exactly one of the two.
#[derive(InputObject)]
pub struct AddTagsToCasesInput {
    /// The case numbers, at most 500.
    pub ids: Option<Vec<ID>>,
    /// The queue's filter: every case it selects, at most 500.
    pub filter: Option<CaseFilterInput>,
    /// Tag names, ignoring case; 1 to 64 characters each, no commas, at most 20.
    pub tags: Vec<String>,
    /// Report what would happen to each case and write nothing.
    #[graphql(default)]
    pub dry_run: bool,
}

/// Incidents to link to many cases: name them by `ids` or select them by
/// `filter`, exactly one of the two.
#[derive(InputObject)]
pub struct LinkIncidentsToCasesInput {
    /// The case numbers, at most 500.
    pub ids: Option<Vec<ID>>,
    /// The queue's filter: every case it selects, at most 500.
    pub filter: Option<CaseFilterInput>,
    /// The incidents to link to each case.
    pub incident_ids: Vec<ID>,
    /// Report what would happen to each case and write nothing.
    #[graphql(default)]
    pub dry_run: bool,
}

/// What refused one case of a bulk change.
#[derive(SimpleObject, Clone)]
pub struct CaseRefusal {
    /// The error code the same change made alone would answer:
    /// `BAD_USER_INPUT`, `NOT_FOUND` or `CONFLICT`.
    pub code: String,
    /// Why, as the change made alone would say it.
    pub message: String,
    /// The input field at fault, for `BAD_USER_INPUT`.
    pub field: Option<String>,
}

/// How one case of a bulk change came out.
pub struct CaseChangeResult {
    case_id: CaseId,
    outcome: CaseOutcome,
    error: Option<CaseRefusal>,
}

impl CaseChangeResult {
    fn of(result: CaseResult) -> Self {
        let error = result.refusal.map(|error| CaseRefusal {
            code: error.code().as_str().to_owned(),
            message: error.to_string(),
            field: match &error {
                AppError::BadInput { field, .. } => Some(field.clone()),
                _ => None,
            },
        });
        CaseChangeResult { case_id: result.case_id, outcome: result.outcome, error }
    }
}

/// How one case of a bulk change came out.
#[Object]
impl CaseChangeResult {
    /// The case number, as given or selected.
    async fn case_id(&self) -> ID {
        ID(self.case_id.0.to_string())
    }
    /// Changed, unchanged, or refused.
    async fn outcome(&self) -> CaseOutcome {
        self.outcome
    }
    /// The case as it stands now (after the change, or untouched by a dry
    /// run or a refusal); null when it does not exist in the tenant.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Option<Case>> {
        Ok(loaders(ctx)?.cases.load_one(self.case_id.0).await?)
    }
    /// What refused the case, when it was refused.
    async fn error(&self) -> Option<&CaseRefusal> {
        self.error.as_ref()
    }
}

/// What a bulk change did to each case.
///
/// Per case, not all-or-nothing: every case is changed by the same rules as
/// a change made alone, each on its own (the cases commit in slices of 50). A case a
/// rule refuses (a move its status does not allow, a missing classification,
/// a stale version, a case of no such number) changes nothing of itself and
/// is reported here; the others are changed. One refusal should not hold
/// back the rest of a queue, and the report says exactly which cases to
/// look at again.
pub struct BulkCasesPayload {
    operation_id: String,
    dry_run: bool,
    results: Vec<CaseChangeResult>,
}

/// What a bulk change did to each case: per case, not all-or-nothing (a
/// refused case changes nothing of itself and the others are changed).
#[Object]
impl BulkCasesPayload {
    /// Names this operation: each audit entry it wrote carries it as
    /// `AuditEvent.operationId` (a dry run's names nothing written).
    async fn operation_id(&self) -> ID {
        ID(self.operation_id.clone())
    }
    /// Whether this was a dry run: then nothing was written, and the results
    /// say what the change would do.
    async fn dry_run(&self) -> bool {
        self.dry_run
    }
    /// How many cases changed (or would).
    async fn changed(&self) -> usize {
        self.count(CaseOutcome::Changed)
    }
    /// How many cases already were as asked.
    async fn unchanged(&self) -> usize {
        self.count(CaseOutcome::Unchanged)
    }
    /// How many cases were refused.
    async fn refused(&self) -> usize {
        self.count(CaseOutcome::Refused)
    }
    /// Each case, in the order named (or by number, for a filter).
    async fn results(&self) -> &[CaseChangeResult] {
        &self.results
    }
}

impl BulkCasesPayload {
    fn of(report: Report, dry_run: bool) -> Self {
        let results = report.cases.into_iter().map(CaseChangeResult::of).collect();
        BulkCasesPayload { operation_id: report.operation_id, dry_run, results }
    }

    fn count(&self, outcome: CaseOutcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }
}

/// The selection an input gives: exactly one of `ids` and `filter`.
fn selection(ids: Option<Vec<ID>>, filter: Option<CaseFilterInput>) -> AppResult<Selection> {
    match (ids, filter) {
        (Some(ids), None) => Ok(Selection::Ids(
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    numeric_id(id).map(CaseId).ok_or_else(|| {
                        AppError::bad_input(format!("ids[{i}]"), format!("{:?} is not a case number", id.as_str()))
                    })
                })
                .collect::<AppResult<_>>()?,
        )),
        (None, Some(filter)) => Ok(Selection::Filter(Box::new(filter.into_domain()?))),
        _ => Err(AppError::bad_input("ids", "give either ids or filter, exactly one of them")),
    }
}

/// Selects the cases and changes each; a dry run writes nothing.
async fn run(
    ctx: &Context<'_>,
    selection: Selection,
    change: BulkChange,
    expected_versions: Vec<(CaseId, i32)>,
    dry_run: bool,
) -> GqlResult<BulkCasesPayload> {
    let actor = grant::<ManageAlerts>(ctx)?;
    let report = bulk::run(db(ctx)?, &actor, selection, &change, &expected_versions, dry_run).await?;
    Ok(BulkCasesPayload::of(report, dry_run))
}

#[derive(Default)]
pub struct BulkMutation;

#[Object]
impl BulkMutation {
    /// Changes up to 500 cases at once, named by id or selected by the
    /// queue's filter, with the changes `updateCase` takes plus tags. Per
    /// case, not all-or-nothing: each case follows every rule of a single
    /// update (allowed moves, classification on close, finished tasks,
    /// expected versions) and a refused case changes nothing of itself
    /// while the others change, so one stale case does not hold back a
    /// queue; the payload reports each case. Each changed case gets its own
    /// audit entries (a CASE_UPDATED, TAGS_ADDED, TAGS_REMOVED as a single
    /// change writes them) naming the operation, and its watchers, SLA,
    /// rules, webhooks and counters see it as a change made alone.
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn update_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cases and the changes.")] input: UpdateCasesInput,
    ) -> GqlResult<BulkCasesPayload> {
        let selection = selection(input.ids, input.filter)?;
        let c = input.changes;
        let changes = CaseChanges {
            expected_version: None,
            title: None,
            description: None,
            priority: clearable(c.priority),
            status_id: unclearable("changes.statusId", c.status_id)?
                .map(|id| status_ref("changes.statusId", &id))
                .transpose()?,
            assignee_id: clearable(c.assignee_id).map(|a| a.map(|id| id.0)),
            due_on: clearable(c.due_on).map(|d| optional_time("changes.dueOn", d.as_ref())).transpose()?,
            closing: ClosingInput {
                classification: clearable(c.classification),
                determination: clearable(c.determination),
                closing_comment: clearable(c.closing_comment),
            },
        };
        let versions = input
            .expected_versions
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let id = numeric_id(&v.id).map(CaseId).ok_or_else(|| {
                    AppError::bad_input(
                        format!("expectedVersions[{i}].id"),
                        format!("{:?} is not a case number", v.id.as_str()),
                    )
                })?;
                Ok((id, v.version))
            })
            .collect::<AppResult<Vec<_>>>()?;
        let change = BulkChange::Update {
            changes,
            add_tags: c.add_tags.unwrap_or_default(),
            remove_tags: c.remove_tags.unwrap_or_default(),
        };
        run(ctx, selection, change, versions, input.dry_run).await
    }

    /// Tags up to 500 cases at once, as `addCaseTags` tags one, each case
    /// on its own (per case, not all-or-nothing: a case that would carry
    /// more than 20 tags is refused and reported, the others are tagged).
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn add_tags_to_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cases and the tags.")] input: AddTagsToCasesInput,
    ) -> GqlResult<BulkCasesPayload> {
        let selection = selection(input.ids, input.filter)?;
        run(ctx, selection, BulkChange::AddTags(input.tags), Vec::new(), input.dry_run).await
    }

    /// Links incidents to up to 500 cases at once, as `linkIncidents` links
    /// them to one, each case on its own (per case, not all-or-nothing: a
    /// case that would pass its link limit is refused and reported).
    #[graphql(directive = requires_permission::apply(Permission::AlertsManage))]
    async fn link_incidents_to_cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cases and the incidents.")] input: LinkIncidentsToCasesInput,
    ) -> GqlResult<BulkCasesPayload> {
        let selection = selection(input.ids, input.filter)?;
        // an id that cannot exist is refused per case, as `linkIncidents` refuses it
        let incidents = input.incident_ids.iter().map(|id| IncidentId(numeric_id(id).unwrap_or(-1))).collect();
        run(ctx, selection, BulkChange::LinkIncidents(incidents), Vec::new(), input.dry_run).await
    }
}
