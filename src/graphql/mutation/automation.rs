use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::case::status_ref;
use super::template::template_ref;
use super::webhook::webhook_ref;
use super::{case_id, clearable, unclearable};
use crate::auth::{ManageSettings, Permission};
use crate::domain::automation::{
    self, ActionInput, AutomationActionType, AutomationTrigger, ConditionsInput, Rule, RuleId, RuleInput,
};
use crate::domain::status::StatusCategory;
use crate::domain::values::{CasePriority, IncidentSeverity, IncidentStatus};
use crate::error::{AppError, AppResult};
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, numeric_id, optional_time};
use crate::graphql::types::{AutomationEffect, AutomationTestResult};
use crate::graphql::{db, grant};

/// What a case must meet; every given condition must hold.
#[derive(InputObject, Default)]
pub struct AutomationConditionsInput {
    /// The case has one of these priorities.
    pub priorities: Option<Vec<CasePriority>>,
    /// The case is in one of these statuses.
    pub status_ids: Option<Vec<ID>>,
    /// The case's status is of one of these categories.
    pub status_categories: Option<Vec<StatusCategory>>,
    /// The case is assigned to one of these users.
    pub assignee_ids: Option<Vec<ID>>,
    /// Unassigned cases meet the assignee condition (alone: only unassigned ones).
    pub unassigned: Option<bool>,
    /// The case carries every one of these tags.
    pub tags: Option<Vec<String>>,
    /// The title or description contains every word of this text.
    pub text_contains: Option<String>,
    /// A linked incident is at least this severe (INCIDENT_INGESTED: the incident is).
    pub min_incident_severity: Option<IncidentSeverity>,
    /// INCIDENT_INGESTED: the incident came from one of these sources.
    pub sources: Option<Vec<String>>,
    /// INCIDENT_INGESTED: the incident is in one of these states.
    pub incident_statuses: Option<Vec<IncidentStatus>>,
    /// INCIDENT_INGESTED: an alert names one of these ATT&CK techniques (`T1021` also matches its sub-techniques).
    pub technique_ids: Option<Vec<String>>,
    /// INCIDENT_INGESTED: the incident has at least this many alerts.
    pub min_alert_count: Option<i32>,
}

/// One action: its type and the value that type needs.
#[derive(InputObject)]
pub struct AutomationActionInput {
    /// What the action does.
    #[graphql(name = "type")]
    pub kind: AutomationActionType,
    /// ASSIGN: a user known in the tenant.
    pub user_id: Option<ID>,
    /// SET_PRIORITY: the priority.
    pub priority: Option<CasePriority>,
    /// SET_STATUS: a status (not an archived one).
    pub status_id: Option<ID>,
    /// ADD_TAGS: the tags.
    pub tags: Option<Vec<String>>,
    /// APPLY_TEMPLATE (and CREATE_CASE, optionally): a case template.
    pub template_id: Option<ID>,
    /// ADD_COMMENT: the comment's text.
    pub body: Option<String>,
    /// SEND_WEBHOOK: one of the tenant's webhooks.
    pub webhook_id: Option<ID>,
    /// LINK_TO_MATCHING_CASE: how recent (in days, 1 to 365) the matching observable must be.
    pub window_days: Option<i32>,
}

/// A rule to create (or to test without creating it).
#[derive(InputObject)]
pub struct CreateAutomationRuleInput {
    /// 1 to 64 characters; shown as the actor of the rule's changes.
    pub name: String,
    /// Rules run by position (default 0), then by id.
    pub position: Option<i32>,
    /// Default true.
    pub enabled: Option<bool>,
    /// From this time on the rule does not run.
    pub expires_at: Option<DateTime>,
    /// What starts the rule.
    pub trigger: AutomationTrigger,
    /// What a case must meet.
    pub conditions: Option<AutomationConditionsInput>,
    /// What the rule does, in order (1 to 20 actions).
    pub actions: Vec<AutomationActionInput>,
}

/// A change to a rule. Absent fields are left alone; lists are replaced whole.
#[derive(InputObject)]
pub struct UpdateAutomationRuleInput {
    /// The rule.
    pub id: ID,
    /// New name.
    pub name: MaybeUndefined<String>,
    /// New position.
    pub position: Option<i32>,
    /// Enable or disable it.
    pub enabled: Option<bool>,
    /// New expiry; null: never.
    pub expires_at: MaybeUndefined<DateTime>,
    /// New trigger.
    pub trigger: Option<AutomationTrigger>,
    /// New conditions.
    pub conditions: Option<AutomationConditionsInput>,
    /// New actions.
    pub actions: Option<Vec<AutomationActionInput>>,
}

/// A rule to remove.
#[derive(InputObject)]
pub struct DeleteAutomationRuleInput {
    /// The rule.
    pub id: ID,
}

/// What a rule would do to a case: a stored rule or one given here.
#[derive(InputObject)]
pub struct TestAutomationRuleInput {
    /// A stored rule (or give `rule`).
    pub rule_id: Option<ID>,
    /// A rule not stored (or give `ruleId`).
    pub rule: Option<CreateAutomationRuleInput>,
    /// The case to try it on.
    pub case_id: ID,
}

fn ids(field: &str, ids: Option<Vec<ID>>) -> AppResult<Vec<crate::domain::status::StatusId>> {
    ids.unwrap_or_default().iter().map(|id| status_ref(field, id)).collect()
}

impl AutomationConditionsInput {
    fn into_domain(self) -> AppResult<ConditionsInput> {
        Ok(ConditionsInput {
            priorities: self.priorities.unwrap_or_default(),
            status_ids: ids("conditions.statusIds", self.status_ids)?,
            status_categories: self.status_categories.unwrap_or_default(),
            assignee_ids: self.assignee_ids.unwrap_or_default().into_iter().map(|id| id.0).collect(),
            unassigned: self.unassigned.unwrap_or(false),
            tags: self.tags.unwrap_or_default(),
            text_contains: self.text_contains,
            min_incident_severity: self.min_incident_severity,
            sources: self.sources.unwrap_or_default(),
            incident_statuses: self.incident_statuses.unwrap_or_default(),
            technique_ids: self.technique_ids.unwrap_or_default(),
            min_alert_count: self.min_alert_count,
        })
    }
}

fn actions(input: Vec<AutomationActionInput>) -> AppResult<Vec<ActionInput>> {
    input
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            Ok(ActionInput {
                kind: Some(a.kind),
                user_id: a.user_id.map(|id| id.0),
                priority: a.priority,
                status_id: a
                    .status_id
                    .as_ref()
                    .map(|id| status_ref(&format!("actions[{i}].statusId"), id))
                    .transpose()?,
                tags: a.tags,
                template_id: a
                    .template_id
                    .as_ref()
                    .map(|id| template_ref(&format!("actions[{i}].templateId"), id))
                    .transpose()?,
                body: a.body,
                window_days: a.window_days,
                webhook_id: a
                    .webhook_id
                    .as_ref()
                    .map(|id| webhook_ref(&format!("actions[{i}].webhookId"), id))
                    .transpose()?,
            })
        })
        .collect()
}

impl CreateAutomationRuleInput {
    fn into_domain(self) -> AppResult<RuleInput> {
        Ok(RuleInput {
            name: Some(self.name),
            position: self.position,
            enabled: self.enabled,
            expires_at: Some(optional_time("expiresAt", self.expires_at.as_ref())?),
            trigger: Some(self.trigger),
            conditions: self.conditions.map(AutomationConditionsInput::into_domain).transpose()?,
            actions: Some(actions(self.actions)?),
        })
    }
}

fn rule_id(id: &ID) -> AppResult<RuleId> {
    numeric_id(id).map(RuleId).ok_or_else(|| AppError::not_found("automation rule", id.as_str()))
}

#[derive(Default)]
pub struct AutomationMutation;

#[Object]
impl AutomationMutation {
    /// Creates an automation rule.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn create_automation_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new rule.")] input: CreateAutomationRuleInput,
    ) -> GqlResult<Rule> {
        let actor = grant::<ManageSettings>(ctx)?;
        let input = input.into_domain()?;
        Ok(db(ctx)?.write(async |conn| automation::create(conn, &actor, input).await).await?)
    }

    /// Changes an automation rule (enable, disable, reorder, rewrite).
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn update_automation_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule and its changes.")] input: UpdateAutomationRuleInput,
    ) -> GqlResult<Rule> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = rule_id(&input.id)?;
        let expires_at = match clearable(input.expires_at) {
            Some(Some(at)) => Some(optional_time("expiresAt", Some(&at))?),
            Some(None) => Some(None),
            None => None,
        };
        let changes = RuleInput {
            name: unclearable("name", input.name)?,
            position: input.position,
            enabled: input.enabled,
            expires_at,
            trigger: input.trigger,
            conditions: input.conditions.map(AutomationConditionsInput::into_domain).transpose()?,
            actions: input.actions.map(actions).transpose()?,
        };
        Ok(db(ctx)?.write(async |conn| automation::update(conn, &actor, id, changes).await).await?)
    }

    /// Removes an automation rule; what it did stays in the cases' logs. Returns its id.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn delete_automation_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule.")] input: DeleteAutomationRuleInput,
    ) -> GqlResult<ID> {
        let actor = grant::<ManageSettings>(ctx)?;
        let id = rule_id(&input.id)?;
        db(ctx)?.write(async |conn| automation::delete(conn, &actor, id).await).await?;
        Ok(input.id)
    }

    /// What a rule would do to a case now: whether the case meets its
    /// conditions and the log entries its actions would write. Writes nothing.
    #[graphql(directive = requires_permission::apply(Permission::CoreSecuritySettingsManage))]
    async fn test_automation_rule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rule (stored or given) and the case.")] input: TestAutomationRuleInput,
    ) -> GqlResult<AutomationTestResult> {
        let actor = grant::<ManageSettings>(ctx)?;
        let case = case_id(&input.case_id)?;
        let mut tx = db(ctx)?.begin().await?;
        let result = async {
            let rule = match (input.rule_id, input.rule) {
                (Some(id), None) => {
                    let id = rule_id(&id)?;
                    automation::find(&mut tx.conn(), actor.tenant(), id)
                        .await?
                        .ok_or_else(|| AppError::not_found("automation rule", id.0))?
                }
                (None, Some(rule)) => automation::unsaved(&mut tx.conn(), &actor, rule.into_domain()?).await?,
                _ => return Err(AppError::bad_input("ruleId", "give either ruleId or rule")),
            };
            automation::try_rule(&mut tx.conn(), &actor, &rule, case).await
        }
        .await;
        tx.rollback().await?;
        let (matched, written) = result?;
        Ok(AutomationTestResult { matched, effects: written.into_iter().map(AutomationEffect::from).collect() })
    }
}
