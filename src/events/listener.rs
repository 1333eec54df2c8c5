//! PostgreSQL `LISTEN/NOTIFY`: how one replica's commits reach the feeds of all.

use std::sync::Weak;
use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use futures_util::StreamExt;

use super::Inner;
use crate::db::postgres::PgConnector;
use crate::db::{ACTIVITY_CHANNEL as CHANNEL, ChangedCase};

/// Keeps one listening connection open for the life of the bus, reconnecting
/// (and resynchronising every feed) when it drops.
pub(super) async fn run(url: String, bus: Weak<Inner>) {
    // The pool parsed the same URL already, so this fails only if that did.
    let connector = match PgConnector::parse(&with_application_name(&url)) {
        Ok(connector) => connector,
        Err(e) => return tracing::error!(error = %e, "activity listener cannot read the database URL"),
    };
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        match connector.connect().await {
            Ok(mut conn) => match conn.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    if !first {
                        tracing::info!("activity listener reconnected");
                        // Whatever was announced while we were away is in the log.
                        match bus.upgrade() {
                            Some(bus) => bus.resync_all().await,
                            None => return,
                        }
                    }
                    first = false;
                    let mut notifications = std::pin::pin!(conn.notifications_stream());
                    while let Some(notification) = notifications.next().await {
                        let Some(bus) = bus.upgrade() else { return };
                        match notification.map(|n| serde_json::from_str::<ChangedCase>(&n.payload)) {
                            Ok(Ok(notice)) => bus.changed(&notice.tenant, notice.case_id).await,
                            Ok(Err(e)) => tracing::warn!(error = %e, "malformed activity notice"),
                            Err(e) => {
                                tracing::warn!(error = %e, "activity listener failed");
                                break;
                            }
                        }
                    }
                    tracing::warn!("activity listener connection closed");
                }
                Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
            },
            Err(e) => tracing::warn!(error = %e, "activity listener cannot connect"),
        }
        if bus.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Names the listener's session, so operators (and tests) can find it.
fn with_application_name(url: &str) -> String {
    if url.contains("application_name=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name=casebook_listener")
}
