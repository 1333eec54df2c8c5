//! Gives every error a code: errors raised before any resolver runs (syntax,
//! validation, variable coercion such as an unknown enum value) come from
//! async-graphql without one, and are all the client's input.

use async_graphql::{Response, ServerError};

use crate::error::ErrorCode;

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
