//! Opaque cursors: base64url of a small JSON value.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AppError, AppResult};

pub fn encode<T: Serialize>(value: &T) -> String {
    // Serializing plain data structs cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

/// Decodes the cursor given as argument `field`.
pub fn decode<T: DeserializeOwned>(field: &str, cursor: &str) -> AppResult<T> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input(field, "is not a valid cursor"))
}

/// An activity log cursor: the entry's place in its case's log.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ActivityCursor {
    pub seq: i64,
}

/// A cursor of a list in id order (incidents, observables): the last id seen.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct IdCursor {
    pub id: i64,
}
