//! Which cases a list selects: the queue's filter, shared by the queue's
//! pages, its counters (`counts`) and the metrics, and the query fragments
//! that apply it to the columns cases are counted by.

use chrono::NaiveDateTime;

use crate::db::Conn;
use crate::domain::observable::Indicator;
use crate::domain::search::{Matcher, SearchQuery};
use crate::domain::sla::SlaState;
use crate::domain::status::{StatusCategory, StatusId};
use crate::domain::values::CasePriority;
use crate::domain::values::{CaseId, IncidentId};
use crate::error::{AppError, AppResult};

/// Which cases the queue shows; every given criterion must hold.
#[derive(Debug, Default, Clone)]
pub struct CaseFilter {
    pub status_ids: Vec<StatusId>,
    pub status_categories: Vec<StatusCategory>,
    pub priorities: Vec<CasePriority>,
    pub assignee_ids: Vec<String>,
    /// `true`: also (or only, without `assignee_ids`) unassigned cases;
    /// `false`: only assigned ones.
    pub unassigned: Option<bool>,
    pub created_by_ids: Vec<String>,
    pub due_before: Option<NaiveDateTime>,
    pub due_after: Option<NaiveDateTime>,
    /// Due in the past and not in a CLOSED status (or, `false`, the opposite).
    pub overdue: Option<bool>,
    pub incident_id: Option<IncidentId>,
    /// Saw this indicator (an observable of this type and canonical value).
    pub observable: Option<Indicator>,
    /// Carries every one of these tags (their keys: see `tag::key`).
    pub tags_all: Vec<String>,
    /// Carries at least one of these tags (keys).
    pub tags_any: Vec<String>,
    /// Carries, for each group, at least one of its ATT&CK technique ids
    /// (`techniqueIds` and `tactics`, expanded from the catalogue).
    pub technique_groups: Vec<Vec<String>>,
    /// Whose SLA is, now, in one of these states.
    pub sla_states: Vec<SlaState>,
    /// A search of the case's title and description (see `search::query`).
    pub search: Option<String>,
    /// A child of this case.
    pub parent_id: Option<CaseId>,
    /// `true`: a child of some case; `false`: of none.
    pub has_parent: Option<bool>,
    /// Related to this case in any way (see `relation`).
    pub related_to: Option<CaseId>,
    /// The moment `overdue` and `slaStates` are judged at: fixed once for a
    /// request, so its page and its count agree on a case crossing it
    /// (`None`: whenever each is read).
    pub as_of: Option<NaiveDateTime>,
}

impl CaseFilter {
    /// Validates the filter and returns its search, written for `conn`'s database.
    pub(crate) fn checked_search(&self, conn: &Conn<'_>) -> AppResult<Option<Matcher>> {
        self.validate()?;
        let Some(text) = &self.search else { return Ok(None) };
        Ok(SearchQuery::parse("filter.search", text)?.map(|query| Matcher::new(query, conn)))
    }

    /// Which kinds of criteria the filter sets: what decides how it is counted.
    pub(crate) fn criteria(&self) -> Criteria {
        let CaseFilter {
            status_ids,
            status_categories,
            priorities,
            assignee_ids,
            unassigned,
            created_by_ids,
            due_before,
            due_after,
            overdue,
            incident_id,
            observable,
            tags_all,
            tags_any,
            technique_groups,
            sla_states,
            search,
            parent_id,
            has_parent,
            related_to,
            as_of: _,
        } = self;
        Criteria {
            groups: !status_ids.is_empty()
                || !status_categories.is_empty()
                || !priorities.is_empty()
                || !assignee_ids.is_empty()
                || unassigned.is_some()
                || !created_by_ids.is_empty(),
            overdue: *overdue,
            due_range: due_before.is_some() || due_after.is_some(),
            search: search.is_some(),
            sets: incident_id.is_some()
                || observable.is_some()
                || !tags_all.is_empty()
                || !tags_any.is_empty()
                || !technique_groups.is_empty()
                || parent_id.is_some()
                || *has_parent == Some(true)
                || related_to.is_some(),
            others: !sla_states.is_empty() || *has_parent == Some(false),
        }
    }

    /// When the filter's time-bound criteria are judged: [`CaseFilter::as_of`] or now.
    pub(crate) fn moment(&self) -> NaiveDateTime {
        self.as_of.unwrap_or_else(crate::domain::now)
    }

    /// Whether the search is the filter's only criterion (the text index
    /// then counts and orders the matches by itself).
    pub(crate) fn is_search_alone(&self) -> bool {
        self.search_with_groups_at_most() == Some(false)
    }

    /// Whether the filter is a search with group criteria (status, category,
    /// priority, assignee, creator) and nothing else: on PostgreSQL the text
    /// index's matches carry those criteria (see `case_search`).
    pub(crate) fn is_search_within_groups(&self) -> bool {
        self.search_with_groups_at_most() == Some(true)
    }

    /// For a search with no criteria but group ones: whether it has those.
    fn search_with_groups_at_most(&self) -> Option<bool> {
        let c = self.criteria();
        (c.search && c.overdue.is_none() && !c.due_range && !c.sets && !c.others).then_some(c.groups)
    }

    /// Whether every criterion is a set of cases kept beside them (incident,
    /// indicator, tags, techniques, parent, relation), and there is one:
    /// the count then reads those sets alone (see `queue::count`).
    pub(crate) fn is_case_sets_only(&self) -> bool {
        let c = self.criteria();
        c.sets && !c.groups && c.overdue.is_none() && !c.due_range && !c.search && !c.others
    }

    /// Refuses oversized lists before they reach SQL.
    pub fn validate(&self) -> AppResult<()> {
        let sizes = [
            ("filter.statusIds", self.status_ids.len()),
            ("filter.assigneeIds", self.assignee_ids.len()),
            ("filter.createdByIds", self.created_by_ids.len()),
            ("filter.tags.all", self.tags_all.len()),
            ("filter.tags.any", self.tags_any.len()),
        ];
        for (field, len) in sizes {
            if len > 100 {
                return Err(AppError::bad_input(field, "at most 100 values"));
            }
        }
        Ok(())
    }
}

/// The kinds of criteria a filter sets.
pub(crate) struct Criteria {
    /// Status, category, priority, assignee, unassigned or creator: whole
    /// count groups.
    pub groups: bool,
    pub overdue: Option<bool>,
    /// Due before or after a time.
    pub due_range: bool,
    pub search: bool,
    /// Incident, observable, tags, techniques, a parent (some or this
    /// one), a relation: sets of cases held beside them.
    pub sets: bool,
    /// SLA states, no parent.
    pub others: bool,
}

/// Applies the filter's criteria on the columns cases are counted by (status,
/// priority, assignee, creator; see `counts`) to a boxed query on `$table`,
/// which has those columns: the queue's cases and the count's groups select
/// alike.
macro_rules! by_group {
    ($query:expr, $table:ident, $tenant:expr, $filter:expr) => {{
        use $crate::db::schema::statuses;
        let (mut query, tenant, filter): (_, &str, &CaseFilter) = ($query, $tenant, $filter);
        // One value is compared with `=`: PostgreSQL (before 17) cannot walk
        // an index in order under `= ANY(...)`, and a queue of one assignee by
        // last change is the commonest page there is.
        macro_rules! one_of {
            ($column:expr, $values:expr) => {{
                let values = $values;
                match values.as_slice() {
                    [one] => query = query.filter($column.eq(one.clone())),
                    _ => query = query.filter($column.eq_any(values)),
                }
            }};
        }
        if !filter.status_ids.is_empty() {
            one_of!($table::status_id, filter.status_ids.iter().map(|s| s.0).collect::<Vec<i64>>());
        }
        if !filter.status_categories.is_empty() {
            let categories: Vec<&str> = filter.status_categories.iter().map(|c| c.as_str()).collect();
            query = query.filter(
                $table::status_id.eq_any(
                    statuses::table
                        .filter(statuses::tenant_id.eq(tenant))
                        .filter(statuses::category.eq_any(categories))
                        .select(statuses::id),
                ),
            );
        }
        if !filter.priorities.is_empty() {
            let ranks: Vec<i32> =
                filter.priorities.iter().map(|p| $crate::domain::values::CasePriority::rank(Some(*p))).collect();
            one_of!($table::priority, ranks);
        }
        match (filter.assignee_ids.is_empty(), filter.unassigned) {
            (true, None) => {}
            (true, Some(true)) => query = query.filter($table::assignee_id.is_null()),
            (true, Some(false)) => query = query.filter($table::assignee_id.is_not_null()),
            (false, Some(true)) => {
                query = query
                    .filter($table::assignee_id.eq_any(filter.assignee_ids.clone()).or($table::assignee_id.is_null()))
            }
            (false, _) => one_of!($table::assignee_id, filter.assignee_ids.clone()),
        }
        if !filter.created_by_ids.is_empty() {
            one_of!($table::created_by, filter.created_by_ids.clone());
        }
        query
    }};
}
pub(crate) use by_group;

/// The tenant's CLOSED statuses, as a subquery: a case due before now in any
/// other status is overdue (the queue's filter and its counters alike).
macro_rules! closed_statuses {
    ($tenant:expr) => {{
        use $crate::db::schema::statuses;
        statuses::table
            .filter(statuses::tenant_id.eq($tenant))
            .filter(statuses::category.eq($crate::domain::status::StatusCategory::Closed.as_str()))
            .select(statuses::id)
    }};
}
pub(crate) use closed_statuses;
