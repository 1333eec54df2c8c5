//! Value types shared by the entities: enums stored as text, priorities, and
//! parsers that turn raw input into valid values (or a `BAD_USER_INPUT`).

use chrono::NaiveDateTime;

use crate::error::{AppError, AppResult};

pub(crate) use crate::named::named_enum;

/// A [`named_enum`] the database stores as its schema name (one text for
/// both), so a row holds the enum, not a string.
macro_rules! text_enum {
    ($(#[doc = $doc:literal])* pub enum $name:ident { $($body:tt)+ }) => {
        $crate::named::named_enum! {
            @define [
                #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
                #[diesel(sql_type = diesel::sql_types::Text)]
            ]
            $(#[doc = $doc])* pub enum $name { $($body)+ }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        /// Read from its schema name; a name the enum lacks fails the row.
        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                Ok($name::from_db(&text)?)
            }
        }
    };
}
pub(crate) use text_enum;

/// A case's number, unique in its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseId(pub i64);

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An incident's id, unique across tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncidentId(pub i64);

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

text_enum! {
    /// Progress of a task.
    pub enum TaskStatus {
        /// Not started.
        New => "NEW",
        /// Being worked on.
        InProgress => "IN_PROGRESS",
        /// Tried, and it did not work.
        Failed => "FAILED",
        /// Done in part.
        PartiallyCompleted => "PARTIALLY_COMPLETED",
        /// Deliberately not done.
        Skipped => "SKIPPED",
        /// Done.
        Completed => "COMPLETED",
    }
}

text_enum! {
    /// How severe detection rated an incident.
    pub enum IncidentSeverity {
        /// No threat, for information.
        Informational => "INFORMATIONAL",
        /// Low severity.
        Low => "LOW",
        /// Medium severity.
        Medium => "MEDIUM",
        /// High severity.
        High => "HIGH",
    }
}

text_enum! {
    /// Where an incident stands.
    pub enum IncidentStatus {
        /// Open, not yet handled.
        Active => "ACTIVE",
        /// Being handled.
        InProgress => "IN_PROGRESS",
        /// Handled.
        Resolved => "RESOLVED",
    }
}

impl IncidentSeverity {
    /// Its place from the least severe (0) to the most (3), as incidents are ordered by.
    pub fn rank(self) -> i32 {
        IncidentSeverity::ALL.iter().position(|s| *s == self).unwrap_or(0) as i32
    }
}

impl TaskStatus {
    /// The states in which a task is done with, one way or another.
    pub const FINISHED: [TaskStatus; 4] =
        [TaskStatus::Completed, TaskStatus::Skipped, TaskStatus::Failed, TaskStatus::PartiallyCompleted];
}

text_enum! {
    /// Where a case's SLA stands whatever the time: its state follows from
    /// this and the moments in its schedule (`sla::Schedule`).
    pub enum Phase {
        /// No policy applies.
        None => "NONE",
        /// Open, the clock counting.
        Running => "RUNNING",
        /// In a status that pauses the SLA.
        Paused => "PAUSED",
        /// Closed with every deadline met.
        Met => "MET",
        /// A deadline was missed.
        Breached => "BREACHED",
    }
}

named_enum! {
    @define [#[derive(PartialOrd, Ord)]]
    /// How urgent a case or task is. Stored as a rank (0 for none) so it sorts plainly.
    pub enum CasePriority {
        /// Very low.
        VeryLow => "VERY_LOW",
        /// Low.
        Low => "LOW",
        /// Medium.
        Medium => "MEDIUM",
        /// High.
        High => "HIGH",
        /// Critical.
        Critical => "CRITICAL",
    }
}

impl CasePriority {
    pub fn rank(priority: Option<CasePriority>) -> i32 {
        match priority {
            None => 0,
            Some(CasePriority::VeryLow) => 1,
            Some(CasePriority::Low) => 2,
            Some(CasePriority::Medium) => 3,
            Some(CasePriority::High) => 4,
            Some(CasePriority::Critical) => 5,
        }
    }

    pub fn from_rank(rank: i32) -> Option<CasePriority> {
        match rank {
            1 => Some(CasePriority::VeryLow),
            2 => Some(CasePriority::Low),
            3 => Some(CasePriority::Medium),
            4 => Some(CasePriority::High),
            5 => Some(CasePriority::Critical),
            _ => None,
        }
    }
}

/// Required text: trimmed, not blank, at most `max_chars` characters.
pub fn required_text(field: &str, value: &str, max_chars: usize) -> AppResult<String> {
    super::parse_text(field, value, max_chars)
}

/// Optional plain text: trimmed; blank means none.
pub fn optional_text(field: &str, value: Option<&str>, max_chars: usize) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => super::parse_text(field, text, max_chars).map(Some),
    }
}

/// RFC 3339, as the schema's `DateTime` shows it, for the audit trail.
pub fn time_label(value: NaiveDateTime) -> String {
    value.and_utc().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// An id in JSON the service writes, as the schema's `ID` answers it: a
/// string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdText(pub i64);

impl serde::Serialize for IdText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// An instant in JSON the service writes, as the schema's `DateTime`
/// answers it ([`time_label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeText(pub NaiveDateTime);

impl serde::Serialize for TimeText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time_label(self.0))
    }
}

/// Lower-cased words of title and description: what `search` matches.
pub fn search_text(parts: &[Option<&str>]) -> String {
    parts.iter().flatten().map(|p| p.to_lowercase()).collect::<Vec<_>>().join("\n")
}

/// The words of a search, lower-cased; at most 16 words.
pub fn search_words(field: &str, search: &str) -> AppResult<Vec<String>> {
    super::refuse_nul(field, search)?;
    let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    if words.len() > 16 {
        return Err(AppError::bad_input(field, "at most 16 words"));
    }
    Ok(words)
}

pub const MAX_TITLE_CHARS: usize = 256;
pub const MAX_TEXT_CHARS: usize = 16 * 1024;
