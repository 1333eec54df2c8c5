//! The compiled read path for a page of cases. async-graphql resolves every
//! field of every object through its own boxed future, a context and a map
//! insert, and then serialises the map: a dashboard page (50 cases with
//! status, assignee, tasks, incidents and their newest activity) is thousands
//! of them, and they were most of the server's CPU. Here a list of cases walks
//! its validated selection set once (aliases, repeated keys, fragments,
//! `__typename`, arguments) and writes the JSON of the whole list into one
//! buffer, from the rows the page prefetched (see `prefetch`). The buffer
//! travels inside the response as `Value::Binary`, which [`response_json`]
//! writes verbatim; only the HTTP handler, which writes responses with it,
//! asks for this path ([`CompiledReads`]).
//!
//! It covers the hot types as a dashboard reads them: cases with their own
//! fields, status, users, tasks, incidents and the first page of their
//! activity. Anything else (a directive, a field it does not list, a relation
//! nested further, an argument the generic resolver would refuse, a row the
//! prefetch did not load) makes it answer `None`, and the generic resolvers
//! run: they stay the reference, and `tests/compiled.rs` requires the same
//! answers from both on random selections.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use chrono::NaiveDateTime;
use serde::Serialize;

use crate::auth::{Auth, ReadData};
use crate::domain::activity::{Activity, Entry};
use crate::domain::case::Case;
use crate::domain::incident::Incident;
use crate::domain::status::Status;
use crate::domain::task::Task;
use crate::domain::user::User;
use crate::domain::values::{CasePriority, IdText, TimeText};
use crate::graphql::cursor::{self, ActivityCursor};
use crate::graphql::loaders::{Loaders, RecentKey};
use crate::graphql::prefetch::{ActivityPage, activity_page};

/// Request data: the response will be written by [`response_json`], so lists
/// may be answered as pre-written JSON.
#[derive(Debug, Clone, Copy)]
pub struct CompiledReads;

/// Lists answered by the compiled path since the process started: tests
/// check that it is taken, not only that it agrees.
static COMPILED_ANSWERS: AtomicU64 = AtomicU64::new(0);

pub fn compiled_answers() -> u64 {
    COMPILED_ANSWERS.load(Ordering::Relaxed)
}

/// A GraphQL response as JSON, with pre-written lists (`Value::Binary`, which
/// nothing else in the schema produces) copied in verbatim.
pub fn response_json(response: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(16 * 1024);
    response.serialize(&mut serde_json::Serializer::with_formatter(&mut body, PreWritten))?;
    Ok(body)
}

/// serde_json's compact output, except that bytes are JSON already.
struct PreWritten;

impl serde_json::ser::Formatter for PreWritten {
    fn write_byte_array<W: ?Sized + Write>(&mut self, writer: &mut W, json: &[u8]) -> std::io::Result<()> {
        writer.write_all(json)
    }
}

/// The `nodes` of a page of cases: a `[Case!]!` answered by the compiled path
/// when it covers the selection, by the generic resolvers otherwise.
pub struct CaseList<'a>(pub Vec<&'a Case>);

impl OutputType for CaseList<'_> {
    fn type_name() -> Cow<'static, str> {
        <Vec<&Case> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<&Case> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<&Case> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        // The loaders exist only for readers; the grant is checked again here,
        // as `graphql::loaders` does for the generic resolvers.
        let reader = ctx.data_opt::<Auth>().is_some_and(|auth| auth.grant::<ReadData>().is_ok());
        if reader
            && ctx.data_opt::<CompiledReads>().is_some()
            && let Some(loaders) = ctx.data_opt::<Loaders>()
        {
            let mut out = Vec::with_capacity(64 * 1024);
            let walk = Walk { ctx, rows: Rows::cached(loaders) };
            if walk.cases(&mut out, field, &self.0).is_some() {
                COMPILED_ANSWERS.fetch_add(1, Ordering::Relaxed);
                return Ok(Value::Binary(out.into()));
            }
        }
        self.0.resolve(ctx, field).await
    }
}

/// What the page prefetched, as the loaders cached it.
struct Rows {
    statuses: HashMap<i64, Status>,
    users: HashMap<String, User>,
    tasks: HashMap<i64, Arc<Vec<Task>>>,
    incidents: HashMap<i64, Arc<Vec<Incident>>>,
    activity: HashMap<RecentKey, Arc<Vec<Activity>>>,
}

impl Rows {
    fn cached(loaders: &Loaders) -> Rows {
        Rows {
            statuses: loaders.statuses.get_cached_values(),
            users: loaders.users.get_cached_values(),
            tasks: loaders.tasks_by_case.get_cached_values(),
            incidents: loaders.incidents_by_case.get_cached_values(),
            activity: loaders.recent_activity.get_cached_values(),
        }
    }
}

/// The object types the walk answers, for `__typename` and type conditions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Case,
    Status,
    User,
    Task,
    Incident,
    Comment,
    AuditEvent,
    FieldChange,
    ActivityConnection,
    ActivityEdge,
    PageInfo,
}

const TYPES: [Type; 11] = [
    Type::Case,
    Type::Status,
    Type::User,
    Type::Task,
    Type::Incident,
    Type::Comment,
    Type::AuditEvent,
    Type::FieldChange,
    Type::ActivityConnection,
    Type::ActivityEdge,
    Type::PageInfo,
];

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Case => "Case",
            Type::Status => "Status",
            Type::User => "User",
            Type::Task => "Task",
            Type::Incident => "Incident",
            Type::Comment => "Comment",
            Type::AuditEvent => "AuditEvent",
            Type::FieldChange => "FieldChange",
            Type::ActivityConnection => "ActivityConnection",
            Type::ActivityEdge => "ActivityEdge",
            Type::PageInfo => "PageInfo",
        }
    }

    /// Whether a fragment on `condition` applies to this type; `None` for a
    /// condition the walk does not know.
    fn matches(self, condition: &str) -> Option<bool> {
        if condition == "ActivityEvent" {
            return Some(matches!(self, Type::Comment | Type::AuditEvent));
        }
        TYPES.iter().any(|t| t.name() == condition).then(|| self.name() == condition)
    }
}

/// One response key of an object: the first field that names it, and the
/// selection sets of every field that does (GraphQL merges them).
struct Key<'q> {
    name: &'q Name,
    field: &'q Positioned<Field>,
    sets: Vec<&'q SelectionSet>,
    /// The keys its value selects, per object type, collected once for all
    /// the objects of a page.
    children: RefCell<Vec<(Type, Rc<[Key<'q>]>)>>,
    /// For `activity`: the page size, read from its arguments once.
    page_size: OnceCell<Option<i64>>,
}

impl<'q> Key<'q> {
    fn new(field: &'q Positioned<Field>) -> Self {
        let name = &field.node.response_key().node;
        Key {
            name,
            field,
            sets: vec![&field.node.selection_set.node],
            children: RefCell::default(),
            page_size: OnceCell::new(),
        }
    }

    fn is(&self, name: &str) -> bool {
        self.field.node.name.node == name
    }
}

type Out = Vec<u8>;

struct Walk<'c, 'q> {
    ctx: &'c ContextSelectionSet<'q>,
    rows: Rows,
}

impl<'q> Walk<'_, 'q> {
    /// The response keys `sets` select on `ty`, in order (the spec's
    /// CollectFields); `None` where the walk cannot tell (a directive, an
    /// unknown type condition, a missing fragment).
    fn collect(&self, sets: &[&'q SelectionSet], ty: Type) -> Option<Rc<[Key<'q>]>> {
        let mut keys: Vec<Key<'q>> = Vec::new();
        for set in sets {
            self.collect_into(set, ty, &mut keys)?;
        }
        Some(keys.into())
    }

    /// The keys `key`'s value selects on `ty`, collected on first use.
    fn children(&self, key: &Key<'q>, ty: Type) -> Option<Rc<[Key<'q>]>> {
        if let Some((_, keys)) = key.children.borrow().iter().find(|(t, _)| *t == ty) {
            return Some(Rc::clone(keys));
        }
        let keys = self.collect(&key.sets, ty)?;
        key.children.borrow_mut().push((ty, Rc::clone(&keys)));
        Some(keys)
    }

    fn collect_into(&self, set: &'q SelectionSet, ty: Type, keys: &mut Vec<Key<'q>>) -> Option<()> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    if !field.node.directives.is_empty() {
                        return None;
                    }
                    let name = &field.node.response_key().node;
                    match keys.iter_mut().find(|k| k.name == name) {
                        // Fields merged under one key must be the same field with the
                        // same arguments; async-graphql 7.2 lets some pairs through
                        // (behind a fragment): leave those to the generic path.
                        Some(key) if !same_field(&key.field.node, &field.node) => return None,
                        Some(key) => key.sets.push(&field.node.selection_set.node),
                        None => keys.push(Key::new(field)),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = self.ctx.query_env.fragments.get(&spread.node.fragment_name.node)?;
                    if !spread.node.directives.is_empty() || !fragment.node.directives.is_empty() {
                        return None;
                    }
                    if ty.matches(&fragment.node.type_condition.node.on.node)? {
                        self.collect_into(&fragment.node.selection_set.node, ty, keys)?;
                    }
                }
                Selection::InlineFragment(inline) => {
                    if !inline.node.directives.is_empty() {
                        return None;
                    }
                    let applies = match &inline.node.type_condition {
                        Some(condition) => ty.matches(&condition.node.on.node)?,
                        None => true,
                    };
                    if applies {
                        self.collect_into(&inline.node.selection_set.node, ty, keys)?;
                    }
                }
            }
        }
        Some(())
    }

    /// Writes one object: `field` writes each key's value.
    fn object(
        &self,
        out: &mut Out,
        keys: &[Key<'q>],
        ty: Type,
        field: &mut dyn FnMut(&mut Out, &Key<'q>) -> Option<()>,
    ) -> Option<()> {
        if keys.is_empty() {
            // As async-graphql answers an object none of whose fields apply.
            out.extend_from_slice(b"null");
            return Some(());
        }
        out.push(b'{');
        for (n, key) in keys.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            string(out, key.name);
            out.push(b':');
            if key.is("__typename") {
                string(out, ty.name());
            } else {
                field(out, key)?;
            }
        }
        out.push(b'}');
        Some(())
    }

    /// Writes a list of objects of one type, the items of `parent`'s value.
    fn list<T>(
        &self,
        out: &mut Out,
        parent: &Key<'q>,
        ty: Type,
        items: &[T],
        field: &mut dyn FnMut(&mut Out, &Key<'q>, &T) -> Option<()>,
    ) -> Option<()> {
        let keys = self.children(parent, ty)?;
        array(out, items, |out, item| self.object(out, &keys, ty, &mut |out, key| field(out, key, item)))
    }

    /// Writes the list of cases `field` (a `[Case!]!`) selects.
    fn cases(&self, out: &mut Out, field: &'q Positioned<Field>, cases: &[&Case]) -> Option<()> {
        let root = Key::new(field);
        self.list(out, &root, Type::Case, cases, &mut |out, key, case| self.case_field(out, key, case))
    }

    fn case_field(&self, out: &mut Out, key: &Key<'q>, case: &Case) -> Option<()> {
        match key.field.node.name.node.as_str() {
            "id" => id(out, case.id),
            "title" => string(out, &case.title),
            "description" => optional(out, case.description.as_deref()),
            "priority" => priority(out, case.priority)?,
            "status" => self.status(out, key, self.rows.statuses.get(&case.status_id)?)?,
            "assignee" => self.optional_user(out, key, case.assignee_id.as_deref())?,
            "dueOn" => optional_time(out, case.due_on)?,
            "createdBy" => self.user(out, key, &case.created_by)?,
            "createdAt" => time(out, case.created_at)?,
            "updatedBy" => self.user(out, key, &case.updated_by)?,
            "updatedAt" => time(out, case.updated_at)?,
            "version" => number(out, case.version),
            "tasks" => {
                let tasks = self.rows.tasks.get(&case.id)?;
                self.list(out, key, Type::Task, tasks, &mut |out, key, task| self.task_field(out, key, task))?
            }
            "incidents" => {
                let incidents = self.rows.incidents.get(&case.id)?;
                self.list(out, key, Type::Incident, incidents, &mut |out, key, incident| {
                    incident_field(out, key, incident)
                })?
            }
            "activity" => self.activity(out, key, case)?,
            _ => return None,
        }
        Some(())
    }

    fn status(&self, out: &mut Out, parent: &Key<'q>, status: &Status) -> Option<()> {
        let keys = self.children(parent, Type::Status)?;
        self.object(out, &keys, Type::Status, &mut |out, key| {
            match key.field.node.name.node.as_str() {
                "id" => id(out, status.id.0),
                "name" => string(out, &status.name),
                "category" => enumeration(out, status.category)?,
                "position" => number(out, status.position),
                "isDefault" => boolean(out, status.is_default),
                "archived" => boolean(out, status.archived),
                "createdAt" => time(out, status.created_at)?,
                "updatedAt" => time(out, status.updated_at)?,
                _ => return None,
            }
            Some(())
        })
    }

    fn user(&self, out: &mut Out, parent: &Key<'q>, user_id: &str) -> Option<()> {
        let user = self.rows.users.get(user_id)?;
        let keys = self.children(parent, Type::User)?;
        self.object(out, &keys, Type::User, &mut |out, key| {
            match key.field.node.name.node.as_str() {
                "id" => string(out, &user.id),
                "displayName" => optional(out, user.display_name.as_deref()),
                "email" => optional(out, user.email.as_deref()),
                _ => return None,
            }
            Some(())
        })
    }

    fn optional_user(&self, out: &mut Out, parent: &Key<'q>, user_id: Option<&str>) -> Option<()> {
        match user_id {
            Some(user_id) => self.user(out, parent, user_id),
            None => null(out),
        }
    }

    fn task_field(&self, out: &mut Out, key: &Key<'q>, task: &Task) -> Option<()> {
        match key.field.node.name.node.as_str() {
            "id" => id(out, task.id),
            "title" => string(out, &task.title),
            "description" => optional(out, task.description.as_deref()),
            "status" => enumeration(out, task.status)?,
            "priority" => priority(out, task.priority)?,
            "owner" => self.optional_user(out, key, task.owner_id.as_deref())?,
            "dueOn" => optional_time(out, task.due_on)?,
            "closingNotes" => optional(out, task.closing_notes.as_deref()),
            "createdBy" => self.user(out, key, &task.created_by)?,
            "createdAt" => time(out, task.created_at)?,
            "updatedBy" => self.user(out, key, &task.updated_by)?,
            "updatedAt" => time(out, task.updated_at)?,
            _ => return None,
        }
        Some(())
    }

    /// The first page of the case's log, all kinds, as prefetched.
    fn activity(&self, out: &mut Out, key: &Key<'q>, case: &Case) -> Option<()> {
        let limit = (*key.page_size.get_or_init(|| self.first_page_size(key.field)))?;
        let rows = self.rows.activity.get(&RecentKey::first_page(case, Vec::new(), limit))?;
        let shown = &rows[..rows.len().min(limit as usize)];
        let has_next = rows.len() > shown.len();
        let cursor = |entry: &Activity| cursor::encode(&ActivityCursor { seq: entry.seq });
        let keys = self.children(key, Type::ActivityConnection)?;
        self.object(out, &keys, Type::ActivityConnection, &mut |out, key| {
            match key.field.node.name.node.as_str() {
                "totalCount" => number(out, case.activity_seq),
                "nodes" => self.entries(out, key, shown)?,
                "edges" => self.list(out, key, Type::ActivityEdge, shown, &mut |out, key, entry| {
                    match key.field.node.name.node.as_str() {
                        "cursor" => string(out, &cursor(entry)),
                        "node" => {
                            let kinds = (self.children(key, Type::Comment)?, self.children(key, Type::AuditEvent)?);
                            self.entry(out, (&kinds.0, &kinds.1), entry)?
                        }
                        _ => return None,
                    }
                    Some(())
                })?,
                "pageInfo" => {
                    let keys = self.children(key, Type::PageInfo)?;
                    self.object(out, &keys, Type::PageInfo, &mut |out, key| {
                        match key.field.node.name.node.as_str() {
                            "hasNextPage" => boolean(out, has_next),
                            "hasPreviousPage" => boolean(out, false),
                            "startCursor" => optional(out, shown.first().map(cursor).as_deref()),
                            "endCursor" => optional(out, shown.last().map(cursor).as_deref()),
                            _ => return None,
                        }
                        Some(())
                    })?
                }
                _ => return None,
            }
            Some(())
        })
    }

    /// `activity(first, kinds, after)`'s page size when it asks for the first
    /// page of all kinds, the one a page of cases prefetches.
    fn first_page_size(&self, field: &'q Positioned<Field>) -> Option<i64> {
        match activity_page(&self.ctx.with_field(field).field())? {
            ActivityPage { limit, kinds, after_given: false } if kinds.is_empty() => Some(limit),
            _ => None,
        }
    }

    /// Writes a list of entries (of the `ActivityEvent` interface).
    fn entries(&self, out: &mut Out, parent: &Key<'q>, entries: &[Activity]) -> Option<()> {
        let comment = self.children(parent, Type::Comment)?;
        let audit = self.children(parent, Type::AuditEvent)?;
        array(out, entries, |out, entry| self.entry(out, (&comment, &audit), entry))
    }

    /// Writes one entry with the keys collected for its concrete type.
    fn entry(&self, out: &mut Out, (comment, audit): (&[Key<'q>], &[Key<'q>]), entry: &Activity) -> Option<()> {
        let (keys, ty) = match entry.entry {
            Entry::Comment { .. } => (comment, Type::Comment),
            Entry::Audit { .. } => (audit, Type::AuditEvent),
        };
        self.object(out, keys, ty, &mut |out, key| self.entry_field(out, key, entry))
    }

    fn entry_field(&self, out: &mut Out, key: &Key<'q>, entry: &Activity) -> Option<()> {
        match (key.field.node.name.node.as_str(), &entry.entry) {
            ("id", _) => id(out, entry.id),
            ("actor", _) => self.user(out, key, &entry.actor_id)?,
            ("createdAt", _) => time(out, entry.created_at)?,
            ("body", Entry::Comment { body }) => string(out, body),
            ("action", Entry::Audit { action, .. }) => enumeration(out, *action)?,
            ("operationId", Entry::Audit { operation_id, .. }) => optional(out, operation_id.as_deref()),
            ("changes", Entry::Audit { changes, .. }) => {
                self.list(out, key, Type::FieldChange, changes, &mut |out, key, change| {
                    match key.field.node.name.node.as_str() {
                        "field" => string(out, &change.field),
                        "oldValue" => optional(out, change.old_value.as_deref()),
                        "newValue" => optional(out, change.new_value.as_deref()),
                        _ => return None,
                    }
                    Some(())
                })?
            }
            _ => return None,
        }
        Some(())
    }
}

fn same_field(a: &Field, b: &Field) -> bool {
    let arguments = |f: &Field| -> Vec<(Name, async_graphql_value::Value)> {
        f.arguments.iter().map(|(name, value)| (name.node.clone(), value.node.clone())).collect()
    };
    a.name.node == b.name.node && (a.arguments.is_empty() && b.arguments.is_empty() || arguments(a) == arguments(b))
}

fn incident_field(out: &mut Out, key: &Key<'_>, incident: &Incident) -> Option<()> {
    match key.field.node.name.node.as_str() {
        "id" => id(out, incident.id),
        "externalId" => optional(out, incident.external_id.as_deref()),
        "title" => string(out, &incident.title),
        "severity" => enumeration(out, incident.severity)?,
        "status" => enumeration(out, incident.status)?,
        "createdAt" => time(out, incident.created_at)?,
        "updatedAt" => time(out, incident.updated_at)?,
        _ => return None,
    }
    Some(())
}

/// Scalars as serde_json writes them for the generic path.
fn string(out: &mut Out, text: &str) {
    // Writing to a Vec cannot fail; serde_json escapes as the generic path does.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// A value as the service writes it outside GraphQL's resolvers (ids,
/// instants and enums by their schema names: `domain::values`), the same
/// serialisation a webhook payload has.
fn value(out: &mut Out, value: &impl Serialize) {
    let _ = serde_json::to_writer(&mut *out, value);
}

fn id(out: &mut Out, id: i64) {
    value(out, &IdText(id));
}

fn number(out: &mut Out, n: impl Into<i64>) {
    let _ = write!(out, "{}", n.into());
}

fn boolean(out: &mut Out, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn optional(out: &mut Out, text: Option<&str>) {
    match text {
        Some(text) => string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// An enum value by its schema name.
fn enumeration(out: &mut Out, enum_value: impl Serialize) -> Option<()> {
    value(out, &enum_value);
    Some(())
}

/// A `DateTime` as its scalar writes it.
fn time(out: &mut Out, at: NaiveDateTime) -> Option<()> {
    value(out, &TimeText(at));
    Some(())
}

fn optional_time(out: &mut Out, at: Option<NaiveDateTime>) -> Option<()> {
    match at {
        Some(at) => time(out, at),
        None => null(out),
    }
}

fn priority(out: &mut Out, rank: i32) -> Option<()> {
    match CasePriority::from_rank(rank) {
        Some(priority) => enumeration(out, priority),
        None => null(out),
    }
}

fn null(out: &mut Out) -> Option<()> {
    out.extend_from_slice(b"null");
    Some(())
}

/// Writes `items` as a JSON array, each by `item`.
fn array<T>(out: &mut Out, items: &[T], mut item: impl FnMut(&mut Out, &T) -> Option<()>) -> Option<()> {
    out.push(b'[');
    for (n, value) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        item(out, value)?;
    }
    out.push(b']');
    Some(())
}
