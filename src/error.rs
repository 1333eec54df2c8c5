//! One error type for the whole service; the GraphQL layer maps it once to
//! `extensions.code` (`graphql/errors.rs`).

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller lacks this permission (its contract name).
    #[error("this requires the permission {0}")]
    Forbidden(&'static str),
    /// A root field whose requirement cannot be read: refused, never guessed.
    #[error("{0}; refused")]
    Undeclared(String),
    #[error(
        "rate limit exceeded: this operation costs {cost} points and {remaining} of {limit} per minute remain; retry in {retry_after_secs} s"
    )]
    RateLimited { cost: u64, remaining: u64, limit: u64, retry_after_secs: u64 },
    /// The pool had no connection in time: the service is saturated.
    #[error("the service is busy (no database connection within {0} s); retry shortly")]
    Busy(u64),
    /// A write waited its whole bound for its turn (SQLite's one writer).
    #[error("the service is busy (no turn to write within {0} s); retry shortly")]
    WriteBusy(u64),
    #[error("the request took longer than {0} s and was stopped")]
    TimedOut(u64),
    /// The operator has not configured what this needs (the message says what).
    #[error("{0}")]
    NotConfigured(String),
    #[error("{entity} {id} does not exist")]
    NotFound { entity: &'static str, id: String },
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[source] diesel::result::Error),
    /// The database cannot grow: its disk (or its SQLite file's) is full.
    #[error("the service cannot store data right now: its storage is full; nothing was changed, retry later")]
    StorageFull(#[source] diesel::result::Error),
    #[error("database connection error: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("database pool error: {0}")]
    Pool(diesel_async::pooled_connection::deadpool::PoolError),
    /// The attachment store did not answer or refused (the log has why).
    #[error("the attachment store is unavailable; nothing was changed, retry later")]
    StoreUnavailable(#[source] Box<crate::store::StoreError>),
    /// A failure of ours, with its cause (`{:#}` prints the whole chain).
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl AppError {
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        AppError::NotFound { entity, id: id.to_string() }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput { field: field.into(), message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(anyhow::Error::msg(message.into()))
    }

    /// An internal failure caused by `source`, saying what was being done.
    pub fn internal_from(
        context: impl std::fmt::Display + Send + Sync + 'static,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        AppError::Internal(anyhow::Error::new(source).context(context))
    }

    /// True when this is a violation of exactly this unique constraint: by its
    /// name on PostgreSQL, by its columns on SQLite (which names only those),
    /// so a race on another constraint is not mistaken for it.
    pub fn violates(&self, constraint: &UniqueConstraint) -> bool {
        let AppError::Database(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        )) = self
        else {
            return false;
        };
        match info.constraint_name() {
            Some(name) => name == constraint.name,
            None => info.message().strip_prefix("UNIQUE constraint failed: ") == Some(constraint.sqlite_columns),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    /// A database error; one that says the storage is full is told apart,
    /// so the client learns to retry later and readiness reports it.
    fn from(error: diesel::result::Error) -> Self {
        if is_storage_full(&error) { AppError::StorageFull(error) } else { AppError::Database(error) }
    }
}

/// SQLite's SQLITE_FULL ("database or disk is full"), and PostgreSQL's
/// disk_full class (53100: "could not extend file", "could not write to
/// file ...: No space left on device").
fn is_storage_full(error: &diesel::result::Error) -> bool {
    let message = match error {
        diesel::result::Error::DatabaseError(_, info) => info.message().to_owned(),
        other => other.to_string(),
    };
    ["database or disk is full", "No space left on device", "could not extend file"]
        .iter()
        .any(|sign| message.contains(sign))
}

impl AppError {
    /// Whether a rule refused the caller's input (bad input, a missing
    /// entity, a conflict), as opposed to the service failing: a bulk change
    /// reports a refusal per case and stops on a failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AppError::BadInput { .. } | AppError::NotFound { .. } | AppError::Conflict(_))
    }

    /// Whether this says the storage is full.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, AppError::StorageFull(_))
    }
}

/// A unique constraint as each backend reports it.
pub struct UniqueConstraint {
    /// Its name in the PostgreSQL migrations.
    pub name: &'static str,
    /// What SQLite says instead: `table.column, table.column`.
    pub sqlite_columns: &'static str,
}

/// Result of domain code.
pub type AppResult<T> = Result<T, AppError>;

/// Turns any error into an internal one that keeps it as its cause.
pub trait OrInternal<T> {
    /// `context` says what was being done ("encoding audit changes").
    fn or_internal(self, context: impl std::fmt::Display + Send + Sync + 'static) -> AppResult<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> OrInternal<T> for Result<T, E> {
    fn or_internal(self, context: impl std::fmt::Display + Send + Sync + 'static) -> AppResult<T> {
        self.map_err(|source| AppError::internal_from(context, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_apart() {
        let full = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_owned()),
        );
        assert!(AppError::from(full).is_storage_full());
        assert!(!AppError::from(diesel::result::Error::NotFound).is_storage_full());
    }

    #[test]
    fn an_internal_error_keeps_its_cause() {
        let cause = serde_json::from_str::<u32>("x").unwrap_err();
        let error = AppError::internal_from("reading a rule", cause);
        assert!(error.to_string().starts_with("reading a rule: expected value"), "{error}");
        let AppError::Internal(inner) = &error else { panic!("{error:?}") };
        assert_eq!(inner.chain().count(), 2, "the context and its cause");
    }
}
