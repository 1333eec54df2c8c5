//! The schema's scalars and conversions from the domain's values.

use async_graphql::{ID, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDateTime, SecondsFormat, Utc};

use crate::error::{AppError, AppResult};

/// An instant in RFC 3339, shown in UTC, such as `2026-12-01T17:00:00Z`.
///
/// An input string that is not RFC 3339 is kept, not refused at parse time:
/// the resolver then refuses it with `BAD_USER_INPUT` naming the field, which
/// async-graphql's own parse error cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateTime {
    Valid(chrono::DateTime<Utc>),
    Invalid(String),
}

/// An instant in RFC 3339, shown in UTC, such as `2026-12-01T17:00:00Z`.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(match chrono::DateTime::parse_from_rfc3339(text.trim()) {
                Ok(instant) => DateTime::Valid(instant.to_utc()),
                Err(_) => DateTime::Invalid(text),
            }),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            DateTime::Valid(instant) => Value::String(instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            DateTime::Invalid(text) => Value::String(text.clone()),
        }
    }
}

/// The years a date-time input may name: what both databases store and
/// order alike (SQLite compares them as text, four-digit years), with room
/// for the arithmetic the service does on them (windows, SLA deadlines).
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=9000;

impl DateTime {
    /// The instant as stored (UTC without zone), or `BAD_USER_INPUT` naming `field`.
    pub fn parse_for(&self, field: &str) -> AppResult<NaiveDateTime> {
        use chrono::Datelike;
        match self {
            DateTime::Valid(instant) if !YEARS.contains(&instant.year()) => {
                Err(AppError::bad_input(field, format!("must fall in the years {} to {}", YEARS.start(), YEARS.end())))
            }
            DateTime::Valid(instant) => Ok(instant.naive_utc()),
            DateTime::Invalid(text) => Err(AppError::bad_input(
                field,
                format!("{text:?} is not an RFC 3339 date-time such as 2026-12-01T17:00:00Z"),
            )),
        }
    }
}

/// Timestamps are stored as UTC without zone.
pub fn utc(value: NaiveDateTime) -> DateTime {
    DateTime::Valid(value.and_utc())
}

/// Parses a numeric id; anything else cannot name an existing object.
pub fn numeric_id(id: &ID) -> Option<i64> {
    id.as_str().trim().parse().ok()
}

/// Parses an optional date-time input field.
pub fn optional_time(field: &str, value: Option<&DateTime>) -> AppResult<Option<NaiveDateTime>> {
    value.map(|v| v.parse_for(field)).transpose()
}
