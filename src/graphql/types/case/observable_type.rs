use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};

use super::CaseConnection;
use crate::auth::ReadData;
use crate::domain::case::Case;
use crate::domain::incident::{IncidentFilter, IncidentObservable};
use crate::domain::observable::{self, Indicator, Observable, ObservableFilter, ObservableType, Tlp};
use crate::domain::queue::{CaseFilter, CaseOrderField, OrderDirection};
use crate::domain::user::User;
use crate::error::{AppError, AppResult};
use crate::graphql::cursor::{self, IdCursor};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};
use crate::graphql::types::connection::{PageInfo, split_page};
use crate::graphql::types::user::known_user;
use crate::graphql::types::{INCIDENTS_NEWEST_FIRST, IncidentConnection};
use crate::graphql::{db, grant, loaders};

/// An indicator a case saw: an address, a name, a hash. The same indicator
/// on several cases is one observable per case; `cases` pivots between them.
#[Object]
impl Observable {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// What kind of indicator it is.
    #[graphql(name = "type")]
    async fn kind(&self) -> ObservableType {
        self.kind
    }
    /// The value as given.
    async fn value(&self) -> &str {
        &self.value
    }
    /// The value in its type's canonical form: what matching and the pivot compare.
    async fn normalized_value(&self) -> &str {
        &self.normalized_value
    }
    /// Whether it is an indicator of compromise (not just seen).
    async fn is_ioc(&self) -> bool {
        self.is_ioc
    }
    /// Who it may be shared with (Traffic Light Protocol).
    async fn tlp(&self) -> Tlp {
        self.tlp
    }
    /// Plain-text notes on it.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// Who added it.
    async fn added_by(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.added_by).await
    }
    /// When it was added.
    async fn added_at(&self) -> DateTime {
        utc(self.added_at)
    }
    /// The case it was added to.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Case> {
        let case = loaders(ctx)?.cases.load_one(self.case_id.0).await?;
        Ok(case.ok_or_else(|| AppError::internal(format!("observable {} has no case", self.id)))?)
    }
    /// Every case of the tenant that saw this indicator (same type and
    /// canonical value), this one included, newest first.
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the case this page follows.")] after: Option<String>,
    ) -> GqlResult<CaseConnection> {
        cases_seeing(ctx, Indicator { kind: self.kind, normalized: self.normalized_value.clone() }, first, after).await
    }
    /// Every incident of the tenant whose evidence names this indicator, newest first.
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the incident this page follows.")] after: Option<String>,
    ) -> GqlResult<IncidentConnection> {
        incidents_seeing(ctx, Indicator { kind: self.kind, normalized: self.normalized_value.clone() }, first, after)
            .await
    }
}

/// An indicator an incident's evidence names: the same key as a case's
/// observable, so the pivot finds both.
#[Object]
impl IncidentObservable {
    /// Its type.
    #[graphql(name = "type")]
    async fn kind(&self) -> ObservableType {
        self.kind
    }
    /// As the source first gave it.
    async fn value(&self) -> &str {
        &self.value
    }
    /// In its type's canonical form.
    async fn normalized_value(&self) -> &str {
        &self.normalized_value
    }
    /// The cases of the tenant that hold this indicator as an observable, newest first.
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the case this page follows.")] after: Option<String>,
    ) -> GqlResult<CaseConnection> {
        cases_seeing(ctx, Indicator { kind: self.kind, normalized: self.normalized_value.clone() }, first, after).await
    }
    /// Every incident of the tenant whose evidence names this indicator, this one's included, newest first.
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the incident this page follows.")] after: Option<String>,
    ) -> GqlResult<IncidentConnection> {
        incidents_seeing(ctx, Indicator { kind: self.kind, normalized: self.normalized_value.clone() }, first, after)
            .await
    }
}

/// The pivot to cases: those holding the indicator as an observable, newest first.
async fn cases_seeing(
    ctx: &Context<'_>,
    indicator: Indicator,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<CaseConnection> {
    let filter = CaseFilter { observable: Some(indicator), ..CaseFilter::default() };
    CaseConnection::page(ctx, filter, (CaseOrderField::Id, OrderDirection::Desc), first, after).await
}

/// The pivot to incidents: those whose evidence names the indicator, newest first.
async fn incidents_seeing(
    ctx: &Context<'_>,
    indicator: Indicator,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<IncidentConnection> {
    let filter = IncidentFilter { observable: Some(indicator), ..IncidentFilter::default() };
    IncidentConnection::page(ctx, filter, INCIDENTS_NEWEST_FIRST, first, after).await
}

/// Which observables to list; every given criterion must hold.
#[derive(InputObject, Default)]
#[graphql(name = "ObservableFilter")]
pub struct ObservableFilterInput {
    /// Of one of these types.
    pub types: Option<Vec<ObservableType>>,
    /// This indicator: the value is written in each type's canonical form
    /// (of `types`, else of every type it is valid for) before matching, so
    /// `10.0.0.05` is refused and `EVIL.example.` finds `evil.example`.
    pub value: Option<String>,
    /// Words that must each appear in the value or description, ignoring case.
    pub search: Option<String>,
    /// Only indicators of compromise (`true`) or only the others (`false`).
    pub is_ioc: Option<bool>,
}

impl ObservableFilterInput {
    pub fn into_domain(self) -> ObservableFilter {
        ObservableFilter {
            kinds: self.types.unwrap_or_default(),
            value: self.value,
            search: self.search,
            is_ioc: self.is_ioc,
            case_id: None,
        }
    }
}

/// An edge of an observable list.
#[derive(SimpleObject)]
pub struct ObservableEdge {
    /// Pass as `after` to continue after this observable.
    pub cursor: String,
    /// The observable.
    pub node: Observable,
}

/// A page of observables, newest first (Relay connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ObservableConnection {
    /// The observables of this page with their cursors.
    pub edges: Vec<ObservableEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub filter: ObservableFilter,
}

#[ComplexObject]
impl ObservableConnection {
    /// The observables of this page.
    async fn nodes(&self) -> Vec<&Observable> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// How many observables match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        if let Some(case_id) = self.filter.case_id.filter(|_| self.filter.is_case_only()) {
            // A case's own list: counted for the whole page of cases at once.
            return Ok(loaders(ctx)?.observable_counts.load_one(case_id.0).await?.unwrap_or(0));
        }
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let mut conn = db(ctx)?.get().await?;
        Ok(observable::count(&mut conn.conn(), tenant, &self.filter).await?)
    }
}

impl ObservableConnection {
    /// A page from `rows` fetched with one extra row to tell whether more follow.
    pub fn new(mut rows: Vec<Observable>, limit: i64, after_given: bool, filter: ObservableFilter) -> Self {
        let has_next = split_page(&mut rows, limit);
        let edges: Vec<ObservableEdge> = rows
            .into_iter()
            .map(|o| ObservableEdge { cursor: cursor::encode(&IdCursor { id: o.id.0 }), node: o })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        ObservableConnection { page_info: PageInfo::new(&cursors, has_next, after_given), edges, filter }
    }
}

/// Decodes an observable list's `after`.
pub fn observable_after(after: Option<&str>) -> AppResult<Option<i64>> {
    Ok(after.map(|a| cursor::decode::<IdCursor>("after", a)).transpose()?.map(|c| c.id))
}
