//! The case queue: filtering, ordering and keyset pagination of cases.
//!
//! Pages are cut by the sort key and the case id (the tie-break), so a page
//! never skips or repeats a case however many share a sort value. Nullable
//! keys (due date) sort nulls last ascending and first descending, the same
//! on both backends.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::db::common_cases::{CaseSet, CountCommonCases};
use crate::db::explain::{PgExplain, SqliteExplain};
use crate::db::schema::cases;
use crate::db::{Conn, Link};
use crate::domain::case::{Case, CaseId};
pub use crate::domain::filter::CaseFilter;
use crate::domain::search::{CountLimit, Counted, Matcher, SearchKind, ranks_from};
use crate::domain::values::named_enum;
use crate::error::{AppError, AppResult};
use crate::with_conn;

named_enum! {
    /// What the queue sorts by.
    pub enum CaseOrderField {
        /// The case number.
        Id => "ID",
        /// When the case was opened.
        CreatedAt => "CREATED_AT",
        /// When the case last changed.
        UpdatedAt => "UPDATED_AT",
        /// Priority (cases without one rank lowest).
        Priority => "PRIORITY",
        /// Due date (cases without one come last ascending, first descending).
        DueOn => "DUE_ON",
        /// Title, ignoring case.
        Title => "TITLE",
        /// The SLA's resolve deadline (before any pause under way; cases without
        /// one come last ascending, first descending).
        ResolveBy => "RESOLVE_BY",
        /// How well the case matches `filter.search`: cases whose title alone
        /// matches come first (descending), then the others; the same answers on
        /// every database. Without a search every case ranks the same.
        Relevance => "RELEVANCE",
    }
}

named_enum! {
    /// Sort direction.
    pub enum OrderDirection {
        /// Smallest first.
        Asc => "ASC",
        /// Largest first.
        Desc => "DESC",
    }
}

/// A sort key value, kept in cursors (tagged: a time must not read back as text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    Int(i64),
    Text(String),
    Time(NaiveDateTime),
    Null,
}

/// Where a page starts: after the case with this sort value and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseKey {
    pub field: CaseOrderField,
    pub value: SortValue,
    pub id: i64,
}

impl CaseKey {
    /// The key of `case` under `field`; `rank` is its relevance rank.
    pub fn of(case: &Case, field: CaseOrderField, rank: i32) -> CaseKey {
        let value = match field {
            CaseOrderField::Relevance => SortValue::Int(rank.into()),
            CaseOrderField::Id => SortValue::Int(case.id),
            CaseOrderField::CreatedAt => SortValue::Time(case.created_at),
            CaseOrderField::UpdatedAt => SortValue::Time(case.updated_at),
            CaseOrderField::Priority => SortValue::Int(case.priority.into()),
            CaseOrderField::DueOn => case.due_on.map_or(SortValue::Null, SortValue::Time),
            CaseOrderField::Title => SortValue::Text(case.title.to_lowercase()),
            CaseOrderField::ResolveBy => case.sla_resolve_by.map_or(SortValue::Null, SortValue::Time),
        };
        CaseKey { field, value, id: case.id }
    }
}

fn bad_cursor() -> AppError {
    AppError::bad_input("after", "is not a cursor of this ordering")
}

/// The tenant's cases matching the filter, as a boxed query of the
/// surrounding backend (expanded inside each arm of `with_conn!`).
macro_rules! filtered_cases {
    ($tenant:expr, $filter:expr, $search:expr, $now:expr) => {{
        #[allow(unused_imports)]
        use $crate::db::schema::{case_relations, cases, statuses};
        #[allow(unused_imports)]
        use $crate::domain::filter::{CaseFilter, by_group};
        #[allow(unused_imports)]
        use $crate::domain::search::Matcher;
        #[allow(unused_imports)]
        use $crate::domain::status::StatusCategory;
        let tenant: &str = $tenant;
        let filter: &CaseFilter = $filter;
        let mut query = cases::table.filter(cases::tenant_id.eq(tenant)).into_boxed();
        query = by_group!(query, cases, tenant, filter);
        if let Some(before) = filter.due_before {
            query = query.filter(cases::due_on.lt(before));
        }
        if let Some(after) = filter.due_after {
            query = query.filter(cases::due_on.gt(after));
        }
        if let Some(overdue) = filter.overdue {
            let closed = $crate::domain::filter::closed_statuses!(tenant);
            if overdue {
                // Not through the due-date index: "due before now" also holds
                // for every closed case of the tenant's history, so that range
                // is most of the tenant, and sorting it costs more than walking
                // the page's own order. SQLite without statistics thinks it narrow.
                let due_on = $crate::db::planner::not_a_range(cases::due_on);
                query = query.filter(due_on.lt($now)).filter(cases::status_id.ne_all(closed));
            } else {
                query = query
                    .filter(cases::due_on.is_null().or(cases::due_on.ge($now)).or(cases::status_id.eq_any(closed)));
            }
        }
        $crate::domain::queue::case_sets!(tenant, filter, |set| query = query.filter(cases::id.eq_any(set)));
        if !filter.sla_states.is_empty() {
            query = query.filter($crate::domain::queue::sla_state_in!(&filter.sla_states, $now));
        }
        if filter.has_parent == Some(false) {
            let children = case_relations::table
                .filter(case_relations::tenant_id.eq(tenant))
                .filter(case_relations::kind.eq($crate::domain::relation::RelationKind::ChildOf.as_str()));
            query = query.filter(cases::id.ne_all(children.select(case_relations::case_id)));
        }
        let search: Option<&Matcher> = $search;
        if let Some(search) = search {
            query = query.filter(search.cases(tenant));
        }
        query
    }};
}

/// Each of the filter's criteria that is a set of cases held beside them
/// (see `CaseFilter::is_case_sets_only`), as a subquery of the tenant's
/// case numbers (a column named `case_id`): `$each` runs once per set, with
/// `$set` bound to it.
macro_rules! case_sets {
    ($tenant:expr, $filter:expr, |$set:ident| $each:expr) => {{
        use $crate::db::schema::{case_incidents, case_relations, case_tags, case_techniques, observables, tags};
        let (tenant, filter): (&str, &CaseFilter) = ($tenant, $filter);
        if let Some(incident) = filter.incident_id {
            let $set = case_incidents::table
                .filter(case_incidents::tenant_id.eq(tenant))
                .filter(case_incidents::incident_id.eq(incident.0))
                .select(case_incidents::case_id);
            $each;
        }
        if let Some(indicator) = &filter.observable {
            let $set = observables::table
                .filter(observables::tenant_id.eq(tenant))
                .filter(observables::kind.eq(indicator.kind.as_str()))
                .filter(observables::normalized_value.eq(indicator.normalized.clone()))
                .select(observables::case_id);
            $each;
        }
        let tagged = |keys: Vec<String>| {
            case_tags::table
                .inner_join(tags::table)
                .filter(case_tags::tenant_id.eq(tenant))
                .filter(tags::tenant_id.eq(tenant))
                .filter(tags::name_key.eq_any(keys))
                .select(case_tags::case_id)
        };
        for key in &filter.tags_all {
            let $set = tagged(vec![key.clone()]);
            $each;
        }
        if !filter.tags_any.is_empty() {
            let $set = tagged(filter.tags_any.clone());
            $each;
        }
        for ids in &filter.technique_groups {
            let $set = case_techniques::table
                .filter(case_techniques::tenant_id.eq(tenant))
                .filter(case_techniques::technique_id.eq_any(ids.clone()))
                .select(case_techniques::case_id);
            $each;
        }
        let relations = || case_relations::table.filter(case_relations::tenant_id.eq(tenant));
        let children =
            || relations().filter(case_relations::kind.eq($crate::domain::relation::RelationKind::ChildOf.as_str()));
        if let Some(parent) = filter.parent_id {
            let $set = children().filter(case_relations::related_id.eq(parent.0)).select(case_relations::case_id);
            $each;
        }
        if filter.has_parent == Some(true) {
            let $set = children().select(case_relations::case_id);
            $each;
        }
        if let Some(related) = filter.related_to {
            let $set = relations().filter(case_relations::related_id.eq(related.0)).select(case_relations::case_id);
            $each;
        }
    }};
}
pub(crate) use case_sets;

/// Cases whose SLA is in one of `$states` at `$now`, from the stored
/// schedule (`sla::Schedule::at` is the same rule for one case).
macro_rules! sla_state_in {
    ($states:expr, $now:expr) => {{
        use diesel::sql_types::{Bool, Nullable};
        use $crate::domain::sla::{Phase, SlaState};
        let (states, now): (&[SlaState], NaiveDateTime) = ($states, $now);
        let phase = |p: Phase| cases::sla_phase.eq(p);
        let counting = || cases::sla_phase.eq_any([Phase::Running, Phase::Paused]);
        let mut any: Box<dyn BoxableExpression<cases::table, _, SqlType = Nullable<Bool>>> =
            Box::new(diesel::dsl::sql::<Nullable<Bool>>("1 = 0"));
        for state in states {
            any = match state {
                SlaState::None => Box::new(any.or(phase(Phase::None))),
                SlaState::Met => Box::new(any.or(phase(Phase::Met))),
                SlaState::Breached => {
                    Box::new(any.or(phase(Phase::Breached).or(counting().and(cases::sla_breach_at.le(now)))))
                }
                SlaState::Paused => Box::new(
                    any.or(phase(Phase::Paused).and(cases::sla_breach_at.is_null().or(cases::sla_breach_at.gt(now)))),
                ),
                SlaState::AtRisk => Box::new(
                    any.or(phase(Phase::Running)
                        .and(cases::sla_at_risk_at.le(now))
                        .and(cases::sla_breach_at.is_null().or(cases::sla_breach_at.gt(now)))),
                ),
                SlaState::OnTrack => Box::new(
                    any.or(phase(Phase::Running)
                        .and(cases::sla_at_risk_at.is_null().or(cases::sla_at_risk_at.gt(now)))
                        .and(cases::sla_breach_at.is_null().or(cases::sla_breach_at.gt(now)))),
                ),
            };
        }
        any
    }};
}
pub(crate) use sla_state_in;

pub(crate) use filtered_cases;

/// The filtered cases a page by `$field` starts from. A search alone by
/// number takes the page's cases from the text index's matches in that
/// order, so the cases read are the page's, not every match.
macro_rules! first_statement {
    ($tenant:expr, $filter:expr, $search:expr, $now:expr, $field:expr, $dir:expr, $after:expr, $limit:expr) => {{
        let (tenant, filter, search): (&str, &CaseFilter, Option<&Matcher>) = ($tenant, $filter, $search);
        let after: Option<&CaseKey> = $after;
        match search {
            Some(search) if $field == CaseOrderField::Id && filter.is_search_alone() => {
                let descending = $dir == OrderDirection::Desc;
                let first = search.first_cases(tenant, descending, after.map(|a| a.id), $limit);
                cases::table.filter(cases::tenant_id.eq(tenant)).filter(first).into_boxed()
            }
            _ => filtered_cases!(tenant, filter, search, $now),
        }
    }};
}

/// Orders a boxed case query by `$field`/`$dir` with the id tie-break, and
/// starts it after `$after` when given.
macro_rules! ordered_after {
    ($query:expr, $field:expr, $dir:expr, $after:expr) => {{
        let mut query = $query;
        let after: Option<&CaseKey> = $after;
        let asc = $dir == OrderDirection::Asc;
        macro_rules! keyed {
            ($key:expr, $value:expr) => {{
                query = if asc {
                    query.order(($key.asc(), cases::id.asc()))
                } else {
                    query.order(($key.desc(), cases::id.desc()))
                };
                if let Some(after) = after {
                    let v = $value(&after.value).ok_or_else(bad_cursor)?;
                    query = if asc {
                        query.filter($key.gt(v.clone()).or($key.eq(v).and(cases::id.gt(after.id))))
                    } else {
                        query.filter($key.lt(v.clone()).or($key.eq(v).and(cases::id.lt(after.id))))
                    };
                }
            }};
        }
        // Nulls last ascending, first descending: order by "is null" first.
        macro_rules! nullable_keyed {
            ($key:expr) => {{
                query = if asc {
                    query.order(($key.is_null().asc(), $key.asc(), cases::id.asc()))
                } else {
                    query.order(($key.is_null().desc(), $key.desc(), cases::id.desc()))
                };
                match after.map(|a| (&a.value, a.id)) {
                    None => {}
                    Some((SortValue::Null, id)) => {
                        query = if asc {
                            query.filter($key.is_null().and(cases::id.gt(id)))
                        } else {
                            query.filter($key.is_not_null().or(cases::id.lt(id)))
                        };
                    }
                    Some((SortValue::Time(v), id)) => {
                        let (v, id) = (*v, id);
                        query = if asc {
                            query.filter($key.gt(v).or($key.eq(v).and(cases::id.gt(id))).or($key.is_null()))
                        } else {
                            query.filter($key.lt(v).or($key.eq(v).and(cases::id.lt(id))))
                        };
                    }
                    Some(_) => return Err(bad_cursor()),
                }
            }};
        }
        let int = |v: &SortValue| match v {
            SortValue::Int(i) => Some(*i),
            _ => None,
        };
        let time = |v: &SortValue| match v {
            SortValue::Time(t) => Some(*t),
            _ => None,
        };
        let text = |v: &SortValue| match v {
            SortValue::Text(t) => Some(t.clone()),
            _ => None,
        };
        match $field {
            CaseOrderField::Id => {
                query = if asc { query.order(cases::id.asc()) } else { query.order(cases::id.desc()) };
                if let Some(after) = after {
                    let v = int(&after.value).ok_or_else(bad_cursor)?;
                    query = if asc { query.filter(cases::id.gt(v)) } else { query.filter(cases::id.lt(v)) };
                }
            }
            CaseOrderField::CreatedAt => keyed!(cases::created_at, time),
            CaseOrderField::UpdatedAt => keyed!(cases::updated_at, time),
            CaseOrderField::Priority => {
                keyed!(cases::priority, |v: &SortValue| int(v).and_then(|i| i32::try_from(i).ok()))
            }
            CaseOrderField::Title => keyed!(cases::title_key, text),
            // Pages by relevance go rank by rank, each ordered by id (see `page`).
            CaseOrderField::Relevance => return Err(AppError::internal("relevance is ordered rank by rank")),
            CaseOrderField::DueOn => nullable_keyed!(cases::due_on),
            CaseOrderField::ResolveBy => nullable_keyed!(cases::sla_resolve_by),
        }
        query
    }};
}

/// Whether a page's plan depends on how many cases match: a search, with
/// or without other criteria, by case number (see [`page`]).
fn page_uses_count(filter: &CaseFilter, field: CaseOrderField) -> bool {
    field == CaseOrderField::Id && filter.search.is_some()
}

/// Most cases a page of a search walks, on average, before it is full, for
/// the walk to be chosen over sorting every match.
const WALK_EXPECTED: i64 = 1_000;

/// How many cases a page of a search by number walks, looking each one's
/// entry up, before it stops: `None` when the matches are too few
/// among the tenant's cases for a walk to fill the page soon, or too few to
/// cost more to sort than the walk (the text index's matches are then
/// sorted instead: at 2,000 cases, 270 matches of "mimikatz"). Four times
/// the walk expected when matches spread evenly, so an uneven spread rarely
/// falls back.
async fn walk_length(conn: &mut Conn<'_>, tenant: &str, matches: i64, limit: i64) -> AppResult<Option<i64>> {
    if matches < limit {
        return Ok(None); // sorting so few matches costs nothing
    }
    let Some(cases) = super::counts::count(conn, tenant, &CaseFilter::default()).await? else {
        return Ok(None);
    };
    let expected = limit.saturating_mul(cases) / matches;
    // A case walked costs about what a match sorted does, twice at most.
    let walk = expected <= WALK_EXPECTED && expected.saturating_mul(2) <= matches;
    Ok(walk.then(|| (4 * expected).max(4 * limit)))
}

/// The walk of [`walked_page`]: the cases in number order from `$after` to
/// `$last` that meet the filter's other criteria, each one's entry looked up.
macro_rules! walk_statement {
    ($tenant:expr, $filter:expr, $search:expr, $direction:expr, $after:expr, $last:expr, $limit:expr) => {{
        let (tenant, filter, search, last): (&str, &CaseFilter, &Matcher, Option<i64>) =
            ($tenant, $filter, $search, $last);
        let mut query = filtered_cases!(tenant, filter, None, filter.moment());
        let reach = last.map(|last_case| $crate::domain::search::WalkReach {
            last_case,
            descending: $direction == OrderDirection::Desc,
        });
        query = match reach.and_then(|reach| search.case_entry_matches_within(tenant, reach)) {
            Some(within) => query.filter(within),
            None => query.filter(search.case_entry_matches(tenant)),
        };
        if let Some(last) = last {
            query = if $direction == OrderDirection::Desc {
                query.filter(cases::id.ge(last))
            } else {
                query.filter(cases::id.le(last))
            };
        }
        ordered_after!(query, CaseOrderField::Id, $direction, $after).limit($limit).select(Case::as_select())
    }};
}

/// The last case a walk of `length` cases in number order from `after_id`
/// may reach (`None`: the walk reaches the end): the cheap part, an index range.
async fn walk_last(
    conn: &mut Conn<'_>,
    tenant: &str,
    direction: OrderDirection,
    after_id: Option<i64>,
    length: i64,
) -> AppResult<Option<i64>> {
    let desc = direction == OrderDirection::Desc;
    let last = with_conn!(conn, c => {
        let mut query = cases::table.filter(cases::tenant_id.eq(tenant)).select(cases::id).into_boxed();
        query = match (desc, after_id) {
            (true, Some(id)) => query.filter(cases::id.lt(id)),
            (false, Some(id)) => query.filter(cases::id.gt(id)),
            (_, None) => query,
        };
        query = if desc { query.order(cases::id.desc()) } else { query.order(cases::id.asc()) };
        query.offset(length - 1).limit(1).get_result(c).await.optional()
    })?;
    Ok(last)
}

/// A page of a search by number, walking at most `length` cases in order
/// from `after`: `None` when the walk stopped before the page was full with
/// cases left beyond it.
async fn walked_page(
    conn: &mut Conn<'_>,
    tenant: &str,
    (filter, search): (&CaseFilter, &Matcher),
    direction: OrderDirection,
    after: Option<&CaseKey>,
    limit: i64,
    length: i64,
) -> AppResult<Option<Vec<Case>>> {
    let last = walk_last(conn, tenant, direction, after.map(|a| a.id), length).await?;
    let cases =
        with_conn!(conn, c => walk_statement!(tenant, filter, search, direction, after, last, limit).load(c).await)?;
    Ok((cases.len() as i64 == limit || last.is_none()).then_some(cases))
}

/// The plan the database chooses for the walk of a search's first page
/// (see [`page`]) of `length` cases, one line per step, as
/// [`first_page_plan`] gives.
pub async fn search_walk_plan(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
    direction: OrderDirection,
    (limit, length): (i64, i64),
) -> AppResult<Vec<String>> {
    let Some(search) = filter.checked_search(conn)? else {
        return Err(AppError::bad_input("filter.search", "a walk needs a search"));
    };
    let last = walk_last(conn, tenant, direction, None, length).await?;
    let plan = match &mut conn.link {
        Link::Postgres(c) => {
            let c: &mut diesel_async::AsyncPgConnection = c;
            PgExplain(walk_statement!(tenant, filter, &search, direction, None, last, limit)).load::<String>(c).await?
        }
        Link::Sqlite(c) => {
            let c: &mut crate::db::SqliteConn = c;
            let statement = walk_statement!(tenant, filter, &search, direction, None, last, limit);
            let rows: Vec<(i32, i32, i32, String)> = SqliteExplain(statement).load(c).await?;
            rows.into_iter().map(|(_, _, _, detail)| detail).collect()
        }
    };
    Ok(plan)
}

/// Each case with its key by `field` (a field other than relevance).
fn keyed(cases: Vec<Case>, field: CaseOrderField) -> Vec<(Case, CaseKey)> {
    cases
        .into_iter()
        .map(|case| {
            let key = CaseKey::of(&case, field, 0);
            (case, key)
        })
        .collect()
}

/// A page of the queue, and how many cases match the filter when the page
/// counted them on its way.
pub struct Page {
    /// Up to the page's limit of cases, each with its key.
    pub cases: Vec<(Case, CaseKey)>,
    /// How many cases match, when the page needed the count for its plan.
    pub total: Option<Counted>,
}

/// One page of the queue: up to `limit` cases after `after`, with their keys.
/// When the caller wants the total anyway and the page's plan depends on it
/// (a search by number), the cases are counted first: with the count
/// the page picks the cheaper of walking the cases and sorting the matches,
/// and returns it. A count that fails leaves the page to sort (and the
/// caller to count, and report, on its own).
pub async fn page(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
    (field, direction): (CaseOrderField, OrderDirection),
    after: Option<&CaseKey>,
    limit: i64,
    total_wanted: Option<CountLimit>,
) -> AppResult<Page> {
    let search = filter.checked_search(conn)?;
    if after.is_some_and(|a| a.field != field) {
        return Err(bad_cursor());
    }
    let total = match total_wanted {
        Some(count_limit) if search.is_some() && page_uses_count(filter, field) => {
            let counted = count(conn, tenant, filter, count_limit).await;
            counted.inspect_err(|e| tracing::debug!(error = %e, "count before a page failed")).ok()
        }
        _ => None,
    };
    // Past the count's limit more cases match than counted: the walk then
    // expects to go further than it will, so it is chosen no more often and
    // stops no earlier than it should.
    if let (Some(search), Some(matches)) = (&search, total)
        && let Some(length) = walk_length(conn, tenant, matches.count, limit).await?
        && let Some(cases) = walked_page(conn, tenant, (filter, search), direction, after, limit, length).await?
    {
        return Ok(Page { cases: keyed(cases, field), total });
    }
    let cases = sorted_page(conn, tenant, filter, search.as_ref(), (field, direction), after, limit).await?;
    Ok(Page { cases, total })
}

/// The cases of a [`page`] through the filter's statement, in the page's order
/// (by relevance: rank by rank).
async fn sorted_page(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
    search: Option<&Matcher>,
    (field, direction): (CaseOrderField, OrderDirection),
    after: Option<&CaseKey>,
    limit: i64,
) -> AppResult<Vec<(Case, CaseKey)>> {
    let now = filter.moment();
    if field != CaseOrderField::Relevance {
        let cases = with_conn!(conn, c => {
            let query = first_statement!(tenant, filter, search, now, field, direction, after, limit);
            let query = ordered_after!(query, field, direction, after);
            query.limit(limit).select(Case::as_select()).load(c).await
        })?;
        return Ok(keyed(cases, field));
    }
    let after = match after {
        Some(CaseKey { value: SortValue::Int(rank @ (0 | 1)), id, .. }) => Some((*rank as i32, *id)),
        Some(_) => return Err(bad_cursor()),
        None => None,
    };
    let mut out = Vec::new();
    for (rank, after_id) in ranks_from(direction == OrderDirection::Desc, after) {
        let left = limit - out.len() as i64;
        if left <= 0 {
            break;
        }
        if search.is_none() && rank == 1 {
            continue; // without a search no title matches it
        }
        let after = after_id.map(|id| CaseKey { field: CaseOrderField::Id, value: SortValue::Int(id), id });
        let ranked = search.map(|s| s.in_rank(rank == 1));
        let cases = with_conn!(conn, c => {
            let id = CaseOrderField::Id;
            let query = first_statement!(tenant, filter, ranked.as_ref(), now, id, direction, after.as_ref(), left);
            let query = ordered_after!(query, id, direction, after.as_ref());
            query.limit(left).select(Case::as_select()).load(c).await
        })?;
        out.extend(cases.into_iter().map(|case| {
            let key = CaseKey::of(&case, field, rank);
            (case, key)
        }));
    }
    Ok(out)
}

/// The plan the database chooses for the first page of the queue, one line
/// per step: the same statement [`page`] runs first, under `EXPLAIN` (by
/// relevance: the statement of the best rank).
pub async fn first_page_plan(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
    field: CaseOrderField,
    direction: OrderDirection,
    limit: i64,
) -> AppResult<Vec<String>> {
    let search = filter.checked_search(conn)?;
    let now = filter.moment();
    macro_rules! explained {
        () => {{
            let (field, search) = match field {
                CaseOrderField::Relevance => (CaseOrderField::Id, search.as_ref().map(|s| s.in_rank(true))),
                _ => (field, search.clone()),
            };
            let query = first_statement!(tenant, filter, search.as_ref(), now, field, direction, None, limit);
            ordered_after!(query, field, direction, None).limit(limit).select(Case::as_select())
        }};
    }
    let plan = match &mut conn.link {
        Link::Postgres(c) => {
            let c: &mut diesel_async::AsyncPgConnection = c;
            PgExplain(explained!()).load::<String>(c).await?
        }
        Link::Sqlite(c) => {
            let c: &mut crate::db::SqliteConn = c;
            let rows: Vec<(i32, i32, i32, String)> = SqliteExplain(explained!()).load(c).await?;
            rows.into_iter().map(|(_, _, _, detail)| detail).collect()
        }
    };
    Ok(plan)
}

/// On PostgreSQL, the cases' narrow search rows (`case_search`) that match
/// `$matching` and the filter's group criteria, by number: the matches' own
/// rows hold the criteria, so no case is looked up.
macro_rules! case_search_statement {
    ($tenant:expr, $filter:expr, $matching:expr) => {{
        use crate::db::schema::case_search;
        use crate::domain::filter::by_group;
        let (tenant, filter): (&str, &CaseFilter) = ($tenant, $filter);
        let query = case_search::table.filter(case_search::tenant_id.eq(tenant)).into_boxed();
        by_group!(query, case_search, tenant, filter).filter($matching).select(case_search::case_id)
    }};
}

/// Loads `$statement`'s rows of `$row` on PostgreSQL planned through
/// indexes, as `casebook_case_matches` plans: on a small tenant the planner
/// would read every narrow row's vector back from out of line. `SET LOCAL`
/// ends with the read transaction.
macro_rules! loaded_without_seq_scans {
    ($c:expr, $statement:expr, $row:ty) => {{
        use diesel_async::AsyncConnection;
        let statement = $statement;
        $c.transaction::<Vec<$row>, diesel::result::Error, _>(async move |c| {
            diesel::sql_query("SET LOCAL enable_seqscan = off").execute(c).await?;
            statement.load::<$row>(c).await
        })
        .await
    }};
}

/// The plan PostgreSQL chooses for [`count`] of a search with group criteria
/// only, one line per step; `None` when the count does not read the narrow
/// rows (SQLite, a phrase, other criteria).
pub async fn search_count_plan(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
) -> AppResult<Option<Vec<String>>> {
    let search = filter.checked_search(conn)?;
    let Some(matching) =
        search.as_ref().filter(|_| filter.is_search_within_groups()).and_then(|s| s.case_search_matches(tenant))
    else {
        return Ok(None);
    };
    let Link::Postgres(c) = &mut conn.link else { return Ok(None) };
    let statement = PgExplain(case_search_statement!(tenant, filter, matching));
    Ok(Some(loaded_without_seq_scans!(c, statement, String)?))
}

/// How many cases match the filter: exactly without a text search; with
/// one, exactly up to `limit` (past it, at least `limit`).
pub async fn count(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter, limit: CountLimit) -> AppResult<Counted> {
    let search = filter.checked_search(conn)?;
    if let Some(count) = super::counts::count(conn, tenant, filter).await? {
        return Ok(Counted::exact(count));
    }
    let now = filter.moment();
    let Some(search) = &search else {
        if filter.is_case_sets_only() {
            return Ok(Counted::exact(count_case_sets(conn, tenant, filter).await?));
        }
        let count = with_conn!(conn, c => filtered_cases!(tenant, filter, None, now).count().get_result(c).await)?;
        return Ok(Counted::exact(count));
    };
    if filter.is_search_alone() {
        return search.count(conn, tenant, &[SearchKind::Case], limit).await;
    }
    if filter.is_search_within_groups()
        && let Some(matching) = search.case_search_matches(tenant)
        && let Link::Postgres(c) = &mut conn.link
    {
        let query = case_search_statement!(tenant, filter, matching).limit(limit.rows());
        let matched = loaded_without_seq_scans!(c, query, i64)?;
        return Ok(limit.of(matched.len() as i64));
    }
    // Stops one past the limit instead of visiting every match.
    let matched: Vec<i64> = with_conn!(conn, c => {
        filtered_cases!(tenant, filter, Some(search), now).select(cases::id).limit(limit.rows()).load(c).await
    })?;
    Ok(limit.of(matched.len() as i64))
}

/// How many cases all of the filter's sets hold, read from the sets alone:
/// their rows name only cases of their tenant (by foreign key), so no case
/// row is read.
async fn count_case_sets(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter) -> AppResult<i64> {
    let count = with_conn!(conn, c => {
        let mut sets = Vec::new();
        case_sets!(tenant, filter, |set| sets.push(Box::new(set) as CaseSet<'_, _>));
        CountCommonCases(sets).get_result(c).await
    })?;
    Ok(count)
}

/// The numbers of the cases matching the filter, lowest first, at most `limit`.
pub async fn select_ids(conn: &mut Conn<'_>, tenant: &str, filter: &CaseFilter, limit: i64) -> AppResult<Vec<CaseId>> {
    let search = filter.checked_search(conn)?;
    let now = filter.moment();
    let ids: Vec<i64> = with_conn!(conn, c => {
        filtered_cases!(tenant, filter, search.as_ref(), now).order(cases::id.asc()).limit(limit).select(cases::id).load(c).await
    })?;
    Ok(ids.into_iter().map(CaseId).collect())
}
