//! Embedded migrations, one set per backend, applied by `serve` and `migrate`.

use diesel::{Connection, SqliteConnection};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::postgres::PgConnector;
use crate::config::DatabaseUrl;
use crate::error::{AppError, OrInternal};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any fixed number: replicas starting together take turns migrating.
const MIGRATION_LOCK: i64 = 0x6361_7365_626f_6f6b;

/// The migration that added search: a database that had data before it
/// must have that data indexed (see `server::migrate`).
pub const SEARCH_MIGRATION: &str = "20261127000004";

/// The migration that stored each case's SLA schedule: a database with
/// policies from before it has its cases' schedules computed then.
pub const SLA_SCHEDULE_MIGRATION: &str = "20261127000009";

/// Applies pending migrations and returns the versions that ran.
pub async fn run_migrations(url: &DatabaseUrl) -> Result<Vec<String>, AppError> {
    match url {
        DatabaseUrl::Postgres(url) => {
            let connector = PgConnector::parse(url).map_err(|e| AppError::bad_input("database URL", e))?;
            // The lock is held by its own session while another connection migrates.
            let mut lock = connector.connect().await?;
            lock.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).await?;
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(connector.connect().await?);
            let applied = tokio::task::spawn_blocking(move || apply(&mut conn, POSTGRES))
                .await
                .or_internal("migration task failed")??;
            lock.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).await?;
            Ok(applied)
        }
        DatabaseUrl::Sqlite(path) => {
            let path = path.to_string_lossy().into_owned();
            tokio::task::spawn_blocking(move || {
                let mut conn = SqliteConnection::establish(&path)?;
                // Timeout first: switching to WAL waits for locks other connections hold.
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;",
                )?;
                apply(&mut conn, SQLITE)
            })
            .await
            .or_internal("migration task failed")?
        }
    }
}

fn apply<B: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<B>,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, AppError> {
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|e| AppError::Internal(anyhow::Error::from_boxed(e).context("applying migrations")))?;
    for version in &applied {
        tracing::info!(%version, "migration applied");
    }
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}
