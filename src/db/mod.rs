//! The database layer: one pool type over SQLite and PostgreSQL, so every query
//! is written once (see [`with_conn!`]) and type-checked for both backends.

pub mod common_cases;
pub mod explain;
mod journal;
mod migrations;
mod percentile;
pub mod planner;
pub mod postgres;
mod reused;
pub mod schema;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::SqliteConnection;
use diesel::connection::{AnsiTransactionManager, Instrumentation, InstrumentationEvent};
use diesel_async::pooled_connection::PoolError;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection, TransactionManager};
use futures_util::FutureExt;

use crate::config::DatabaseUrl;
use crate::error::{AppError, OrInternal};

pub use journal::{Journal, Reactions};
pub use migrations::{SEARCH_MIGRATION, SLA_SCHEDULE_MIGRATION, run_migrations};
pub use reused::{Reused, reused};

/// The embedded backend's connection: diesel's synchronous SQLite connection,
/// driven on tokio's blocking pool.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// A borrowed connection of either backend. Domain code receives this and
/// runs each query through [`with_conn!`]. Inside a write transaction it also
/// records which cases the change touched (see [`Conn::changed`]) and what
/// happened (see [`Conn::record`]).
pub struct Conn<'a> {
    pub link: Link<'a>,
    written: Option<&'a mut Written>,
}

/// The concrete connection behind a [`Conn`].
pub enum Link<'a> {
    Postgres(&'a mut AsyncPgConnection),
    Sqlite(&'a mut SqliteConn),
}

/// What a write transaction has written so far: the cases whose activity
/// grew (told to watchers on commit) and the facts its reactions follow.
#[derive(Default)]
struct Written {
    changed: ChangedCases,
    journal: Journal,
    /// Cases the reactions changed after the write (what the write returns
    /// of them is older).
    reacted: ChangedCases,
    /// The bulk change or merge being written: the audit entries written
    /// meanwhile name it.
    operation: Option<String>,
    /// Settings read once for a bulk change or merge (see [`Conn::remember`]);
    /// `None` outside them.
    memo: Option<Memo>,
}

/// Reads kept for the rest of a transaction, by the type of their key and value.
type Memo = std::collections::HashMap<std::any::TypeId, Box<dyn std::any::Any + Send>>;

/// A point inside a write transaction to roll back to, with what it had
/// recorded by then.
#[must_use = "a savepoint is released or rolled back to"]
pub struct Savepoint {
    facts: usize,
}

impl<'a> Conn<'a> {
    fn new(link: Link<'a>, written: Option<&'a mut Written>) -> Self {
        Conn { link, written }
    }

    fn written(&mut self, what: &str) -> Result<&mut Written, AppError> {
        self.written.as_deref_mut().ok_or_else(|| AppError::internal(format!("{what} outside a write transaction")))
    }

    /// Records that this transaction added to a case's activity log, so
    /// watchers hear of it once the transaction commits. Fails outside a write
    /// transaction: an entry written there would reach nobody.
    pub fn changed(&mut self, tenant: &str, case_id: i64) -> Result<(), AppError> {
        let changed = &mut self.written("activity was written")?.changed;
        if !changed.iter().any(|c| c.case_id == case_id && *c.tenant == *tenant) {
            changed.push(ChangedCase { tenant: tenant.into(), case_id });
        }
        Ok(())
    }

    /// Records that this transaction added to the tenant's incident ingestion
    /// log, so `incidentIngested` watchers hear of it once it commits.
    pub fn ingested(&mut self, tenant: &str) -> Result<(), AppError> {
        self.changed(tenant, INGESTION_LOG)
    }

    /// Records that a reaction (an automation rule) changed a case after the
    /// write that returns it.
    pub fn reacted(&mut self, tenant: &str, case_id: i64) -> Result<(), AppError> {
        let reacted = &mut self.written("a reaction")?.reacted;
        if !reacted.iter().any(|c| c.case_id == case_id && *c.tenant == *tenant) {
            reacted.push(ChangedCase { tenant: tenant.into(), case_id });
        }
        Ok(())
    }

    /// A read this transaction remembered (see [`Conn::remember`]).
    pub fn recall<K, V>(&self, key: &K) -> Option<V>
    where
        K: std::hash::Hash + Eq + Send + 'static,
        V: Clone + Send + 'static,
    {
        let memo = self.written.as_deref()?.memo.as_ref()?;
        let map = memo.get(&std::any::TypeId::of::<std::collections::HashMap<K, V>>())?;
        map.downcast_ref::<std::collections::HashMap<K, V>>()?.get(key).cloned()
    }

    /// Keeps a read of the tenant's settings (statuses, workflow, SLA
    /// policies, users, webhooks, rules) for the rest of the transaction when
    /// it changes many cases (a bulk change or merge: [`Conn::begin_operation`]);
    /// outside them nothing is kept. Only reads that the transaction's own
    /// writes cannot change belong here: no case change or reaction writes
    /// these. A rollback to a savepoint forgets them all.
    pub fn remember<K, V>(&mut self, key: K, value: &V)
    where
        K: std::hash::Hash + Eq + Send + 'static,
        V: Clone + Send + 'static,
    {
        use std::collections::HashMap;
        let Some(memo) = self.written.as_deref_mut().and_then(|w| w.memo.as_mut()) else { return };
        let map =
            memo.entry(std::any::TypeId::of::<HashMap<K, V>>()).or_insert_with(|| Box::new(HashMap::<K, V>::new()));
        if let Some(map) = map.downcast_mut::<HashMap<K, V>>() {
            map.insert(key, value.clone());
        }
    }

    /// Names the bulk change or merge that what follows belongs to (until
    /// [`Conn::end_operation`]): its audit entries carry the id.
    pub fn begin_operation(&mut self, id: &str) -> Result<(), AppError> {
        let written = self.written("an operation")?;
        written.operation = Some(id.to_owned());
        written.memo.get_or_insert_default();
        Ok(())
    }

    /// Ends the operation [`Conn::begin_operation`] named: reactions that
    /// follow are not part of it.
    pub fn end_operation(&mut self) {
        if let Some(written) = self.written.as_deref_mut() {
            written.operation = None;
        }
    }

    /// The bulk change or merge being written, if any.
    pub fn operation(&self) -> Option<String> {
        self.written.as_deref().and_then(|w| w.operation.clone())
    }

    /// Records what a write did, for the reactions that run before commit.
    pub fn record<T: std::any::Any + Send>(&mut self, fact: T) -> Result<(), AppError> {
        self.written("a fact was recorded")?.journal.record(fact);
        Ok(())
    }

    /// How many facts the transaction has recorded so far: a write that
    /// changed nothing records none.
    pub fn facts_recorded(&self) -> usize {
        self.written.as_deref().map_or(0, |w| w.journal.len())
    }

    /// Takes the facts recorded so far (the reactions' side).
    pub fn take_facts(&mut self) -> Vec<journal::Fact> {
        self.written.as_deref_mut().map(|w| w.journal.take()).unwrap_or_default()
    }

    /// Opens a savepoint inside the write transaction.
    pub async fn savepoint(&mut self) -> Result<Savepoint, AppError> {
        let facts = self.written("a savepoint")?.journal.len();
        match &mut self.link {
            Link::Postgres(c) => {
                <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(*c).await?
            }
            Link::Sqlite(c) => <SqliteConn as AsyncConnection>::TransactionManager::begin_transaction(*c).await?,
        }
        Ok(Savepoint { facts })
    }

    /// Keeps what was written since the savepoint.
    pub async fn release(&mut self, _savepoint: Savepoint) -> Result<(), AppError> {
        match &mut self.link {
            Link::Postgres(c) => {
                <AsyncPgConnection as AsyncConnection>::TransactionManager::commit_transaction(*c).await?
            }
            Link::Sqlite(c) => <SqliteConn as AsyncConnection>::TransactionManager::commit_transaction(*c).await?,
        }
        Ok(())
    }

    /// Undoes what was written since the savepoint, and forgets what was
    /// recorded of it. (Cases told as changed stay told: a watcher that
    /// looks finds nothing new.)
    pub async fn roll_back_to(&mut self, savepoint: Savepoint) -> Result<(), AppError> {
        match &mut self.link {
            Link::Postgres(c) => {
                <AsyncPgConnection as AsyncConnection>::TransactionManager::rollback_transaction(*c).await?
            }
            Link::Sqlite(c) => <SqliteConn as AsyncConnection>::TransactionManager::rollback_transaction(*c).await?,
        }
        let written = self.written("a savepoint")?;
        written.journal.truncate(savepoint.facts);
        if let Some(memo) = &mut written.memo {
            memo.clear();
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.link, Link::Postgres(_))
    }

    /// Now on the database's clock, for work that replicas share through
    /// rows (leases): replicas' own clocks may disagree. SQLite is served by
    /// one process, whose clock is the database's.
    pub async fn clock(&mut self) -> Result<chrono::NaiveDateTime, AppError> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Now {
            #[diesel(sql_type = diesel::sql_types::Timestamp)]
            now: chrono::NaiveDateTime,
        }
        match &mut self.link {
            Link::Postgres(c) => {
                let row: Now =
                    diesel::sql_query("SELECT CAST(clock_timestamp() AT TIME ZONE 'UTC' AS timestamp) AS now")
                        .get_result(*c)
                        .await?;
                Ok(to_micros(row.now))
            }
            Link::Sqlite(_) => Ok(to_micros(chrono::Utc::now().naive_utc())),
        }
    }
}

/// A time at the microsecond precision both databases keep, so values read
/// back compare equal to what was written.
pub fn to_micros(at: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    at.with_nanosecond(at.nanosecond() / 1_000 * 1_000).unwrap_or(at)
}

/// A statement written with PostgreSQL's numbered placeholders (`$1`, each
/// bound once however often it is named), for the connection at hand:
/// SQLite takes the same numbers as `?1`.
pub fn numbered(sql: &str, postgres: bool) -> std::borrow::Cow<'_, str> {
    if postgres { std::borrow::Cow::Borrowed(sql) } else { std::borrow::Cow::Owned(sql.replace('$', "?")) }
}

/// Placeholders for a statement built at run time, numbered in the order
/// values are bound: `$1, $2, …` on PostgreSQL, `?1, ?2, …` on SQLite.
pub struct Placeholders {
    postgres: bool,
    bound: usize,
}

impl Placeholders {
    pub fn new(postgres: bool) -> Self {
        Placeholders { postgres, bound: 0 }
    }

    /// The placeholder of the next value bound.
    pub fn bind(&mut self) -> String {
        self.bound += 1;
        if self.postgres { format!("${}", self.bound) } else { format!("?{}", self.bound) }
    }

    /// The next `count`, comma-separated (an `IN` list).
    pub fn list(&mut self, count: usize) -> String {
        (0..count).map(|_| self.bind()).collect::<Vec<_>>().join(", ")
    }
}

/// A case whose activity grew in a committed transaction. Also the payload of
/// the `NOTIFY` that tells other replicas (short keys: it is sent per change).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangedCase {
    #[serde(rename = "t")]
    pub tenant: std::sync::Arc<str>,
    #[serde(rename = "c")]
    pub case_id: i64,
}

/// The `case_id` a [`ChangedCase`] carries when what grew is the tenant's
/// incident ingestion log rather than a case's activity (no case has it:
/// case numbers start at 1000).
pub const INGESTION_LOG: i64 = 0;

type ChangedCases = Vec<ChangedCase>;

/// The PostgreSQL channel a write transaction notifies for each case it
/// changed; every replica listens on it.
pub const ACTIVITY_CHANNEL: &str = "casebook_activity";

/// Runs `$body` with `$c` bound to the concrete connection of whichever backend
/// `$conn` holds. The body is compiled once per backend.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match &mut ($conn).link {
            $crate::db::Link::Postgres(inner) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = inner;
                $body
            }
            $crate::db::Link::Sqlite(inner) => {
                let $c: &mut $crate::db::SqliteConn = inner;
                $body
            }
        }
    };
}

/// Batches of up to this many rows keep their `INSERT` prepared on
/// PostgreSQL (one statement text per row count; see [`reused`]): the small
/// batches every change writes (a case's tags, its links) skip a parse.
pub const REUSED_BATCH_ROWS: usize = 16;

/// Inserts many rows in one statement, optionally returning one column of each.
/// diesel-async cannot batch-insert on SQLite (diesel_async#277), so the SQLite
/// arm runs diesel's synchronous insert on the connection's blocking thread.
/// Row types need `#[diesel(treat_none_as_default_value = false)]`.
#[macro_export]
macro_rules! bulk_insert {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows.to_vec();
        match &mut ($conn).link {
            $crate::db::Link::Postgres(c) => {
                let few = rows.len() <= $crate::db::REUSED_BATCH_ROWS;
                let insert = ::diesel::insert_into($table).values(rows);
                if few {
                    ::diesel_async::RunQueryDsl::execute($crate::db::reused(insert), &mut **c).await.map(|_| ())
                } else {
                    ::diesel_async::RunQueryDsl::execute(insert, &mut **c).await.map(|_| ())
                }
            }
            $crate::db::Link::Sqlite(c) => {
                c.spawn_blocking(move |c| {
                    ::diesel::RunQueryDsl::execute(::diesel::insert_into($table).values(&rows), c).map(|_| ())
                })
                .await
            }
        }
    }};
    ($conn:expr, $table:expr, $rows:expr, returning $column:expr) => {{
        let rows = $rows.to_vec();
        match &mut ($conn).link {
            $crate::db::Link::Postgres(c) => {
                ::diesel_async::RunQueryDsl::get_results(
                    ::diesel::insert_into($table).values(rows).returning($column),
                    &mut **c,
                )
                .await
            }
            $crate::db::Link::Sqlite(c) => {
                c.spawn_blocking(move |c| {
                    ::diesel::RunQueryDsl::get_results(
                        ::diesel::insert_into($table).values(&rows).returning($column),
                        c,
                    )
                })
                .await
            }
        }
    }};
}

/// Which backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The connection pool of the configured backend, and a count of the SQL
/// statements its connections ran (so tests can hold the N+1 line).
#[derive(Clone)]
pub struct Db {
    pool: Pools,
    statements: StatementCounter,
    commits: CommitSubscribers,
    /// When a write last found the storage full; cleared when a write that
    /// recorded what it did commits, or readiness's probe write does.
    storage_full: StorageFull,
    /// What reacts to a write's facts before it commits (none: a write that
    /// records facts is refused).
    reactions: Option<Arc<dyn Reactions>>,
    /// Turns to write, on SQLite (see [`WriteTurns`]).
    turns: Option<WriteTurns>,
}

/// SQLite's writers, one at a time and in the order they asked: a write
/// takes its turn before its connection and `BEGIN IMMEDIATE`, so no write
/// of this process waits in SQLite's busy handler behind another of its
/// writes (that handler sleeps in growing steps and wakes in no order, so
/// some writes waited very long: docs/performance.md). Tokio's semaphore
/// grants permits first come, first served. Readers never take a turn (WAL).
/// The busy timeout stays for other processes that open the file.
#[derive(Clone)]
struct WriteTurns {
    turn: Arc<tokio::sync::Semaphore>,
    /// Writes waiting for their turn now.
    waiting: Arc<AtomicU64>,
}

/// One write counted as waiting, until it is dropped (also when the
/// request is cancelled while it waits).
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicU64) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WriteTurns {
    fn new() -> Self {
        WriteTurns { turn: Arc::new(tokio::sync::Semaphore::new(1)), waiting: Arc::default() }
    }

    /// Waits for this write's turn, at most [`WRITE_WAIT`].
    async fn take(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        let started = std::time::Instant::now();
        let waiting = Waiting::count(&self.waiting);
        let turn = tokio::time::timeout(WRITE_WAIT, Arc::clone(&self.turn).acquire_owned()).await;
        drop(waiting);
        metrics::histogram!("casebook_db_write_wait_seconds").record(started.elapsed().as_secs_f64());
        match turn {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(AppError::internal_from("waiting for a turn to write", closed)),
            Err(_) => Err(AppError::WriteBusy(WRITE_WAIT.as_secs())),
        }
    }
}

/// When a write last found the storage full, until one that recorded what
/// it did (or readiness's probe) commits again.
#[derive(Clone, Default)]
struct StorageFull(Arc<std::sync::Mutex<Option<std::time::Instant>>>);

impl StorageFull {
    fn set(&self, full: bool) {
        let mut since = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *since = if full { Some(std::time::Instant::now()) } else { None };
    }

    fn since(&self) -> Option<std::time::Instant> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Who hears, in this process, of the cases each committed write transaction
/// changed. (On PostgreSQL, replicas hear of them through `NOTIFY` instead.)
#[derive(Clone, Default)]
struct CommitSubscribers(Arc<std::sync::Mutex<Vec<tokio::sync::mpsc::UnboundedSender<ChangedCase>>>>);

impl CommitSubscribers {
    fn publish(&self, changed: &[ChangedCase]) {
        if changed.is_empty() {
            return;
        }
        let mut subscribers = self.0.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.retain(|s| changed.iter().all(|c| s.send(c.clone()).is_ok()));
    }
}

#[derive(Clone)]
enum Pools {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

type Pool<C> = deadpool::managed::Pool<CountingManager<C>>;
type Object<C> = deadpool::managed::Object<CountingManager<C>>;

/// Counts statements through diesel's instrumentation: every statement of
/// the pool, and those of the request that borrowed the connection.
#[derive(Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One connection's instrumentation: the pool's count, and the tally of the
/// request holding the connection (set at each checkout).
struct ConnectionCounter {
    pool: StatementCounter,
    borrower: Arc<std::sync::Mutex<Option<Arc<AtomicU64>>>>,
}

impl Instrumentation for ConnectionCounter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            self.pool.0.fetch_add(1, Ordering::Relaxed);
            if let Some(tally) = self.borrower.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                tally.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

tokio::task_local! {
    static REQUEST_STATEMENTS: Arc<AtomicU64>;
}

/// The SQL statements a piece of work ran on the connections it borrowed
/// (for the slow-operation log); readable while the work runs, or after it
/// was stopped.
#[derive(Clone, Default)]
pub struct StatementTally(Arc<AtomicU64>);

impl StatementTally {
    /// Runs `work`, counting its statements here.
    pub async fn count<F: Future>(&self, work: F) -> F::Output {
        REQUEST_STATEMENTS.scope(self.0.clone(), work).await
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `work`, counted in the tally of the task that calls this (for work a
/// request hands to a spawned task, such as a batch loader's).
pub fn within_current_count<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let tally = REQUEST_STATEMENTS.try_with(Arc::clone).ok();
    async move {
        match tally {
            Some(tally) => REQUEST_STATEMENTS.scope(tally, work).await,
            None => work.await,
        }
    }
}

/// A pooled connection and the slot naming who borrowed it.
pub struct Counted<C> {
    conn: C,
    borrower: Arc<std::sync::Mutex<Option<Arc<AtomicU64>>>>,
}

impl<C> std::ops::Deref for Counted<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> std::ops::DerefMut for Counted<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}

/// diesel-async's pool manager, with a statement counter on each connection.
pub struct CountingManager<C: 'static> {
    inner: AsyncDieselConnectionManager<C>,
    statements: StatementCounter,
}

impl<C> deadpool::managed::Manager for CountingManager<C>
where
    C: AsyncConnection + Send + Sync + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C, Error = PoolError>,
{
    type Type = Counted<C>;
    type Error = PoolError;

    async fn create(&self) -> Result<Counted<C>, PoolError> {
        let mut conn = self.inner.create().await?;
        let borrower = Arc::default();
        conn.set_instrumentation(ConnectionCounter { pool: self.statements.clone(), borrower: Arc::clone(&borrower) });
        Ok(Counted { conn, borrower })
    }

    async fn recycle(
        &self,
        counted: &mut Counted<C>,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<PoolError> {
        self.inner.recycle(&mut counted.conn, metrics).await
    }
}

/// Takes a connection, naming the current task's request (or nobody) as its
/// borrower, so its statements count toward that request.
async fn lend<C>(pool: &Pool<C>) -> Result<Object<C>, AppError>
where
    CountingManager<C>: deadpool::managed::Manager<Type = Counted<C>, Error = PoolError>,
{
    let counted = pool.get().await?;
    let tally = REQUEST_STATEMENTS.try_with(Arc::clone).ok();
    *counted.borrower.lock().unwrap_or_else(|p| p.into_inner()) = tally;
    Ok(counted)
}

/// How long a request waits for a pooled connection before it is told the
/// service is busy (instead of hanging).
pub const POOL_WAIT: Duration = Duration::from_secs(5);
/// The longest a write waits for its turn on SQLite (as long as SQLite's
/// busy handler waited before, for writers of other processes).
pub const WRITE_WAIT: Duration = Duration::from_secs(10);
/// The longest one PostgreSQL statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

// busy_timeout first: switching to WAL itself waits for a lock another connection may hold.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

impl Db {
    /// Builds the pool with the default size for the backend.
    pub fn connect(url: &DatabaseUrl) -> Result<Self, AppError> {
        Db::connect_with_pool_size(url, None)
    }

    /// Builds the pool; connections open lazily, so this does not touch the database.
    /// Without a size: 16 connections on PostgreSQL (a request's statements run
    /// one after another on one connection, so 16 serve 16 concurrent requests),
    /// 8 on SQLite (WAL: readers beside the one writer; more only queue on
    /// tokio's blocking threads).
    pub fn connect_with_pool_size(url: &DatabaseUrl, pool_size: Option<usize>) -> Result<Self, AppError> {
        let statements = StatementCounter::default();
        let pool = match url {
            DatabaseUrl::Postgres(url) => {
                let connector =
                    postgres::PgConnector::parse(url).map_err(|e| AppError::bad_input("database URL", e))?;
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                config.custom_setup = Box::new(move |_url: &str| {
                    let connector = connector.clone();
                    async move {
                        let mut conn = connector.connect().await?;
                        let timeout = format!("SET statement_timeout = {}", STATEMENT_TIMEOUT.as_millis());
                        conn.batch_execute(&timeout)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                // A broken connection shows on first use; a test query on every
                // checkout would cost a round trip per request.
                config.recycling_method = RecyclingMethod::Fast;
                let inner = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url.as_str(), config);
                let manager = CountingManager { inner, statements: statements.clone() };
                let pool = Pool::builder(manager)
                    .max_size(pool_size.unwrap_or(16))
                    .wait_timeout(Some(POOL_WAIT))
                    .create_timeout(Some(Duration::from_secs(10)))
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()
                    .or_internal("building the PostgreSQL pool")?;
                Pools::Postgres(pool)
            }
            DatabaseUrl::Sqlite(path) => {
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.custom_setup = Box::new(move |path: &str| {
                    let path = path.to_owned();
                    async move {
                        let mut conn = SqliteConn::establish(&path).await?;
                        conn.spawn_blocking(percentile::register)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        conn.batch_execute(SQLITE_PRAGMAS)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                config.recycling_method = RecyclingMethod::Fast;
                let inner = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path.to_string_lossy(), config);
                let manager = CountingManager { inner, statements: statements.clone() };
                let pool = Pool::builder(manager)
                    .max_size(pool_size.unwrap_or(8))
                    .wait_timeout(Some(POOL_WAIT))
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()
                    .or_internal("building the SQLite pool")?;
                Pools::Sqlite(pool)
            }
        };
        let turns = matches!(pool, Pools::Sqlite(_)).then(WriteTurns::new);
        Ok(Db {
            pool,
            statements,
            commits: CommitSubscribers::default(),
            storage_full: StorageFull::default(),
            reactions: None,
            turns,
        })
    }

    /// Registers what reacts to every write's facts, before it commits.
    pub fn reacting_with(mut self, reactions: Arc<dyn Reactions>) -> Self {
        self.reactions = Some(reactions);
        self
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pools::Postgres(_) => Backend::Postgres,
            Pools::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The cases each write transaction changed, sent after it commits.
    pub fn commits(&self) -> tokio::sync::mpsc::UnboundedReceiver<ChangedCase> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.commits.0.lock().unwrap_or_else(|p| p.into_inner()).push(sender);
        receiver
    }

    /// Writes waiting for their turn now (SQLite; always 0 on PostgreSQL).
    pub fn writes_waiting(&self) -> u64 {
        self.turns.as_ref().map_or(0, |t| t.waiting.load(Ordering::SeqCst))
    }

    /// SQL statements run so far through this pool's connections.
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }

    /// Takes a connection from the pool.
    pub async fn get(&self) -> Result<PooledConn, AppError> {
        let started = std::time::Instant::now();
        let (conn, status) = match &self.pool {
            Pools::Postgres(pool) => (PooledConn::Postgres(lend(pool).await?), pool.status()),
            Pools::Sqlite(pool) => (PooledConn::Sqlite(lend(pool).await?), pool.status()),
        };
        metrics::histogram!("casebook_db_pool_wait_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("casebook_db_pool_size").set(status.size as f64);
        metrics::gauge!("casebook_db_pool_in_use").set(status.size.saturating_sub(status.available) as f64);
        Ok(conn)
    }

    /// Begins a write transaction. On SQLite it first waits for its turn
    /// ([`WriteTurns`]), then begins IMMEDIATE, so a read-then-write
    /// transaction holds the lock from its first statement.
    pub async fn begin(&self) -> Result<WriteTx, AppError> {
        let turn = match &self.turns {
            Some(turns) => Some(turns.take().await?),
            None => None,
        };
        let mut pooled = self.get().await?;
        match &mut pooled {
            PooledConn::Postgres(c) => {
                <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(&mut ***c).await?
            }
            PooledConn::Sqlite(c) => {
                c.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")).await?
            }
        }
        Ok(WriteTx {
            pooled: Some(pooled),
            written: Written::default(),
            commits: self.commits.clone(),
            storage_full: self.storage_full.clone(),
            reactions: self.reactions.clone(),
            _turn: turn,
        })
    }

    /// Runs `write` in one write transaction: commits what it wrote when it
    /// succeeds (after the reactions to what it recorded), rolls it back
    /// when it fails, and returns its result.
    pub async fn write<T>(
        &self,
        write: impl for<'a, 'c> AsyncFnOnce(&'a mut Conn<'c>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut tx = self.begin().await?;
        let result = write(&mut tx.conn()).await;
        tx.finish(result).await
    }

    /// Since when writes have found the storage full (until one that recorded
    /// what it did commits): the service cannot store data, though it still reads.
    pub fn storage_full_since(&self) -> Option<std::time::Instant> {
        self.storage_full.since()
    }

    /// Refreshes the planner's statistics (after bulk loads).
    pub async fn analyze(&self) -> Result<(), AppError> {
        let mut pooled = self.get().await?;
        // PostgreSQL: VACUUM too, so a bulk load's dead rows (folded counts) are not scanned.
        let sql = if matches!(self.backend(), Backend::Postgres) { "VACUUM ANALYZE" } else { "ANALYZE" };
        with_conn!(pooled.conn(), c => c.batch_execute(sql).await)?;
        Ok(())
    }

    /// A write that changes nothing but needs room to be written (the
    /// tenants' first row rewritten as it is): a while after the storage was
    /// full, readiness tries it, so a replica taken out of service for a full
    /// disk comes back once space returns, without waiting for a client's write.
    pub async fn probe_write(&self) -> Result<(), AppError> {
        let mut tx = self.begin().await?;
        let sql = "UPDATE tenants SET next_case_id = next_case_id WHERE id IN (SELECT id FROM tenants LIMIT 1)";
        let result = with_conn!(tx.conn(), c => c.batch_execute(sql).await).map_err(AppError::from);
        tx.finish(result).await?;
        // It wrote a row: the storage has room again.
        self.storage_full.set(false);
        Ok(())
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), AppError> {
        let mut pooled = self.get().await?;
        with_conn!(pooled.conn(), c => c.batch_execute("SELECT 1").await)?;
        Ok(())
    }
}

/// A connection checked out of the pool; returns to it on drop.
// Lives for one request on the stack; boxing would add an allocation per checkout.
#[allow(clippy::large_enum_variant)]
pub enum PooledConn {
    Postgres(Object<AsyncPgConnection>),
    Sqlite(Object<SqliteConn>),
}

impl PooledConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Postgres(c) => Conn::new(Link::Postgres(c), None),
            PooledConn::Sqlite(c) => Conn::new(Link::Sqlite(c), None),
        }
    }
}

/// An open write transaction. Finish it with [`WriteTx::finish`]; if it is
/// dropped unfinished (a cancelled request), its connection is closed, not
/// returned to the pool, which rolls it back at once (before the next
/// writer's turn: an idle pooled connection would hold SQLite's lock).
///
/// It owns telling watchers: the cases its writes changed are announced with
/// `NOTIFY` inside the transaction on PostgreSQL (delivered only on commit),
/// and published in-process after commit on SQLite. No caller has to remember.
pub struct WriteTx {
    /// Back to the pool when the transaction ends; `None` after that. Still
    /// here when it is dropped unfinished, and then closed instead.
    pooled: Option<PooledConn>,
    written: Written,
    commits: CommitSubscribers,
    storage_full: StorageFull,
    reactions: Option<Arc<dyn Reactions>>,
    /// SQLite's turn to write, given back when the transaction ends (after
    /// its connection: fields drop in order).
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// `WriteTx::pooled` is taken only when the transaction ends (finish consumes it).
const OPEN_UNTIL_DROPPED: &str = "a write transaction keeps its connection until it ends";

impl Drop for WriteTx {
    fn drop(&mut self) {
        // Finished transactions gave their connection back already.
        match self.pooled.take() {
            Some(PooledConn::Postgres(c)) => drop(deadpool::managed::Object::take(c)),
            Some(PooledConn::Sqlite(c)) => drop(deadpool::managed::Object::take(c)),
            None => {}
        }
    }
}

impl WriteTx {
    fn pooled(&mut self) -> &mut PooledConn {
        self.pooled.as_mut().expect(OPEN_UNTIL_DROPPED)
    }

    pub fn conn(&mut self) -> Conn<'_> {
        let written = Some(&mut self.written);
        match self.pooled.as_mut().expect(OPEN_UNTIL_DROPPED) {
            PooledConn::Postgres(c) => Conn::new(Link::Postgres(c), written),
            PooledConn::Sqlite(c) => Conn::new(Link::Sqlite(c), written),
        }
    }

    /// Runs the registered reactions until nothing recorded is left.
    async fn react(&mut self) -> Result<(), AppError> {
        if self.written.journal.is_empty() {
            return Ok(());
        }
        let Some(reactions) = self.reactions.clone() else {
            return Err(AppError::internal("a write recorded facts but nothing reacts to them"));
        };
        reactions.react(&mut self.conn()).await?;
        if !self.written.journal.is_empty() {
            return Err(AppError::internal("a write's reactions left facts unanswered"));
        }
        Ok(())
    }

    /// `NOTIFY` for each changed case, inside the transaction, in one
    /// statement (a bulk change touches hundreds of cases).
    async fn notify(&mut self) -> Result<(), AppError> {
        use diesel::sql_types::{Array, Text};
        use diesel_async::RunQueryDsl;
        let open = self.pooled.as_mut().expect(OPEN_UNTIL_DROPPED);
        let PooledConn::Postgres(c) = open else { return Ok(()) };
        if self.written.changed.is_empty() {
            return Ok(());
        }
        let payloads = self
            .written
            .changed
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .or_internal("encoding a notice")?;
        let notify = diesel::sql_query("SELECT pg_notify($1, payload) FROM unnest($2) AS payload")
            .bind::<Text, _>(ACTIVITY_CHANNEL)
            .bind::<Array<Text>, _>(payloads);
        reused(notify).execute(&mut ***c).await?;
        Ok(())
    }

    /// Rolls back whatever the transaction wrote (a dry run).
    pub async fn rollback(self) -> Result<(), AppError> {
        match self.finish::<()>(Err(AppError::internal("rolled back on purpose"))).await {
            Err(AppError::Internal(_)) | Ok(()) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Like [`WriteTx::finish`], and returns the cases the reactions changed
    /// after the write: a write that returns a case reads those again.
    pub async fn finish_reacted<T>(mut self, result: Result<T, AppError>) -> Result<(T, Vec<ChangedCase>), AppError> {
        let result = match result {
            Ok(value) => self.react().await.map(|()| value),
            Err(error) => Err(error),
        };
        let reacted = std::mem::take(&mut self.written.reacted);
        Ok((self.finish(result).await?, reacted))
    }

    /// Commits when `result` is `Ok`, rolls back otherwise; returns `result`.
    /// Keeps the database's storage-full flag: set by a write (or commit)
    /// that found the storage full, cleared by the commit of one that
    /// recorded what it did. A transaction that wrote nothing (a background
    /// job finding no work) commits on a full disk too, and proves no room.
    pub async fn finish<T>(self, result: Result<T, AppError>) -> Result<T, AppError> {
        let storage_full = self.storage_full.clone();
        let recorded = !self.written.journal.is_empty();
        let finished = self.commit_or_roll_back(result).await;
        match &finished {
            Ok(_) if recorded => storage_full.set(false),
            Ok(_) => {}
            Err(error) if error.is_storage_full() => storage_full.set(true),
            Err(_) => {}
        }
        finished
    }

    async fn commit_or_roll_back<T>(mut self, result: Result<T, AppError>) -> Result<T, AppError> {
        let result = match result {
            Ok(value) => match self.react().await {
                Ok(()) => self.notify().await.map(|()| value),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        match result {
            Ok(value) => {
                match self.pooled() {
                    PooledConn::Postgres(c) => {
                        <AsyncPgConnection as AsyncConnection>::TransactionManager::commit_transaction(&mut ***c)
                            .await?
                    }
                    PooledConn::Sqlite(c) => {
                        <SqliteConn as AsyncConnection>::TransactionManager::commit_transaction(&mut ***c).await?;
                        self.commits.publish(&self.written.changed);
                    }
                }
                drop(self.pooled.take()); // back to the pool, clean
                Ok(value)
            }
            Err(error) => {
                let rollback = match self.pooled() {
                    PooledConn::Postgres(c) => {
                        <AsyncPgConnection as AsyncConnection>::TransactionManager::rollback_transaction(&mut ***c)
                            .await
                    }
                    PooledConn::Sqlite(c) => {
                        <SqliteConn as AsyncConnection>::TransactionManager::rollback_transaction(&mut ***c).await
                    }
                };
                match rollback {
                    Ok(()) => drop(self.pooled.take()),
                    Err(rollback_error) => {
                        tracing::warn!(error = %rollback_error, "rollback failed; the connection is discarded");
                    }
                }
                Err(error)
            }
        }
    }
}

/// A pool that had no connection in time is a busy service (retry shortly).
impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        match error {
            deadpool::managed::PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
                AppError::Busy(POOL_WAIT.as_secs())
            }
            other => AppError::Pool(other),
        }
    }
}

/// A JSON document kept in a TEXT column, read and written as `T`: the one
/// place stored JSON becomes a type (a document that does not parse fails
/// its row, as an unknown enum name does).
#[derive(Debug, Clone, PartialEq, Eq, Default, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Json<T: std::fmt::Debug>(pub T);

impl<T, DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for Json<T>
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
    T: serde::de::DeserializeOwned + std::fmt::Debug,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
        Ok(Json(serde_json::from_str(&text)?))
    }
}

impl<T: serde::Serialize + std::fmt::Debug> diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>
    for Json<T>
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>) -> diesel::serialize::Result {
        serde_json::to_writer(out, &self.0)?;
        Ok(diesel::serialize::IsNull::No)
    }
}

impl<T: serde::Serialize + std::fmt::Debug> diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite>
    for Json<T>
{
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
    ) -> diesel::serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(diesel::serialize::IsNull::No)
    }
}
