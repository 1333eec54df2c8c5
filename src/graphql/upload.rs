//! Files sent with an operation, as the GraphQL multipart request spec has
//! them (apollo-upload-client, urql, graphql-request): the HTTP layer
//! streams each file part to the store before the operation runs, and
//! leaves in the operation's variables a placeholder that the `Upload`
//! scalar reads and the resolver redeems for the staged file.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::domain::attachment::Staged;
use crate::error::{AppError, AppResult};

const PLACEHOLDER: &str = "casebook-upload:";

/// What the HTTP layer puts where the multipart request's `map` names a file.
pub fn placeholder(field: &str) -> String {
    format!("{PLACEHOLDER}{field}")
}

/// A file of a multipart request (the spec's `Upload` scalar).
pub struct Upload(String);

/// A file sent with the operation: a part of a `multipart/form-data` request
/// (the GraphQL multipart request spec), named by the request's `map`. A
/// request without the part cannot give one.
#[Scalar(name = "Upload")]
impl ScalarType for Upload {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) if text.starts_with(PLACEHOLDER) => Ok(Upload(text[PLACEHOLDER.len()..].to_owned())),
            _ => Err(InputValueError::custom(
                "an Upload is a file sent as a part of a multipart request (the GraphQL multipart request spec)",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(placeholder(&self.0))
    }
}

/// The files of one request, staged in the store, until resolvers take them.
#[derive(Default)]
pub struct Uploads(Mutex<HashMap<String, Staged>>);

impl Uploads {
    pub fn new(files: HashMap<String, Staged>) -> Self {
        Uploads(Mutex::new(files))
    }

    /// The staged file an `Upload` names; each is taken once.
    pub fn take(&self, upload: &Upload) -> AppResult<Staged> {
        let mut files = self.0.lock().unwrap_or_else(|p| p.into_inner());
        files.remove(&upload.0).ok_or_else(|| {
            AppError::bad_input("file", "no file was sent for this Upload (or it was used by another field already)")
        })
    }
}
