//! DataLoaders for every nested relation, batched per request and scoped to
//! the caller's tenant: a page of cases costs a few statements, not one per case.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::db::Db;
use crate::domain::case::{self, Case, CaseId};
use crate::domain::incident::{self, Incident, IncidentId};
use crate::domain::status::{self, Status, StatusId};
use crate::domain::task::{self, Task, TaskId};
use crate::domain::user::{self, User};
use crate::error::{AppResult, GqlError};

/// The database and tenant every loader of one request reads.
#[derive(Clone)]
pub struct Scope {
    db: Db,
    tenant: Arc<str>,
}

/// The loaders of one request.
pub struct Loaders {
    pub statuses: DataLoader<StatusLoader>,
    pub users: DataLoader<UserLoader>,
    pub cases: DataLoader<CaseLoader>,
    pub tasks: DataLoader<TaskLoader>,
    pub incidents: DataLoader<IncidentLoader>,
    pub tasks_by_case: DataLoader<TasksByCase>,
    pub incidents_by_case: DataLoader<IncidentsByCase>,
    pub cases_by_incident: DataLoader<CaseIdsByIncident>,
}

impl Loaders {
    pub fn new(db: Db, tenant: &str) -> Self {
        let scope = Scope { db, tenant: tenant.into() };
        Loaders {
            statuses: DataLoader::new(StatusLoader(scope.clone()), tokio::spawn),
            users: DataLoader::new(UserLoader(scope.clone()), tokio::spawn),
            cases: DataLoader::new(CaseLoader(scope.clone()), tokio::spawn),
            tasks: DataLoader::new(TaskLoader(scope.clone()), tokio::spawn),
            incidents: DataLoader::new(IncidentLoader(scope.clone()), tokio::spawn),
            tasks_by_case: DataLoader::new(TasksByCase(scope.clone()), tokio::spawn),
            incidents_by_case: DataLoader::new(IncidentsByCase(scope.clone()), tokio::spawn),
            cases_by_incident: DataLoader::new(CaseIdsByIncident(scope), tokio::spawn),
        }
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

/// Groups `(key, value)` pairs by key, keeping their order.
fn group<K: std::hash::Hash + Eq, V>(pairs: impl IntoIterator<Item = (K, V)>) -> HashMap<K, Vec<V>> {
    let mut groups: HashMap<K, Vec<V>> = HashMap::new();
    for (key, value) in pairs {
        groups.entry(key).or_default().push(value);
    }
    groups
}

/// The tasks of each case.
pub struct TasksByCase(Scope);

impl Loader<i64> for TasksByCase {
    type Value = Vec<Task>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<Task>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let tasks = self.0.run(async |c, tenant| task::of_cases(c, tenant, &ids).await).await?;
        Ok(group(tasks.into_iter().map(|t| (t.case_id, t))))
    }
}

/// The incidents linked to each case.
pub struct IncidentsByCase(Scope);

impl Loader<i64> for IncidentsByCase {
    type Value = Vec<Incident>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<Incident>>, GqlError> {
        let ids: Vec<CaseId> = keys.iter().copied().map(CaseId).collect();
        let pairs = self.0.run(async |c, tenant| incident::of_cases(c, tenant, &ids).await).await?;
        Ok(group(pairs))
    }
}

/// The ids of the cases each incident is linked to.
pub struct CaseIdsByIncident(Scope);

impl Loader<i64> for CaseIdsByIncident {
    type Value = Vec<i64>;
    type Error = GqlError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<i64>>, GqlError> {
        let ids: Vec<IncidentId> = keys.iter().copied().map(IncidentId).collect();
        let pairs = self.0.run(async |c, tenant| incident::case_ids_of(c, tenant, &ids).await).await?;
        Ok(group(pairs))
    }
}
