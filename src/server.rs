//! Starting the service: configuration checks, migrations, the pool, the listener.

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::auth::{ROLES, TokenRequest, TokenVerifier, issue_token};
use crate::config::{DatabaseUrl, JwtArgs, Secret, ServeArgs};
use crate::db::{Db, SEARCH_MIGRATION, SLA_SCHEDULE_MIGRATION, run_migrations};
use crate::domain::attachment::AttachmentSettings;
use crate::domain::pipeline::Pipeline;
use crate::domain::webhook::{self, SealingKey, SealingKeys};
use crate::error::AppError;
use crate::http::{AppState, Settings, app};

/// A token printed by `serve --dev`.
pub struct DevToken {
    pub role: &'static str,
    pub token: String,
}

/// The key configuration `serve` runs with. Without `--dev` it needs a key.
/// With `--dev` it signs (and verifies) with a random secret of this run's
/// own, never a configured one: the tokens it hands out at `GET /` must not
/// be accepted by a production replica that shares that secret. `--dev`
/// runs only on a loopback address with SQLite unless told otherwise.
pub fn jwt_config(args: &ServeArgs) -> anyhow::Result<JwtArgs> {
    let mut jwt = args.jwt.clone();
    if !args.dev {
        if jwt.secret.is_none() && jwt.public_key.is_none() {
            bail!(
                "no token key configured: set CASEBOOK_JWT_SECRET (HS256) or CASEBOOK_JWT_PUBLIC_KEY \
                 (PEM file, directory or JWKS; RS256/ES256), or pass --dev for a random development secret"
            );
        }
        if jwt.issuer.is_none() || jwt.audience.is_none() {
            let off: Vec<&str> = [("issuer", jwt.issuer.is_none()), ("audience", jwt.audience.is_none())]
                .into_iter()
                .filter_map(|(name, off)| off.then_some(name))
                .collect();
            tracing::warn!(
                unchecked = off.join(" and "),
                "tokens' {} are not checked: any token signed with the configured key is accepted, those minted \
                 for other applications too; set CASEBOOK_JWT_ISSUER and CASEBOOK_JWT_AUDIENCE",
                off.join(" and ")
            );
        }
        return Ok(jwt);
    }
    let exposed = !args.listen.ip().is_loopback() || matches!(args.database.url, DatabaseUrl::Postgres(_));
    if exposed && !args.dev_allow_exposed {
        bail!(
            "--dev hands out admin tokens to anyone who opens GET /, so it serves only on a loopback address \
             with an embedded SQLite database (here: {} and {}); pass --dev-allow-exposed to run it this way \
             anyway",
            args.listen,
            args.database.url
        );
    }
    if jwt.secret.is_some() {
        tracing::warn!("--dev signs with a random secret of its own: CASEBOOK_JWT_SECRET is not used in this run");
    }
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    jwt.secret = Some(Secret::new(secret));
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

/// The keys that seal webhook secrets: the configured ones; under `--dev`
/// on SQLite without one, a key kept in a file beside the database (created
/// the first time), so a development database's webhooks survive restarts.
pub fn sealing_keys(args: &ServeArgs) -> anyhow::Result<Option<std::sync::Arc<SealingKeys>>> {
    let parse = |secret: &Secret, name: &str| {
        SealingKey::parse(secret.expose()).map_err(|why| anyhow::anyhow!("{name}: {why}"))
    };
    let previous = args
        .secret_key_previous
        .iter()
        .map(|key| parse(key, "CASEBOOK_SECRET_KEY_PREVIOUS"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let current = match (&args.secret_key, &args.database.url) {
        (Some(key), _) => parse(key, "CASEBOOK_SECRET_KEY")?,
        (None, DatabaseUrl::Sqlite(path)) if args.dev => dev_key(path)?,
        (None, _) if !previous.is_empty() => bail!("CASEBOOK_SECRET_KEY_PREVIOUS needs CASEBOOK_SECRET_KEY"),
        (None, _) => return Ok(None),
    };
    Ok(Some(std::sync::Arc::new(SealingKeys { current, previous })))
}

/// `--dev`'s key file, `<database>.secret-key`, readable by its owner only.
fn dev_key(database: &std::path::Path) -> anyhow::Result<SealingKey> {
    let mut path = database.as_os_str().to_owned();
    path.push(".secret-key");
    let path = std::path::PathBuf::from(path);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return SealingKey::parse(&text).map_err(|why| anyhow::anyhow!("{}: {why}", path.display()));
    }
    let (key, text) = SealingKey::generate();
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    let mut file = file.open(&path).with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "--dev: webhook secrets are sealed with a key kept in this file");
    Ok(key)
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
        search_count_limit: crate::domain::search::CountLimit(i64::from(args.search_count_limit)),
        trusted_documents,
        connections: crate::http::ConnectionLimits {
            max_connections: args.max_connections as usize,
            header_timeout: std::time::Duration::from_secs(args.header_timeout),
            body_timeout: std::time::Duration::from_secs(args.body_timeout),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
        },
        webhooks: crate::jobs::webhooks::WebhookSettings {
            targets: crate::domain::webhook::TargetPolicy {
                allow_private: args.webhook_allow_private,
                allowed_networks: args.webhook_allow_networks.clone(),
            },
            timeout: std::time::Duration::from_secs(args.webhook_timeout),
            concurrency: usize::from(args.webhook_concurrency),
            keys: sealing_keys(args)?,
            ..Default::default()
        },
        attachments: attachment_settings(&args.attachments)?,
        ..Settings::default()
    })
}

/// Attachments' store and limits as configured; the store is opened here
/// (a bucket's settings are checked), except the SQLite default, which
/// `prepare` opens beside the database.
fn attachment_settings(args: &crate::config::AttachmentArgs) -> anyhow::Result<AttachmentSettings> {
    use crate::store::{S3Config, Store, StoreConfig};
    let config = match (&args.s3_bucket, &args.dir) {
        (Some(_), Some(_)) => bail!("set CASEBOOK_S3_BUCKET or CASEBOOK_ATTACHMENTS_DIR, not both"),
        (Some(bucket), None) => Some(StoreConfig::S3(S3Config {
            endpoint: args.s3_endpoint.clone(),
            bucket: bucket.clone(),
            region: args.s3_region.clone(),
            access_key_id: args.s3_access_key_id.clone(),
            secret_access_key: args.s3_secret_access_key.as_ref().map(|s| s.expose().to_owned()),
            path_style: args.s3_path_style,
            prefix: args.s3_prefix.clone(),
        })),
        (None, Some(dir)) => Some(StoreConfig::Directory(dir.clone())),
        (None, None) => None,
    };
    let store = config.map(|c| Store::open(&c).context("opening the attachment store")).transpose()?;
    Ok(AttachmentSettings {
        store,
        limits: crate::domain::attachment::Limits {
            max_file_bytes: args.max_bytes,
            max_files_per_case: args.per_case,
            tenant_quota_bytes: args.quota,
        },
        link_ttl: std::time::Duration::from_secs(args.link_ttl),
        upload_timeout: std::time::Duration::from_secs(args.upload_timeout),
        public_url: args.public_url.clone(),
        ..AttachmentSettings::default()
    })
}

/// Opens the database's pool with the write pipeline registered: every write
/// transaction answers what it recorded before it commits.
pub fn open(url: &DatabaseUrl, pool_size: Option<usize>) -> Result<Db, AppError> {
    Ok(Db::connect_with_pool_size(url, pool_size)?.reacting_with(std::sync::Arc::new(Pipeline)))
}

/// Applies pending migrations and brings data written before them up to
/// date (search entries of a database that predates search); returns how
/// many migrations ran.
pub async fn migrate(url: &DatabaseUrl) -> anyhow::Result<usize> {
    let applied = run_migrations(url).await.with_context(|| format!("migrating {url}"))?;
    if applied.iter().any(|v| v.replace('-', "") == SEARCH_MIGRATION) {
        let db = open(url, None)?;
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
        let db = open(url, None)?;
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
    let db = open(url, pool_size.map(usize::from))?;
    seal_webhook_secrets(&db, settings.webhooks.keys.as_deref()).await?;
    let mut settings = settings;
    if settings.attachments.store.is_none()
        && let DatabaseUrl::Sqlite(path) = url
    {
        // The embedded default: a directory beside the database file.
        let mut dir = path.as_os_str().to_owned();
        dir.push(".attachments");
        let config = crate::store::StoreConfig::Directory(dir.into());
        settings.attachments.store = Some(crate::store::Store::open(&config)?);
    }
    Ok(AppState::with_settings(db, url, verifier, settings))
}

/// Webhook secrets at rest: every one sealed under the current key (those
/// written before secrets were sealed, or under a previous key, are sealed
/// again). A deployment with webhooks and no key does not start.
async fn seal_webhook_secrets(db: &Db, keys: Option<&SealingKeys>) -> anyhow::Result<()> {
    let Some(keys) = keys else {
        let stored = webhook::count_all(&mut db.get().await?.conn()).await?;
        if stored > 0 {
            bail!(
                "{stored} webhook(s) store signing secrets, which are sealed at rest: set CASEBOOK_SECRET_KEY \
                 (32 random bytes in base64, such as the output of `openssl rand -base64 32`); the first start \
                 with it seals secrets stored before"
            );
        }
        return Ok(());
    };
    let mut tx = db.begin().await?;
    let result = webhook::reseal_all(&mut tx.conn(), keys).await;
    let stored = tx.finish(result).await.context("sealing the webhooks' secrets")?;
    if stored.resealed > 0 {
        tracing::info!(
            resealed = stored.resealed,
            webhooks = stored.webhooks,
            key = keys.current.id(),
            "webhook secrets sealed under the current key"
        );
    }
    Ok(())
}

/// Serves until ctrl-c (or SIGTERM).
/// On SIGTERM or ctrl-c: not ready at once, no new connections, WebSockets
/// closed with 1001, requests in flight finished (for up to the shutdown
/// timeout), then it returns.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    #[cfg(unix)]
    let _hangups = {
        // SIGHUP: read the token keys again (an identity provider rotated them).
        let reloading = state.clone();
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        crate::jobs::Job::spawn(async move {
            while hangups.recv().await.is_some() {
                reloading.reload_token_keys("SIGHUP");
            }
        })
    };
    let draining = state.clone();
    let stop = async move {
        shutdown_signal().await;
        draining.drain();
    };
    let limits = state.settings().connections;
    let server = crate::http::serve_connections(listener, app(state.clone()), limits, stop, None);
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
