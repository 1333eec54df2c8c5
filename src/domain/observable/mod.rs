//! Observables: the indicators a case saw (addresses, names, hashes, ...),
//! typed and stored in one canonical form per type (see [`normalize`]), so the
//! pivot "which other cases saw this" is an index lookup.

pub mod normalize;

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts};
use crate::db::Conn;
use crate::db::schema::observables;
use crate::domain::activity::{self, AuditAction, Changes, FieldChange, NewAudit};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::facts::Reindex;
use crate::domain::now;
use crate::domain::user::escape_like;
use crate::domain::values::{MAX_TEXT_CHARS, optional_text, search_text, search_words, text_enum};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The most observables one `addObservables` adds.
pub const MAX_PER_CALL: usize = 100;
/// The most observables one case holds.
pub const MAX_PER_CASE: i64 = 1_000;
/// The longest observable description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = MAX_TEXT_CHARS;

text_enum! {
    /// What kind of indicator an observable is; each type has its own
    /// validation and canonical form.
    pub enum ObservableType {
        /// An IPv4 or IPv6 address, printed canonically (`2001:db8::1`).
        IpAddress => "IP_ADDRESS",
        /// A domain name (two labels or more), lower-case, international names in ASCII.
        Domain => "DOMAIN",
        /// An absolute URL with a host; scheme and host lower-case, default port dropped.
        Url => "URL",
        /// An e-mail address, lower-case.
        EmailAddress => "EMAIL_ADDRESS",
        /// An MD5 hash: 32 hexadecimal digits, lower-case.
        FileHashMd5 => "FILE_HASH_MD5",
        /// A SHA-1 hash: 40 hexadecimal digits, lower-case.
        FileHashSha1 => "FILE_HASH_SHA1",
        /// A SHA-256 hash: 64 hexadecimal digits, lower-case.
        FileHashSha256 => "FILE_HASH_SHA256",
        /// A file's name without a directory, as given.
        FileName => "FILE_NAME",
        /// A host name (one label or more), lower-case.
        Hostname => "HOSTNAME",
        /// A user account (`CORP\jdoe`), lower-case.
        UserAccount => "USER_ACCOUNT",
        /// A process or command line, as given.
        Process => "PROCESS",
        /// A Windows registry key, the root key spelled out, the path lower-case.
        RegistryKey => "REGISTRY_KEY",
        /// A CVE id (`CVE-2021-44228`), upper-case.
        Cve => "CVE",
        /// Anything else, as given.
        Other => "OTHER",
    }
}

text_enum! {
    /// Traffic Light Protocol 2.0: who an observable may be shared with.
    pub enum Tlp {
        /// No limit on disclosure.
        Clear => "CLEAR",
        /// The community, not publicly.
        Green => "GREEN",
        /// The recipient's organisation and its clients, on a need-to-know basis.
        Amber => "AMBER",
        /// The recipient's organisation only.
        AmberStrict => "AMBER_STRICT",
        /// The people present only.
        Red => "RED",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservableId(pub i64);

impl fmt::Display for ObservableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = observables, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct ObservableRow {
    id: i64,
    case_id: i64,
    kind: ObservableType,
    value: String,
    normalized_value: String,
    is_ioc: bool,
    tlp: Tlp,
    description: Option<String>,
    added_by: String,
    added_at: NaiveDateTime,
}

/// An indicator seen in a case.
#[derive(Debug, Clone)]
pub struct Observable {
    pub id: ObservableId,
    pub case_id: CaseId,
    pub kind: ObservableType,
    /// As given (trimmed).
    pub value: String,
    pub normalized_value: String,
    pub is_ioc: bool,
    pub tlp: Tlp,
    pub description: Option<String>,
    pub added_by: String,
    pub added_at: NaiveDateTime,
}

impl TryFrom<ObservableRow> for Observable {
    type Error = AppError;
    fn try_from(row: ObservableRow) -> AppResult<Self> {
        Ok(Observable {
            id: ObservableId(row.id),
            case_id: CaseId(row.case_id),
            kind: row.kind,
            value: row.value,
            normalized_value: row.normalized_value,
            is_ioc: row.is_ioc,
            tlp: row.tlp,
            description: row.description,
            added_by: row.added_by,
            added_at: row.added_at,
        })
    }
}

impl Observable {
    /// As the audit trail names it (see [`label`]).
    pub fn label(&self) -> String {
        label(self.kind, &self.normalized_value)
    }
}

/// An observable as the audit trail names it: "IP_ADDRESS 10.0.0.5".
pub fn label(kind: ObservableType, normalized: &str) -> String {
    format!("{} {normalized}", kind.as_str())
}

fn rows_into(rows: Vec<ObservableRow>) -> AppResult<Vec<Observable>> {
    rows.into_iter().map(Observable::try_from).collect()
}

/// An observable row to insert (the API's and the demo's one write path).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = observables, treat_none_as_default_value = false)]
pub struct ObservableInsert {
    pub tenant_id: String,
    pub case_id: i64,
    pub kind: String,
    pub value: String,
    pub normalized_value: String,
    pub is_ioc: bool,
    pub tlp: String,
    pub description: Option<String>,
    pub search_text: String,
    pub added_by: String,
    pub added_at: NaiveDateTime,
}

impl ObservableInsert {
    /// A row for a checked observable.
    pub fn new(tenant: &str, case_id: CaseId, checked: &CheckedObservable, by: &str, at: NaiveDateTime) -> Self {
        ObservableInsert {
            tenant_id: tenant.to_owned(),
            case_id: case_id.0,
            kind: checked.kind.as_str().to_owned(),
            value: checked.value.clone(),
            normalized_value: checked.normalized.clone(),
            is_ioc: checked.is_ioc,
            tlp: checked.tlp.as_str().to_owned(),
            description: checked.description.clone(),
            search_text: search_text(&[
                Some(&checked.value),
                Some(&checked.normalized),
                checked.description.as_deref(),
            ]),
            added_by: by.to_owned(),
            added_at: at,
        }
    }
}

/// Inserts observable rows in one statement; returns their ids in order.
pub async fn insert_rows(conn: &mut Conn<'_>, rows: &[ObservableInsert]) -> AppResult<Vec<i64>> {
    Ok(crate::bulk_insert!(conn, observables::table, rows, returning observables::id)?)
}

/// An observable as a client gives it.
#[derive(Debug, Clone)]
pub struct NewObservable {
    pub kind: ObservableType,
    pub value: String,
    /// `false` when absent.
    pub is_ioc: Option<bool>,
    /// `AMBER` when absent.
    pub tlp: Option<Tlp>,
    pub description: Option<String>,
}

/// An observable whose value passed its type's rules.
#[derive(Debug, Clone)]
pub struct CheckedObservable {
    pub kind: ObservableType,
    pub value: String,
    pub normalized: String,
    pub is_ioc: bool,
    pub tlp: Tlp,
    pub description: Option<String>,
}

impl NewObservable {
    /// Checks the value against its type; `field` names the item in errors
    /// (`observables[3]`).
    pub fn check(&self, field: &str) -> AppResult<CheckedObservable> {
        let normalized = normalize::normalize(self.kind, &self.value)
            .map_err(|rule| AppError::bad_input(format!("{field}.value"), format!("{} {rule}", self.kind.as_str())))?;
        let description =
            optional_text(&format!("{field}.description"), self.description.as_deref(), MAX_DESCRIPTION_CHARS)?;
        Ok(CheckedObservable {
            kind: self.kind,
            value: self.value.trim().to_owned(),
            normalized,
            is_ioc: self.is_ioc.unwrap_or(false),
            tlp: self.tlp.unwrap_or(Tlp::Amber),
            description,
        })
    }
}

/// Adds observables to a case, at most [`MAX_PER_CALL`], in one transaction:
/// one already on the case (same type and normalised value) is left as it is,
/// so adding is idempotent. The new ones are one audit event and count as one
/// change of the case. Returns the case and, in input order, the observable
/// each input item names (new or existing).
pub async fn add(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    items: &[NewObservable],
) -> AppResult<(Case, Vec<Observable>)> {
    if items.len() > MAX_PER_CALL {
        return Err(AppError::bad_input("observables", format!("at most {MAX_PER_CALL} at once")));
    }
    let checked: Vec<CheckedObservable> =
        items.iter().enumerate().map(|(i, item)| item.check(&format!("observables[{i}]"))).collect::<AppResult<_>>()?;
    let tenant = actor.tenant.as_str();
    let current = case::lock_existing(conn, tenant, case_id).await?;
    let key = |kind: ObservableType, normalized: &str| (kind, normalized.to_owned());
    let mut present: HashMap<(ObservableType, String), Observable> =
        of_case_with_values(conn, tenant, case_id, &checked)
            .await?
            .into_iter()
            .map(|o| (key(o.kind, &o.normalized_value), o))
            .collect();
    let now = now();
    let mut new_rows = Vec::new();
    let mut new_keys = Vec::new();
    for item in &checked {
        let k = key(item.kind, &item.normalized);
        if !present.contains_key(&k) && !new_keys.contains(&k) {
            new_rows.push(ObservableInsert::new(tenant, case_id, item, &actor.user_id, now));
            new_keys.push(k);
        }
    }
    if new_rows.is_empty() {
        let named = checked.iter().filter_map(|c| present.get(&key(c.kind, &c.normalized)).cloned()).collect();
        return Ok((current, named));
    }
    let held = count_of_case(conn, tenant, case_id).await?;
    if held + new_rows.len() as i64 > MAX_PER_CASE {
        return Err(AppError::bad_input(
            "observables",
            format!(
                "a case holds at most {MAX_PER_CASE} observables: this one has {held}, and {} would be added",
                new_rows.len()
            ),
        ));
    }
    let ids = insert_rows(conn, &new_rows).await?;
    let added = rows_into(find_rows(conn, tenant, &ids).await?)?;
    let lines: Vec<String> = added.iter().map(Observable::label).collect();
    present.extend(added.into_iter().map(|o| (key(o.kind, &o.normalized_value), o)));
    let (case, seq) = case::touch(conn, actor, case_id, 1).await?;
    let change = FieldChange::new("observables", None, Some(lines.join("\n")));
    activity::record_audits(
        conn,
        actor,
        case_id,
        seq,
        vec![NewAudit::new(AuditAction::ObservablesAdded, vec![change])],
    )
    .await?;
    conn.record(evidence_changed(&case))?;
    let named = checked.iter().filter_map(|c| present.get(&key(c.kind, &c.normalized)).cloned()).collect();
    Ok((case, named))
}

/// The case's observables among the checked items' (type, value) pairs.
async fn of_case_with_values(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_id: CaseId,
    items: &[CheckedObservable],
) -> AppResult<Vec<Observable>> {
    let values: Vec<&str> = items.iter().map(|i| i.normalized.as_str()).collect();
    let rows: Vec<ObservableRow> = with_conn!(conn, c => {
        observables::table
            .filter(observables::tenant_id.eq(tenant))
            .filter(observables::case_id.eq(case_id.0))
            .filter(observables::normalized_value.eq_any(&values))
            .select(ObservableRow::as_select())
            .load(c)
            .await
    })?;
    // Same normalised text under another type is another observable.
    let rows = rows
        .into_iter()
        .filter(|r| items.iter().any(|i| i.kind == r.kind && i.normalized == r.normalized_value))
        .collect();
    rows_into(rows)
}

async fn find_rows(conn: &mut Conn<'_>, tenant: &str, ids: &[i64]) -> AppResult<Vec<ObservableRow>> {
    let rows = with_conn!(conn, c => {
        observables::table
            .filter(observables::tenant_id.eq(tenant))
            .filter(observables::id.eq_any(ids))
            .order(observables::id.asc())
            .select(ObservableRow::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// The tenant's observables with these ids; unknown ids are skipped.
pub async fn find_many(conn: &mut Conn<'_>, tenant: &str, ids: &[ObservableId]) -> AppResult<Vec<Observable>> {
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    rows_into(find_rows(conn, tenant, &ids).await?)
}

pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: ObservableId) -> AppResult<Option<Observable>> {
    Ok(find_many(conn, tenant, &[id]).await?.pop())
}

/// Locks the case of an observable and reads the observable under that lock
/// (a change that raced this one to remove it makes it not found).
async fn lock_case_of(conn: &mut Conn<'_>, tenant: &str, id: ObservableId) -> AppResult<Observable> {
    let seen = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("observable", id))?;
    case::lock_existing(conn, tenant, seen.case_id).await?;
    find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("observable", id))
}

/// A change to an observable: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ObservableChanges {
    pub is_ioc: Option<bool>,
    pub tlp: Option<Tlp>,
    pub description: Option<Option<String>>,
}

/// Changes an observable's flags and description (its value is what it is:
/// remove it and add another). Audited as a change of its case.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    id: ObservableId,
    input: ObservableChanges,
) -> AppResult<Observable> {
    let tenant = actor.tenant.as_str();
    let current = lock_case_of(conn, tenant, id).await?;
    let mut changes = Changes::default();
    let is_ioc = input.is_ioc.unwrap_or(current.is_ioc);
    changes.track("isIoc", &current.is_ioc, &is_ioc, |v| Some(v.to_string()));
    let tlp = input.tlp.unwrap_or(current.tlp);
    changes.track("tlp", &current.tlp, &tlp, |t| Some(t.as_str().to_owned()));
    let description = changes.optional_text(
        "description",
        input.description.as_ref().map(Option::as_deref),
        &current.description,
        MAX_DESCRIPTION_CHARS,
    )?;
    if changes.is_empty() {
        return Ok(current);
    }
    let values = (
        observables::is_ioc.eq(is_ioc),
        observables::tlp.eq(tlp.as_str()),
        observables::description.eq(&description),
        observables::search_text.eq(search_text(&[
            Some(&current.value),
            Some(&current.normalized_value),
            description.as_deref(),
        ])),
    );
    let target = observables::table.filter(observables::tenant_id.eq(tenant)).filter(observables::id.eq(id.0));
    with_conn!(conn, c => diesel::update(target).set(values).execute(c).await)?;
    let (_, seq) = case::touch(conn, actor, current.case_id, 1).await?;
    let audit = NewAudit { observable_id: Some(id.0), ..NewAudit::new(AuditAction::ObservableUpdated, changes.0) };
    activity::record_audits(conn, actor, current.case_id, seq, vec![audit]).await?;
    find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("observable", id))
}

/// Removes an observable from its case; the audit event keeps what it was.
/// A case's search entry carries its observables' values.
fn evidence_changed(case: &Case) -> Reindex {
    Reindex::Case {
        tenant: case.tenant_id.clone(),
        case_id: case.case_id(),
        title: case.title.clone(),
        description: case.description.clone(),
        with_evidence: true,
    }
}

pub async fn remove(conn: &mut Conn<'_>, actor: &Granted<'_, ManageAlerts>, id: ObservableId) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let current = lock_case_of(conn, tenant, id).await?;
    let target = observables::table.filter(observables::tenant_id.eq(tenant)).filter(observables::id.eq(id.0));
    with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    let (case, seq) = case::touch(conn, actor, current.case_id, 1).await?;
    let change = FieldChange::new("observable", Some(current.label()), None);
    let audit = NewAudit { observable_id: Some(id.0), ..NewAudit::new(AuditAction::ObservableRemoved, vec![change]) };
    activity::record_audits(conn, actor, current.case_id, seq, vec![audit]).await?;
    conn.record(evidence_changed(&case))?;
    Ok(case)
}

/// One indicator, in canonical form: what the pivot and the queue match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    pub kind: ObservableType,
    pub normalized: String,
}

impl Indicator {
    /// `value` as an indicator of `kind`; `field` names the value in errors.
    pub fn parse(field: &str, kind: ObservableType, value: &str) -> AppResult<Indicator> {
        let normalized = normalize::normalize(kind, value)
            .map_err(|rule| AppError::bad_input(field, format!("{} {rule}", kind.as_str())))?;
        Ok(Indicator { kind, normalized })
    }
}

/// Which observables to list; every given criterion must hold.
#[derive(Debug, Default, Clone)]
pub struct ObservableFilter {
    pub kinds: Vec<ObservableType>,
    /// The value as each of `kinds` (every type when empty) writes it; the
    /// types under which it is not valid are left out.
    pub value: Option<String>,
    /// Words that must each appear in the value or description, ignoring case.
    pub search: Option<String>,
    pub is_ioc: Option<bool>,
    pub case_id: Option<CaseId>,
}

impl ObservableFilter {
    /// Whether the filter only names a case (a case's own list).
    pub fn is_case_only(&self) -> bool {
        let ObservableFilter { kinds, value, search, is_ioc, case_id } = self;
        kinds.is_empty() && value.is_none() && search.is_none() && is_ioc.is_none() && case_id.is_some()
    }

    /// The (type, canonical value) pairs `value` stands for; refused when it
    /// is valid under none of the filter's types.
    fn indicators(&self) -> AppResult<Option<Vec<Indicator>>> {
        let Some(value) = &self.value else { return Ok(None) };
        let kinds = if self.kinds.is_empty() { ObservableType::ALL } else { &self.kinds };
        let found: Vec<Indicator> = kinds
            .iter()
            .filter_map(|&kind| normalize::normalize(kind, value).ok().map(|normalized| Indicator { kind, normalized }))
            .collect();
        if found.is_empty() {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            return Err(AppError::bad_input(
                "filter.value",
                format!("is not a valid value of any of the types {}", names.join(", ")),
            ));
        }
        Ok(Some(found))
    }
}

/// The tenant's observables matching a filter, as a boxed query of the
/// surrounding backend.
macro_rules! filtered_observables {
    ($tenant:expr, $filter:expr, $indicators:expr, $words:expr) => {{
        let filter: &ObservableFilter = $filter;
        let mut query = observables::table.filter(observables::tenant_id.eq($tenant)).into_boxed();
        if !filter.kinds.is_empty() {
            let kinds: Vec<&str> = filter.kinds.iter().map(|k| k.as_str()).collect();
            query = query.filter(observables::kind.eq_any(kinds));
        }
        if let Some(indicators) = $indicators {
            let mut matches: Option<
                Box<dyn BoxableExpression<observables::table, _, SqlType = diesel::sql_types::Bool>>,
            > = None;
            for indicator in indicators {
                let one = Box::new(
                    observables::kind
                        .eq(indicator.kind.as_str())
                        .and(observables::normalized_value.eq(indicator.normalized.clone())),
                );
                matches = Some(match matches {
                    None => one,
                    Some(earlier) => Box::new(earlier.or(one)),
                });
            }
            if let Some(matches) = matches {
                query = query.filter(matches);
            }
        }
        for word in $words {
            query = query.filter(observables::search_text.like(format!("%{}%", escape_like(word))).escape('\\'));
        }
        if let Some(is_ioc) = filter.is_ioc {
            query = query.filter(observables::is_ioc.eq(is_ioc));
        }
        if let Some(case_id) = filter.case_id {
            query = query.filter(observables::case_id.eq(case_id.0));
        }
        query
    }};
}

fn words(filter: &ObservableFilter) -> AppResult<Vec<String>> {
    match &filter.search {
        Some(s) => search_words("filter.search", s),
        None => Ok(Vec::new()),
    }
}

/// A page of observables, newest first, those with ids below `before_id`.
pub async fn list(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &ObservableFilter,
    before_id: Option<i64>,
    limit: i64,
) -> AppResult<Vec<Observable>> {
    let indicators = filter.indicators()?;
    let words = words(filter)?;
    let rows = with_conn!(conn, c => {
        let mut query = filtered_observables!(tenant, filter, &indicators, &words)
            .order(observables::id.desc())
            .limit(limit)
            .select(ObservableRow::as_select());
        if let Some(before) = before_id {
            query = query.filter(observables::id.lt(before));
        }
        query.load(c).await
    })?;
    rows_into(rows)
}

pub async fn count(conn: &mut Conn<'_>, tenant: &str, filter: &ObservableFilter) -> AppResult<i64> {
    let indicators = filter.indicators()?;
    let words = words(filter)?;
    let count =
        with_conn!(conn, c => filtered_observables!(tenant, filter, &indicators, &words).count().get_result(c).await)?;
    Ok(count)
}

/// The newest `limit` observables of each case, in one statement (a window
/// function ranks each case's rows).
pub async fn newest_of_cases(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_ids: &[CaseId],
    limit: i64,
) -> AppResult<Vec<Observable>> {
    if case_ids.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    let postgres = conn.is_postgres();
    let mut placeholders = crate::db::Placeholders::new(postgres);
    let (tenant_at, cases, limit_at) = (placeholders.bind(), placeholders.list(case_ids.len()), placeholders.bind());
    let sql = format!(
        "SELECT {COLUMNS} FROM (SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.case_id ORDER BY o.id DESC) AS n \
         FROM observables o WHERE o.tenant_id = {tenant_at} AND o.case_id IN ({cases})) ranked \
         WHERE n <= {limit_at} ORDER BY case_id, id DESC"
    );
    let rows: Vec<ObservableRow> = with_conn!(conn, c => {
        let mut query = diesel::sql_query(sql.as_str()).into_boxed().bind::<Text, _>(tenant.to_owned());
        for id in case_ids {
            query = query.bind::<BigInt, _>(id.0);
        }
        query.bind::<BigInt, _>(limit).load::<ObservableRow>(c).await
    })?;
    rows_into(rows)
}

/// The columns of `ObservableRow`, in its order.
const COLUMNS: &str = "id, case_id, kind, value, normalized_value, is_ioc, tlp, description, added_by, added_at";

/// How many observables each of these cases has.
pub async fn counts_of_cases(conn: &mut Conn<'_>, tenant: &str, case_ids: &[CaseId]) -> AppResult<Vec<(i64, i64)>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let counts = with_conn!(conn, c => {
        observables::table
            .filter(observables::tenant_id.eq(tenant))
            .filter(observables::case_id.eq_any(&ids))
            .group_by(observables::case_id)
            .select((observables::case_id, diesel::dsl::count_star()))
            .load(c)
            .await
    })?;
    Ok(counts)
}

/// Every value of a case's observables, oldest first: what the case's search
/// entry adds to its description.
/// How many observables a case holds.
async fn count_of_case(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<i64> {
    let count = with_conn!(conn, c => {
        observables::table
            .filter(observables::tenant_id.eq(tenant))
            .filter(observables::case_id.eq(case_id.0))
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

pub async fn values_of_case(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<Vec<String>> {
    let values = with_conn!(conn, c => {
        observables::table
            .filter(observables::tenant_id.eq(tenant))
            .filter(observables::case_id.eq(case_id.0))
            .order(observables::id.asc())
            .select(observables::normalized_value)
            .load(c)
            .await
    })?;
    Ok(values)
}
