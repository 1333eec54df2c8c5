//! `percentile_cont(value, fraction)` for SQLite, which has no percentile
//! aggregate built in: the same definition as PostgreSQL's
//! `percentile_cont(fraction) WITHIN GROUP (ORDER BY value)` (linear
//! interpolation between the two closest ranks; NULLs skipped; NULL over no
//! rows), registered on every SQLite connection.

use diesel::sql_types::{Double, Nullable};
use diesel::sqlite::SqliteAggregateFunction;

diesel::define_sql_function! {
    #[aggregate]
    #[sql_name = "percentile_cont"]
    fn percentile_cont(value: Nullable<Double>, fraction: Double) -> Nullable<Double>;
}

/// The values seen and the fraction asked for.
#[derive(Default)]
pub struct Percentile {
    values: Vec<f64>,
    fraction: f64,
}

impl SqliteAggregateFunction<(Option<f64>, f64)> for Percentile {
    type Output = Option<f64>;

    fn step(&mut self, (value, fraction): (Option<f64>, f64)) {
        self.fraction = fraction;
        if let Some(value) = value {
            self.values.push(value);
        }
    }

    fn finalize(aggregator: Option<Self>) -> Option<f64> {
        let Percentile { mut values, fraction } = aggregator?;
        interpolate(&mut values, fraction)
    }
}

/// The `fraction` percentile of `values`, as `percentile_cont` defines it.
pub fn interpolate(values: &mut [f64], fraction: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=1.0).contains(&fraction) {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let position = fraction * (values.len() - 1) as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    Some(values[below] + (values[above] - values[below]) * (position - below as f64))
}

/// Registers the aggregate on a new connection.
pub fn register(conn: &mut diesel::SqliteConnection) -> diesel::QueryResult<()> {
    percentile_cont_utils::register_impl::<Percentile, _, _>(conn)
}

#[cfg(test)]
mod tests {
    use super::interpolate;

    #[test]
    fn interpolates_between_the_closest_ranks_like_postgresql() {
        assert_eq!(interpolate(&mut [1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(interpolate(&mut [10.0, 1.0, 5.0], 0.5), Some(5.0));
        let mut tens: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(interpolate(&mut tens, 0.9), Some(9.1));
        assert_eq!(interpolate(&mut [7.0], 0.9), Some(7.0));
        assert_eq!(interpolate(&mut [], 0.5), None);
    }
}
