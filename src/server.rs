//! Starting the service: configuration checks, migrations, the pool, the listener.

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::auth::{ROLES, TokenRequest, TokenVerifier, issue_token};
use crate::config::{DatabaseUrl, JwtArgs, Secret, ServeArgs};
use crate::db::{Db, SEARCH_MIGRATION, SLA_SCHEDULE_MIGRATION, run_migrations};
use crate::http::{AppState, Settings, app};

/// A token printed by `serve --dev`.
pub struct DevToken {
    pub role: &'static str,
    pub token: String,
}

/// The key configuration `serve` runs with: refuses to run without a key
/// unless `dev`, which falls back to a random secret for this run.
pub fn jwt_config(args: &ServeArgs) -> anyhow::Result<JwtArgs> {
    let mut jwt = args.jwt.clone();
    if jwt.secret.is_none() && jwt.public_key.is_none() {
        if !args.dev {
            bail!(
                "no token key configured: set CASEBOOK_JWT_SECRET (HS256) or CASEBOOK_JWT_PUBLIC_KEY \
                 (PEM file, RS256/ES256), or pass --dev for a random development secret"
            );
        }
        let bytes: [u8; 32] = rand::random();
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        jwt.secret = Some(Secret::new(secret));
    }
    Ok(jwt)
}

/// Tokens for each role in tenant `default`, signed with the HS256 secret.
pub fn dev_tokens(jwt: &JwtArgs) -> anyhow::Result<Vec<DevToken>> {
    let secret = jwt.secret.as_ref().context("dev tokens need an HS256 secret")?;
    ROLES
        .iter()
        .map(|role| {
            let roles = [role.to_string()];
            let sub = format!("dev-{role}");
            let name = format!("Dev {role}");
            let token = issue_token(
                secret.expose(),
                &TokenRequest {
                    sub: &sub,
                    name: Some(&name),
                    email: None,
                    tenant: "default",
                    roles: &roles,
                    ttl: std::time::Duration::from_secs(8 * 3600),
                    issuer: jwt.issuer.as_deref(),
                    audience: jwt.audience.as_deref(),
                },
            )?;
            Ok(DevToken { role, token })
        })
        .collect()
}

/// The limits `serve` runs with, from its flags and environment.
pub fn settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let trusted_documents = match &args.trusted_documents {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let manifest: std::collections::HashMap<String, String> =
                serde_json::from_str(&text).with_context(|| {
                    format!("{}: a trusted-documents manifest is a JSON object from ids to documents", path.display())
                })?;
            Some(std::sync::Arc::new(manifest))
        }
        None => None,
    };
    Ok(Settings {
        rate_limit_per_minute: args.rate_limit,
        subscriptions_per_socket: args.max_subscriptions_per_socket as usize,
        subscriptions_per_caller: args.max_subscriptions_per_caller as usize,
        request_timeout: std::time::Duration::from_secs(args.request_timeout),
        shutdown_timeout: std::time::Duration::from_secs(args.shutdown_timeout),
        slow_operation: std::time::Duration::from_millis(args.slow_operation_ms),
        trusted_documents,
        webhooks: crate::jobs::webhooks::WebhookSettings {
            targets: crate::domain::webhook::TargetPolicy {
                allow_private: args.webhook_allow_private,
                allowed_networks: args.webhook_allow_networks.clone(),
            },
            timeout: std::time::Duration::from_secs(args.webhook_timeout),
            concurrency: usize::from(args.webhook_concurrency),
            ..Default::default()
        },
        ..Settings::default()
    })
}

/// Applies pending migrations and brings data written before them up to
/// date (search entries of a database that predates search); returns how
/// many migrations ran.
pub async fn migrate(url: &DatabaseUrl) -> anyhow::Result<usize> {
    let applied = run_migrations(url).await.with_context(|| format!("migrating {url}"))?;
    if applied.iter().any(|v| v.replace('-', "") == SEARCH_MIGRATION) {
        let db = Db::connect(url)?;
        let mut indexed = 0;
        loop {
            let mut tx = db.begin().await?;
            let result = crate::domain::search::index_missing(&mut tx.conn()).await;
            let batch = tx.finish(result).await.context("indexing existing data for search")?;
            if batch == 0 {
                break;
            }
            indexed += batch;
        }
        if indexed > 0 {
            tracing::info!(indexed, "existing cases, tasks and comments indexed for search");
        }
    }
    if applied.iter().any(|v| v.replace('-', "") == SLA_SCHEDULE_MIGRATION) {
        let db = Db::connect(url)?;
        let tenants = crate::domain::sla::tenants_with_policies(&mut db.get().await?.conn()).await?;
        for tenant in tenants {
            let mut tx = db.begin().await?;
            let result = crate::domain::sla::reschedule_all(&mut tx.conn(), &tenant).await;
            let scheduled = tx.finish(result).await.context("computing the SLA schedules of existing cases")?;
            tracing::info!(tenant, scheduled, "existing cases' SLA schedules computed");
        }
    }
    Ok(applied.len())
}

/// Migrates the database and builds the application state.
pub async fn prepare(
    url: &DatabaseUrl,
    jwt: &JwtArgs,
    pool_size: Option<u16>,
    settings: Settings,
) -> anyhow::Result<AppState> {
    let verifier = TokenVerifier::from_config(jwt)?.context("no token key configured")?;
    let applied = migrate(url).await?;
    tracing::info!(database = %url, applied, "database ready");
    let db = Db::connect_with_pool_size(url, pool_size.map(usize::from))?;
    Ok(AppState::with_settings(db, url, verifier, settings))
}

/// Serves until ctrl-c (or SIGTERM).
/// On SIGTERM or ctrl-c: not ready at once, no new connections, WebSockets
/// closed with 1001, requests in flight finished (for up to the shutdown
/// timeout), then it returns.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    let draining = state.clone();
    let stop = async move {
        shutdown_signal().await;
        draining.drain();
    };
    let server = axum::serve(listener, app(state.clone())).with_graceful_shutdown(stop).into_future();
    let mut signalled = state.draining();
    let deadline = state.settings().shutdown_timeout;
    tokio::select! {
        served = server => served?,
        () = async {
            let _ = signalled.wait_for(|draining| *draining).await;
            tokio::time::sleep(deadline).await;
        } => tracing::warn!(seconds = deadline.as_secs(), "requests still in flight at the shutdown deadline"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
