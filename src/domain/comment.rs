//! Comments: a person's (or a rule's) note in a case's activity log.

use crate::auth::{Granted, ManageAlerts};
use crate::db::Conn;
use crate::domain::activity::{self, Activity};
use crate::domain::case::{self, CaseId};
use crate::domain::facts::{AutomationTrigger, Reindex, Triggered};
use crate::error::{AppError, AppResult};

/// Adds a plain-text comment to a case. Call inside a write transaction.
pub async fn add(
    conn: &mut Conn<'_>,
    actor: &Granted<'_, ManageAlerts>,
    case_id: CaseId,
    body: &str,
) -> AppResult<Activity> {
    let body = activity::parse_comment("body", body)?;
    let seq = case::reserve_activity(conn, &actor.tenant, case_id, 1)
        .await?
        .ok_or_else(|| AppError::not_found("case", case_id))?;
    let comment = activity::append_comment(conn, actor, case_id, seq, &body).await?;
    let tenant = actor.tenant.clone();
    conn.record(Reindex::Comment { tenant, activity_id: comment.id, case_id, body })?;
    conn.record(Triggered {
        actor: crate::auth::Principal::clone(actor),
        case_id,
        triggers: vec![AutomationTrigger::CommentAdded],
    })?;
    Ok(comment)
}
