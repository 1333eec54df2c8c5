//! Eager loading for lists: when a resolver has a page of cases, it looks
//! ahead at what the query selects below them and loads each relation for the
//! whole page in one statement, into the request's loader caches. The items'
//! own resolvers then find everything cached. Unlike a DataLoader's batching
//! window, this does not depend on timing, so a page costs the same few
//! statements for 10 cases as for 100, every time, with no added delay.

use std::collections::BTreeSet;

use async_graphql::{Context, InputType, Lookahead, SelectionField};

use crate::domain::activity::{Activity, ActivityKind, Entry};
use crate::domain::case::Case;
use crate::domain::incident::Incident;
use crate::domain::task::Task;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::{DownloadsKey, NewestKey, RecentKey};
use crate::graphql::{loaders, page_size};

/// Nesting levels of cases under cases (incident.cases) that are prefetched.
const MAX_DEPTH: usize = 2;

/// The ways a connection selects its nodes.
pub(crate) fn connection_nodes<'a>(connection: &Lookahead<'a>) -> [Lookahead<'a>; 2] {
    [connection.field("nodes"), connection.field("edges").field("node")]
}

/// Normalises an activity `kinds` argument: sorted, no repeats, empty for all.
pub(crate) fn normalize_kinds(mut kinds: Vec<ActivityKind>) -> Vec<ActivityKind> {
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    if kinds.len() == ActivityKind::ALL.len() {
        kinds.clear();
    }
    kinds
}

/// The page a `Case.activity(kinds, first, after)` selection asks for.
pub(crate) struct ActivityPage {
    pub limit: i64,
    /// Normalised (see [`normalize_kinds`]).
    pub kinds: Vec<ActivityKind>,
    pub after_given: bool,
}

/// Reads an `activity` selection's arguments with the types the resolver
/// declares (variables resolved); `None` where the resolver would refuse them.
pub(crate) fn activity_page(field: &SelectionField<'_>) -> Option<ActivityPage> {
    let arguments = field.arguments().ok()?;
    let argument = |name: &str| arguments.iter().find(|(n, _)| n.as_str() == name).map(|(_, v)| v.clone());
    let first = <Option<i32> as InputType>::parse(argument("first")).ok()?;
    let kinds = <Option<Vec<ActivityKind>> as InputType>::parse(argument("kinds")).ok()?;
    let after = <Option<String> as InputType>::parse(argument("after")).ok()?;
    Some(ActivityPage {
        limit: page_size(first).ok()?,
        kinds: normalize_kinds(kinds.unwrap_or_default()),
        after_given: after.is_some(),
    })
}

/// The page size of a `Case.observables(first)` (or `Case.attachments(first)`)
/// selection that asks for a first page of all the case's items; `None` for
/// any other.
fn first_page(field: &SelectionField<'_>) -> Option<i64> {
    let arguments = field.arguments().ok()?;
    let argument = |name: &str| arguments.iter().find(|(n, _)| n.as_str() == name).map(|(_, v)| v.clone());
    let first = <Option<i32> as InputType>::parse(argument("first")).ok()?;
    let unfiltered = argument("filter").is_none_or(|v| v == async_graphql::Value::Null);
    let after = argument("after").is_none_or(|v| v == async_graphql::Value::Null);
    (unfiltered && after).then(|| page_size(first).ok()).flatten()
}

/// Loads what `selection` (the fields selected on each incident) needs for
/// a page of incidents: their alerts, indicators and cases (those cases'
/// own relations too).
pub(crate) async fn incidents(ctx: &Context<'_>, selection: &Lookahead<'_>, incidents: &[Incident]) -> GqlResult<()> {
    if incidents.is_empty() {
        return Ok(());
    }
    let loaders = loaders(ctx)?;
    let ids = || incidents.iter().map(|i| i.id);
    if selection.field("alerts").exists() {
        loaders.load_now(&loaders.alerts_by_incident, ids()).await?;
    }
    if selection.field("observables").exists() {
        loaders.load_now(&loaders.observables_by_incident, ids()).await?;
    }
    let linked_cases = selection.field("cases");
    if linked_cases.exists() {
        let by_incident = loaders.load_now(&loaders.cases_by_incident, ids()).await?;
        let mut linked: Vec<Case> = by_incident.values().flat_map(|cases| cases.iter()).cloned().collect();
        linked.sort_by_key(|c| c.id);
        linked.dedup_by_key(|c| c.id);
        prefetch_cases(ctx, &linked_cases, &linked, 1).await?;
    }
    Ok(())
}

/// Loads what `selection` (the fields selected on each case) needs for `cases`.
pub(crate) async fn cases(ctx: &Context<'_>, selection: &Lookahead<'_>, cases: &[Case]) -> GqlResult<()> {
    prefetch_cases(ctx, selection, cases, 0).await
}

async fn prefetch_cases(ctx: &Context<'_>, selection: &Lookahead<'_>, cases: &[Case], depth: usize) -> GqlResult<()> {
    // Cases shown by their own columns only (such as `incident.cases { id }`) need nothing.
    if cases.is_empty() || depth > MAX_DEPTH || !has_relations(selection) {
        return Ok(());
    }
    let loaders = loaders(ctx)?;
    // Without a cache (a subscription's shared loaders) there is nowhere to put it.
    if !loaders.caches() {
        return Ok(());
    }
    if depth == 0 {
        // Tasks and activity entries name their case; serve those from here.
        loaders.feed(&loaders.cases, cases.iter().map(|c| (c.id, c.clone()))).await;
    }
    let ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
    let mut users = BTreeSet::new();

    if selection.field("status").exists() {
        loaders.load_now(&loaders.statuses, cases.iter().map(|c| c.status_id)).await?;
    }
    if selection.field("assignee").exists() {
        users.extend(cases.iter().filter_map(|c| c.assignee_id.clone()));
    }
    if selection.field("createdBy").exists() {
        users.extend(cases.iter().map(|c| c.created_by.clone()));
    }
    if selection.field("updatedBy").exists() {
        users.extend(cases.iter().map(|c| c.updated_by.clone()));
    }

    let tasks = selection.field("tasks");
    if tasks.exists() {
        let by_case = loaders.load_now(&loaders.tasks_by_case, ids.iter().copied()).await?;
        let all: Vec<&Task> = by_case.values().flat_map(|tasks| tasks.iter()).collect();
        task_users(&tasks, &all, &mut users);
    }

    let incidents = selection.field("incidents");
    if incidents.exists() {
        let by_case = loaders.load_now(&loaders.incidents_by_case, ids.iter().copied()).await?;
        let linked_cases = incidents.field("cases");
        if linked_cases.exists() {
            let linked: Vec<i64> = by_case.values().flat_map(|incidents| incidents.iter().map(|i| i.id)).collect();
            let by_incident = loaders.load_now(&loaders.cases_by_incident, linked).await?;
            if has_relations(&linked_cases) && depth < MAX_DEPTH {
                let mut nested: Vec<Case> = by_incident.values().flat_map(|cases| cases.iter()).cloned().collect();
                nested.sort_by_key(|c| c.id);
                nested.dedup_by_key(|c| c.id);
                Box::pin(prefetch_cases(ctx, &linked_cases, &nested, depth + 1)).await?;
            }
        }
    }

    if selection.field("techniques").exists() {
        loaders.load_now(&loaders.techniques_by_case, ids.iter().copied()).await?;
    }
    if selection.field("tags").exists() {
        loaders.load_now(&loaders.tags_by_case, ids.iter().copied()).await?;
    }
    if selection.field("childCount").exists() || selection.field("closedChildCount").exists() {
        loaders.load_now(&loaders.children_counts, ids.iter().copied()).await?;
    }
    let relations = selection.field("relations");
    if relations.exists() {
        let by_case = loaders.load_now(&loaders.relations_by_case, ids.iter().copied()).await?;
        let related = relations.field("case");
        if related.exists() {
            let others: BTreeSet<i64> = by_case.values().flat_map(|r| r.iter().map(|r| r.related_id)).collect();
            let found = loaders.load_now(&loaders.cases, others).await?;
            if has_relations(&related) && depth < MAX_DEPTH {
                let mut nested: Vec<Case> = found.into_values().collect();
                nested.sort_by_key(|c| c.id);
                Box::pin(prefetch_cases(ctx, &related, &nested, depth + 1)).await?;
            }
        }
        if relations.field("createdBy").exists() {
            users.extend(by_case.values().flat_map(|r| r.iter().map(|r| r.created_by.clone())));
        }
    }
    if selection.field("mergedInto").exists() {
        let merged: BTreeSet<i64> = cases.iter().filter_map(|c| c.merged_into).collect();
        loaders.load_now(&loaders.cases, merged).await?;
    }

    for field in selection.field("observables").selection_fields() {
        // Filtered lists and later pages are one case's business.
        let Some(limit) = first_page(&field) else { continue };
        let keys = cases.iter().map(|case| NewestKey { case_id: case.id, limit: limit + 1 });
        let pages = loaders.load_now(&loaders.newest_observables, keys).await?;
        let list = Lookahead::from(field);
        if list.field("totalCount").exists() {
            loaders.load_now(&loaders.observable_counts, ids.iter().copied()).await?;
        }
        for node in connection_nodes(&list) {
            if node.field("addedBy").exists() {
                users.extend(pages.values().flat_map(|page| page.iter().map(|o| o.added_by.clone())));
            }
        }
    }

    for field in selection.field("attachments").selection_fields() {
        let Some(limit) = first_page(&field) else { continue };
        let keys = cases.iter().map(|case| NewestKey { case_id: case.id, limit: limit + 1 });
        let pages = loaders.load_now(&loaders.newest_attachments, keys).await?;
        let list = Lookahead::from(field);
        if list.field("totalCount").exists() {
            loaders.load_now(&loaders.attachment_counts, ids.iter().copied()).await?;
        }
        let files = || pages.values().flat_map(|page| page.iter());
        for node in connection_nodes(&list) {
            if node.field("addedBy").exists() {
                users.extend(files().map(|a| a.added_by.clone()));
            }
            if node.field("updatedBy").exists() {
                users.extend(files().map(|a| a.updated_by.clone()));
            }
            if node.field("task").exists() {
                let tasks: BTreeSet<i64> = files().filter_map(|a| a.task_id.map(|t| t.0)).collect();
                loaders.load_now(&loaders.tasks, tasks).await?;
            }
            for downloads in node.field("downloads").selection_fields() {
                let Some(limit) = first_page(&downloads) else { continue };
                let keys = files().map(|a| DownloadsKey { attachment_id: a.id.0, limit });
                loaders.load_now(&loaders.downloads, keys.collect::<Vec<_>>()).await?;
            }
        }
    }

    for field in selection.field("activity").selection_fields() {
        // The resolver reports arguments it refuses; later pages (with
        // `after`) are one case's business, not a dashboard's.
        let Some(ActivityPage { limit, kinds, after_given: false }) = activity_page(&field) else { continue };
        let keys = cases.iter().map(|case| RecentKey::first_page(case, kinds.clone(), limit));
        let pages = loaders.load_now(&loaders.recent_activity, keys).await?;
        let entries: Vec<&Activity> = pages.values().flat_map(|page| page.iter()).collect();
        let log = Lookahead::from(field);
        if log.field("totalCount").exists() && !kinds.is_empty() {
            loaders.load_now(&loaders.activity_counts, ids.iter().copied()).await?;
        }
        for node in connection_nodes(&log) {
            if node.field("actor").exists() {
                users.extend(entries.iter().map(|a| a.actor_id.clone()));
            }
            let (mut task_ids, mut incident_ids, mut observable_ids) =
                (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
            for entry in &entries {
                if let Entry::Audit { task_id, incident_id, observable_id, .. } = &entry.entry {
                    task_ids.extend(*task_id);
                    incident_ids.extend(*incident_id);
                    observable_ids.extend(*observable_id);
                }
            }
            if node.field("task").exists() && !task_ids.is_empty() {
                loaders.load_now(&loaders.tasks, task_ids).await?;
            }
            if node.field("incident").exists() && !incident_ids.is_empty() {
                loaders.load_now(&loaders.incidents, incident_ids).await?;
            }
            if node.field("observable").exists() && !observable_ids.is_empty() {
                loaders.load_now(&loaders.observables, observable_ids).await?;
            }
        }
    }

    if !users.is_empty() {
        loaders.load_now(&loaders.users, users).await?;
    }
    Ok(())
}

/// Whether a selection on cases reaches beyond their own columns.
fn has_relations(selection: &Lookahead<'_>) -> bool {
    [
        "status",
        "assignee",
        "createdBy",
        "updatedBy",
        "tasks",
        "incidents",
        "activity",
        "observables",
        "attachments",
        "tags",
        "techniques",
        "sla",
        "relations",
        "childCount",
        "closedChildCount",
        "mergedInto",
    ]
    .iter()
    .any(|field| selection.field(field).exists())
}

/// The users a selection of tasks shows.
fn task_users(selection: &Lookahead<'_>, tasks: &[&Task], users: &mut BTreeSet<String>) {
    if selection.field("owner").exists() {
        users.extend(tasks.iter().filter_map(|t| t.owner_id.clone()));
    }
    if selection.field("createdBy").exists() {
        users.extend(tasks.iter().map(|t| t.created_by.clone()));
    }
    if selection.field("updatedBy").exists() {
        users.extend(tasks.iter().map(|t| t.updated_by.clone()));
    }
}
