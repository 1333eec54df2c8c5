//! The schema's scalars and conversions from the domain's values.

use async_graphql::{ID, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDateTime, Utc};

use crate::domain::values::time_label;
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
            DateTime::Valid(instant) => Value::String(time_label(instant.naive_utc())),
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

#[cfg(test)]
mod tests {
    use async_graphql::{InputType, Value};

    use crate::domain::activity::AuditAction;
    use crate::domain::values::CasePriority;

    /// What the service writes outside the resolvers (webhook payloads, the
    /// compiled read path) names an enum value as GraphQL does.
    fn same_names<T: InputType + serde::Serialize>(values: &[T]) {
        for value in values {
            let Value::Enum(name) = value.to_value() else { panic!("not an enum") };
            assert_eq!(serde_json::to_value(value).unwrap(), name.as_str(), "{}", T::type_name());
        }
    }

    #[test]
    fn enums_serialise_as_their_schema_names() {
        use CasePriority::*;
        same_names(&[VeryLow, Low, Medium, High, Critical]);
        same_names(AuditAction::ALL);
    }

    #[test]
    fn instants_serialise_as_the_date_time_scalar_writes_them() {
        use async_graphql::ScalarType;
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap().and_hms_milli_opt(20, 5, 24, 120).unwrap();
        let written = serde_json::to_value(crate::domain::values::TimeText(at)).unwrap();
        assert_eq!(written, serde_json::json!("2026-12-06T20:05:24.120Z"));
        assert_eq!(ScalarType::to_value(&super::utc(at)), Value::String("2026-12-06T20:05:24.120Z".into()));
    }
}
