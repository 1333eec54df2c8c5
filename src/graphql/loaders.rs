//! DataLoaders for every nested relation, batched per request and scoped to
//! the caller's tenant: a page of cases costs a few statements, not one per case.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use crate::auth::{Granted, ReadData};
use crate::db::Db;
use crate::domain::activity::{self, Activity, ActivityKind, LogHead};
use crate::domain::attachment::{self, Attachment, AttachmentId, Download};
use crate::domain::attack;
use crate::domain::case::{self, Case, CaseId};
use crate::domain::incident::{self, Alert, Incident, IncidentId, IncidentObservable};
use crate::domain::observable::{self, Observable, ObservableId};
use crate::domain::relation::{self, Relation};
use crate::domain::status::{self, Status, StatusId};
use crate::domain::tag;
use crate::domain::task::{self, Task, TaskId};
use crate::domain::user::{self, User};
use crate::error::AppResult;
use crate::graphql::errors::GqlError;

/// The database and tenant every loader of one request reads.
#[derive(Clone)]
pub struct Scope {
    db: Db,
    tenant: Arc<str>,
}

type Cached<T> = DataLoader<T, HashMapCache>;

/// The loaders of one operation. They cache for the operation, so what a list
/// resolver prefetched for a whole page (see `prefetch`) is served to each
/// item without another statement; the cache goes with the operation (an
/// HTTP request, or one query over a WebSocket). Subscriptions share
/// [`Loaders::uncached`] ones, which batch but keep nothing.
pub struct Loaders {
    /// False for the shared subscription loaders: nothing is ever put in their caches.
    caching: bool,
    pub statuses: Cached<StatusLoader>,
    pub users: Cached<UserLoader>,
    pub cases: Cached<CaseLoader>,
    pub tasks: Cached<TaskLoader>,
    pub incidents: Cached<IncidentLoader>,
    pub observables: Cached<ObservableLoader>,
    pub tasks_by_case: Cached<TasksByCase>,
    pub incidents_by_case: Cached<IncidentsByCase>,
    pub cases_by_incident: Cached<CasesByIncident>,
    pub alerts_by_incident: Cached<AlertsByIncident>,
    pub observables_by_incident: Cached<ObservablesByIncident>,
    pub recent_activity: Cached<RecentActivity>,
    pub activity_counts: Cached<ActivityCounts>,
    pub newest_observables: Cached<NewestObservables>,
    pub tags_by_case: Cached<TagsByCase>,
    pub techniques_by_case: Cached<TechniquesByCase>,
    pub allowed_next: Cached<AllowedNext>,
    pub observable_counts: Cached<ObservableCounts>,
    pub newest_attachments: Cached<NewestAttachments>,
    pub attachment_counts: Cached<AttachmentCounts>,
    pub downloads: Cached<NewestDownloads>,
    pub relations_by_case: Cached<RelationsByCase>,
    pub children_counts: Cached<ChildrenCounts>,
}

impl Loaders {
    /// Loaders read the tenant's data, so only a caller checked for
    /// `SECURITY_DATA_READ` gets them.
    pub fn new(db: Db, reader: &Granted<'_, ReadData>) -> Self {
        let scope = Scope { db, tenant: reader.tenant().into() };
        Loaders {
            caching: true,
            statuses: cached(StatusLoader(scope.clone())),
            users: cached(UserLoader(scope.clone())),
            cases: cached(CaseLoader(scope.clone())),
            tasks: cached(TaskLoader(scope.clone())),
            incidents: cached(IncidentLoader(scope.clone())),
            observables: cached(ObservableLoader(scope.clone())),
            tasks_by_case: cached(TasksByCase(scope.clone())),
            incidents_by_case: cached(IncidentsByCase(scope.clone())),
            cases_by_incident: cached(CasesByIncident(scope.clone())),
            alerts_by_incident: cached(AlertsByIncident(scope.clone())),
            observables_by_incident: cached(ObservablesByIncident(scope.clone())),
            recent_activity: cached(RecentActivity(scope.clone())),
            activity_counts: cached(ActivityCounts(scope.clone())),
            newest_observables: cached(NewestObservables(scope.clone())),
            tags_by_case: cached(TagsByCase(scope.clone())),
            techniques_by_case: cached(TechniquesByCase(scope.clone())),
            allowed_next: cached(AllowedNext(scope.clone())),
            observable_counts: cached(ObservableCounts(scope.clone())),
            newest_attachments: cached(NewestAttachments(scope.clone())),
            attachment_counts: cached(AttachmentCounts(scope.clone())),
            downloads: cached(NewestDownloads(scope.clone())),
            relations_by_case: cached(RelationsByCase(scope.clone())),
            children_counts: cached(ChildrenCounts(scope)),
        }
    }
}

fn cached<T: Send + Sync + 'static>(loader: T) -> Cached<T> {
    // A batch runs in its own task: it counts toward the request that asked for it.
    let spawn = |batch| tokio::spawn(crate::db::within_current_count(batch));
    DataLoader::with_cache(loader, spawn, HashMapCache::default())
}

impl Loaders {
    /// Loads `keys` at once, into `loader`'s cache when these loaders cache,
    /// and returns what was found. A list resolver knows every key up front,
    /// so it skips the batching window `load_many` waits for (a timer hop per
    /// call, which added up to milliseconds for a page that loads its
    /// relations one after another).
    pub async fn load_now<K, T>(
        &self,
        loader: &Cached<T>,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<HashMap<K, T::Value>, GqlError>
    where
        K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
        T: Loader<K, Error = GqlError>,
    {
        let mut unique = std::collections::HashSet::new();
        let keys: Vec<K> = keys.into_iter().filter(|k| unique.insert(k.clone())).collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let found = loader.loader().load(&keys).await?;
        self.feed(loader, found.iter().map(|(k, v)| (k.clone(), v.clone()))).await;
        Ok(found)
    }

    /// Puts values in `loader`'s cache, when these loaders cache.
    /// (async-graphql's `feed_many` writes even into a disabled cache.)
    pub async fn feed<K, T>(&self, loader: &Cached<T>, values: impl IntoIterator<Item = (K, T::Value)>)
    where
        K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
        T: Loader<K, Error = GqlError>,
    {
        if self.caching {
            loader.feed_many(values).await;
        }
    }

    /// Whether what is loaded is kept for the rest of the operation.
    pub fn caches(&self) -> bool {
        self.caching
    }

    /// Loaders that batch but never cache, so each event reads current data:
    /// a subscription lives long, and its loaders are shared by every
    /// WebSocket of the tenant (the watchers of one event resolve it in one batch).
    pub fn uncached(db: Db, reader: &Granted<'_, ReadData>) -> Self {
        let mut loaders = Loaders::new(db, reader);
        loaders.caching = false;
        loaders.statuses.enable_all_cache(false);
        loaders.users.enable_all_cache(false);
        loaders.cases.enable_all_cache(false);
        loaders.tasks.enable_all_cache(false);
        loaders.incidents.enable_all_cache(false);
        loaders.tasks_by_case.enable_all_cache(false);
        loaders.incidents_by_case.enable_all_cache(false);
        loaders.cases_by_incident.enable_all_cache(false);
        loaders.alerts_by_incident.enable_all_cache(false);
        loaders.observables_by_incident.enable_all_cache(false);
        loaders.recent_activity.enable_all_cache(false);
        loaders.activity_counts.enable_all_cache(false);
        loaders.observables.enable_all_cache(false);
        loaders.newest_observables.enable_all_cache(false);
        loaders.tags_by_case.enable_all_cache(false);
        loaders.techniques_by_case.enable_all_cache(false);
        loaders.allowed_next.enable_all_cache(false);
        loaders.observable_counts.enable_all_cache(false);
        loaders.newest_attachments.enable_all_cache(false);
        loaders.attachment_counts.enable_all_cache(false);
        loaders.downloads.enable_all_cache(false);
        loaders.relations_by_case.enable_all_cache(false);
        loaders.children_counts.enable_all_cache(false);
        loaders
    }
}

impl Scope {
    async fn run<T>(&self, f: impl AsyncFnOnce(&mut crate::db::Conn<'_>, &str) -> AppResult<T>) -> Result<T, GqlError> {
        let mut pooled = self.db.get().await?;
        Ok(f(&mut pooled.conn(), &self.tenant).await?)
    }
}

/// Defines a loader of entities by id.
macro_rules! by_id_loader {
    ($name:ident, $key:ty, $value:ty, $load:expr, $wrap:expr, $key_of:expr) => {
        pub struct $name(Scope);

        impl Loader<$key> for $name {
            type Value = $value;
            type Error = GqlError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, GqlError> {
                let ids: Vec<_> = keys.iter().cloned().map($wrap).collect();
                let found = self.0.run(async |c, tenant| $load(c, tenant, &ids).await).await?;
                Ok(found.into_iter().map(|v| ($key_of(&v), v)).collect())
            }
        }
    };
}

by_id_loader!(StatusLoader, i64, Status, status::find_many, StatusId, |s: &Status| s.id.0);
by_id_loader!(UserLoader, String, User, user::find_many, |id: String| id, |u: &User| u.id.clone());
by_id_loader!(CaseLoader, i64, Case, case::find_many, CaseId, |c: &Case| c.id);
by_id_loader!(TaskLoader, i64, Task, task::find_many, TaskId, |t: &Task| t.id);
by_id_loader!(IncidentLoader, i64, Incident, incident::find_many, IncidentId, |i: &Incident| i.id);
by_id_loader!(ObservableLoader, i64, Observable, observable::find_many, ObservableId, |o: &Observable| o.id.0);

/// Groups `(key, value)` pairs by key, keeping their order.
fn group<K: std::hash::Hash + Eq, V>(pairs: impl IntoIterator<Item = (K, V)>) -> HashMap<K, Vec<V>> {
    let mut groups: HashMap<K, Vec<V>> = HashMap::new();
    for (key, value) in pairs {
        groups.entry(key).or_default().push(value);
    }
    groups
}

/// Like [`group`], shared (a cached list is handed out without copying its
/// rows), with an empty list for every key that has none: a key missing from
/// the answer is not cached, and each item asking for it again would cost
/// another statement.
fn group_shared<K: std::hash::Hash + Eq + Clone, V>(
    keys: &[K],
    pairs: impl IntoIterator<Item = (K, V)>,
) -> HashMap<K, Arc<Vec<V>>> {
    let mut groups = group(pairs);
    keys.iter().map(|k| (k.clone(), Arc::new(groups.remove(k).unwrap_or_default()))).collect()
}

/// The tasks of each case.
pub struct TasksByCase(Scope);

impl Loader<i64> for TasksByCase {
    type Value = Arc<Vec<Task>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<Task>>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let tasks = self.0.run(async |c, tenant| task::of_cases(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, tasks.into_iter().map(|t| (t.case_id, t))))
    }
}

/// The incidents linked to each case.
pub struct IncidentsByCase(Scope);

impl Loader<i64> for IncidentsByCase {
    type Value = Arc<Vec<Incident>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<Incident>>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let pairs = self.0.run(async |c, tenant| incident::of_cases(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, pairs))
    }
}

/// The cases each incident is linked to, newest first.
pub struct CasesByIncident(Scope);

impl Loader<i64> for CasesByIncident {
    type Value = Arc<Vec<Case>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<Case>>>, GqlError> {
        let ids: Vec<IncidentId> = keys.iter().copied().map(IncidentId).collect();
        let pairs = self.0.run(async |c, tenant| incident::cases_of(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, pairs))
    }
}

/// The alerts of each incident, in their source's order.
pub struct AlertsByIncident(Scope);

impl Loader<i64> for AlertsByIncident {
    type Value = Arc<Vec<Alert>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<Alert>>>, GqlError> {
        let ids: Vec<IncidentId> = keys.iter().copied().map(IncidentId).collect();
        let alerts = self.0.run(async |c, tenant| incident::alerts_of(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, alerts.into_iter().map(|a| (a.incident_id, a))))
    }
}

/// The indicators of each incident.
pub struct ObservablesByIncident(Scope);

impl Loader<i64> for ObservablesByIncident {
    type Value = Arc<Vec<IncidentObservable>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<IncidentObservable>>>, GqlError> {
        let ids: Vec<IncidentId> = keys.iter().copied().map(IncidentId).collect();
        let found = self.0.run(async |c, tenant| incident::observables_of(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, found.into_iter().map(|o| (o.incident_id, o))))
    }
}

/// The first page of a case's activity log: the newest `limit` entries of `kinds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecentKey {
    pub case_id: i64,
    /// The case row's `activity_seq`, where its log's first page starts.
    pub newest_seq: i64,
    /// Sorted, without repeats; empty for all kinds.
    pub kinds: Vec<ActivityKind>,
    pub limit: i64,
}

impl RecentKey {
    /// The first page of `case`'s log of `kinds` (normalised), `page_size`
    /// entries shown: one more is fetched to tell whether others follow.
    pub fn first_page(case: &Case, kinds: Vec<ActivityKind>, page_size: i64) -> Self {
        RecentKey { case_id: case.id, newest_seq: case.activity_seq, kinds, limit: page_size + 1 }
    }
}

/// First pages of activity logs: one statement per distinct (kinds, limit).
pub struct RecentActivity(Scope);

impl Loader<RecentKey> for RecentActivity {
    type Value = Arc<Vec<Activity>>;
    type Error = GqlError;

    async fn load(&self, keys: &[RecentKey]) -> Result<HashMap<RecentKey, Arc<Vec<Activity>>>, GqlError> {
        let head = |k: &RecentKey| LogHead { case_id: CaseId(k.case_id), newest_seq: k.newest_seq };
        let shapes = group(keys.iter().map(|k| ((k.kinds.clone(), k.limit), head(k))));
        let mut pages = HashMap::new();
        for ((kinds, limit), heads) in shapes {
            let rows =
                self.0.run(async |c, tenant| activity::newest_of_cases(c, tenant, &heads, &kinds, limit).await).await?;
            let mut by_case = group(rows.into_iter().map(|a| (a.case_id.0, a)));
            for head in heads {
                let mut page = by_case.remove(&head.case_id.0).unwrap_or_default();
                // Entries written after the case row was read come too; the page is the newest.
                page.truncate(limit as usize);
                let key =
                    RecentKey { case_id: head.case_id.0, newest_seq: head.newest_seq, kinds: kinds.clone(), limit };
                pages.insert(key, Arc::new(page));
            }
        }
        Ok(pages)
    }
}

/// How many entries of each kind a case's log holds.
pub struct ActivityCounts(Scope);

impl Loader<i64> for ActivityCounts {
    type Value = HashMap<String, i64>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, HashMap<String, i64>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let counts = self.0.run(async |c, tenant| activity::counts_of_cases(c, tenant, &ids).await).await?;
        let mut by_case: HashMap<i64, HashMap<String, i64>> = keys.iter().map(|&k| (k, HashMap::new())).collect();
        for (case_id, kind, count) in counts {
            by_case.entry(case_id).or_default().insert(kind, count);
        }
        Ok(by_case)
    }
}

/// The first page of a case's observables: its newest `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NewestKey {
    pub case_id: i64,
    pub limit: i64,
}

/// First pages of cases' observables: one statement per distinct page size.
pub struct NewestObservables(Scope);

impl Loader<NewestKey> for NewestObservables {
    type Value = Arc<Vec<Observable>>;
    type Error = GqlError;

    async fn load(&self, keys: &[NewestKey]) -> Result<HashMap<NewestKey, Arc<Vec<Observable>>>, GqlError> {
        let mut pages = HashMap::new();
        for (limit, case_ids) in group(keys.iter().map(|k| (k.limit, CaseId(k.case_id)))) {
            let rows =
                self.0.run(async |c, tenant| observable::newest_of_cases(c, tenant, &case_ids, limit).await).await?;
            let cases: Vec<NewestKey> = case_ids.iter().map(|id| NewestKey { case_id: id.0, limit }).collect();
            pages
                .extend(group_shared(&cases, rows.into_iter().map(|o| (NewestKey { case_id: o.case_id.0, limit }, o))));
        }
        Ok(pages)
    }
}

/// How many observables each case has.
pub struct ObservableCounts(Scope);

impl Loader<i64> for ObservableCounts {
    type Value = i64;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, i64>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let counts = self.0.run(async |c, tenant| observable::counts_of_cases(c, tenant, &ids).await).await?;
        let mut by_case: HashMap<i64, i64> = keys.iter().map(|&k| (k, 0)).collect();
        by_case.extend(counts);
        Ok(by_case)
    }
}

/// The tag names of each case, by name ignoring case.
pub struct TagsByCase(Scope);

impl Loader<i64> for TagsByCase {
    type Value = Arc<Vec<String>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<String>>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let pairs = self.0.run(async |c, tenant| tag::of_cases(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, pairs))
    }
}

/// The ATT&CK technique ids of each case, by id.
pub struct TechniquesByCase(Scope);

impl Loader<i64> for TechniquesByCase {
    type Value = Arc<Vec<String>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<String>>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let pairs = self.0.run(async |c, tenant| attack::of_cases(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, pairs))
    }
}

/// The statuses a case in each status may move to, in workflow order.
pub struct AllowedNext(Scope);

impl Loader<i64> for AllowedNext {
    type Value = Arc<Vec<Status>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<Status>>>, GqlError> {
        let from: Vec<StatusId> = keys.iter().copied().map(StatusId).collect();
        let (pairs, targets) = self
            .0
            .run(async |c, tenant| {
                let pairs = status::allowed_next(c, tenant, &from).await?;
                let ids: Vec<StatusId> = pairs.iter().map(|&(_, to)| StatusId(to)).collect();
                Ok((pairs, status::find_many(c, tenant, &ids).await?))
            })
            .await?;
        let mut targets: Vec<Status> = targets.into_iter().filter(|s| !s.archived).collect();
        targets.sort_by_key(|s| (s.position, s.id.0));
        let ordered = targets
            .iter()
            .flat_map(|t| pairs.iter().filter(move |&&(_, to)| to == t.id.0).map(move |&(from, _)| (from, t.clone())));
        Ok(group_shared(keys, ordered))
    }
}

/// First pages of cases' attachments: one batch per distinct page size.
pub struct NewestAttachments(Scope);

impl Loader<NewestKey> for NewestAttachments {
    type Value = Arc<Vec<Attachment>>;
    type Error = GqlError;

    async fn load(&self, keys: &[NewestKey]) -> Result<HashMap<NewestKey, Arc<Vec<Attachment>>>, GqlError> {
        let mut pages = HashMap::new();
        for (limit, case_ids) in group(keys.iter().map(|k| (k.limit, CaseId(k.case_id)))) {
            let rows =
                self.0.run(async |c, tenant| attachment::newest_of_cases(c, tenant, &case_ids, limit).await).await?;
            let cases: Vec<NewestKey> = case_ids.iter().map(|id| NewestKey { case_id: id.0, limit }).collect();
            pages
                .extend(group_shared(&cases, rows.into_iter().map(|a| (NewestKey { case_id: a.case_id.0, limit }, a))));
        }
        Ok(pages)
    }
}

/// How many attachments each case has.
pub struct AttachmentCounts(Scope);

impl Loader<i64> for AttachmentCounts {
    type Value = i64;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, i64>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let counts = self.0.run(async |c, tenant| attachment::counts_of_cases(c, tenant, &ids).await).await?;
        let mut by_case: HashMap<i64, i64> = keys.iter().map(|&k| (k, 0)).collect();
        by_case.extend(counts);
        Ok(by_case)
    }
}

/// The newest downloads of an attachment, `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DownloadsKey {
    pub attachment_id: i64,
    pub limit: i64,
}

/// Downloads of a page of attachments: one statement per distinct size.
pub struct NewestDownloads(Scope);

impl Loader<DownloadsKey> for NewestDownloads {
    type Value = Arc<Vec<Download>>;
    type Error = GqlError;

    async fn load(&self, keys: &[DownloadsKey]) -> Result<HashMap<DownloadsKey, Arc<Vec<Download>>>, GqlError> {
        let mut logs = HashMap::new();
        for (limit, ids) in group(keys.iter().map(|k| (k.limit, AttachmentId(k.attachment_id)))) {
            let rows = self.0.run(async |c, tenant| attachment::downloads_of(c, tenant, &ids, limit).await).await?;
            let asked: Vec<DownloadsKey> = ids.iter().map(|id| DownloadsKey { attachment_id: id.0, limit }).collect();
            let keyed = rows.into_iter().map(|d| (DownloadsKey { attachment_id: d.attachment_id, limit }, d));
            logs.extend(group_shared(&asked, keyed));
        }
        Ok(logs)
    }
}

/// The relations of each case, by the related case's number.
pub struct RelationsByCase(Scope);

impl Loader<i64> for RelationsByCase {
    type Value = Arc<Vec<Relation>>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Arc<Vec<Relation>>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let rows = self.0.run(async |c, tenant| relation::of_cases(c, tenant, &ids).await).await?;
        Ok(group_shared(keys, rows.into_iter().map(|r| (r.case_id, r))))
    }
}

/// How many child cases each case has, and how many of them are closed.
pub struct ChildrenCounts(Scope);

impl Loader<i64> for ChildrenCounts {
    type Value = (i64, i64);
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, (i64, i64)>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let counts = self.0.run(async |c, tenant| relation::children_of_cases(c, tenant, &ids).await).await?;
        let mut by_case: HashMap<i64, (i64, i64)> = keys.iter().map(|&k| (k, (0, 0))).collect();
        by_case.extend(counts.into_iter().map(|(case, children, closed)| (case, (children, closed))));
        Ok(by_case)
    }
}
