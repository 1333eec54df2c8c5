//! Full-text search over cases, tasks and comments: the entries it matches,
//! written in the same transaction as each change, and the statements that
//! find them on either database (FTS5 on SQLite, a GIN-indexed `tsvector` on
//! PostgreSQL) with the same answers.
//!
//! Relevance has two ranks, the same on both databases: entries whose title
//! alone matches the search (every word or phrase, ignoring exclusions) come
//! first, then the others; the id breaks ties, newest first. Each rank is its
//! own indexed statement, so a page never sorts more than its own rank.

pub mod query;
pub mod snippet;
pub mod text;

use diesel::dsl::{AsExprOf, sql};
use diesel::expression::{SqlLiteral, UncheckedBind};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

pub use query::{Scope, SearchQuery};
use text::Indexed;

use crate::db::Conn;
use crate::db::schema::search_entries;
use crate::domain::activity::{self, Activity, Entry};
use crate::domain::case::{self, Case, CaseId};
use crate::domain::facts::Reindex;
use crate::domain::observable;
use crate::domain::task::{self, Task, TaskId};
use crate::domain::values::text_enum;
use crate::error::{AppError, AppResult};
use crate::{bulk_insert, with_conn};

text_enum! {
    /// What a search hit is.
    pub enum SearchKind {
        /// A case: its title and description matched.
        Case => "CASE",
        /// A task: its title and description matched.
        Task => "TASK",
        /// A comment: its body matched.
        Comment => "COMMENT",
    }
}

/// One indexed case, task or comment.
#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = search_entries)]
#[diesel(treat_none_as_default_value = false)]
pub struct EntryRow {
    pub tenant_id: String,
    pub kind: SearchKind,
    pub entity_id: i64,
    pub case_id: i64,
    pub title_terms: String,
    pub title_words: String,
    pub body_terms: String,
    pub body_words: String,
}

impl EntryRow {
    /// A case's entry: its title, and as its body its description and the
    /// values of its observables (an analyst searching for an address finds
    /// the cases that recorded it).
    pub fn case(tenant: &str, id: CaseId, title: &str, description: Option<&str>, values: &[&str]) -> Self {
        let body: Vec<Option<&str>> = std::iter::once(description).chain(values.iter().map(|v| Some(*v))).collect();
        EntryRow::new(tenant, SearchKind::Case, id.0, id.0, title, &body)
    }

    /// A task's entry: its title and description.
    pub fn task(tenant: &str, id: i64, case_id: CaseId, title: &str, description: Option<&str>) -> Self {
        EntryRow::new(tenant, SearchKind::Task, id, case_id.0, title, &[description])
    }

    /// A comment's entry: its body.
    pub fn comment(tenant: &str, id: i64, case_id: CaseId, body: Option<&str>) -> Self {
        EntryRow::new(tenant, SearchKind::Comment, id, case_id.0, "", &[body])
    }

    /// The entry of a `kind` entity of case `case_id`, from its title and body texts.
    fn new(tenant: &str, kind: SearchKind, entity_id: i64, case_id: i64, title: &str, body: &[Option<&str>]) -> Self {
        let title = Indexed::of(&[Some(title)]);
        let body = Indexed::of(body);
        EntryRow {
            tenant_id: tenant.to_owned(),
            kind,
            entity_id,
            case_id,
            title_terms: title.terms,
            title_words: title.words,
            body_terms: body.terms,
            body_words: body.words,
        }
    }
}

/// Indexes a case as it now reads: its title, and as its body its
/// description and the values of its observables (an analyst searching for an
/// address finds the cases that recorded it). Call in the transaction that
/// changed any of them.
pub async fn index_case(conn: &mut Conn<'_>, case: &Case) -> AppResult<()> {
    index_case_text(conn, &case.tenant_id, case.case_id(), &case.title, case.description.as_deref()).await
}

/// [`index_case`] from the case's text, before its row is read back.
pub async fn index_case_text(
    conn: &mut Conn<'_>,
    tenant: &str,
    id: CaseId,
    title: &str,
    description: Option<&str>,
) -> AppResult<()> {
    let values = observable::values_of_case(conn, tenant, id).await?;
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    index(conn, EntryRow::case(tenant, id, title, description, &values)).await
}

/// Indexes an entity, replacing what its entry held. Call in the write
/// transaction that changed its text.
/// Brings search up to date with text a write changed (the pipeline's
/// indexing step).
pub async fn reindex(conn: &mut Conn<'_>, change: Reindex) -> AppResult<()> {
    match change {
        Reindex::Case { tenant, case_id, title, description, with_evidence: true } => {
            index_case_text(conn, &tenant, case_id, &title, description.as_deref()).await
        }
        Reindex::Case { tenant, case_id, title, description, with_evidence: false } => {
            index(conn, EntryRow::case(&tenant, case_id, &title, description.as_deref(), &[])).await
        }
        Reindex::Task { tenant, task_id, case_id, title, description } => {
            index(conn, EntryRow::task(&tenant, task_id, case_id, &title, description.as_deref())).await
        }
        Reindex::TaskRemoved { tenant, task_id } => remove(conn, &tenant, SearchKind::Task, task_id).await,
        Reindex::Comment { tenant, activity_id, case_id, body } => {
            index(conn, EntryRow::comment(&tenant, activity_id, case_id, Some(&body))).await
        }
    }
}

pub async fn index(conn: &mut Conn<'_>, row: EntryRow) -> AppResult<()> {
    use search_entries::dsl as e;
    let changed = (
        e::title_terms.eq(row.title_terms.clone()),
        e::title_words.eq(row.title_words.clone()),
        e::body_terms.eq(row.body_terms.clone()),
        e::body_words.eq(row.body_words.clone()),
    );
    with_conn!(conn, c => {
        diesel::insert_into(search_entries::table)
            .values(row.clone())
            .on_conflict((e::tenant_id, e::kind, e::entity_id))
            .do_update()
            .set(changed.clone())
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Indexes many new entities in one statement (the demo's batches).
pub async fn index_new(conn: &mut Conn<'_>, rows: &[EntryRow]) -> AppResult<()> {
    if !rows.is_empty() {
        bulk_insert!(conn, search_entries::table, rows)?;
    }
    Ok(())
}

/// Drops an entity's entry (a deleted task).
pub async fn remove(conn: &mut Conn<'_>, tenant: &str, kind: SearchKind, entity_id: i64) -> AppResult<()> {
    use search_entries::dsl as e;
    let target = e::search_entries
        .filter(e::tenant_id.eq(tenant))
        .filter(e::kind.eq(kind.as_str()))
        .filter(e::entity_id.eq(entity_id));
    with_conn!(conn, c => diesel::delete(target).execute(c).await)?;
    Ok(())
}

/// How many matches of a text search a count finds exactly, as search
/// engines count (Elasticsearch: 10,000, then "at least"): past it, visiting
/// each match to count it costs what a broad search should not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountLimit(pub i64);

impl Default for CountLimit {
    fn default() -> Self {
        CountLimit(10_000)
    }
}

impl CountLimit {
    /// Rows to count for this limit: one more tells that it was passed.
    pub fn rows(self) -> i64 {
        self.0.saturating_add(1)
    }

    /// What a count of at most [`CountLimit::rows`] rows reports.
    pub fn of(self, counted: i64) -> Counted {
        if counted > self.0 { Counted { count: self.0, exact: false } } else { Counted { count: counted, exact: true } }
    }
}

/// A count, and whether it is exact: when not, at least this many match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub count: i64,
    pub exact: bool,
}

impl Counted {
    /// A count made to the end.
    pub fn exact(count: i64) -> Self {
        Counted { count, exact: true }
    }
}

/// A SQL condition around one bound text: backend-neutral, so one boxed
/// query of either backend can take it.
pub type Condition = SqlLiteral<Bool, UncheckedBind<SqlLiteral<Bool>, AsExprOf<String, Text>>>;

/// The case's own entry, from a statement on `cases` (a macro, for `concat!`).
macro_rules! case_entry {
    () => {
        "FROM search_entries WHERE search_entries.tenant_id = cases.tenant_id \
         AND search_entries.kind = 'CASE' AND search_entries.entity_id = cases.id"
    };
}
const CASE_ENTRY: &str = case_entry!();

/// On SQLite, whether the case's own entry is among FTS5's matches of the
/// query bound next (the statement goes on after it).
const FTS5_CASE_ENTRY_MATCHES: &str =
    concat!("(SELECT search_entries.id ", case_entry!(), ") IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ");

/// A [`Condition`] with the tenant bound a second time.
pub type WalkCondition = SqlLiteral<Bool, UncheckedBind<Condition, AsExprOf<String, Text>>>;

/// How far a walk of the cases in number order goes: to `last_case`,
/// downwards when `descending`.
#[derive(Debug, Clone, Copy)]
pub struct WalkReach {
    pub last_case: i64,
    pub descending: bool,
}

/// The token (lexeme) the database adds to each entry of a tenant's `kind`
/// (see the `search_entries` migration): `#case#` and the tenant in hex.
pub fn scope_token(kind: SearchKind, tenant: &str) -> String {
    let hex: String = tenant.bytes().map(|b| format!("{b:02x}")).collect();
    format!("#{}#{hex}", kind.as_str().to_lowercase())
}

/// A search, written for one database, of every match or of one
/// relevance rank's.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub query: SearchQuery,
    postgres: bool,
    /// `Some(title_matched)`: only the matches of one relevance rank.
    title_matched: Option<bool>,
}

impl Matcher {
    pub fn new(query: SearchQuery, conn: &Conn<'_>) -> Self {
        Matcher { query, postgres: conn.is_postgres(), title_matched: None }
    }

    /// The same search, matching only the entries of one relevance rank:
    /// those whose title matched, or the others. One expression for the
    /// text index, so a rank's matches are found (and on SQLite ordered) by
    /// the index alone, instead of as two lists, one taken from the other.
    pub fn in_rank(&self, title_matched: bool) -> Matcher {
        Matcher { title_matched: Some(title_matched), ..self.clone() }
    }

    /// The search for this database, within the tenant's entries of `kinds`.
    fn text(&self, tenant: &str, kinds: &[SearchKind]) -> String {
        let kinds = if kinds.is_empty() { SearchKind::ALL } else { kinds };
        let within: Vec<String> = kinds.iter().map(|k| scope_token(*k, tenant)).collect();
        let text =
            |scope| if self.postgres { self.query.tsquery(scope, &within) } else { self.query.fts5(scope, &within) };
        let everywhere = text(Scope::Everywhere);
        match (self.title_matched, self.postgres) {
            (None, _) => everywhere,
            (Some(true), true) => format!("({everywhere}) & ({})", text(Scope::Title)),
            (Some(false), true) => format!("({everywhere}) & !({})", text(Scope::Title)),
            (Some(true), false) => format!("({everywhere}) AND ({})", text(Scope::Title)),
            (Some(false), false) => format!("({everywhere}) NOT ({})", text(Scope::Title)),
        }
    }

    /// On `search_entries`: the tenant's entries of `kinds` (all when empty)
    /// that match, the first `limit` of them by number, descending, below
    /// `before`; the caller orders and limits alike. On SQLite the text
    /// index gives them in that order and stops at the limit, instead of
    /// listing every match first. The scope token, which the database
    /// derives from each entry's tenant and kind, keeps other tenants out.
    pub fn newest_entries(&self, tenant: &str, kinds: &[SearchKind], before: Option<i64>, limit: i64) -> Condition {
        let (before, after) = if self.postgres {
            ("search_entries.vector @@ ".to_owned(), "::tsquery".to_owned())
        } else {
            let below = before.map_or(String::new(), |id| format!(" AND rowid < {id}"));
            (
                "search_entries.id IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ".to_owned(),
                format!("{below} ORDER BY rowid DESC LIMIT {limit})"),
            )
        };
        sql::<Bool>(&before).bind::<Text, _>(self.text(tenant, kinds)).sql(&after)
    }

    /// On PostgreSQL, the numbers (`m.id`) of the tenant's cases whose own
    /// entry matches the bound query, as a FROM item: the text
    /// before the bound query and after it. From the cases' narrow rows (see
    /// the `case_search` migration) when the index alone decides a match,
    /// through a function that plans without sequential scans (on a small
    /// tenant the planner would read every row's vector back from out of
    /// line); a relevance rank too, since the title has lexemes of its own.
    /// From the entries, whose vectors are inline, when each candidate's
    /// vector is read back (a phrase's positions): out of line that costs
    /// more than the wider rows. Figures: docs/performance.md.
    fn case_matches(&self) -> (&'static str, &'static str) {
        if !self.query.has_phrases() {
            ("casebook_case_matches(", "::tsquery) AS m(id)")
        } else {
            (
                "(SELECT search_entries.entity_id AS id FROM search_entries WHERE search_entries.vector @@ ",
                "::tsquery) AS m",
            )
        }
    }

    /// On `cases`: the tenant's cases whose own entry matches. On SQLite the
    /// matches map to case numbers through a narrow index (see the
    /// `entry_case_numbers` migration), named since the planner prefers the
    /// wide rows' own key.
    pub fn cases(&self, tenant: &str) -> Condition {
        let text = self.text(tenant, &[SearchKind::Case]);
        let (before, after) = if self.postgres {
            // An array the index finds once, then looked up case by case: as
            // `IN (subquery)` the planner may hash every case of the tenant.
            let (from, bound) = self.case_matches();
            (format!("cases.id = ANY(ARRAY(SELECT m.id FROM {from}"), format!("{bound}))"))
        } else {
            (
                "cases.id IN (SELECT search_entries.entity_id FROM search_entries INDEXED BY search_entries_entities \
                 WHERE search_entries.id IN \
                 (SELECT rowid FROM search_fts WHERE search_fts MATCH "
                    .to_owned(),
                "))".to_owned(),
            )
        };
        sql::<Bool>(&before).bind::<Text, _>(text).sql(&after)
    }

    /// On `cases`, for a page of a search alone by case number: the `limit`
    /// first matching cases after `after` (the text index's matches sorted
    /// by number before any case is read).
    pub fn first_cases(&self, tenant: &str, descending: bool, after: Option<i64>, limit: i64) -> Condition {
        let text = self.text(tenant, &[SearchKind::Case]);
        let (order, past) = if descending { ("DESC", "<") } else { ("ASC", ">") };
        let (before, after) = if self.postgres {
            let (from, bound) = self.case_matches();
            let after = after.map_or(String::new(), |after| format!(" WHERE m.id {past} {after}"));
            (
                format!("cases.id = ANY(ARRAY(SELECT m.id FROM {from}"),
                format!("{bound}{after} ORDER BY m.id {order} LIMIT {limit}))"),
            )
        } else {
            let after = after.map_or(String::new(), |after| format!(" AND search_entries.entity_id {past} {after}"));
            (
                "cases.id IN (SELECT search_entries.entity_id FROM search_entries INDEXED BY search_entries_entities \
                 WHERE search_entries.id IN \
                 (SELECT rowid FROM search_fts WHERE search_fts MATCH "
                    .to_owned(),
                format!("){after} ORDER BY search_entries.entity_id {order} LIMIT {limit})"),
            )
        };
        sql::<Bool>(&before).bind::<Text, _>(text).sql(&after)
    }

    /// On `cases`, case by case: whether this case's own entry matches,
    /// looked up through the entries' unique key. For a page that walks the
    /// cases in order and stops when full: when many cases match, it reads
    /// a few hundred cases instead of every match.
    pub fn case_entry_matches(&self, tenant: &str) -> Condition {
        let text = self.text(tenant, &[SearchKind::Case]);
        let (before, after) = if self.postgres {
            ("(SELECT search_entries.vector @@ ".to_owned(), format!("::tsquery {CASE_ENTRY})"))
        } else {
            // FTS5 answers a MATCH per statement, not per row (a probe by
            // rowid costs more than the whole match): the list is built once.
            (FTS5_CASE_ENTRY_MATCHES.to_owned(), ")".to_owned())
        };
        sql::<Bool>(&before).bind::<Text, _>(text).sql(&after)
    }

    /// On SQLite, [`Self::case_entry_matches`] for a walk that stops at a
    /// case: the list of matches FTS5 builds only from the walk's first
    /// reachable entry on (the walked cases' entries lie within the lowest,
    /// or highest, entry number among them; FTS5 starts a list at a number
    /// instead of reading all of it). `None` on PostgreSQL, which looks each
    /// case's entry up anyway.
    pub fn case_entry_matches_within(&self, tenant: &str, reach: WalkReach) -> Option<WalkCondition> {
        if self.postgres {
            return None;
        }
        // Entry numbers and case numbers on the same side of the bound.
        let (side, extreme) = if reach.descending { (">=", "min") } else { ("<=", "max") };
        let matches =
            sql::<Bool>(FTS5_CASE_ENTRY_MATCHES).bind::<Text, _>(self.text(tenant, &[SearchKind::Case])).sql(&format!(
                " AND rowid {side} (SELECT {extreme}(search_entries.id) FROM search_entries \
                 WHERE search_entries.tenant_id = "
            ));
        let last = reach.last_case;
        Some(
            matches
                .bind::<Text, _>(tenant.to_owned())
                .sql(&format!(" AND search_entries.kind = 'CASE' AND search_entries.entity_id {side} {last}))")),
        )
    }

    /// On PostgreSQL's `case_search`, for a search of cases without phrases
    /// (the index alone decides a match; a phrase reads each candidate's
    /// vector back, from out of line there): whether the case's row matches.
    /// `None` elsewhere.
    pub fn case_search_matches(&self, tenant: &str) -> Option<Condition> {
        (self.postgres && !self.query.has_phrases()).then(|| {
            sql::<Bool>("case_search.vector @@ ")
                .bind::<Text, _>(self.text(tenant, &[SearchKind::Case]))
                .sql("::tsquery")
        })
    }

    /// How many of the tenant's entries of `kinds` match, up to `limit`: from
    /// the text index alone (each case has exactly one entry, so this counts
    /// cases too), stopping one past the limit.
    pub async fn count(
        &self,
        conn: &mut Conn<'_>,
        tenant: &str,
        kinds: &[SearchKind],
        limit: CountLimit,
    ) -> AppResult<Counted> {
        use diesel::sql_types::BigInt;
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let text = self.text(tenant, kinds);
        let count: Count = match &mut conn.link {
            crate::db::Link::Postgres(c) => {
                let query = if kinds != [SearchKind::Case] || self.query.has_phrases() {
                    // The entries' vectors are inline: a phrase reads each back (see `case_matches`).
                    "SELECT count(*) AS n FROM (SELECT 1 FROM search_entries WHERE vector @@ $1::tsquery LIMIT $2) AS m"
                } else {
                    "SELECT casebook_case_match_count($1::tsquery, $2) AS n"
                };
                diesel::sql_query(query).bind::<Text, _>(text).bind::<BigInt, _>(limit.rows()).get_result(c).await?
            }
            crate::db::Link::Sqlite(c) => {
                let query = "SELECT count(*) AS n FROM (SELECT 1 FROM search_fts WHERE search_fts MATCH ? LIMIT ?)";
                diesel::sql_query(query).bind::<Text, _>(text).bind::<BigInt, _>(limit.rows()).get_result(c).await?
            }
        };
        Ok(limit.of(count.n))
    }
}

/// The order relevance pages go through: each rank in turn (best first when
/// descending), starting at the cursor's rank and id.
pub fn ranks_from(descending: bool, after: Option<(i32, i64)>) -> Vec<(i32, Option<i64>)> {
    let ranks: [i32; 2] = if descending { [1, 0] } else { [0, 1] };
    let start = after.map_or(0, |(rank, _)| ranks.iter().position(|r| *r == rank).unwrap_or(ranks.len()));
    ranks[start.min(ranks.len())..]
        .iter()
        .enumerate()
        .map(|(i, rank)| (*rank, if i == 0 { after.map(|(_, id)| id) } else { None }))
        .collect()
}

/// One match of the top-level search.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = search_entries)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct EntryHit {
    pub id: i64,
    pub kind: String,
    pub entity_id: i64,
    pub case_id: i64,
}

/// A hit with its rank (1: the title matched).
#[derive(Debug, Clone)]
pub struct Hit {
    pub entry: EntryHit,
    pub kind: SearchKind,
    pub rank: i32,
}

/// Up to `limit` of the tenant's entries of these kinds (all when empty) that
/// match, best first, after the cursor `(rank, entry id)`.
pub async fn hits(
    conn: &mut Conn<'_>,
    tenant: &str,
    matcher: &Matcher,
    kinds: &[SearchKind],
    after: Option<(i32, i64)>,
    limit: i64,
) -> AppResult<Vec<Hit>> {
    use search_entries::dsl as e;
    if after.is_some_and(|(rank, _)| !(0..=1).contains(&rank)) {
        return Err(AppError::bad_input("after", "is not a cursor of this search"));
    }
    let mut out = Vec::new();
    for (rank, after_id) in ranks_from(true, after) {
        let left = limit - out.len() as i64;
        if left <= 0 {
            break;
        }
        let ranked = matcher.in_rank(rank == 1);
        let entries: Vec<EntryHit> = with_conn!(conn, c => {
            let mut query =
                e::search_entries.filter(ranked.newest_entries(tenant, kinds, after_id, left)).into_boxed();
            if let Some(id) = after_id {
                query = query.filter(e::id.lt(id));
            }
            query.order(e::id.desc()).limit(left).select(EntryHit::as_select()).load(c).await
        })?;
        for entry in entries {
            let kind = SearchKind::from_db(&entry.kind)?;
            out.push(Hit { entry, kind, rank });
        }
    }
    Ok(out)
}

/// How many of the tenant's entries of these kinds match, up to `limit`.
pub async fn count_hits(
    conn: &mut Conn<'_>,
    tenant: &str,
    matcher: &Matcher,
    kinds: &[SearchKind],
    limit: CountLimit,
) -> AppResult<Counted> {
    matcher.count(conn, tenant, kinds, limit).await
}

/// What a hit found, loaded.
#[derive(Debug, Clone)]
pub enum Subject {
    Case,
    Task(Task),
    Comment(Activity),
}

/// A hit with its case, what it found, and an excerpt of the matching text.
#[derive(Debug, Clone)]
pub struct Found {
    pub hit: Hit,
    pub case: Case,
    pub subject: Subject,
    pub snippet: snippet::Snippet,
}

/// [`hits`], each with what it found (three statements more, whatever the
/// page size). A hit whose entity went away in between is left out.
pub async fn find(
    conn: &mut Conn<'_>,
    tenant: &str,
    matcher: &Matcher,
    kinds: &[SearchKind],
    after: Option<(i32, i64)>,
    limit: i64,
) -> AppResult<Vec<Found>> {
    let hits = hits(conn, tenant, matcher, kinds, after, limit).await?;
    let ids_of =
        |kind: SearchKind| -> Vec<i64> { hits.iter().filter(|h| h.kind == kind).map(|h| h.entry.entity_id).collect() };
    let (task_ids, comment_ids) = (ids_of(SearchKind::Task), ids_of(SearchKind::Comment));
    let case_ids: Vec<CaseId> = hits.iter().map(|h| CaseId(h.entry.case_id)).collect();
    let cases = case::find_many(conn, tenant, &case_ids).await?;
    let tasks = if task_ids.is_empty() {
        Vec::new()
    } else {
        task::find_many(conn, tenant, &task_ids.into_iter().map(TaskId).collect::<Vec<_>>()).await?
    };
    let comments =
        if comment_ids.is_empty() { Vec::new() } else { activity::find_comments(conn, tenant, &comment_ids).await? };
    let query = &matcher.query;
    let mut found = Vec::with_capacity(hits.len());
    for hit in hits {
        let Some(case) = cases.iter().find(|c| c.id == hit.entry.case_id) else { continue };
        let id = hit.entry.entity_id;
        let (subject, snippet) = match hit.kind {
            SearchKind::Case => {
                (Subject::Case, snippet::excerpt(query, &[case.description.as_deref().unwrap_or(""), &case.title]))
            }
            SearchKind::Task => {
                let Some(task) = tasks.iter().find(|t| t.id == id) else { continue };
                let excerpt = snippet::excerpt(query, &[task.description.as_deref().unwrap_or(""), &task.title]);
                (Subject::Task(task.clone()), excerpt)
            }
            SearchKind::Comment => {
                let Some(comment) = comments.iter().find(|c| c.id == id) else { continue };
                let body = match &comment.entry {
                    Entry::Comment { body } => body.as_str(),
                    Entry::Audit { .. } => "",
                };
                (Subject::Comment(comment.clone()), snippet::excerpt(query, &[body]))
            }
        };
        found.push(Found { hit, case: case.clone(), subject, snippet });
    }
    Ok(found)
}

/// Rows indexed per statement when a database that predates search catches up.
const CATCH_UP_BATCH: i64 = 1000;

/// Indexes up to [`CATCH_UP_BATCH`] cases, tasks and comments that have no
/// entry yet (of a database migrated to search with data in it); returns
/// how many it indexed. Call until it returns 0.
pub async fn index_missing(conn: &mut Conn<'_>) -> AppResult<usize> {
    use crate::db::schema::{activity as a, cases as c, search_entries as e, tasks as t};
    use diesel::dsl::{exists, not};
    let kind = |k: SearchKind| e::kind.eq(k.as_str());
    let mut rows = Vec::new();
    let cases: Vec<(String, i64, String, Option<String>)> = with_conn!(conn, conn => {
        c::table
            .filter(not(exists(
                e::table.filter(e::tenant_id.eq(c::tenant_id)).filter(kind(SearchKind::Case)).filter(e::entity_id.eq(c::id)),
            )))
            .select((c::tenant_id, c::id, c::title, c::description))
            .limit(CATCH_UP_BATCH)
            .load(conn)
            .await
    })?;
    rows.extend(cases.iter().map(|(tenant, id, title, description)| {
        EntryRow::case(tenant, CaseId(*id), title, description.as_deref(), &[])
    }));
    let tasks: Vec<(String, i64, i64, String, Option<String>)> = with_conn!(conn, conn => {
        t::table
            .filter(not(exists(
                e::table.filter(e::tenant_id.eq(t::tenant_id)).filter(kind(SearchKind::Task)).filter(e::entity_id.eq(t::id)),
            )))
            .select((t::tenant_id, t::id, t::case_id, t::title, t::description))
            .limit(CATCH_UP_BATCH)
            .load(conn)
            .await
    })?;
    rows.extend(tasks.iter().map(|(tenant, id, case_id, title, description)| {
        EntryRow::task(tenant, *id, CaseId(*case_id), title, description.as_deref())
    }));
    let comments: Vec<(String, i64, i64, Option<String>)> = with_conn!(conn, conn => {
        a::table
            .filter(a::kind.eq(activity::ActivityKind::Comment.as_str()))
            .filter(not(exists(
                e::table.filter(e::tenant_id.eq(a::tenant_id)).filter(kind(SearchKind::Comment)).filter(e::entity_id.eq(a::id)),
            )))
            .select((a::tenant_id, a::id, a::case_id, a::body))
            .limit(CATCH_UP_BATCH)
            .load(conn)
            .await
    })?;
    rows.extend(
        comments
            .iter()
            .map(|(tenant, id, case_id, body)| EntryRow::comment(tenant, *id, CaseId(*case_id), body.as_deref())),
    );
    for chunk in rows.chunks(2000) {
        index_new(conn, chunk).await?;
    }
    Ok(rows.len())
}

/// Parses the text of a search field; `BAD_USER_INPUT` naming `field` when
/// it has nothing to find.
pub fn required(field: &str, text: &str) -> AppResult<SearchQuery> {
    SearchQuery::parse(field, text)?.ok_or_else(|| AppError::bad_input(field, "needs at least one word to find"))
}
