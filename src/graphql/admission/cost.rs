//! What an operation may ask for, computed from the document before anything
//! executes, GitHub style: how many nodes it could return (page sizes times
//! the product's list bounds, multiplied down each path), and how many lists it
//! makes the server fetch (the rate limiter's cost). Aliases, fields and
//! fragment expansions, repeated fields, directives and depth are capped too.
//!
//! The walk is bounded by the field budget (each field, fragment spread and
//! inline fragment spends one), so a document that expands fragments
//! exponentially is refused after a fixed amount of work. A list whose size
//! it cannot tell refuses the operation.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Pos, Positioned, Variables};
use async_graphql_value::Value;

use super::Refusal;
use crate::domain::incident::ingest;
use crate::domain::values::IncidentStatus;
use crate::domain::{
    activity, api_key, attachment, attack, automation, bulk, incident, merge, metrics, observable, relation, status,
    tag, task, template, webhook,
};
use crate::error::AppError;
use crate::graphql::{DEFAULT_PAGE, MAX_PAGE};

/// The ceilings every operation stays under. README lists them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Nodes the operation could return.
    pub nodes: u64,
    /// Selections after expanding fragments (fields, spreads, inline fragments).
    pub selections: usize,
    /// Aliased fields.
    pub aliases: usize,
    /// Times one response name may be selected in one selection set.
    pub repeats: usize,
    /// Directives on one field or fragment.
    pub directives: usize,
    /// Nesting of fields.
    pub depth: usize,
}

pub const LIMITS: Limits =
    Limits { nodes: 500_000, selections: 2_000, aliases: 50, repeats: 20, directives: 5, depth: 16 };

/// What an admitted operation may cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// The most nodes it can return.
    pub nodes: u64,
    /// The lists it makes the server fetch (each connection or list field,
    /// once per parent).
    pub lists: u64,
}

impl Cost {
    /// Rate-limit points: one per request, plus one per hundred lists (GitHub's rule).
    pub fn points(&self) -> u64 {
        1 + self.lists / 100
    }
}

/// A list field that takes no `first`: the product's bound on its length, and
/// whether reading it is a fetch of its own (audit changes come with their
/// event). Connections' `edges` and `nodes` take their connection's page size.
pub fn list_bound(parent: &str, field: &str) -> Option<(u64, bool)> {
    let (bound, fetched) = match (parent, field) {
        ("Case", "tasks") => (task::MAX_TASKS_PER_CASE, true),
        ("Case", "incidents") => (incident::MAX_LINKS_PER_CASE, true),
        ("Incident", "cases") => (incident::MAX_CASES_PER_INCIDENT, true),
        ("AuditEvent", "changes") => (activity::MAX_CHANGES_PER_EVENT as i64, false),
        ("Query", "statuses") => (status::MAX_STATUSES_PER_TENANT, true),
        ("Query", "slaPolicies") | ("Mutation", "removeSlaPolicy") => (6, true),
        ("Status", "allowedNext") => (status::MAX_STATUSES_PER_TENANT, true),
        ("Case", "techniques") => (attack::MAX_TECHNIQUES_PER_CASE as i64, true),
        ("AttackTechnique", "tactics") => (attack::MAX_TACTICS as i64, false),
        ("Query", "attackTactics") => (attack::MAX_TACTICS as i64, false),
        ("Case", "tags") => (tag::MAX_TAGS_PER_CASE as i64, true),
        ("Case", "relations") => (relation::MAX_RELATIONS_PER_CASE, true),
        ("BulkCasesPayload", "results") => (bulk::MAX_CASES as i64, false),
        ("MergeCasesPayload", "sources") => (merge::MAX_SOURCES as i64, false),
        ("AddObservablesPayload", "observables") => (observable::MAX_PER_CALL as i64, false),
        // An excerpt of at most 200 characters holds at most 100 words.
        ("Snippet", "highlights") => (100, false),
        ("Query", "caseMetrics") => (metrics::MAX_GROUPS as i64, false),
        ("Query", "automationRules") => (automation::MAX_RULES_PER_TENANT, true),
        ("AutomationRule", "actions") => (automation::MAX_ACTIONS_PER_RULE as i64, false),
        ("AutomationConditions", "priorities" | "statusCategories") => (6, false),
        ("AutomationConditions", "statusIds" | "assigneeIds") => (100, false),
        ("AutomationConditions", "tags") | ("AutomationAction", "tags") => (tag::MAX_TAGS_PER_CASE as i64, false),
        ("AutomationConditions", "textContains") => (100, false),
        ("AutomationConditions", "sources") => (100, false),
        ("AutomationConditions", "incidentStatuses") => (IncidentStatus::ALL.len() as i64, false),
        // Distinct ids of the catalogue, which holds fewer than a thousand.
        ("AutomationConditions", "techniqueIds") => (1_000, false),
        ("AutomationTestResult", "effects") => (500, false),
        ("AutomationEffect", "changes") => (activity::MAX_CHANGES_PER_EVENT as i64, false),
        ("Query", "caseTemplates") => (template::MAX_TEMPLATES_PER_TENANT, true),
        ("Query", "webhooks") => (webhook::MAX_WEBHOOKS_PER_TENANT, true),
        ("Query", "apiKeys") => (api_key::MAX_LISTED, true),
        ("Incident", "tags") => (ingest::MAX_TAGS as i64, false),
        ("Incident", "alerts") => (ingest::MAX_ALERTS_PER_INCIDENT as i64, true),
        ("Incident", "observables") => (ingest::MAX_OBSERVABLES_PER_INCIDENT as i64, true),
        ("IncidentAlert", "techniqueIds") => (ingest::MAX_TECHNIQUES_PER_ALERT as i64, false),
        ("IncidentAlert", "evidence") => (ingest::MAX_EVIDENCE_PER_ALERT as i64, false),
        ("IncidentAlert", "problems") | ("IngestResult", "warnings") => (ingest::MAX_WARNINGS as i64, false),
        ("AlertEvidence", "indicators") => (ingest::MAX_INDICATORS_PER_EVIDENCE as i64, false),
        ("IngestIncidentsPayload", "results") => (ingest::MAX_PER_CALL as i64, false),
        ("Attachment", "downloads") => (attachment::MAX_DOWNLOADS_LISTED, false),
        ("ApiKey", "permissions") => (crate::auth::Permission::ALL.len() as i64, false),
        ("Webhook", "eventTypes") => (webhook::WebhookEventType::ALL.len() as i64, false),
        ("CaseTemplate", "tags") => (tag::MAX_TAGS_PER_CASE as i64, false),
        ("CaseTemplate", "techniques") => (attack::MAX_TECHNIQUES_PER_CASE as i64, false),
        ("CaseTemplate", "tasks") => (template::MAX_TASKS_PER_TEMPLATE as i64, false),
        _ => return None,
    };
    Some((u64::try_from(bound).ok()?, fetched))
}

/// Computes the operation's cost, refusing it past any limit.
pub fn estimate(
    registry: &Registry,
    root_type: &str,
    document: &ExecutableDocument,
    operation: &Positioned<OperationDefinition>,
    variables: &Variables,
    limits: &Limits,
) -> Result<Cost, Refusal> {
    let mut walk = Walk {
        registry,
        document,
        operation: &operation.node,
        variables,
        limits,
        selections: 0,
        aliases: 0,
        cost: Cost::default(),
        expanding: Vec::new(),
    };
    let level = Level { ty: Some(root_type), multiplier: 1, page: None, depth: 0 };
    walk.selection_set(&level, &operation.node.selection_set.node, &mut HashMap::new())?;
    Ok(walk.cost)
}

struct Walk<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    operation: &'a OperationDefinition,
    variables: &'a Variables,
    limits: &'a Limits,
    selections: usize,
    aliases: usize,
    cost: Cost,
    /// Fragments being expanded (a cycle is refused).
    expanding: Vec<&'a Name>,
}

/// Where in the response a selection set sits.
struct Level<'a> {
    /// The type its fields belong to; `None` under introspection or an unknown
    /// field (validation reports those; they add no nodes).
    ty: Option<&'a str>,
    /// How many times this selection set is resolved.
    multiplier: u64,
    /// The page size of the connection this is, if it is one.
    page: Option<u64>,
    depth: usize,
}

fn refuse(message: String, pos: Pos) -> Refusal {
    Refusal::at(AppError::bad_input("query", message), pos)
}

impl<'a> Walk<'a> {
    fn spend(&mut self, pos: Pos) -> Result<(), Refusal> {
        self.selections += 1;
        if self.selections > self.limits.selections {
            return Err(refuse(
                format!("more than {} selections once fragments are expanded (the limit)", self.limits.selections),
                pos,
            ));
        }
        Ok(())
    }

    fn directives<T>(&self, directives: &[T], pos: Pos) -> Result<(), Refusal> {
        if directives.len() > self.limits.directives {
            return Err(refuse(
                format!(
                    "{} directives on one selection, more than the limit of {}",
                    directives.len(),
                    self.limits.directives
                ),
                pos,
            ));
        }
        Ok(())
    }

    /// Walks one selection set; fragments at this level share `seen` (the
    /// response names selected here) with it.
    fn selection_set(
        &mut self,
        level: &Level<'a>,
        set: &'a SelectionSet,
        seen: &mut HashMap<&'a str, usize>,
    ) -> Result<(), Refusal> {
        for selection in &set.items {
            self.spend(selection.pos)?;
            match &selection.node {
                Selection::Field(field) => {
                    self.directives(&field.node.directives, field.pos)?;
                    self.field(level, &field.node, field.pos, seen)?;
                }
                Selection::InlineFragment(fragment) => {
                    self.directives(&fragment.node.directives, fragment.pos)?;
                    let ty = match &fragment.node.type_condition {
                        Some(condition) => self.known_type(&condition.node.on.node),
                        None => level.ty,
                    };
                    let inner = Level { ty, ..*level };
                    self.selection_set(&inner, &fragment.node.selection_set.node, seen)?;
                }
                Selection::FragmentSpread(spread) => {
                    self.directives(&spread.node.directives, spread.pos)?;
                    let name = &spread.node.fragment_name.node;
                    let fragment = self
                        .document
                        .fragments
                        .get(name)
                        .ok_or_else(|| refuse(format!("unknown fragment `{name}`"), spread.pos))?;
                    if self.expanding.contains(&name) {
                        return Err(refuse(format!("fragment `{name}` spreads itself"), spread.pos));
                    }
                    self.expanding.push(name);
                    let ty = self.known_type(&fragment.node.type_condition.node.on.node);
                    let inner = Level { ty, ..*level };
                    self.selection_set(&inner, &fragment.node.selection_set.node, seen)?;
                    self.expanding.pop();
                }
            }
        }
        Ok(())
    }

    fn known_type(&self, name: &str) -> Option<&'a str> {
        self.registry.types.get(name).map(MetaType::name)
    }

    fn field(
        &mut self,
        level: &Level<'a>,
        field: &'a Field,
        pos: Pos,
        seen: &mut HashMap<&'a str, usize>,
    ) -> Result<(), Refusal> {
        let name = field.name.node.as_str();
        let response_name = field.alias.as_ref().map_or(name, |alias| alias.node.as_str());
        if field.alias.is_some() {
            self.aliases += 1;
            if self.aliases > self.limits.aliases {
                return Err(refuse(format!("more than {} aliases (the limit)", self.limits.aliases), pos));
            }
        }
        let repeats = seen.entry(response_name).or_default();
        *repeats += 1;
        if *repeats > self.limits.repeats {
            return Err(refuse(
                format!("`{response_name}` is selected more than {} times in one selection set", self.limits.repeats),
                pos,
            ));
        }
        let depth = level.depth + 1;
        if depth > self.limits.depth {
            return Err(refuse(format!("fields nest deeper than the limit of {}", self.limits.depth), pos));
        }
        let children = &field.selection_set.node;
        let meta = level
            .ty
            .filter(|_| !name.starts_with("__"))
            .and_then(|ty| self.registry.types.get(ty))
            .and_then(|ty| ty.field_by_name(name));
        let Some(meta) = meta else {
            // Introspection, or a field validation will refuse: no nodes of ours.
            let untyped = Level { ty: None, multiplier: 0, page: None, depth };
            return self.selection_set(&untyped, children, &mut HashMap::new());
        };
        let child_type = self.known_type(MetaTypeName::concrete_typename(&meta.ty));
        if child_type.and_then(|t| self.registry.types.get(t)).is_none_or(MetaType::is_leaf) {
            return Ok(());
        }
        let is_list = meta.ty.starts_with('[');
        let paged = meta.args.contains_key("first") || meta.args.contains_key("last");
        let (size, child_page) = if paged {
            self.cost.lists = self.cost.lists.saturating_add(level.multiplier);
            let page = self.page_size(field);
            if is_list { (page, None) } else { (1, Some(page)) }
        } else if is_list {
            match level.page.filter(|_| name == "edges" || name == "nodes") {
                Some(page) => (page, None),
                None => {
                    let parent = level.ty.unwrap_or_default();
                    let (bound, fetched) = list_bound(parent, name).ok_or_else(|| {
                        Refusal::at(
                            AppError::internal(format!("the list `{parent}.{name}` has no declared bound")),
                            pos,
                        )
                    })?;
                    if fetched {
                        self.cost.lists = self.cost.lists.saturating_add(level.multiplier);
                    }
                    (bound, None)
                }
            }
        } else {
            (1, None)
        };
        let multiplier = level.multiplier.saturating_mul(size);
        self.cost.nodes = self.cost.nodes.saturating_add(multiplier);
        if self.cost.nodes > self.limits.nodes {
            return Err(refuse(
                format!(
                    "this query could return {} nodes or more, above the limit of {}: ask for smaller pages or fewer nested lists",
                    self.cost.nodes, self.limits.nodes
                ),
                pos,
            ));
        }
        let inner = Level { ty: child_type, multiplier, page: child_page, depth };
        self.selection_set(&inner, children, &mut HashMap::new())
    }

    /// `first` (or `last`) as the resolver will see it; out-of-range values
    /// are refused by the resolver, so they count as its bounds here.
    fn page_size(&self, field: &Field) -> u64 {
        let argument = field.get_argument("first").or_else(|| field.get_argument("last"));
        let given = match argument.map(|a| &a.node) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::Variable(name)) => self.variable(name),
            _ => None,
        };
        u64::try_from(given.unwrap_or(DEFAULT_PAGE.into()).clamp(0, MAX_PAGE.into())).unwrap_or_default()
    }

    fn variable(&self, name: &Name) -> Option<i64> {
        let value = self.variables.get(name).cloned().or_else(|| {
            self.operation
                .variable_definitions
                .iter()
                .find(|d| d.node.name.node == *name)
                .and_then(|d| d.node.default_value.as_ref())
                .map(|v| v.node.clone())
        });
        match value {
            Some(async_graphql::Value::Number(n)) => n.as_i64(),
            _ => None,
        }
    }
}
