//! Relations between cases of one tenant: related, duplicate, parent and
//! child, blocking. Each relation is stored once per direction (`A PARENT_OF
//! B` with `B CHILD_OF A`), so a case reads its own relations by its key and
//! both cases' logs record the change. Two cases have at most one relation;
//! a case has at most one parent and is the duplicate of at most one case;
//! parents form no cycles.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{Granted, ManageAlerts, Principal};
use crate::db::Conn;
use crate::db::schema::{case_relations, cases};
use crate::domain::activity::{self, AuditAction, FieldChange, NewAudit};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::now;
use crate::domain::values::text_enum;
use crate::error::{AppError, AppResult};
use crate::with_conn;

text_enum! {
    /// How a case relates to another, read from the case that has the relation.
    pub enum RelationKind {
        /// About the same matter (symmetric: the other case is RELATED_TO this one).
        RelatedTo => "RELATED_TO",
        /// A duplicate of the other case, which survives (the other case shows DUPLICATED_BY).
        DuplicateOf => "DUPLICATE_OF",
        /// The other case is a duplicate of this one.
        DuplicatedBy => "DUPLICATED_BY",
        /// The other case is this one's child (a case has at most one parent).
        ParentOf => "PARENT_OF",
        /// This case is the other case's child.
        ChildOf => "CHILD_OF",
        /// The other case waits for this one.
        Blocks => "BLOCKS",
        /// This case waits for the other one.
        BlockedBy => "BLOCKED_BY",
    }
}

impl RelationKind {
    /// The same relation read from the other case.
    pub fn inverse(self) -> RelationKind {
        use RelationKind as K;
        match self {
            K::RelatedTo => K::RelatedTo,
            K::DuplicateOf => K::DuplicatedBy,
            K::DuplicatedBy => K::DuplicateOf,
            K::ParentOf => K::ChildOf,
            K::ChildOf => K::ParentOf,
            K::Blocks => K::BlockedBy,
            K::BlockedBy => K::Blocks,
        }
    }
}

/// The most relations a case has (a merge target gains one per duplicate).
pub const MAX_RELATIONS_PER_CASE: i64 = 500;

/// How deep a chain of parents may go: walking up it to refuse cycles is
/// bounded by it.
pub const MAX_DEPTH: usize = 32;

/// A relation of a case, as read from it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = case_relations, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Relation {
    pub case_id: i64,
    pub related_id: i64,
    pub kind: RelationKind,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = case_relations)]
struct RelationRow {
    tenant_id: String,
    case_id: i64,
    related_id: i64,
    kind: RelationKind,
    created_by: String,
    created_at: NaiveDateTime,
}

/// Relates `case_id` to `other_id` (`kind` as read from `case_id`), audited
/// on both cases. The same relation again changes nothing; a different one
/// between the two cases is a CONFLICT (remove it first).
pub async fn add(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    kind: RelationKind,
    other_id: CaseId,
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let current = lock_pair(conn, tenant, case_id, other_id).await?;
    if let Some(existing) = between(conn, tenant, case_id, other_id).await? {
        if existing == kind {
            return Ok(current);
        }
        return Err(AppError::Conflict(format!(
            "case {case_id} is already {} case {other_id}: remove that relation first",
            existing.as_str()
        )));
    }
    // Read from the child's and from the duplicate's side.
    match kind {
        RelationKind::ParentOf => check_parent(conn, tenant, other_id, case_id).await?,
        RelationKind::ChildOf => check_parent(conn, tenant, case_id, other_id).await?,
        RelationKind::DuplicateOf => check_original(conn, tenant, case_id).await?,
        RelationKind::DuplicatedBy => check_original(conn, tenant, other_id).await?,
        RelationKind::RelatedTo | RelationKind::Blocks | RelationKind::BlockedBy => {}
    }
    insert(conn, &actor.user_id, tenant, case_id, kind, other_id).await?;
    let label = |kind: RelationKind, id: CaseId| Some(format!("{} {id}", kind.as_str()));
    audit(
        conn,
        actor,
        other_id,
        FieldChange::new("relation", None, label(kind.inverse(), case_id)),
        AuditAction::RelationAdded,
    )
    .await?;
    audit(conn, actor, case_id, FieldChange::new("relation", None, label(kind, other_id)), AuditAction::RelationAdded)
        .await
}

/// Removes the relation between two cases, audited on both; none changes nothing.
pub async fn remove(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    other_id: CaseId,
) -> AppResult<Case> {
    let tenant = actor.tenant.as_str();
    let current = lock_pair(conn, tenant, case_id, other_id).await?;
    let Some(kind) = between(conn, tenant, case_id, other_id).await? else {
        return Ok(current);
    };
    delete_between(conn, tenant, case_id, other_id).await?;
    let label = |kind: RelationKind, id: CaseId| Some(format!("{} {id}", kind.as_str()));
    audit(
        conn,
        actor,
        other_id,
        FieldChange::new("relation", label(kind.inverse(), case_id), None),
        AuditAction::RelationRemoved,
    )
    .await?;
    audit(conn, actor, case_id, FieldChange::new("relation", label(kind, other_id), None), AuditAction::RelationRemoved)
        .await
}

/// Records `duplicate` as DUPLICATE_OF `original` for a merge, replacing
/// whatever related the two and any earlier original of `duplicate` (the
/// merge's own entries tell it; no relation entries). Both cases are locked.
pub async fn mark_duplicate(
    conn: &mut Conn<'_>,
    actor: &Principal,
    duplicate: CaseId,
    original: CaseId,
) -> AppResult<()> {
    let tenant = actor.tenant.as_str();
    delete_between(conn, tenant, duplicate, original).await?;
    if let Some(earlier) = single(conn, tenant, duplicate, RelationKind::DuplicateOf).await? {
        delete_between(conn, tenant, duplicate, earlier).await?;
    }
    insert(conn, &actor.user_id, tenant, duplicate, RelationKind::DuplicateOf, original).await
}

/// Locks two distinct cases, the lower number first (so two writers on one
/// pair queue instead of deadlocking), and returns `a`; either missing is
/// NOT_FOUND, one case twice is refused.
async fn lock_pair(conn: &mut Conn<'_>, tenant: &str, a: CaseId, b: CaseId) -> AppResult<Case> {
    if a == b {
        return Err(AppError::bad_input("relatedCaseId", "a case cannot be related to itself"));
    }
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let low = case::lock_existing(conn, tenant, low).await?;
    let high = case::lock_existing(conn, tenant, high).await?;
    Ok(if a < b { low } else { high })
}

/// The relation `case_id` has to `other_id`, if any.
async fn between(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_id: CaseId,
    other_id: CaseId,
) -> AppResult<Option<RelationKind>> {
    let kind = with_conn!(conn, c => {
        case_relations::table
            .find((tenant, case_id.0, other_id.0))
            .select(case_relations::kind)
            .first::<RelationKind>(c)
            .await
            .optional()
    })?;
    Ok(kind)
}

async fn insert(
    conn: &mut Conn<'_>,
    by: &str,
    tenant: &str,
    case_id: CaseId,
    kind: RelationKind,
    other_id: CaseId,
) -> AppResult<()> {
    let held: Vec<(i64, i64)> = with_conn!(conn, c => {
        case_relations::table
            .filter(case_relations::tenant_id.eq(tenant))
            .filter(case_relations::case_id.eq_any([case_id.0, other_id.0]))
            .group_by(case_relations::case_id)
            .select((case_relations::case_id, diesel::dsl::count_star()))
            .load(c)
            .await
    })?;
    if let Some((full, _)) = held.iter().find(|(_, n)| *n >= MAX_RELATIONS_PER_CASE) {
        return Err(AppError::bad_input(
            "relatedCaseId",
            format!("case {full} has {MAX_RELATIONS_PER_CASE} relations, the most a case has"),
        ));
    }
    let now = now();
    let row = |from: CaseId, kind: RelationKind, to: CaseId| RelationRow {
        tenant_id: tenant.to_owned(),
        case_id: from.0,
        related_id: to.0,
        kind,
        created_by: by.to_owned(),
        created_at: now,
    };
    let rows = [row(case_id, kind, other_id), row(other_id, kind.inverse(), case_id)];
    crate::bulk_insert!(conn, case_relations::table, &rows)?;
    Ok(())
}

async fn delete_between(conn: &mut Conn<'_>, tenant: &str, a: CaseId, b: CaseId) -> AppResult<()> {
    let target = case_relations::table.filter(case_relations::tenant_id.eq(tenant)).filter(
        case_relations::case_id
            .eq(a.0)
            .and(case_relations::related_id.eq(b.0))
            .or(case_relations::case_id.eq(b.0).and(case_relations::related_id.eq(a.0))),
    );
    with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    Ok(())
}

async fn audit(
    conn: &mut Conn<'_>,
    actor: &Principal,
    case_id: CaseId,
    change: FieldChange,
    action: AuditAction,
) -> AppResult<Case> {
    let (case, seq) = case::touch(conn, actor, case_id, 1).await?;
    activity::record_audits(conn, actor, case_id, seq, vec![NewAudit::new(action, vec![change])]).await?;
    Ok(case)
}

/// The case a case has a one-only relation to: its parent (CHILD_OF), the
/// case it duplicates (DUPLICATE_OF).
async fn single(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId, kind: RelationKind) -> AppResult<Option<CaseId>> {
    let other: Option<i64> = with_conn!(conn, c => {
        case_relations::table
            .filter(case_relations::tenant_id.eq(tenant))
            .filter(case_relations::case_id.eq(case_id.0))
            .filter(case_relations::kind.eq(kind.as_str()))
            .select(case_relations::related_id)
            .first(c)
            .await
            .optional()
    })?;
    Ok(other.map(CaseId))
}

/// The parent of a case, if it has one.
async fn parent_of(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<Option<CaseId>> {
    single(conn, tenant, case_id, RelationKind::ChildOf).await
}

/// Whether `child` may take `parent` as its parent: it has none yet, and
/// `child` is not among `parent`'s ancestors (no cycles).
async fn check_parent(conn: &mut Conn<'_>, tenant: &str, child: CaseId, parent: CaseId) -> AppResult<()> {
    if let Some(existing) = parent_of(conn, tenant, child).await? {
        return Err(AppError::Conflict(format!(
            "case {child} already has a parent, case {existing}: a case has one parent"
        )));
    }
    let mut above = parent;
    for _ in 0..MAX_DEPTH {
        match parent_of(conn, tenant, above).await? {
            Some(next) if next == child => {
                return Err(AppError::bad_input(
                    "relatedCaseId",
                    format!("case {child} is an ancestor of case {parent}: parents cannot form a cycle"),
                ));
            }
            Some(next) => above = next,
            None => return Ok(()),
        }
    }
    Err(AppError::bad_input("relatedCaseId", format!("a chain of parents is at most {MAX_DEPTH} cases deep")))
}

/// Whether `duplicate` may be marked the duplicate of a case: it is not one yet.
async fn check_original(conn: &mut Conn<'_>, tenant: &str, duplicate: CaseId) -> AppResult<()> {
    match single(conn, tenant, duplicate, RelationKind::DuplicateOf).await? {
        Some(original) => Err(AppError::Conflict(format!(
            "case {duplicate} is already a duplicate of case {original}: a case duplicates one case"
        ))),
        None => Ok(()),
    }
}

/// The relations of these cases, each case's by the related case's number.
pub async fn of_cases(conn: &mut Conn<'_>, tenant: &str, case_ids: &[CaseId]) -> AppResult<Vec<Relation>> {
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let found = with_conn!(conn, c => {
        case_relations::table
            .filter(case_relations::tenant_id.eq(tenant))
            .filter(case_relations::case_id.eq_any(&ids))
            .order((case_relations::case_id.asc(), case_relations::related_id.asc()))
            .select(Relation::as_select())
            .load(c)
            .await
    })?;
    Ok(found)
}

/// How many children each of these cases has, and how many of them are
/// closed: (parent, children, closed). Cases without children are left out.
pub async fn children_of_cases(
    conn: &mut Conn<'_>,
    tenant: &str,
    case_ids: &[CaseId],
) -> AppResult<Vec<(i64, i64, i64)>> {
    use diesel::dsl::{count, count_star};
    let ids: Vec<i64> = case_ids.iter().map(|id| id.0).collect();
    let counted = with_conn!(conn, c => {
        case_relations::table
            .inner_join(
                cases::table.on(cases::tenant_id
                    .eq(case_relations::tenant_id)
                    .and(cases::id.eq(case_relations::related_id))),
            )
            .filter(case_relations::tenant_id.eq(tenant))
            .filter(case_relations::case_id.eq_any(&ids))
            .filter(case_relations::kind.eq(RelationKind::ParentOf.as_str()))
            .group_by(case_relations::case_id)
            .select((case_relations::case_id, count_star(), count(cases::closed_at)))
            .load(c)
            .await
    })?;
    Ok(counted)
}

/// A case's children that are not closed, as (number, title), by number.
pub async fn open_children(conn: &mut Conn<'_>, tenant: &str, case_id: CaseId) -> AppResult<Vec<(i64, String)>> {
    let open = with_conn!(conn, c => {
        case_relations::table
            .inner_join(
                cases::table.on(cases::tenant_id
                    .eq(case_relations::tenant_id)
                    .and(cases::id.eq(case_relations::related_id))),
            )
            .filter(case_relations::tenant_id.eq(tenant))
            .filter(case_relations::case_id.eq(case_id.0))
            .filter(case_relations::kind.eq(RelationKind::ParentOf.as_str()))
            .filter(cases::closed_at.is_null())
            .order(cases::id.asc())
            .select((cases::id, cases::title))
            .load(c)
            .await
    })?;
    Ok(open)
}
