//! One error type for the whole service, mapped once to GraphQL's `extensions.code`.

use async_graphql::ErrorExtensions;

use crate::auth::Permission;

/// The codes a client sees in `extensions.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    RateLimited,
    Internal,
    /// Apollo's automatic persisted queries: the hash is not known yet.
    PersistedQueryNotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("this requires the permission {0}")]
    Forbidden(Permission),
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
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        AppError::NotFound { entity, id: id.to_string() }
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput { field: field.into(), message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(message.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AppError::Forbidden(_) | AppError::Undeclared(_) => ErrorCode::Forbidden,
            AppError::RateLimited { .. } => ErrorCode::RateLimited,
            AppError::NotFound { .. } => ErrorCode::NotFound,
            AppError::BadInput { .. } => ErrorCode::BadUserInput,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::Database(_)
            | AppError::StorageFull(_)
            | AppError::Connection(_)
            | AppError::Pool(_)
            | AppError::Busy(_)
            | AppError::TimedOut(_)
            | AppError::NotConfigured(_)
            | AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the client may read: internal details stay in the log.
    fn public_message(&self) -> String {
        match self {
            // Saturation and time limits say so: they are the client's cue to
            // retry; what the operator must configure is said too.
            AppError::Busy(_) | AppError::TimedOut(_) | AppError::NotConfigured(_) | AppError::StorageFull(_) => {
                self.to_string()
            }
            _ if self.code() == ErrorCode::Internal => "internal error".to_owned(),
            _ => self.to_string(),
        }
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

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        match error {
            deadpool::managed::PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
                AppError::Busy(crate::db::POOL_WAIT.as_secs())
            }
            other => AppError::Pool(other),
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if self.code() == ErrorCode::Internal {
            tracing::error!(error = %self, "request failed");
        }
        async_graphql::Error::new(self.public_message()).extend_with(|_, ext| {
            ext.set("code", self.code().as_str());
            if let AppError::RateLimited { retry_after_secs, .. } = self {
                ext.set("retryAfter", *retry_after_secs);
            }
        })
    }
}

/// Result of domain code.
pub type AppResult<T> = Result<T, AppError>;

/// The error resolvers return: an [`AppError`] already mapped to its client
/// form. It deliberately has no `Display`, so async-graphql's blanket
/// conversion (which would drop the code) cannot apply and `?` on an
/// `AppError` always goes through [`ErrorExtensions::extend`].
#[derive(Clone, Debug)]
pub struct GqlError(async_graphql::Error);

impl From<AppError> for GqlError {
    fn from(error: AppError) -> Self {
        GqlError(error.extend())
    }
}

impl From<GqlError> for async_graphql::Error {
    fn from(error: GqlError) -> Self {
        error.0
    }
}

/// Result of a resolver: every error carries its code.
pub type GqlResult<T> = Result<T, GqlError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(error: AppError) -> String {
        let gql: async_graphql::Error = GqlError::from(error).into();
        let ext = gql.extensions.expect("extensions are set");
        match ext.get("code") {
            Some(async_graphql::Value::String(code)) => code.clone(),
            other => panic!("unexpected code {other:?}"),
        }
    }

    #[test]
    fn each_variant_maps_to_its_code() {
        assert_eq!(code_of(AppError::Unauthenticated("no token".into())), "UNAUTHENTICATED");
        assert_eq!(code_of(AppError::Forbidden(Permission::AlertsManage)), "FORBIDDEN");
        assert_eq!(code_of(AppError::not_found("case", 1000)), "NOT_FOUND");
        assert_eq!(code_of(AppError::bad_input("title", "must not be blank")), "BAD_USER_INPUT");
        assert_eq!(code_of(AppError::Conflict("stale".into())), "CONFLICT");
        assert_eq!(code_of(AppError::Database(diesel::result::Error::NotFound)), "INTERNAL");
    }

    #[test]
    fn internal_details_are_not_sent() {
        let gql: async_graphql::Error = GqlError::from(AppError::internal("password=hunter2 leaked")).into();
        assert_eq!(gql.message, "internal error");
    }

    #[test]
    fn a_pool_that_has_no_connection_in_time_says_the_service_is_busy() {
        use deadpool::managed::{PoolError, TimeoutType};
        let error = AppError::from(PoolError::Timeout(TimeoutType::Wait));
        assert!(matches!(error, AppError::Busy(_)));
        let gql: async_graphql::Error = GqlError::from(error).into();
        assert_eq!(gql.message, "the service is busy (no database connection within 5 s); retry shortly");
        assert_eq!(code_of(AppError::from(PoolError::Timeout(TimeoutType::Create))), "INTERNAL");
        assert_eq!(
            code_of(AppError::RateLimited { cost: 1, remaining: 0, limit: 5, retry_after_secs: 12 }),
            "RATE_LIMITED"
        );
    }

    #[test]
    fn a_full_disk_says_so_and_to_retry() {
        let full = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_owned()),
        );
        let error = AppError::from(full);
        assert!(error.is_storage_full());
        let gql: async_graphql::Error = GqlError::from(error).into();
        assert!(gql.message.contains("cannot store data right now") && gql.message.contains("retry later"));
        assert!(!AppError::from(diesel::result::Error::NotFound).is_storage_full());
    }

    #[test]
    fn bad_input_names_the_field() {
        let gql: async_graphql::Error = GqlError::from(AppError::bad_input("title", "must not be blank")).into();
        assert_eq!(gql.message, "title: must not be blank");
    }
}
