use async_graphql::{ComplexObject, Context, Interface, Object, SimpleObject};

use super::activity::Comment;
use super::connection::PageInfo;
use crate::auth::ReadData;
use crate::domain::case::Case;
use crate::domain::search::snippet::Snippet as Excerpt;
use crate::domain::search::{self, Counted, Found, Matcher, SearchKind, Subject};
use crate::domain::task::Task;
use crate::graphql::errors::GqlResult;
use crate::graphql::{db, grant, search_count_limit};

/// One match of a search: a case, a task or a comment, with the case it
/// belongs to and an excerpt of the text that matched.
#[derive(Interface)]
#[graphql(
    field(name = "case", ty = "&Case", desc = "The case the match belongs to (for a case hit, the case itself)."),
    field(name = "snippet", ty = "Snippet", desc = "An excerpt of the matching text, the matching words marked."),
    field(name = "title_matched", ty = "bool", desc = "The title alone matches the search: such hits rank first.")
)]
#[allow(clippy::enum_variant_names)] // the schema's type names
pub enum SearchHit {
    CaseHit(CaseHit),
    TaskHit(TaskHit),
    CommentHit(CommentHit),
}

impl From<Found> for SearchHit {
    fn from(found: Found) -> Self {
        match found.subject {
            Subject::Case => SearchHit::CaseHit(CaseHit(found)),
            Subject::Task(_) => SearchHit::TaskHit(TaskHit(found)),
            Subject::Comment(_) => SearchHit::CommentHit(CommentHit(found)),
        }
    }
}

/// A case whose title or description matched.
pub struct CaseHit(Found);
/// A task whose title or description matched.
pub struct TaskHit(Found);
/// A comment whose body matched.
pub struct CommentHit(Found);

/// A case whose title or description matched.
#[Object]
impl CaseHit {
    /// The case.
    async fn case(&self) -> &Case {
        &self.0.case
    }
    /// An excerpt of the description (or title) with the matching words marked.
    async fn snippet(&self) -> Snippet {
        Snippet(self.0.snippet.clone())
    }
    /// The title alone matches the search.
    async fn title_matched(&self) -> bool {
        self.0.hit.rank == 1
    }
}

/// A task whose title or description matched.
#[Object]
impl TaskHit {
    /// The case the task belongs to.
    async fn case(&self) -> &Case {
        &self.0.case
    }
    /// The task.
    async fn task(&self) -> Option<&Task> {
        match &self.0.subject {
            Subject::Task(task) => Some(task),
            _ => None,
        }
    }
    /// An excerpt of the description (or title) with the matching words marked.
    async fn snippet(&self) -> Snippet {
        Snippet(self.0.snippet.clone())
    }
    /// The task's title alone matches the search.
    async fn title_matched(&self) -> bool {
        self.0.hit.rank == 1
    }
}

/// A comment whose body matched.
#[Object]
impl CommentHit {
    /// The case the comment is on.
    async fn case(&self) -> &Case {
        &self.0.case
    }
    /// The comment.
    async fn comment(&self) -> Option<Comment> {
        match &self.0.subject {
            Subject::Comment(comment) => Some(Comment(comment.clone())),
            _ => None,
        }
    }
    /// An excerpt of the body with the matching words marked.
    async fn snippet(&self) -> Snippet {
        Snippet(self.0.snippet.clone())
    }
    /// Always false: a comment has no title.
    async fn title_matched(&self) -> bool {
        self.0.hit.rank == 1
    }
}

/// An excerpt of a hit's text (at most about 200 characters, "…" where it was cut).
pub struct Snippet(Excerpt);

/// An excerpt of a hit's text (at most about 200 characters, "…" where it was cut).
#[Object]
impl Snippet {
    /// The excerpt as plain text.
    async fn text(&self) -> &str {
        &self.0.text
    }
    /// Where the matching words are in `text`, in order.
    async fn highlights(&self) -> Vec<TextRange> {
        self.0.utf16_highlights().into_iter().map(|(start, end)| TextRange { start, end }).collect()
    }
    /// The excerpt as HTML: the text escaped, each matching word in `<mark>`.
    async fn html(&self) -> String {
        self.0.html()
    }
}

/// A range of a text, in UTF-16 code units (JavaScript's string indexes).
#[derive(SimpleObject)]
pub struct TextRange {
    /// The first unit of the range.
    pub start: usize,
    /// The unit after the range.
    pub end: usize,
}

/// A hit and its cursor.
#[derive(SimpleObject)]
pub struct SearchEdge {
    /// Pass as `after` to continue after this hit.
    pub cursor: String,
    /// The hit.
    pub node: SearchHit,
}

/// A page of search hits, best first (Relay connection).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct SearchConnection {
    /// The hits of this page with their cursors.
    pub edges: Vec<SearchEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
    #[graphql(skip)]
    pub matcher: Matcher,
    #[graphql(skip)]
    pub kinds: Vec<SearchKind>,
    /// The count, once per page (`totalCount` and `totalCountIsExact` agree).
    #[graphql(skip)]
    pub total: tokio::sync::OnceCell<Counted>,
}

#[ComplexObject]
impl SearchConnection {
    /// The hits of this page.
    async fn nodes(&self) -> Vec<&SearchHit> {
        self.edges.iter().map(|e| &e.node).collect()
    }
    /// How many hits the search has, over all pages: exact up to the
    /// server's bound (10,000 unless configured), that bound past it (see
    /// `totalCountIsExact`), as search engines count a broad search.
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<i64> {
        Ok(self.counted(ctx).await?.count)
    }
    /// Whether `totalCount` is exact: false when the search has more hits
    /// than the server counts (then at least `totalCount`).
    async fn total_count_is_exact(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        Ok(self.counted(ctx).await?.exact)
    }
}

impl SearchConnection {
    async fn counted(&self, ctx: &Context<'_>) -> GqlResult<Counted> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let count = self.total.get_or_try_init(|| async {
            let mut conn = db(ctx)?.get().await?;
            search::count_hits(&mut conn.conn(), tenant, &self.matcher, &self.kinds, search_count_limit(ctx)).await
        });
        Ok(*count.await?)
    }
}
