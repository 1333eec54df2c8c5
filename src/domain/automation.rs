//! Automation rules: when a case changes in a way a rule watches (its
//! trigger) and the case meets every one of the rule's conditions, the
//! rule's actions run, in order, inside the transaction of the change that
//! triggered them. Rules run by `position` (then id); their changes are
//! audited with the rule as the actor ("Automation: <name>") and reach
//! subscribers like any change. A rule's own changes trigger no rules, so
//! nothing loops.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};

use crate::auth::{Granted, ManageAlerts, ManageSettings, Permission, Principal};
use crate::db::Conn;
use crate::db::schema::automation_rules;
use crate::domain::activity::{self, AuditAction, FieldChange, NewAudit};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::case_edit::{self, CaseChanges};
use crate::domain::status::{self, StatusCategory, StatusId};
use crate::domain::template::{self, TemplateId};
use crate::domain::values::{CasePriority, IncidentSeverity, IncidentStatus, text_enum};
use crate::domain::webhook::{self, WebhookId};
use crate::domain::{comment, incident, now, parse_text, tag, user};
use crate::error::{AppError, AppResult, OrInternal};
use crate::with_conn;

pub use crate::domain::facts::AutomationTrigger;

/// The most rules a tenant keeps.
pub const MAX_RULES_PER_TENANT: i64 = 100;
/// The most actions one rule takes.
pub const MAX_ACTIONS_PER_RULE: usize = 20;
const MAX_NAME_CHARS: usize = 64;
/// Rule actors' ids start so; tokens cannot claim them.
pub const ACTOR_PREFIX: &str = crate::auth::AUTOMATION_SUBJECT_PREFIX;

/// What a case must meet for a rule to act; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conditions {
    /// Priority ranks.
    pub priorities: Vec<i32>,
    pub status_ids: Vec<i64>,
    pub status_categories: Vec<String>,
    /// Assigned to one of these users (or, with `unassigned`, to nobody).
    pub assignee_ids: Vec<String>,
    pub unassigned: bool,
    /// Tag keys the case carries, every one.
    pub tags: Vec<String>,
    /// Lower-cased words the title or description contains, every one.
    pub words: Vec<String>,
    /// The most severe linked incident is at least this severe (for
    /// INCIDENT_INGESTED: the incident is).
    pub min_incident_severity: Option<String>,
    /// INCIDENT_INGESTED: ingested from one of these sources.
    pub sources: Vec<String>,
    /// INCIDENT_INGESTED: in one of these states.
    pub incident_statuses: Vec<String>,
    /// INCIDENT_INGESTED: an alert names one of these techniques (or a
    /// sub-technique of one).
    pub technique_ids: Vec<String>,
    /// INCIDENT_INGESTED: at least this many alerts.
    pub min_alert_count: Option<i32>,
}

impl Conditions {
    /// Conditions only an incident can meet.
    fn on_incidents(&self) -> bool {
        !self.sources.is_empty()
            || !self.incident_statuses.is_empty()
            || !self.technique_ids.is_empty()
            || self.min_alert_count.is_some()
    }

    /// Conditions only a case can meet.
    fn on_cases(&self) -> bool {
        !self.priorities.is_empty()
            || !self.status_ids.is_empty()
            || !self.status_categories.is_empty()
            || !self.assignee_ids.is_empty()
            || self.unassigned
            || !self.words.is_empty()
    }
}

/// One thing a rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    Assign { user_id: String },
    SetPriority { priority: i32 },
    SetStatus { status_id: i64 },
    AddTags { tags: Vec<String> },
    ApplyTemplate { template_id: i64 },
    AddComment { body: String },
    SendWebhook { webhook_id: i64 },
    CreateCase { template_id: Option<i64> },
    LinkToMatchingCase { window_days: i32 },
}

impl Action {
    pub fn kind(&self) -> AutomationActionType {
        match self {
            Action::Assign { .. } => AutomationActionType::Assign,
            Action::SetPriority { .. } => AutomationActionType::SetPriority,
            Action::SetStatus { .. } => AutomationActionType::SetStatus,
            Action::AddTags { .. } => AutomationActionType::AddTags,
            Action::ApplyTemplate { .. } => AutomationActionType::ApplyTemplate,
            Action::AddComment { .. } => AutomationActionType::AddComment,
            Action::SendWebhook { .. } => AutomationActionType::SendWebhook,
            Action::CreateCase { .. } => AutomationActionType::CreateCase,
            Action::LinkToMatchingCase { .. } => AutomationActionType::LinkToMatchingCase,
        }
    }

    /// Whether the action places an incident (INCIDENT_INGESTED only).
    pub fn places_incident(&self) -> bool {
        matches!(self, Action::CreateCase { .. } | Action::LinkToMatchingCase { .. })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = automation_rules, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct RuleRow {
    id: i64,
    name: String,
    position: i32,
    enabled: bool,
    expires_at: Option<NaiveDateTime>,
    trigger: AutomationTrigger,
    conditions: String,
    actions: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A rule's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(pub i64);

/// An automation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    pub expires_at: Option<NaiveDateTime>,
    pub trigger: AutomationTrigger,
    pub conditions: Conditions,
    pub actions: Vec<Action>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl TryFrom<RuleRow> for Rule {
    type Error = AppError;

    fn try_from(row: RuleRow) -> AppResult<Rule> {
        let broken = |e: serde_json::Error| AppError::internal_from(format!("automation rule {}", row.id), e);
        Ok(Rule {
            id: RuleId(row.id),
            conditions: serde_json::from_str(&row.conditions).map_err(broken)?,
            actions: serde_json::from_str(&row.actions).map_err(broken)?,
            trigger: row.trigger,
            name: row.name,
            position: row.position,
            enabled: row.enabled,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Rule {
    /// The principal the rule acts as: it may change cases, nothing else.
    pub fn actor(&self, tenant: &str) -> Principal {
        Principal {
            user_id: format!("{ACTOR_PREFIX}{}", self.id.0),
            tenant: tenant.to_owned(),
            display_name: Some(format!("Automation: {}", self.name)),
            email: None,
            permissions: [Permission::AlertsManage].into_iter().collect(),
            expires_at: 0,
        }
    }

    fn is_live(&self, now: NaiveDateTime) -> bool {
        self.enabled && self.expires_at.is_none_or(|at| at > now)
    }
}

/// Whether the principal is a rule acting (whose changes trigger no rules).
pub fn is_rule(principal: &Principal) -> bool {
    principal.user_id.starts_with(ACTOR_PREFIX)
}

/// A rule as a client gives it; `None` leaves a field alone (on create:
/// the default), `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct RuleInput {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub enabled: Option<bool>,
    pub expires_at: Option<Option<NaiveDateTime>>,
    pub trigger: Option<AutomationTrigger>,
    pub conditions: Option<ConditionsInput>,
    pub actions: Option<Vec<ActionInput>>,
}

/// Conditions as a client gives them.
#[derive(Debug, Default, Clone)]
pub struct ConditionsInput {
    pub priorities: Vec<CasePriority>,
    pub status_ids: Vec<StatusId>,
    pub status_categories: Vec<StatusCategory>,
    pub assignee_ids: Vec<String>,
    pub unassigned: bool,
    pub tags: Vec<String>,
    pub text_contains: Option<String>,
    pub min_incident_severity: Option<IncidentSeverity>,
    pub sources: Vec<String>,
    pub incident_statuses: Vec<IncidentStatus>,
    pub technique_ids: Vec<String>,
    pub min_alert_count: Option<i32>,
}

/// An action as a client gives it: its kind and the one value it needs.
#[derive(Debug, Default, Clone)]
pub struct ActionInput {
    pub kind: Option<AutomationActionType>,
    pub user_id: Option<String>,
    pub priority: Option<CasePriority>,
    pub status_id: Option<StatusId>,
    pub tags: Option<Vec<String>>,
    pub template_id: Option<TemplateId>,
    pub body: Option<String>,
    pub webhook_id: Option<WebhookId>,
    pub window_days: Option<i32>,
}

text_enum! {
    /// What an action does.
    pub enum AutomationActionType {
        /// Assign the case to `userId`.
        Assign => "ASSIGN",
        /// Set the case's priority to `priority`.
        SetPriority => "SET_PRIORITY",
        /// Move the case to `statusId`.
        SetStatus => "SET_STATUS",
        /// Add `tags` to the case.
        AddTags => "ADD_TAGS",
        /// Add the tasks of template `templateId`.
        ApplyTemplate => "APPLY_TEMPLATE",
        /// Add a comment with `body`.
        AddComment => "ADD_COMMENT",
        /// Send an AUTOMATION_RULE event about the case to webhook `webhookId`.
        SendWebhook => "SEND_WEBHOOK",
        /// INCIDENT_INGESTED: open a case titled after the incident (from
        /// template `templateId` when given) and link the incident to it.
        /// The actions after it act on that case.
        CreateCase => "CREATE_CASE",
        /// INCIDENT_INGESTED: link the incident to the newest open case that
        /// holds one of its indicators as an observable added within the
        /// last `windowDays` days (1 to 365); when there is none, go on to
        /// the next action. The actions after it act on that case.
        LinkToMatchingCase => "LINK_TO_MATCHING_CASE",
    }
}

async fn parse_conditions(conn: &mut Conn<'_>, tenant: &str, input: ConditionsInput) -> AppResult<Conditions> {
    for id in &input.status_ids {
        status::find(conn, tenant, *id)
            .await?
            .ok_or_else(|| AppError::bad_input("conditions.statusIds", format!("status {} does not exist", id.0)))?;
    }
    for id in &input.assignee_ids {
        user::require_known(conn, tenant, "conditions.assigneeIds", id).await?;
    }
    let tags = tag::parse_names("conditions.tags", &input.tags)?;
    let words = words_of(&[input.text_contains.as_deref()]);
    Ok(Conditions {
        priorities: input.priorities.iter().map(|p| CasePriority::rank(Some(*p))).collect(),
        status_ids: input.status_ids.iter().map(|s| s.0).collect(),
        status_categories: input.status_categories.iter().map(|c| c.as_str().to_owned()).collect(),
        assignee_ids: input.assignee_ids,
        unassigned: input.unassigned,
        tags: tags.iter().map(|t| tag::key(t)).collect(),
        words,
        min_incident_severity: input.min_incident_severity.map(|s| s.as_str().to_owned()),
        sources: input.sources.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
        incident_statuses: input.incident_statuses.iter().map(|s| s.as_str().to_owned()).collect(),
        technique_ids: crate::domain::attack::catalogue().expand("conditions.techniqueIds", &input.technique_ids)?,
        min_alert_count: input.min_alert_count,
    })
}

/// A rule's conditions and actions must fit its trigger: incident
/// conditions and placing actions are for INCIDENT_INGESTED, which has no
/// case to test case conditions on.
fn check_fits(trigger: AutomationTrigger, conditions: &Conditions, actions: &[Action]) -> AppResult<()> {
    let on_incidents = trigger == AutomationTrigger::IncidentIngested;
    if on_incidents && conditions.on_cases() {
        return Err(AppError::bad_input(
            "conditions",
            "INCIDENT_INGESTED rules test the incident: use sources, incidentStatuses, minIncidentSeverity, tags, techniqueIds, minAlertCount",
        ));
    }
    if !on_incidents && conditions.on_incidents() {
        return Err(AppError::bad_input(
            "conditions",
            "sources, incidentStatuses, techniqueIds and minAlertCount are for INCIDENT_INGESTED rules",
        ));
    }
    if let Some(i) = actions.iter().position(|a| a.places_incident() && !on_incidents) {
        return Err(AppError::bad_input(
            format!("actions[{i}].type"),
            "places an incident: for INCIDENT_INGESTED rules only",
        ));
    }
    if on_incidents && !actions.first().is_some_and(Action::places_incident) {
        return Err(AppError::bad_input(
            "actions[0].type",
            "an INCIDENT_INGESTED rule starts by placing the incident (CREATE_CASE or LINK_TO_MATCHING_CASE)",
        ));
    }
    Ok(())
}

async fn parse_actions(conn: &mut Conn<'_>, tenant: &str, input: Vec<ActionInput>) -> AppResult<Vec<Action>> {
    if input.is_empty() || input.len() > MAX_ACTIONS_PER_RULE {
        return Err(AppError::bad_input("actions", format!("a rule takes 1 to {MAX_ACTIONS_PER_RULE} actions")));
    }
    let mut out = Vec::with_capacity(input.len());
    for (i, a) in input.into_iter().enumerate() {
        let field = |name: &str| format!("actions[{i}].{name}");
        let missing = |name: &str| AppError::bad_input(field(name), "is required by this action type");
        let action = match a.kind.ok_or_else(|| missing("type"))? {
            AutomationActionType::Assign => {
                let id = a.user_id.ok_or_else(|| missing("userId"))?;
                user::require_known(conn, tenant, &field("userId"), &id).await?;
                Action::Assign { user_id: id }
            }
            AutomationActionType::SetPriority => Action::SetPriority {
                priority: CasePriority::rank(Some(a.priority.ok_or_else(|| missing("priority"))?)),
            },
            AutomationActionType::SetStatus => {
                let id = a.status_id.ok_or_else(|| missing("statusId"))?;
                let status = status::assignable(conn, tenant, &field("statusId"), id).await?;
                Action::SetStatus { status_id: status.id.0 }
            }
            AutomationActionType::AddTags => {
                let tags = tag::parse_names(&field("tags"), &a.tags.ok_or_else(|| missing("tags"))?)?;
                if tags.is_empty() {
                    return Err(missing("tags"));
                }
                Action::AddTags { tags }
            }
            AutomationActionType::ApplyTemplate => {
                let id = a.template_id.ok_or_else(|| missing("templateId"))?;
                template::usable(conn, tenant, &field("templateId"), id).await?;
                Action::ApplyTemplate { template_id: id.0 }
            }
            AutomationActionType::AddComment => {
                let body = a.body.ok_or_else(|| missing("body"))?;
                let body = activity::parse_comment(&field("body"), &body)?;
                Action::AddComment { body }
            }
            AutomationActionType::SendWebhook => {
                let id = a.webhook_id.ok_or_else(|| missing("webhookId"))?;
                webhook::usable(conn, tenant, &field("webhookId"), id).await?;
                Action::SendWebhook { webhook_id: id.0 }
            }
            AutomationActionType::CreateCase => {
                let template_id = match a.template_id {
                    Some(id) => Some(template::usable(conn, tenant, &field("templateId"), id).await?.id.0),
                    None => None,
                };
                Action::CreateCase { template_id }
            }
            AutomationActionType::LinkToMatchingCase => {
                let days = a.window_days.ok_or_else(|| missing("windowDays"))?;
                if !(1..=365).contains(&days) {
                    return Err(AppError::bad_input(field("windowDays"), "must be 1 to 365 days"));
                }
                Action::LinkToMatchingCase { window_days: days }
            }
        };
        out.push(action);
    }
    Ok(out)
}

fn json<T: Serialize>(value: &T) -> AppResult<String> {
    serde_json::to_string(value).or_internal("encoding a rule")
}

/// Records the rule's actor as a user of the tenant (named after the rule),
/// once per create or change rather than at every run.
async fn remember_actor(conn: &mut Conn<'_>, tenant: &str, rule: Rule) -> AppResult<Rule> {
    user::record_seen(conn, &rule.actor(tenant)).await?;
    Ok(rule)
}

/// Creates a rule.
pub async fn create(conn: &mut Conn<'_>, actor: &Granted<'_, ManageSettings>, input: RuleInput) -> AppResult<Rule> {
    let tenant = actor.tenant();
    // The cap is counted, then written: the tenant's writes of this kind take turns.
    crate::domain::tenant::lock(conn, tenant).await?;
    let count: i64 = with_conn!(conn, c => {
        automation_rules::table.filter(automation_rules::tenant_id.eq(tenant)).count().get_result(c).await
    })?;
    if count >= MAX_RULES_PER_TENANT {
        return Err(AppError::bad_input("name", format!("a tenant has at most {MAX_RULES_PER_TENANT} rules")));
    }
    let name = parse_text("name", input.name.as_deref().unwrap_or_default(), MAX_NAME_CHARS)?;
    let trigger = input.trigger.ok_or_else(|| AppError::bad_input("trigger", "is required"))?;
    let conditions = parse_conditions(conn, tenant, input.conditions.unwrap_or_default()).await?;
    let actions = parse_actions(conn, tenant, input.actions.unwrap_or_default()).await?;
    check_fits(trigger, &conditions, &actions)?;
    let now = now();
    let values = (
        automation_rules::tenant_id.eq(tenant),
        automation_rules::name.eq(&name),
        automation_rules::position.eq(input.position.unwrap_or(0)),
        automation_rules::enabled.eq(input.enabled.unwrap_or(true)),
        automation_rules::expires_at.eq(input.expires_at.flatten()),
        automation_rules::trigger.eq(trigger.as_str()),
        automation_rules::conditions.eq(json(&conditions)?),
        automation_rules::actions.eq(json(&actions)?),
        automation_rules::created_by.eq(&actor.user_id),
        automation_rules::created_at.eq(now),
        automation_rules::updated_by.eq(&actor.user_id),
        automation_rules::updated_at.eq(now),
    );
    let row: RuleRow = with_conn!(conn, c => {
        diesel::insert_into(automation_rules::table).values(values).returning(RuleRow::as_returning()).get_result(c).await
    })?;
    remember_actor(conn, tenant, row.try_into()?).await
}

/// Changes a rule.
pub async fn update(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    id: RuleId,
    input: RuleInput,
) -> AppResult<Rule> {
    let tenant = actor.tenant();
    let current = find(conn, tenant, id).await?.ok_or_else(|| AppError::not_found("automation rule", id.0))?;
    let name = match &input.name {
        Some(name) => parse_text("name", name, MAX_NAME_CHARS)?,
        None => current.name,
    };
    let conditions = match input.conditions {
        Some(c) => parse_conditions(conn, tenant, c).await?,
        None => current.conditions,
    };
    let actions = match input.actions {
        Some(a) => parse_actions(conn, tenant, a).await?,
        None => current.actions,
    };
    let trigger = input.trigger.unwrap_or(current.trigger);
    check_fits(trigger, &conditions, &actions)?;
    let values = (
        automation_rules::name.eq(&name),
        automation_rules::position.eq(input.position.unwrap_or(current.position)),
        automation_rules::enabled.eq(input.enabled.unwrap_or(current.enabled)),
        automation_rules::expires_at.eq(input.expires_at.unwrap_or(current.expires_at)),
        automation_rules::trigger.eq(trigger.as_str()),
        automation_rules::conditions.eq(json(&conditions)?),
        automation_rules::actions.eq(json(&actions)?),
        automation_rules::updated_by.eq(&actor.user_id),
        automation_rules::updated_at.eq(now()),
    );
    let target =
        automation_rules::table.filter(automation_rules::tenant_id.eq(tenant)).filter(automation_rules::id.eq(id.0));
    let row: RuleRow = with_conn!(conn, c => {
        diesel::update(target).set(values).returning(RuleRow::as_returning()).get_result(c).await
    })?;
    remember_actor(conn, tenant, row.try_into()?).await
}

/// Removes a rule; what it did stays in the cases' logs.
pub async fn delete(conn: &mut Conn<'_>, actor: &Granted<'_, ManageSettings>, id: RuleId) -> AppResult<()> {
    let tenant = actor.tenant();
    let target =
        automation_rules::table.filter(automation_rules::tenant_id.eq(tenant)).filter(automation_rules::id.eq(id.0));
    let deleted = with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    if deleted == 0 {
        return Err(AppError::not_found("automation rule", id.0));
    }
    Ok(())
}

/// The tenant's rule with this id.
pub async fn find(conn: &mut Conn<'_>, tenant: &str, id: RuleId) -> AppResult<Option<Rule>> {
    let row: Option<RuleRow> = with_conn!(conn, c => {
        automation_rules::table
            .filter(automation_rules::tenant_id.eq(tenant))
            .filter(automation_rules::id.eq(id.0))
            .select(RuleRow::as_select())
            .first(c)
            .await
            .optional()
    })?;
    row.map(Rule::try_from).transpose()
}

/// The tenant's rules in the order they run.
pub async fn list(conn: &mut Conn<'_>, tenant: &str) -> AppResult<Vec<Rule>> {
    let rows: Vec<RuleRow> = with_conn!(conn, c => {
        automation_rules::table
            .filter(automation_rules::tenant_id.eq(tenant))
            .order((automation_rules::position.asc(), automation_rules::id.asc()))
            .select(RuleRow::as_select())
            .load(c)
            .await
    })?;
    rows.into_iter().map(Rule::try_from).collect()
}

/// The lower-cased words of some text, punctuation aside ("Phishing:" is
/// "phishing"; "evil.example.com" is "evil", "example", "com"): how a
/// condition's words and a case's text are compared.
fn words_of(parts: &[Option<&str>]) -> Vec<String> {
    let text = crate::domain::values::search_text(parts);
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Whether the case meets every condition.
async fn holds(conn: &mut Conn<'_>, tenant: &str, conditions: &Conditions, case: &Case) -> AppResult<bool> {
    let c = conditions;
    if !c.priorities.is_empty() && !c.priorities.contains(&case.priority) {
        return Ok(false);
    }
    if !c.status_ids.is_empty() && !c.status_ids.contains(&case.status_id) {
        return Ok(false);
    }
    if !c.status_categories.is_empty() {
        let status = status::find(conn, tenant, StatusId(case.status_id))
            .await?
            .ok_or_else(|| AppError::internal(format!("case {} has no status", case.id)))?;
        if !c.status_categories.iter().any(|cat| cat == status.category.as_str()) {
            return Ok(false);
        }
    }
    if !c.assignee_ids.is_empty() || c.unassigned {
        let assigned_to_one = case.assignee_id.as_ref().is_some_and(|a| c.assignee_ids.contains(a));
        let unassigned_ok = c.unassigned && case.assignee_id.is_none();
        if !assigned_to_one && !unassigned_ok {
            return Ok(false);
        }
    }
    if !c.words.is_empty() {
        let words = words_of(&[Some(&case.title), case.description.as_deref()]);
        if !c.words.iter().all(|w| words.contains(w)) {
            return Ok(false);
        }
    }
    if !c.tags.is_empty() {
        let carried: Vec<String> = tag::of_cases(conn, tenant, &[case.case_id()])
            .await?
            .into_iter()
            .map(|(_, name)| tag::key(&name))
            .collect();
        if !c.tags.iter().all(|t| carried.contains(t)) {
            return Ok(false);
        }
    }
    if let Some(min) = &c.min_incident_severity {
        let min = IncidentSeverity::from_db(min)?;
        let rank = |s: IncidentSeverity| IncidentSeverity::ALL.iter().position(|x| *x == s);
        let linked = incident::of_cases(conn, tenant, &[case.case_id()]).await?;
        let mut severe = false;
        for (_, incident) in linked {
            if rank(incident.severity) >= rank(min) {
                severe = true;
            }
        }
        if !severe {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs one rule's actions on a case as the rule; names the action that failed.
async fn act(conn: &mut Conn<'_>, tenant: &str, rule: &Rule, case_id: CaseId) -> Result<(), ActionFailed> {
    let principal = rule.actor(tenant);
    let actor = principal.grant::<ManageAlerts>()?;
    for action in &rule.actions {
        run_action(conn, &actor, rule, action, case_id)
            .await
            .map_err(|error| ActionFailed { action: Some(action.kind()), error })?;
    }
    Ok(())
}

pub(crate) async fn run_action(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    rule: &Rule,
    action: &Action,
    case_id: CaseId,
) -> AppResult<()> {
    let tenant = actor.tenant.as_str();
    match action {
        Action::Assign { user_id } => {
            let input = CaseChanges { assignee_id: Some(Some(user_id.clone())), ..Default::default() };
            case_edit::update(conn, actor, case_id, input).await?;
        }
        Action::SetPriority { priority } => {
            let input = CaseChanges { priority: Some(CasePriority::from_rank(*priority)), ..Default::default() };
            case_edit::update(conn, actor, case_id, input).await?;
        }
        Action::SetStatus { status_id } => {
            let input = CaseChanges { status_id: Some(StatusId(*status_id)), ..Default::default() };
            case_edit::update(conn, actor, case_id, input).await?;
        }
        Action::AddTags { tags } => {
            tag::add(conn, actor, case_id, tags).await?;
        }
        Action::ApplyTemplate { template_id } => {
            if first_application(conn, tenant, rule.id, case_id, *template_id).await? {
                template::apply(conn, actor, case_id, TemplateId(*template_id)).await?;
            }
        }
        Action::AddComment { body } => {
            comment::add(conn, actor, case_id, body).await?;
        }
        Action::SendWebhook { webhook_id } => {
            let case = case::find_many(conn, tenant, &[case_id])
                .await?
                .pop()
                .ok_or_else(|| AppError::not_found("case", case_id))?;
            let status = status::find(conn, tenant, StatusId(case.status_id))
                .await?
                .ok_or_else(|| AppError::internal(format!("case {} has no status", case.id)))?;
            let message = webhook::RuleMessage {
                rule_id: rule.id.0,
                rule_name: &rule.name,
                trigger: rule.trigger.as_str(),
                case: &case,
                status_name: &status.name,
            };
            webhook::enqueue_for_rule(conn, tenant, WebhookId(*webhook_id), message).await?;
        }
        Action::CreateCase { .. } | Action::LinkToMatchingCase { .. } => {
            return Err(AppError::bad_input("actions", "this action places an incident; it has no case to act on"));
        }
    }
    Ok(())
}

/// Records that `rule` applies `template_id` to a case; false when it
/// already did (a rule applies each template once per case, however often
/// its trigger fires again).
async fn first_application(
    conn: &mut Conn<'_>,
    tenant: &str,
    rule: RuleId,
    case_id: CaseId,
    template_id: i64,
) -> AppResult<bool> {
    use crate::db::schema::rule_template_applications as r;
    let row = (
        r::tenant_id.eq(tenant),
        r::case_id.eq(case_id.0),
        r::rule_id.eq(rule.0),
        r::template_id.eq(template_id),
        r::applied_at.eq(now()),
    );
    let inserted = with_conn!(conn, c => {
        diesel::insert_into(r::table).values(row).on_conflict_do_nothing().execute(c).await
    })?;
    Ok(inserted == 1)
}

/// Runs the tenant's live rules watching any of `triggers` on a case that
/// `actor` just changed (inside that change's transaction, from the write
/// pipeline). Nothing runs when the actor is a rule. Each rule runs in a
/// savepoint: a rule that cannot act is rolled back alone and leaves an
/// `AUTOMATION_FAILED` entry on the case naming the rule, the action and
/// the reason, and the change that triggered it stands.
pub async fn react(
    conn: &mut Conn<'_>,
    actor: &Principal,
    case_id: CaseId,
    triggers: &[AutomationTrigger],
) -> AppResult<()> {
    if is_rule(actor) || triggers.is_empty() {
        return Ok(());
    }
    let tenant = actor.tenant.as_str();
    for rule in live_rules(conn, tenant, triggers).await? {
        let savepoint = conn.savepoint().await?;
        match run_rule_actions(conn, tenant, &rule, case_id).await {
            Ok(acted) => {
                conn.release(savepoint).await?;
                if acted {
                    conn.reacted(tenant, case_id.0)?;
                }
            }
            Err(failed) => {
                conn.roll_back_to(savepoint).await?;
                record_failure(conn, tenant, &rule, case_id, failed).await?;
            }
        }
    }
    Ok(())
}

/// The tenant's enabled, unexpired rules watching any of `triggers`, in the
/// order they run (remembered inside a bulk change or merge).
pub(crate) async fn live_rules(
    conn: &mut Conn<'_>,
    tenant: &str,
    triggers: &[AutomationTrigger],
) -> AppResult<Vec<Rule>> {
    let key = ("rules", tenant.to_owned(), triggers.to_vec());
    if let Some(rules) = conn.recall(&key) {
        return Ok(rules);
    }
    let kinds: Vec<&str> = triggers.iter().map(|t| t.as_str()).collect();
    let rows: Vec<RuleRow> = with_conn!(conn, c => {
        automation_rules::table
            .filter(automation_rules::tenant_id.eq(tenant))
            .filter(automation_rules::trigger.eq_any(kinds))
            .filter(automation_rules::enabled.eq(true))
            .order((automation_rules::position.asc(), automation_rules::id.asc()))
            .select(RuleRow::as_select())
            .load(c)
            .await
    })?;
    let now = now();
    let rules: Vec<Rule> = rows.into_iter().map(Rule::try_from).collect::<AppResult<_>>()?;
    let live: Vec<Rule> = rules.into_iter().filter(|r| r.is_live(now)).collect();
    conn.remember(key, &live);
    Ok(live)
}

/// An action of a rule that could not act, and why.
pub(crate) struct ActionFailed {
    pub(crate) action: Option<AutomationActionType>,
    pub(crate) error: AppError,
}

impl From<AppError> for ActionFailed {
    fn from(error: AppError) -> Self {
        ActionFailed { action: None, error }
    }
}

/// The most characters of a failure's reason an `AUTOMATION_FAILED` entry keeps.
const MAX_REASON_CHARS: usize = 500;

/// Leaves an `AUTOMATION_FAILED` entry on the case, written by the rule.
pub(crate) async fn record_failure(
    conn: &mut Conn<'_>,
    tenant: &str,
    rule: &Rule,
    case_id: CaseId,
    failed: ActionFailed,
) -> AppResult<()> {
    let ActionFailed { action, error } = failed;
    if error.is_storage_full() {
        return Err(error);
    }
    let reason = match &error {
        AppError::Internal(_) => {
            tracing::warn!(rule = rule.id.0, case = case_id.0, error = %error, "an automation rule failed");
            "an internal error (logged)".to_owned()
        }
        other => other.to_string().chars().take(MAX_REASON_CHARS).collect(),
    };
    let actor = rule.actor(tenant);
    let Some(seq) = case::reserve_activity(conn, tenant, case_id, 1).await? else { return Ok(()) };
    let changes = vec![
        FieldChange::new("rule", None, Some(rule.name.clone())),
        FieldChange::new("action", None, action.map(|a| a.as_str().to_owned())),
        FieldChange::new("reason", None, Some(reason)),
    ];
    activity::record_audits(conn, &actor, case_id, seq, vec![NewAudit::new(AuditAction::AutomationFailed, changes)])
        .await
}

/// Runs a rule on a case if the case meets its conditions; returns whether it did.
pub async fn run_rule(conn: &mut Conn<'_>, tenant: &str, rule: &Rule, case_id: CaseId) -> AppResult<bool> {
    run_rule_actions(conn, tenant, rule, case_id).await.map_err(|failed| rule_failed(rule, failed.error))
}

async fn run_rule_actions(
    conn: &mut Conn<'_>,
    tenant: &str,
    rule: &Rule,
    case_id: CaseId,
) -> Result<bool, ActionFailed> {
    let case =
        case::find_many(conn, tenant, &[case_id]).await?.pop().ok_or_else(|| AppError::not_found("case", case_id))?;
    if !holds(conn, tenant, &rule.conditions, &case).await? {
        return Ok(false);
    }
    act(conn, tenant, rule, case_id).await?;
    Ok(true)
}

/// A rule whose action the case refuses (a status move its workflow does not
/// allow, a full case) is told as a CONFLICT naming the rule (when a rule is
/// tried); other errors stay what they are.
fn rule_failed(rule: &Rule, error: AppError) -> AppError {
    match error {
        AppError::BadInput { .. } | AppError::NotFound { .. } | AppError::Conflict(_) => {
            AppError::Conflict(format!("automation rule {:?} could not act: {error}", rule.name))
        }
        other => other,
    }
}

/// A rule built from input and checked, not stored (to test it).
pub async fn unsaved(conn: &mut Conn<'_>, actor: &Granted<'_, ManageSettings>, input: RuleInput) -> AppResult<Rule> {
    let tenant = actor.tenant();
    let name = match &input.name {
        Some(name) => parse_text("name", name, MAX_NAME_CHARS)?,
        None => "Unsaved rule".to_owned(),
    };
    let now = now();
    let trigger = input.trigger.ok_or_else(|| AppError::bad_input("trigger", "is required"))?;
    let conditions = parse_conditions(conn, tenant, input.conditions.unwrap_or_default()).await?;
    let actions = parse_actions(conn, tenant, input.actions.unwrap_or_default()).await?;
    check_fits(trigger, &conditions, &actions)?;
    Ok(Rule {
        id: RuleId(0),
        name,
        position: input.position.unwrap_or(0),
        enabled: true,
        expires_at: None,
        trigger,
        conditions,
        actions,
        created_at: now,
        updated_at: now,
    })
}

/// Runs a rule on a case as it would run, and returns whether the case met
/// its conditions and the log entries its actions wrote. The caller rolls
/// the transaction back: a test writes nothing.
pub async fn try_rule(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageSettings>,
    rule: &Rule,
    case_id: CaseId,
) -> AppResult<(bool, Vec<activity::Activity>)> {
    let tenant = actor.tenant();
    let before =
        activity::last_seq(conn, tenant, case_id).await?.ok_or_else(|| AppError::not_found("case", case_id))?;
    // An unsaved rule's actor is not a user yet (rolled back with the rest).
    user::record_seen(conn, &rule.actor(tenant)).await?;
    let matched = run_rule(conn, tenant, rule, case_id).await?;
    let written = activity::since(conn, tenant, case_id, before, 500).await?;
    Ok((matched, written))
}
