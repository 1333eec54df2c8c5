use async_graphql::{ID, Object, SimpleObject};

use crate::domain::activity::{Activity, AuditAction, Entry, FieldChange};
use crate::domain::automation::{Action, AutomationActionType, AutomationTrigger, Conditions, Rule};
use crate::domain::status::StatusCategory;
use crate::domain::values::{CasePriority, IncidentSeverity, IncidentStatus};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, utc};

/// When a case changes as its trigger says and meets all its conditions, the
/// rule's actions run in order, in the same transaction, as "Automation:
/// <name>". A rule's own changes start no rules.
#[Object(name = "AutomationRule")]
impl Rule {
    /// Stable identifier.
    async fn id(&self) -> ID {
        ID(self.id.0.to_string())
    }
    /// The rule's name (shown as the actor of its changes).
    async fn name(&self) -> &str {
        &self.name
    }
    /// Rules run by position, then by id.
    async fn position(&self) -> i32 {
        self.position
    }
    /// A disabled rule does not run.
    async fn enabled(&self) -> bool {
        self.enabled
    }
    /// From this time on the rule does not run.
    async fn expires_at(&self) -> Option<DateTime> {
        self.expires_at.map(utc)
    }
    /// What starts the rule.
    async fn trigger(&self) -> AutomationTrigger {
        self.trigger
    }
    /// What a case must meet, all of it.
    async fn conditions(&self) -> AutomationConditions {
        AutomationConditions(self.conditions.clone())
    }
    /// What the rule does, in order.
    async fn actions(&self) -> Vec<AutomationAction> {
        self.actions.iter().cloned().map(AutomationAction).collect()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        utc(self.created_at)
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        utc(self.updated_at)
    }
}

/// A rule's conditions.
pub struct AutomationConditions(pub Conditions);

/// What a case must meet for a rule to act: every non-empty condition.
#[Object]
impl AutomationConditions {
    /// The case has one of these priorities.
    async fn priorities(&self) -> Vec<CasePriority> {
        self.0.priorities.iter().filter_map(|r| CasePriority::from_rank(*r)).collect()
    }
    /// The case is in one of these statuses.
    async fn status_ids(&self) -> Vec<ID> {
        self.0.status_ids.iter().map(|id| ID(id.to_string())).collect()
    }
    /// The case's status is of one of these categories.
    async fn status_categories(&self) -> GqlResult<Vec<StatusCategory>> {
        Ok(self.0.status_categories.iter().map(|c| StatusCategory::from_db(c)).collect::<Result<_, _>>()?)
    }
    /// The case is assigned to one of these users (or unassigned, with `unassigned`).
    async fn assignee_ids(&self) -> Vec<ID> {
        self.0.assignee_ids.iter().cloned().map(ID).collect()
    }
    /// Unassigned cases meet the assignee condition.
    async fn unassigned(&self) -> bool {
        self.0.unassigned
    }
    /// The case carries every one of these tags (as keys: lower case).
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// The title or description contains every one of these words.
    async fn text_contains(&self) -> &[String] {
        &self.0.words
    }
    /// A linked incident is at least this severe.
    async fn min_incident_severity(&self) -> GqlResult<Option<IncidentSeverity>> {
        Ok(self.0.min_incident_severity.as_deref().map(IncidentSeverity::from_db).transpose()?)
    }
    /// INCIDENT_INGESTED: the incident came from one of these sources.
    async fn sources(&self) -> &[String] {
        &self.0.sources
    }
    /// INCIDENT_INGESTED: the incident is in one of these states.
    async fn incident_statuses(&self) -> GqlResult<Vec<IncidentStatus>> {
        Ok(self.0.incident_statuses.iter().map(|s| IncidentStatus::from_db(s)).collect::<Result<_, _>>()?)
    }
    /// INCIDENT_INGESTED: an alert names one of these techniques (sub-techniques spelled out).
    async fn technique_ids(&self) -> &[String] {
        &self.0.technique_ids
    }
    /// INCIDENT_INGESTED: the incident has at least this many alerts.
    async fn min_alert_count(&self) -> Option<i32> {
        self.0.min_alert_count
    }
}

/// One action of a rule.
pub struct AutomationAction(pub Action);

/// What a rule does: its type and the value that type needs.
#[Object]
impl AutomationAction {
    /// What the action does.
    #[graphql(name = "type")]
    async fn kind(&self) -> AutomationActionType {
        self.0.kind()
    }
    /// ASSIGN: the user.
    async fn user_id(&self) -> Option<ID> {
        if let Action::Assign { user_id } = &self.0 { Some(ID(user_id.clone())) } else { None }
    }
    /// SET_PRIORITY: the priority.
    async fn priority(&self) -> Option<CasePriority> {
        if let Action::SetPriority { priority } = self.0 { CasePriority::from_rank(priority) } else { None }
    }
    /// SET_STATUS: the status.
    async fn status_id(&self) -> Option<ID> {
        if let Action::SetStatus { status_id } = self.0 { Some(ID(status_id.to_string())) } else { None }
    }
    /// ADD_TAGS: the tags.
    async fn tags(&self) -> Option<&[String]> {
        if let Action::AddTags { tags } = &self.0 { Some(tags) } else { None }
    }
    /// APPLY_TEMPLATE, CREATE_CASE: the case template.
    async fn template_id(&self) -> Option<ID> {
        match self.0 {
            Action::ApplyTemplate { template_id } | Action::CreateCase { template_id: Some(template_id) } => {
                Some(ID(template_id.to_string()))
            }
            _ => None,
        }
    }
    /// LINK_TO_MATCHING_CASE: how recent (days) the matching observable must be.
    async fn window_days(&self) -> Option<i32> {
        if let Action::LinkToMatchingCase { window_days } = self.0 { Some(window_days) } else { None }
    }
    /// ADD_COMMENT: the comment's text.
    async fn body(&self) -> Option<&str> {
        if let Action::AddComment { body } = &self.0 { Some(body) } else { None }
    }
    /// SEND_WEBHOOK: the webhook.
    async fn webhook_id(&self) -> Option<ID> {
        if let Action::SendWebhook { webhook_id } = &self.0 { Some(ID(webhook_id.to_string())) } else { None }
    }
}

/// What a rule would do to a case (nothing was written).
#[derive(SimpleObject)]
pub struct AutomationTestResult {
    /// Whether the case meets the rule's conditions.
    pub matched: bool,
    /// The log entries the rule's actions would write, in order.
    pub effects: Vec<AutomationEffect>,
}

/// One log entry a rule would write.
#[derive(SimpleObject)]
pub struct AutomationEffect {
    /// The audit event's action (null for a comment).
    pub action: Option<AuditAction>,
    /// The fields it would change.
    pub changes: Vec<FieldChange>,
    /// The comment it would add.
    pub comment: Option<String>,
}

impl From<Activity> for AutomationEffect {
    fn from(entry: Activity) -> Self {
        match entry.entry {
            Entry::Comment { body } => AutomationEffect { action: None, changes: Vec::new(), comment: Some(body) },
            Entry::Audit { action, changes, .. } => AutomationEffect { action: Some(action), changes, comment: None },
        }
    }
}
