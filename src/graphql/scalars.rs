//! Conversions between the domain's values and the schema's scalars.

use async_graphql::ID;
use chrono::{DateTime, NaiveDateTime, Utc};

/// Timestamps are stored as UTC without zone; the schema shows RFC 3339 UTC.
pub fn utc(value: NaiveDateTime) -> DateTime<Utc> {
    value.and_utc()
}

/// Parses a numeric id; anything else cannot name an existing object.
pub fn numeric_id(id: &ID) -> Option<i64> {
    id.as_str().trim().parse().ok()
}
