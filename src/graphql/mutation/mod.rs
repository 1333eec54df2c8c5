//! Mutation root, merged from one object per entity. Each mutation runs in
//! one write transaction that holds the change and its audit.

mod status;
mod user;

use async_graphql::{MaybeUndefined, MergedObject};

use crate::error::{AppError, AppResult};

/// Change the tenant's data.
#[derive(MergedObject, Default)]
pub struct Mutation(status::StatusMutation, user::UserMutation);

/// For a field that can be changed but not cleared: absent leaves it alone,
/// `null` is refused.
pub(crate) fn unclearable<T>(field: &str, value: MaybeUndefined<T>) -> AppResult<Option<T>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(field, "cannot be null")),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// For a clearable field: absent is `None`, `null` is `Some(None)`.
pub(crate) fn clearable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
