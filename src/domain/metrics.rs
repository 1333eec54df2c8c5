//! Case metrics for reporting: per group of cases, how many were opened and
//! closed in a window, how many are open now, how long acknowledging and
//! resolving took (mean, median, 90th percentile) and how often the SLA was
//! breached. One statement, aggregated by the database: PostgreSQL's
//! `percentile_cont`; on SQLite an aggregate of the same name and definition
//! (linear interpolation between the closest ranks) registered on each
//! connection (see `db::percentile`).

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;

use crate::db::Conn;
use crate::db::schema::{case_tags, cases, statuses, tags};
use crate::domain::queue::{CaseFilter, filtered_cases};
use crate::domain::sla::Phase;
use crate::domain::status::StatusCategory;
use crate::domain::values::{CasePriority, text_enum};
use crate::domain::workflow::Classification;
use crate::error::{AppError, AppResult};
use crate::with_conn;

text_enum! {
    /// What case metrics are grouped by.
    pub enum MetricsDimension {
        /// The case's priority (no priority is a group of its own).
        Priority => "PRIORITY",
        /// The assignee (unassigned cases are a group of their own).
        Assignee => "ASSIGNEE",
        /// The category of the case's status.
        StatusCategory => "STATUS_CATEGORY",
        /// How the case was closed (open cases have none).
        Classification => "CLASSIFICATION",
        /// Each tag of the case: a case counts in the group of every tag it
        /// carries (untagged cases are a group of their own).
        Tag => "TAG",
    }
}

/// Durations in seconds over a group's cases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub count: i64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

/// One group's figures; the key fields are set for the dimensions grouped by.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsGroup {
    pub priority: Option<CasePriority>,
    pub assignee_id: Option<String>,
    pub status_category: Option<StatusCategory>,
    pub classification: Option<Classification>,
    pub tag: Option<String>,
    /// Opened within the window.
    pub opened: i64,
    /// Closed within the window (and still closed).
    pub closed: i64,
    /// Open now.
    pub open_now: i64,
    /// From opening to acknowledgement, of the cases opened within the window.
    pub to_acknowledge: Timing,
    /// From opening to closing less the time the SLA was paused, of the cases
    /// closed within the window.
    pub to_resolve: Timing,
    /// Cases opened within the window that have an SLA, and of those the
    /// ones whose SLA is breached now.
    pub with_sla: i64,
    pub breached: i64,
}

/// The most groups one answer holds; more is refused (narrow the filter or
/// group by fewer dimensions).
pub const MAX_GROUPS: usize = 1_000;

/// The window metrics count in: from (inclusive) to (exclusive).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

type Row = (
    (Nullable<Integer>, Nullable<Text>, Nullable<Text>, Nullable<Text>, Nullable<Text>),
    (BigInt, BigInt, BigInt, BigInt, BigInt),
    (BigInt, Nullable<Double>, Nullable<Double>, Nullable<Double>),
    (BigInt, Nullable<Double>, Nullable<Double>, Nullable<Double>),
);
type RowValue = (
    (Option<i32>, Option<String>, Option<String>, Option<String>, Option<String>),
    (i64, i64, i64, i64, i64),
    (i64, Option<f64>, Option<f64>, Option<f64>),
    (i64, Option<f64>, Option<f64>, Option<f64>),
);

/// The SQL a backend spells differently.
struct Dialect {
    /// Seconds from `$2` to `$1`.
    seconds: fn(&str, &str) -> String,
    /// The `p` percentile (0 to 1) of a value over a group.
    percentile: fn(&str, f64) -> String,
    /// A time as a literal of the type the backend stores times in.
    time: fn(NaiveDateTime) -> String,
}

const POSTGRES: Dialect = Dialect {
    seconds: |to, from| format!("EXTRACT(EPOCH FROM ({to} - {from}))::float8"),
    percentile: |value, p| format!("percentile_cont({p}) WITHIN GROUP (ORDER BY {value})"),
    time: |t| format!("TIMESTAMP '{}'", t.format("%F %T%.f")),
};

const SQLITE: Dialect = Dialect {
    seconds: |to, from| format!("((julianday({to}) - julianday({from})) * 86400.0)"),
    percentile: |value, p| format!("percentile_cont({value}, {p})"),
    // As diesel writes times to SQLite, so they compare as text.
    time: |t| format!("'{}'", t.format("%F %T%.f")),
};

/// The group key expressions, in [`MetricsGroup`] order (`NULL` where not grouped).
fn keys(dimensions: &[MetricsDimension]) -> [&'static str; 5] {
    let by = |d: MetricsDimension, column: &'static str| if dimensions.contains(&d) { column } else { "NULL" };
    [
        by(MetricsDimension::Priority, "cases.priority"),
        by(MetricsDimension::Assignee, "cases.assignee_id"),
        by(MetricsDimension::StatusCategory, "statuses.category"),
        by(MetricsDimension::Classification, "cases.classification"),
        by(MetricsDimension::Tag, "tags.name"),
    ]
}

/// The figures of the filtered cases per group.
pub async fn case_metrics(
    conn: &mut Conn<'_>,
    tenant: &str,
    filter: &CaseFilter,
    window: Window,
    dimensions: &[MetricsDimension],
) -> AppResult<Vec<MetricsGroup>> {
    if window.from >= window.to {
        return Err(AppError::bad_input("from", "must be before `to`"));
    }
    let search = filter.checked_search(conn)?;
    let now_value = crate::domain::now();
    let now = now_value;
    let by_tag = dimensions.contains(&MetricsDimension::Tag);
    let keys = keys(dimensions);
    let grouped: Vec<&str> = keys.iter().copied().filter(|k| *k != "NULL").collect();
    // `1`: one group of every case when not grouped.
    let group_by = if grouped.is_empty() { "1".to_owned() } else { grouped.join(", ") };
    let dialect = match &conn.link {
        crate::db::Link::Postgres(_) => &POSTGRES,
        crate::db::Link::Sqlite(_) => &SQLITE,
    };
    let acknowledge = (dialect.seconds)("cases.acknowledged_at", "cases.created_at");
    let resolve = format!("({} - cases.paused_seconds)", (dialect.seconds)("cases.closed_at", "cases.created_at"));
    // Times are written into the statement, not bound: they are the
    // server's own values (never client text), in the form each backend
    // stores, and a literal keeps the one select expression whole.
    let (from, to, now) = ((dialect.time)(window.from), (dialect.time)(window.to), (dialect.time)(now));
    let opened = format!("(cases.created_at >= {from} AND cases.created_at < {to})");
    let closed = format!("(cases.closed_at >= {from} AND cases.closed_at < {to})");
    let timing = |value: &str, when: &str| {
        let value = format!("CASE WHEN {when} THEN {value} END");
        format!(
            "COUNT({value}), AVG({value}), {}, {}",
            (dialect.percentile)(&value, 0.5),
            (dialect.percentile)(&value, 0.9)
        )
    };
    let breached = format!(
        "(cases.sla_phase = '{}' OR (cases.sla_phase IN ('{}', '{}') AND cases.sla_breach_at <= {now}))",
        Phase::Breached.as_str(),
        Phase::Running.as_str(),
        Phase::Paused.as_str(),
    );
    let with_sla = format!("cases.sla_phase <> '{}'", Phase::None.as_str());
    let select = [
        keys.join(", "),
        format!("SUM(CASE WHEN {opened} THEN 1 ELSE 0 END)"),
        format!("SUM(CASE WHEN {closed} THEN 1 ELSE 0 END)"),
        "SUM(CASE WHEN cases.closed_at IS NULL THEN 1 ELSE 0 END)".to_owned(),
        format!("SUM(CASE WHEN {opened} AND {with_sla} THEN 1 ELSE 0 END)"),
        format!("SUM(CASE WHEN {opened} AND {breached} THEN 1 ELSE 0 END)"),
        timing(&acknowledge, &format!("{opened} AND cases.acknowledged_at IS NOT NULL")),
        timing(&resolve, &closed),
    ]
    .join(", ");
    // A case counts where something happened in the window or it is open.
    let relevant = format!("({opened} OR {closed} OR cases.closed_at IS NULL)");
    let rows: Vec<RowValue> = with_conn!(conn, c => {
        let chosen = filtered_cases!(tenant, filter, search.as_ref(), now_value).select(cases::id);
        cases::table
            .inner_join(statuses::table.on(statuses::id.eq(cases::status_id)))
            .left_join(
                case_tags::table.on(case_tags::tenant_id
                    .eq(cases::tenant_id)
                    .and(case_tags::case_id.eq(cases::id))
                    .and(by_tag.into_sql::<Bool>())),
            )
            .left_join(tags::table.on(tags::id.eq(case_tags::tag_id)))
            .filter(cases::tenant_id.eq(tenant))
            .filter(cases::id.eq_any(chosen))
            .filter(sql::<Bool>(&relevant))
            .group_by(sql::<Integer>(&group_by))
            .order(sql::<Integer>(&group_by))
            .select(sql::<Row>(&select))
            .limit(MAX_GROUPS as i64 + 1)
            .load(c)
            .await
    })?;
    if rows.len() > MAX_GROUPS {
        return Err(AppError::bad_input(
            "groupBy",
            format!("more than {MAX_GROUPS} groups: narrow the filter or group by fewer dimensions"),
        ));
    }
    rows.into_iter().map(group).collect()
}

fn group(row: RowValue) -> AppResult<MetricsGroup> {
    let (
        (priority, assignee_id, category, classification, tag),
        (opened, closed, open_now, with_sla, breached),
        ack,
        res,
    ) = row;
    let timing =
        |(count, mean, p50, p90): (i64, Option<f64>, Option<f64>, Option<f64>)| Timing { count, mean, p50, p90 };
    Ok(MetricsGroup {
        priority: priority.and_then(CasePriority::from_rank),
        assignee_id,
        status_category: category.as_deref().map(StatusCategory::from_db).transpose()?,
        classification: classification.as_deref().map(Classification::from_db).transpose()?,
        tag,
        opened,
        closed,
        open_now,
        to_acknowledge: timing(ack),
        to_resolve: timing(res),
        with_sla,
        breached,
    })
}
