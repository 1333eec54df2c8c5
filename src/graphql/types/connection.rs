use async_graphql::SimpleObject;

/// Where a page sits in the whole list (Relay).
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    /// More items follow this page.
    pub has_next_page: bool,
    /// The cursor of the last item of this page; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
    /// Items precede this page (it was asked for with `after`).
    pub has_previous_page: bool,
    /// The cursor of the first item of this page.
    pub start_cursor: Option<String>,
}

impl PageInfo {
    pub fn new(cursors: &[String], has_next_page: bool, has_previous_page: bool) -> Self {
        PageInfo {
            has_next_page,
            end_cursor: cursors.last().cloned(),
            has_previous_page,
            start_cursor: cursors.first().cloned(),
        }
    }
}

/// Trims a page fetched with one extra row; returns whether more follow.
pub fn split_page<T>(rows: &mut Vec<T>, limit: i64) -> bool {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() > limit {
        rows.truncate(limit);
        true
    } else {
        false
    }
}
