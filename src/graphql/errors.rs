//! Errors as a GraphQL client sees them: every [`AppError`] mapped once to
//! its `extensions.code` and a message that keeps internal details in the
//! log; errors raised before any resolver runs (syntax, validation, variable
//! coercion such as an unknown enum value) come from async-graphql without a
//! code, and are all the client's input.

use async_graphql::{ErrorExtensions, Response, ServerError};

use crate::error::AppError;

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

impl AppError {
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
            | AppError::WriteBusy(_)
            | AppError::TimedOut(_)
            | AppError::NotConfigured(_)
            | AppError::StoreUnavailable(_)
            | AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the client may read: internal details stay in the log.
    pub(crate) fn public_message(&self) -> String {
        match self {
            // Saturation and time limits say so: they are the client's cue to
            // retry; what the operator must configure is said too.
            AppError::Busy(_)
            | AppError::WriteBusy(_)
            | AppError::TimedOut(_)
            | AppError::NotConfigured(_)
            | AppError::StoreUnavailable(_)
            | AppError::StorageFull(_) => self.to_string(),
            _ if self.code() == ErrorCode::Internal => "internal error".to_owned(),
            _ => self.to_string(),
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if self.code() == ErrorCode::Internal {
            tracing::error!(error = %self, cause = ?std::error::Error::source(self), "request failed");
        }
        async_graphql::Error::new(self.public_message()).extend_with(|_, ext| {
            ext.set("code", self.code().as_str());
            if let AppError::RateLimited { retry_after_secs, .. } = self {
                ext.set("retryAfter", *retry_after_secs);
            }
        })
    }
}

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

pub fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        ensure_code(error);
    }
    response
}

pub fn ensure_code(error: &mut ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", ErrorCode::BadUserInput.as_str());
    }
}

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
        assert_eq!(code_of(AppError::Forbidden("ALERTS_MANAGE")), "FORBIDDEN");
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
        let gql: async_graphql::Error = GqlError::from(AppError::from(full)).into();
        assert!(gql.message.contains("cannot store data right now") && gql.message.contains("retry later"));
    }

    #[test]
    fn bad_input_names_the_field() {
        let gql: async_graphql::Error = GqlError::from(AppError::bad_input("title", "must not be blank")).into();
        assert_eq!(gql.message, "title: must not be blank");
    }
}
