use async_graphql::{ComplexObject, Context, ID, Interface, Object, SimpleObject};

use super::connection::PageInfo;
use super::user::known_user;
use crate::domain::activity::{Activity, ActivityKind, AuditAction, Entry, FieldChange};
use crate::domain::case::{Case, CaseId};
use crate::domain::incident::Incident;
use crate::domain::observable::Observable;
use crate::domain::task::Task;
use crate::domain::user::User;
use crate::error::AppError;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;
use crate::graphql::scalars::{DateTime, utc};

/// An entry of a case's activity log.
#[derive(Interface)]
#[graphql(
    field(name = "id", ty = "ID", desc = "Stable identifier."),
    field(name = "case", ty = "GqlResult<Case>", desc = "The case whose log holds the entry."),
    field(name = "actor", ty = "GqlResult<User>", desc = "Who wrote the comment or made the change."),
    field(name = "created_at", ty = "DateTime", desc = "When the entry was written.")
)]
pub enum ActivityEvent {
    Comment(Comment),
    AuditEvent(AuditEvent),
}

impl From<Activity> for ActivityEvent {
    fn from(activity: Activity) -> Self {
        match activity.entry {
            Entry::Comment { .. } => ActivityEvent::Comment(Comment(activity)),
            Entry::Audit { .. } => ActivityEvent::AuditEvent(AuditEvent(activity)),
        }
    }
}

/// Fields every entry has.
async fn case_of(ctx: &Context<'_>, activity: &Activity) -> GqlResult<Case> {
    let case = loaders(ctx)?.cases.load_one(activity.case_id.0).await?;
    Ok(case.ok_or_else(|| AppError::internal(format!("activity {} has no case", activity.id)))?)
}

/// A comment entry (see the schema description on its `#[Object]` impl).
pub struct Comment(pub Activity);

/// A person's plain-text note on a case.
#[Object]
impl Comment {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The case whose log holds the comment.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Case> {
        case_of(ctx, &self.0).await
    }
    /// Who wrote the comment.
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.0.actor_id).await
    }
    /// When the comment was written.
    async fn created_at(&self) -> DateTime {
        utc(self.0.created_at)
    }
    /// The text, as written.
    async fn body(&self) -> &str {
        match &self.0.entry {
            Entry::Comment { body } => body,
            Entry::Audit { .. } => "",
        }
    }
}

/// An audit entry (see the schema description on its `#[Object]` impl).
pub struct AuditEvent(pub Activity);

/// What an audit entry records and names.
struct Audited<'a> {
    action: AuditAction,
    changes: &'a [FieldChange],
    task_id: Option<i64>,
    incident_id: Option<i64>,
    observable_id: Option<i64>,
    operation_id: Option<&'a str>,
}

impl AuditEvent {
    fn audit(&self) -> Audited<'_> {
        match &self.0.entry {
            Entry::Audit { action, changes, task_id, incident_id, observable_id, operation_id } => Audited {
                action: *action,
                changes,
                task_id: *task_id,
                incident_id: *incident_id,
                observable_id: *observable_id,
                operation_id: operation_id.as_deref(),
            },
            Entry::Comment { .. } => Audited {
                action: AuditAction::CaseUpdated,
                changes: &[],
                task_id: None,
                incident_id: None,
                observable_id: None,
                operation_id: None,
            },
        }
    }
}

/// A change the system recorded, with each changed field's old and new value.
#[Object]
impl AuditEvent {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The case that changed.
    async fn case(&self, ctx: &Context<'_>) -> GqlResult<Case> {
        case_of(ctx, &self.0).await
    }
    /// Who made the change.
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<User> {
        known_user(ctx, &self.0.actor_id).await
    }
    /// When the change was made.
    async fn created_at(&self) -> DateTime {
        utc(self.0.created_at)
    }
    /// What happened.
    async fn action(&self) -> AuditAction {
        self.audit().action
    }
    /// The fields that changed, with values as a person reads them.
    async fn changes(&self) -> Vec<FieldChange> {
        self.audit().changes.to_vec()
    }
    /// The bulk change (`updateCases`, `addTagsToCases`, `linkIncidentsToCases`)
    /// or merge (`mergeCases`) that wrote this entry, as its payload's
    /// `operationId` names it; null for a change made on its own. Every case
    /// a bulk change touches gets its own entries, each naming the operation.
    async fn operation_id(&self) -> Option<ID> {
        self.audit().operation_id.map(|id| ID(id.to_owned()))
    }
    /// The task concerned, while it exists.
    async fn task(&self, ctx: &Context<'_>) -> GqlResult<Option<Task>> {
        match self.audit().task_id {
            Some(id) => Ok(loaders(ctx)?.tasks.load_one(id).await?),
            None => Ok(None),
        }
    }
    /// The incident linked or unlinked.
    async fn incident(&self, ctx: &Context<'_>) -> GqlResult<Option<Incident>> {
        match self.audit().incident_id {
            Some(id) => Ok(loaders(ctx)?.incidents.load_one(id).await?),
            None => Ok(None),
        }
    }
    /// The observable changed or removed, while it exists (`changes` keep
    /// what a removed one was).
    async fn observable(&self, ctx: &Context<'_>) -> GqlResult<Option<Observable>> {
        match self.audit().observable_id {
            Some(id) => Ok(loaders(ctx)?.observables.load_one(id).await?),
            None => Ok(None),
        }
    }
}

/// One changed field of an audit event.
#[Object]
impl FieldChange {
    /// The field's schema name, such as `status` or `assignee`.
    async fn field(&self) -> &str {
        &self.field
    }
    /// The value before, as a person reads it.
    async fn old_value(&self) -> Option<&str> {
        self.old_value.as_deref()
    }
    /// The value after, as a person reads it.
    async fn new_value(&self) -> Option<&str> {
        self.new_value.as_deref()
    }
}

/// An edge of a case's activity log.
#[derive(SimpleObject)]
pub struct ActivityEdge {
    /// Pass as `after` to continue after this entry (also `caseActivity`'s resume point).
    pub cursor: String,
    /// The entry.
    pub node: ActivityEvent,
}

/// A page of a case's activity log, newest first (Relay connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ActivityConnection {
    /// The entries of this page with their cursors.
    pub edges: Vec<ActivityEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub case_id: CaseId,
    #[graphql(skip)]
    pub kinds: Vec<ActivityKind>,
    #[graphql(skip)]
    pub total_if_all_kinds: i64,
}

#[ComplexObject]
impl ActivityConnection {
    /// The entries of this page.
    async fn nodes(&self) -> Vec<&ActivityEvent> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// How many entries of the asked kinds the log holds.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        if self.kinds.is_empty() {
            return Ok(self.total_if_all_kinds);
        }
        let counts = loaders(ctx)?.activity_counts.load_one(self.case_id.0).await?.unwrap_or_default();
        Ok(self.kinds.iter().map(|k| counts.get(k.as_str()).copied().unwrap_or(0)).sum())
    }
}
