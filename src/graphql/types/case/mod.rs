//! A case and what is reached only through it or leads back to it: its
//! observables (an observable lists the cases that saw it), one module
//! because the two types name each other.

mod observable_type;

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};

use super::activity::{ActivityConnection, ActivityEdge, ActivityEvent};
use super::attack::AttackTechnique;
use super::connection::{PageInfo, split_page};
use super::sla::CaseSla;
use crate::auth::ReadData;
use crate::domain::activity::{self, ActivityKind};
use crate::domain::case::Case;
use crate::domain::incident::Incident;
use crate::domain::observable::{self, ObservableFilter};
use crate::domain::queue::{self, CaseFilter, CaseKey, CaseOrderField, OrderDirection};
use crate::domain::relation::Relation;
use crate::domain::search::Counted;
use crate::domain::status::Status;
use crate::domain::task::Task;
use crate::domain::user::User;
use crate::domain::values::CasePriority;
use crate::domain::workflow::{Classification, Determination};
use crate::domain::{attack, sla};
use crate::error::AppError;
use crate::graphql::compiled::CaseList;
use crate::graphql::cursor::{self, ActivityCursor};
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{NewestKey, RecentKey};
use crate::graphql::prefetch::{self, normalize_kinds};
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::types::user::known_user;
use crate::graphql::{db, grant, loaders, page_size, search_count_limit};
pub use observable_type::{ObservableConnection, ObservableFilterInput, observable_after};

/// An investigation: a threat hunt, an escalation. Numbered per tenant from 1000.
#[Object]
impl Case {
    /// The case number, unique in the tenant.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// What the investigation is about.
    async fn title(&self) -> &str {
        &self.title
    }
    /// Plain-text details.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// How urgent the case is, when set.
    async fn priority(&self) -> Option<CasePriority> {
        CasePriority::from_rank(self.priority)
    }
    /// Where the case stands in the tenant's workflow.
    async fn status(&self, ctx: &Context<'_>) -> GqlResult<Status> {
        let status = loaders(ctx)?.statuses.load_one(self.status_id).await?;
        Ok(status.ok_or_else(|| AppError::internal(format!("case {} has no status", self.id)))?)
    }
    /// Who works the case.
    async fn assignee(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        match &self.assignee_id {
            Some(id) => Ok(loaders(ctx)?.users.load_one(id.clone()).await?),
            None => Ok(None),
        }
    }
    /// When the case is due.
    async fn due_on(&self) -> Option<DateTime> {
        self.due_on.map(utc)
    }
    /// Who opened the case.
    async fn created_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.created_by).await
    }
    /// When the case was opened.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// Who changed the case (or its tasks or links) last.
    async fn updated_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.updated_by).await
    }
    /// When the case (or its tasks or links) last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
    /// What the case turned out to be; only while it is in a CLOSED status.
    async fn classification(&self) -> Option<Classification> {
        self.classification
    }
    /// Why it was classified so.
    async fn determination(&self) -> Option<Determination> {
        self.determination
    }
    /// Notes on the closing.
    async fn closing_comment(&self) -> Option<&str> {
        self.closing_comment.as_deref()
    }
    /// Where the case stands against the tenant's SLA policy for its priority, now.
    /// (Deadlines of an open case follow the current policy; a closed case
    /// keeps the outcome it closed with.)
    async fn sla(&self) -> GqlResult<CaseSla> {
        let schedule = sla::Schedule::of_case(self);
        Ok(schedule.at(&sla::Clock::of(self), crate::domain::now()).into())
    }
    /// Bumped by every change; pass it as `expectedVersion` to update safely.
    async fn version(&self) -> i32 {
        self.version
    }
    /// The case's relations to other cases of the tenant, by the other
    /// case's number: related, duplicate, parent and child, blocking.
    async fn relations(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<Relation>>> {
        Ok(loaders(ctx)?.relations_by_case.load_one(self.id).await?.unwrap_or_default())
    }
    /// How many child cases the case has (cases `CHILD_OF` it).
    async fn child_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        Ok(loaders(ctx)?.children_counts.load_one(self.id).await?.unwrap_or_default().0)
    }
    /// How many of the case's child cases are closed.
    async fn closed_child_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        Ok(loaders(ctx)?.children_counts.load_one(self.id).await?.unwrap_or_default().1)
    }
    /// The case this one was merged into (`mergeCases`), which holds its
    /// tasks and evidence now; null for a case never merged. A merged case
    /// stays readable, closed as `DUPLICATE_OF` it.
    async fn merged_into(&self, ctx: &Context<'_>) -> GqlResult<Option<Case>> {
        match self.merged_into {
            Some(id) => Ok(loaders(ctx)?.cases.load_one(id).await?),
            None => Ok(None),
        }
    }
    /// The case's tasks, oldest first.
    async fn tasks(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<Task>>> {
        Ok(loaders(ctx)?.tasks_by_case.load_one(self.id).await?.unwrap_or_default())
    }
    /// The incidents linked to the case, in link order.
    async fn incidents(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<Incident>>> {
        Ok(loaders(ctx)?.incidents_by_case.load_one(self.id).await?.unwrap_or_default())
    }
    /// The case's tags, by name ignoring case.
    async fn tags(&self, ctx: &Context<'_>) -> GqlResult<Arc<Vec<String>>> {
        Ok(loaders(ctx)?.tags_by_case.load_one(self.id).await?.unwrap_or_default())
    }
    /// The MITRE ATT&CK techniques the case carries, by id.
    async fn techniques(&self, ctx: &Context<'_>) -> GqlResult<Vec<AttackTechnique>> {
        let ids = loaders(ctx)?.techniques_by_case.load_one(self.id).await?.unwrap_or_default();
        let catalogue = attack::catalogue();
        // The shipped catalogue keeps retired techniques, so every stored id is in it.
        ids.iter()
            .map(|id| {
                catalogue.technique(id).map(AttackTechnique).ok_or_else(|| {
                    AppError::internal(format!("case {} carries {id}, which the ATT&CK catalogue lacks", self.id))
                        .into()
                })
            })
            .collect()
    }
    /// The indicators the case saw, newest first.
    async fn observables(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which of them (all when absent).")] filter: Option<ObservableFilterInput>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the observable this page follows.")] after: Option<String>,
    ) -> GqlResult<ObservableConnection> {
        let limit = page_size(first)?;
        let filter = ObservableFilter { case_id: Some(self.case_id()), ..filter.unwrap_or_default().into_domain() };
        let after = observable_after(after.as_deref())?;
        let rows = match after {
            // First pages (dashboards) are batched across cases.
            None if filter.is_case_only() => {
                let key = NewestKey { case_id: self.id, limit: limit + 1 };
                loaders(ctx)?.newest_observables.load_one(key).await?.map(|page| page.to_vec()).unwrap_or_default()
            }
            _ => {
                let tenant = grant::<ReadData>(ctx)?.tenant();
                let mut conn = db(ctx)?.get().await?;
                observable::list(&mut conn.conn(), tenant, &filter, after, limit + 1).await?
            }
        };
        Ok(ObservableConnection::new(rows, limit, after.is_some(), filter))
    }
    /// The files on the case (its tasks' included), newest first.
    async fn attachments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the attachment this page follows.")] after: Option<String>,
    ) -> GqlResult<crate::graphql::types::AttachmentConnection> {
        let owner = crate::domain::attachment::Owner::Case(self.case_id());
        crate::graphql::types::attachment_page(ctx, owner, first, after).await
    }
    /// The case's activity log, newest first: comments and audit events.
    async fn activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only these kinds (all when absent or empty).")] kinds: Option<Vec<ActivityKind>>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the entry this page follows.")] after: Option<String>,
    ) -> GqlResult<ActivityConnection> {
        let limit = page_size(first)?;
        let before = after.as_deref().map(|a| cursor::decode::<ActivityCursor>("after", a)).transpose()?;
        let kinds = normalize_kinds(kinds.unwrap_or_default());
        let mut rows = match before {
            // First pages (dashboards) are batched across cases.
            None => {
                let key = RecentKey::first_page(self, kinds.clone(), limit);
                loaders(ctx)?.recent_activity.load_one(key).await?.map(|page| page.to_vec()).unwrap_or_default()
            }
            Some(before) => {
                let tenant = grant::<ReadData>(ctx)?.tenant();
                let mut conn = db(ctx)?.get().await?;
                activity::page(&mut conn.conn(), tenant, self.case_id(), &kinds, Some(before.seq), limit + 1).await?
            }
        };
        let has_next = split_page(&mut rows, limit);
        let edges: Vec<ActivityEdge> = rows
            .into_iter()
            .map(|a| ActivityEdge {
                cursor: cursor::encode(&ActivityCursor { seq: a.seq }),
                node: ActivityEvent::from(a),
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(ActivityConnection {
            page_info: PageInfo::new(&cursors, has_next, before.is_some()),
            edges,
            case_id: self.case_id(),
            // Sequences are dense: the newest is the count of all entries.
            total_if_all_kinds: self.activity_seq,
            kinds,
        })
    }
}

/// An edge of the case queue.
#[derive(SimpleObject)]
pub struct CaseEdge {
    /// Pass as `after` to continue after this case.
    pub cursor: String,
    /// The case.
    pub node: Case,
}

/// A page of the case queue (Relay connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CaseConnection {
    /// The cases of this page with their cursors.
    pub edges: Vec<CaseEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub filter: CaseFilter,
    /// The count, once per page (`totalCount` and `totalCountIsExact` agree),
    /// set first when the page needed it.
    #[graphql(skip)]
    pub total: tokio::sync::OnceCell<Counted>,
}

#[ComplexObject]
impl CaseConnection {
    /// The cases of this page.
    async fn nodes(&self) -> CaseList<'_> {
        CaseList(self.edges.iter().map(|e| &e.node).collect())
    }
    /// How many cases match the filter, over all pages. Exact without a text
    /// search; with `filter.search`, exact up to the server's bound (10,000
    /// unless configured) and that bound past it: see `totalCountIsExact`.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        Ok(self.counted(ctx).await?.count)
    }
    /// Whether `totalCount` is exact: false only for a text search that
    /// matches more cases than the server counts (then at least `totalCount`
    /// match).
    async fn total_count_is_exact(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(self.counted(ctx).await?.exact)
    }
}

impl CaseConnection {
    async fn counted(&self, ctx: &Context<'_>) -> GqlResult<Counted> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let count = self.total.get_or_try_init(|| async {
            let mut conn = db(ctx)?.get().await?;
            queue::count(&mut conn.conn(), tenant, &self.filter, search_count_limit(ctx)).await
        });
        Ok(*count.await?)
    }

    /// A page of the queue, its cases' selected relations prefetched: `cases`,
    /// and the pivots that list cases (`Observable.cases`).
    pub(crate) async fn page(
        ctx: &Context<'_>,
        filter: CaseFilter,
        (field, direction): (CaseOrderField, OrderDirection),
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<CaseConnection> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let limit = page_size(first)?;
        let after = after.as_deref().map(|a| cursor::decode::<CaseKey>("after", a)).transpose()?;
        let mut conn = crate::graphql::db(ctx)?.get().await?;
        let look_ahead = ctx.look_ahead();
        let total_wanted = (look_ahead.field("totalCount").exists() || look_ahead.field("totalCountIsExact").exists())
            .then(|| search_count_limit(ctx));
        let order = (field, direction);
        let queue::Page { cases, total } =
            queue::page(&mut conn.conn(), tenant, &filter, order, after.as_ref(), limit + 1, total_wanted).await?;
        drop(conn);
        let (cases, keys): (Vec<Case>, Vec<CaseKey>) = cases.into_iter().unzip();
        let shown = &cases[..cases.len().min(limit as usize)];
        for nodes in prefetch::connection_nodes(&ctx.look_ahead()) {
            prefetch::cases(ctx, &nodes, shown).await?;
        }
        Ok(Self::new(cases, &keys, limit, after.is_some(), filter).with_total(total))
    }

    /// With `totalCount` known already.
    pub fn with_total(self, total: Option<Counted>) -> Self {
        CaseConnection { total: tokio::sync::OnceCell::new_with(total), ..self }
    }

    /// `keys[i]` is the sort key of `cases[i]`.
    pub fn new(mut cases: Vec<Case>, keys: &[CaseKey], limit: i64, after_given: bool, filter: CaseFilter) -> Self {
        let has_next = split_page(&mut cases, limit);
        let edges: Vec<CaseEdge> = cases
            .into_iter()
            .zip(keys)
            .map(|(case, key)| CaseEdge { cursor: cursor::encode(key), node: case })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        let page_info = PageInfo::new(&cursors, has_next, after_given);
        CaseConnection { page_info, edges, filter, total: tokio::sync::OnceCell::new() }
    }
}
