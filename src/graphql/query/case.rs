use async_graphql::{Context, ID, InputObject, Object};

use crate::auth::Permission;
use crate::domain::case::{Case, CaseId};
use crate::domain::incident::IncidentId;
use crate::domain::observable::{Indicator, ObservableType};
use crate::domain::queue::{CaseFilter, CaseOrderField, OrderDirection};
use crate::domain::sla::SlaState;
use crate::domain::status::{StatusCategory, StatusId};
use crate::domain::values::CasePriority;
use crate::domain::{attack, tag};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, numeric_id, optional_time};
use crate::graphql::types::CaseConnection;
use crate::graphql::{loaders, prefetch};

/// Which cases the queue shows; every given criterion must hold.
#[derive(InputObject, Default)]
#[graphql(name = "CaseFilter")]
pub struct CaseFilterInput {
    /// In one of these statuses.
    pub status_ids: Option<Vec<ID>>,
    /// In a status of one of these categories.
    pub status_categories: Option<Vec<StatusCategory>>,
    /// With one of these priorities.
    pub priorities: Option<Vec<CasePriority>>,
    /// Assigned to one of these users.
    pub assignee_ids: Option<Vec<ID>>,
    /// `true`: unassigned cases (with `assigneeIds`: those users' or unassigned);
    /// `false`: assigned ones.
    pub unassigned: Option<bool>,
    /// Opened by one of these users.
    pub created_by_ids: Option<Vec<ID>>,
    /// Due before this time.
    pub due_before: Option<DateTime>,
    /// Due after this time.
    pub due_after: Option<DateTime>,
    /// `true`: due in the past and not in a CLOSED status; `false`: the others.
    pub overdue: Option<bool>,
    /// Linked to this incident.
    pub incident_id: Option<ID>,
    /// Saw this indicator: has an observable of this type whose value, in the
    /// type's canonical form, is this one's.
    pub observable: Option<ObservableMatch>,
    /// Carrying tags (names ignore case).
    pub tags: Option<TagFilter>,
    /// Carrying one of these ATT&CK techniques (`T1021` also matches its
    /// sub-techniques, such as `T1021.002`).
    pub technique_ids: Option<Vec<String>>,
    /// Carrying a technique of one of these ATT&CK tactics (ids such as
    /// `TA0008`, or names such as `Lateral Movement`).
    pub tactics: Option<Vec<String>>,
    /// Whose SLA is, now, in one of these states.
    pub sla_states: Option<Vec<SlaState>>,
    /// A search of the title and description: every word must match (an
    /// English word also in other forms: `tunnel` finds "tunnelling"),
    /// `"quoted phrases"` in order, `a OR b` either, `-word` excludes, and the
    /// last word also matches as a prefix (`smb tun`). Punctuation splits
    /// words, so `10.0.0.5` or `evil-corp.com` match as phrases of their parts.
    pub search: Option<String>,
    /// A child of this case (`CHILD_OF` it).
    pub parent_id: Option<ID>,
    /// `true`: a child of some case; `false`: a child of none.
    pub has_parent: Option<bool>,
    /// Related to this case in any way: its children, parent, duplicates,
    /// original, related, blocking and blocked cases.
    pub related_to: Option<ID>,
}

impl CaseFilterInput {
    pub(crate) fn into_domain(self) -> AppResult<CaseFilter> {
        let ids = |field: &str, ids: Option<Vec<ID>>| -> AppResult<Vec<i64>> {
            ids.unwrap_or_default()
                .iter()
                .map(|id| {
                    numeric_id(id).ok_or_else(|| AppError::bad_input(field, format!("{:?} is not an id", id.as_str())))
                })
                .collect()
        };
        let strings = |ids: Option<Vec<ID>>| ids.unwrap_or_default().into_iter().map(|id| id.0).collect();
        Ok(CaseFilter {
            status_ids: ids("filter.statusIds", self.status_ids)?.into_iter().map(StatusId).collect(),
            status_categories: self.status_categories.unwrap_or_default(),
            priorities: self.priorities.unwrap_or_default(),
            assignee_ids: strings(self.assignee_ids),
            unassigned: self.unassigned,
            created_by_ids: strings(self.created_by_ids),
            due_before: optional_time("filter.dueBefore", self.due_before.as_ref())?,
            due_after: optional_time("filter.dueAfter", self.due_after.as_ref())?,
            overdue: self.overdue,
            // an id that cannot exist matches nothing
            incident_id: self.incident_id.map(|id| IncidentId(numeric_id(&id).unwrap_or(-1))),
            observable: self
                .observable
                .map(|o| Indicator::parse("filter.observable.value", o.kind, &o.value))
                .transpose()?,
            tags_all: tag_keys("filter.tags.all", self.tags.as_ref().and_then(|t| t.all.as_deref()))?,
            technique_groups: attack::catalogue().filter_groups(self.technique_ids, self.tactics)?,
            tags_any: tag_keys("filter.tags.any", self.tags.as_ref().and_then(|t| t.any.as_deref()))?,
            sla_states: self.sla_states.unwrap_or_default(),
            search: self.search,
            // an id that cannot exist matches nothing
            parent_id: self.parent_id.map(|id| CaseId(numeric_id(&id).unwrap_or(-1))),
            has_parent: self.has_parent,
            related_to: self.related_to.map(|id| CaseId(numeric_id(&id).unwrap_or(-1))),
            as_of: Some(crate::domain::now()),
        })
    }
}

/// An indicator to match: a type and a value (written in the type's canonical form first).
#[derive(InputObject)]
pub struct ObservableMatch {
    /// The observable's type.
    #[graphql(name = "type")]
    pub kind: ObservableType,
    /// The value, as any client writes it (`HTTP://Evil.example:80` is `http://evil.example/`).
    pub value: String,
}

/// Tags a case must carry; both lists may be given.
#[derive(InputObject)]
pub struct TagFilter {
    /// Every one of these (at most 20).
    pub all: Option<Vec<String>>,
    /// At least one of these (at most 20).
    pub any: Option<Vec<String>>,
}

fn tag_keys(field: &str, names: Option<&[String]>) -> AppResult<Vec<String>> {
    Ok(tag::parse_names(field, names.unwrap_or_default())?.iter().map(|n| tag::key(n)).collect())
}

/// How the queue is sorted; ties are broken by case number in the same direction.
#[derive(InputObject)]
pub struct CaseOrder {
    /// What to sort by.
    pub field: CaseOrderField,
    /// Which way.
    pub direction: OrderDirection,
}

#[derive(Default)]
pub struct CaseQuery;

#[Object]
impl CaseQuery {
    /// One case by number; null when it does not exist in the caller's tenant.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn case(&self, ctx: &Context<'_>, #[graphql(desc = "The case number.")] id: ID) -> GqlResult<Option<Case>> {
        let Some(id) = numeric_id(&id) else { return Ok(None) };
        let loaders = loaders(ctx)?;
        let case = loaders.load_now(&loaders.cases, [CaseId(id).0]).await?.remove(&id);
        if let Some(case) = &case {
            prefetch::cases(ctx, &ctx.look_ahead(), std::slice::from_ref(case)).await?;
        }
        Ok(case)
    }

    /// The case queue: filtered, sorted, paginated with cursors.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which cases (all when absent).")] filter: Option<CaseFilterInput>,
        #[graphql(desc = "Sort order (default: ID DESC, newest first).")] order_by: Option<CaseOrder>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the case this page follows.")] after: Option<String>,
    ) -> GqlResult<CaseConnection> {
        let filter = filter.unwrap_or_default().into_domain()?;
        let order = order_by.map_or((CaseOrderField::Id, OrderDirection::Desc), |o| (o.field, o.direction));
        CaseConnection::page(ctx, filter, order, first, after).await
    }
}
