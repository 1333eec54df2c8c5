use std::collections::BTreeSet;

use async_graphql::{Context, Object};
use serde::{Deserialize, Serialize};

use crate::auth::{Permission, ReadData};
use crate::domain::case::Case;
use crate::domain::search::{self, Found, Matcher, SearchKind, Subject};
use crate::graphql::cursor;
use crate::graphql::directive::requires_permission;
use crate::graphql::errors::GqlResult;
use crate::graphql::types::{PageInfo, SearchConnection, SearchEdge, split_page};
use crate::graphql::{grant, loaders, page_size, prefetch};

/// Where a page of hits starts: after the hit of this rank and entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct HitKey {
    rank: i32,
    entry: i64,
}

/// The root `search` field (named apart from the domain's parsed `SearchQuery`).
#[derive(Default)]
pub struct SearchRoot;

#[Object]
impl SearchRoot {
    /// Searches the tenant's cases (title, description, observable values), tasks (title,
    /// description) and comments, best first: hits whose title alone matches,
    /// then the others, newest first within each. The language is that of
    /// `CaseFilter.search`.
    #[graphql(directive = requires_permission::apply(Permission::SecurityDataRead))]
    async fn search(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to find: words, \"phrases\", a OR b, -excluded; the last word also as a prefix.")]
        query: String,
        #[graphql(desc = "Only hits of these kinds (all when absent or empty).")] kinds: Option<Vec<SearchKind>>,
        #[graphql(desc = "Page size (default 25, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the hit this page follows.")] after: Option<String>,
    ) -> GqlResult<SearchConnection> {
        let tenant = grant::<ReadData>(ctx)?.tenant();
        let limit = page_size(first)?;
        let parsed = search::required("query", &query)?;
        let after = after.as_deref().map(|a| cursor::decode::<HitKey>("after", a)).transpose()?;
        let kinds = kinds.unwrap_or_default();
        let mut pooled = crate::graphql::db(ctx)?.get().await?;
        let mut conn = pooled.conn();
        let matcher = Matcher::new(parsed, &conn);
        let mut found =
            search::find(&mut conn, tenant, &matcher, &kinds, after.map(|a| (a.rank, a.entry)), limit + 1).await?;
        let has_next = split_page(&mut found, limit);
        drop(pooled);
        prefetch(ctx, &found).await?;
        let edges: Vec<SearchEdge> = found
            .into_iter()
            .map(|f| SearchEdge {
                cursor: cursor::encode(&HitKey { rank: f.hit.rank, entry: f.hit.entry.id }),
                node: f.into(),
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        let page_info = PageInfo::new(&cursors, has_next, after.is_some());
        Ok(SearchConnection { page_info, edges, matcher, kinds, total: tokio::sync::OnceCell::new() })
    }
}

/// Loads what the page's hits show, for all of them at once (the resolvers
/// then read the loaders' cache): their cases' relations, task owners and
/// comment authors.
async fn prefetch(ctx: &Context<'_>, found: &[Found]) -> GqlResult<()> {
    let mut cases: Vec<Case> = found.iter().map(|f| f.case.clone()).collect();
    cases.sort_by_key(|c| c.id);
    cases.dedup_by_key(|c| c.id);
    let mut users = BTreeSet::new();
    for node in prefetch::connection_nodes(&ctx.look_ahead()) {
        prefetch::cases(ctx, &node.field("case"), &cases).await?;
        if node.field("task").field("owner").exists() {
            users.extend(found.iter().filter_map(|f| match &f.subject {
                Subject::Task(task) => task.owner_id.clone(),
                _ => None,
            }));
        }
        if node.field("comment").field("actor").exists() {
            users.extend(found.iter().filter_map(|f| match &f.subject {
                Subject::Comment(comment) => Some(comment.actor_id.clone()),
                _ => None,
            }));
        }
    }
    if !users.is_empty() {
        let loaders = loaders(ctx)?;
        loaders.load_now(&loaders.users, users).await?;
    }
    Ok(())
}
