//! Command line and environment. A flag wins over its variable.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `CASEBOOK_LISTEN` | listen address | `127.0.0.1:4000` |
//! | `CASEBOOK_DATABASE_URL` | `sqlite://PATH` or `postgres://...` | `sqlite://casebook.db` |
//! | `CASEBOOK_JWT_SECRET` | HS256 secret (verifying; signing for `token`) | none |
//! | `CASEBOOK_JWT_PUBLIC_KEY` | path of a PEM public key (RS256 or ES256) | none |
//! | `CASEBOOK_JWT_ISSUER`, `CASEBOOK_JWT_AUDIENCE` | checked when set | none |
//! | `CASEBOOK_DEFAULT_TENANT` | tenant of tokens without `tid` (else refused) | none |
//! | `CASEBOOK_SECRET_KEY`, `CASEBOOK_SECRET_KEY_PREVIOUS` | seal webhook secrets at rest | none |
//! | `CASEBOOK_LOG` | log filter, `RUST_LOG` syntax | `info` |
//! | `CASEBOOK_DB_POOL_SIZE` | database connections per process (`serve`) | 16 PostgreSQL, 8 SQLite |
//! | `CASEBOOK_RATE_LIMIT` | cost points per caller per minute (0: off) | 1000 |
//! | `CASEBOOK_MAX_SUBSCRIPTIONS_PER_SOCKET` | live subscriptions on one WebSocket | 100 |
//! | `CASEBOOK_MAX_SUBSCRIPTIONS_PER_CALLER` | live subscriptions of one caller per process | 500 |
//! | `CASEBOOK_REQUEST_TIMEOUT` | seconds an HTTP request may run | 30 |
//! | `CASEBOOK_MAX_CONNECTIONS` | connections per process | 4096 |
//! | `CASEBOOK_HEADER_TIMEOUT`, `CASEBOOK_BODY_TIMEOUT`, `CASEBOOK_IDLE_TIMEOUT` | seconds to send a header, a body, the next request | 10, 30, 60 |
//! | `CASEBOOK_SEARCH_COUNT_LIMIT` | a text search's `totalCount` is exact up to this many matches | 10000 |
//! | `CASEBOOK_ATTACHMENTS_DIR`, `CASEBOOK_S3_*` | where attachments' bytes live | beside a SQLite file |
//! | `CASEBOOK_ATTACHMENT_MAX_BYTES`, `_PER_CASE`, `_QUOTA`, `_LINK_TTL`, `CASEBOOK_UPLOAD_TIMEOUT`, `CASEBOOK_PUBLIC_URL` | attachments' limits and links | 100 MiB, 500, 10 GiB, 300 s, 3600 s, none |

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for collectors).
    Json,
    /// Human-readable lines.
    Text,
}

#[derive(Debug, Parser)]
#[command(name = "casebook", version, about = "GraphQL API for security-operations case management")]
pub struct Cli {
    /// Log filter, `RUST_LOG` syntax.
    #[arg(long, env = "CASEBOOK_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log lines as JSON objects or as text (default: text on a terminal,
    /// JSON otherwise; colours only on a terminal).
    #[arg(long = "log-format", env = "CASEBOOK_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve HTTP and WebSocket.
    Serve(Box<ServeArgs>),
    /// Apply pending migrations and exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print a JWT signed with CASEBOOK_JWT_SECRET (HS256).
    Token(TokenArgs),
    /// Seed a realistic demo data set.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (embedded) or `postgres://...`.
    #[arg(long = "database-url", env = "CASEBOOK_DATABASE_URL", default_value = "sqlite://casebook.db")]
    pub url: DatabaseUrl,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CASEBOOK_LISTEN", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Database connections per process (default: 16 on PostgreSQL, 8 on SQLite).
    /// Replicas share one PostgreSQL: keep replicas x size under its max_connections.
    #[arg(long = "db-pool-size", env = "CASEBOOK_DB_POOL_SIZE", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub pool_size: Option<u16>,
    /// Cost points each caller may spend per minute (0 turns rate limiting off).
    #[arg(long = "rate-limit", env = "CASEBOOK_RATE_LIMIT", default_value_t = 1_000)]
    pub rate_limit: u64,
    /// Live subscriptions allowed on one WebSocket.
    #[arg(long = "max-subscriptions-per-socket", env = "CASEBOOK_MAX_SUBSCRIPTIONS_PER_SOCKET", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_subscriptions_per_socket: u32,
    /// Live subscriptions allowed per caller (tenant and user) in one process.
    #[arg(long = "max-subscriptions-per-caller", env = "CASEBOOK_MAX_SUBSCRIPTIONS_PER_CALLER", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_subscriptions_per_caller: u32,
    /// Seconds an HTTP request may run before it is stopped.
    #[arg(long = "request-timeout", env = "CASEBOOK_REQUEST_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
    /// Connections one process holds (WebSockets included); at the cap, the
    /// connection that has waited longest for its client is closed to let a
    /// new one in.
    #[arg(long = "max-connections", env = "CASEBOOK_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Seconds a request's header may take to arrive.
    #[arg(long = "header-timeout", env = "CASEBOOK_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds a request's body may take to arrive.
    #[arg(long = "body-timeout", env = "CASEBOOK_BODY_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,
    #[command(flatten)]
    pub attachments: AttachmentArgs,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long = "idle-timeout", env = "CASEBOOK_IDLE_TIMEOUT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Let webhooks reach loopback, private, link-local and metadata addresses
    /// (refused by default: a webhook URL must not reach inside your network).
    #[arg(long = "webhook-allow-private", env = "CASEBOOK_WEBHOOK_ALLOW_PRIVATE", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// Networks webhooks may reach whatever they are, comma-separated
    /// (`10.20.0.0/16,192.168.1.5`).
    #[arg(long = "webhook-allow-networks", env = "CASEBOOK_WEBHOOK_ALLOW_NETWORKS", value_delimiter = ',',
          value_parser = parse_network)]
    pub webhook_allow_networks: Vec<ipnet::IpNet>,
    /// Seconds one webhook request may take, answer included.
    #[arg(long = "webhook-timeout", env = "CASEBOOK_WEBHOOK_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout: u64,
    /// Webhook requests this process sends at once; 0: it sends none (other
    /// replicas deliver what it queues).
    #[arg(long = "webhook-concurrency", env = "CASEBOOK_WEBHOOK_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(0..=256))]
    pub webhook_concurrency: u16,
    /// The key that seals webhooks' signing secrets at rest: 32 random bytes
    /// in base64 or hex (`openssl rand -base64 32`). Needed once a webhook
    /// exists.
    #[arg(long = "secret-key", env = "CASEBOOK_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
    /// Keys that sealed secrets before a rotation (comma-separated): they
    /// open those secrets, which are sealed again under the current key at start.
    #[arg(
        long = "secret-key-previous",
        env = "CASEBOOK_SECRET_KEY_PREVIOUS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub secret_key_previous: Vec<Secret>,
    /// A trusted-documents manifest (`{ "<id>": "<document>" }`, as
    /// graphql-codegen's client preset and Relay write it): only its documents
    /// run, by id.
    #[arg(long = "trusted-documents", env = "CASEBOOK_TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<PathBuf>,
    /// Serve Prometheus metrics at `/metrics` on this address (off when unset).
    #[arg(long = "metrics-listen", env = "CASEBOOK_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds a shutdown (SIGTERM, ctrl-c) waits for requests in flight.
    #[arg(long = "shutdown-timeout", env = "CASEBOOK_SHUTDOWN_TIMEOUT", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_timeout: u64,
    /// How many matches of a text search `totalCount` counts exactly; past
    /// it, `totalCount` is this number and `totalCountIsExact` is false.
    #[arg(long = "search-count-limit", env = "CASEBOOK_SEARCH_COUNT_LIMIT", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub search_count_limit: u32,
    /// Milliseconds from which an operation gets a `slow operation` log line
    /// (its name, duration and SQL statement count); 0 logs every operation.
    #[arg(long = "slow-operation-ms", env = "CASEBOOK_SLOW_OPERATION_MS", default_value_t = 1_000)]
    pub slow_operation_ms: u64,
    /// Development mode: ready-made tokens for each role in tenant `default`,
    /// signed with a random secret of this run's own (never a configured
    /// one). Only on a loopback address with SQLite, unless --dev-allow-exposed.
    #[arg(long)]
    pub dev: bool,
    /// Let --dev run on an address other than loopback, or on PostgreSQL:
    /// anyone who reaches `GET /` then gets admin tokens for this run.
    #[arg(long = "dev-allow-exposed", requires = "dev")]
    pub dev_allow_exposed: bool,
    #[command(flatten)]
    pub jwt: JwtArgs,
}

#[derive(Debug, Clone, Default, Args)]
pub struct JwtArgs {
    /// HS256 secret for verifying tokens.
    #[arg(long = "jwt-secret", env = "CASEBOOK_JWT_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,
    /// PEM public key (RS256 or ES256) of an identity provider.
    #[arg(long = "jwt-public-key", env = "CASEBOOK_JWT_PUBLIC_KEY")]
    pub public_key: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long = "jwt-issuer", env = "CASEBOOK_JWT_ISSUER")]
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long = "jwt-audience", env = "CASEBOOK_JWT_AUDIENCE")]
    pub audience: Option<String>,
    /// The tenant of tokens that name none (`tid`); without it such tokens
    /// are refused.
    #[arg(long = "default-tenant", env = "CASEBOOK_DEFAULT_TENANT")]
    pub default_tenant: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// User id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    /// Tenant (`tid`).
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Role: reader, analyst or admin; repeatable.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// Lifetime, such as `30m`, `8h` or `7d`.
    #[arg(long, default_value = "8h", value_parser = parse_duration)]
    pub ttl: Duration,
    #[arg(long = "jwt-secret", env = "CASEBOOK_JWT_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,
    #[arg(long = "jwt-issuer", env = "CASEBOOK_JWT_ISSUER")]
    pub issuer: Option<String>,
    #[arg(long = "jwt-audience", env = "CASEBOOK_JWT_AUDIENCE")]
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Number of cases to create.
    #[arg(long, default_value_t = 2000)]
    pub cases: u32,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// Seed into a tenant that already holds cases, incidents or users
    /// (the demo upserts users, reorders the workflow and adds cases).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// A secret that never shows in logs or debug output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("the secret must not be empty".into());
        }
        Ok(Secret(s.to_owned()))
    }
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file, created when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, kept whole for the driver.
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")) {
            if path.is_empty() || path == ":memory:" {
                // each pooled connection would get its own empty database
                return Err("sqlite needs a file path, such as sqlite://casebook.db".into());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(s.to_owned()))
        } else {
            Err(format!("unsupported database URL {}: use sqlite://PATH or postgres://...", masked_url(s)))
        }
    }
}

impl fmt::Display for DatabaseUrl {
    /// Shows where, never a secret (see [`masked_url`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&masked_url(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Query parameters that hold secrets (libpq's `password` and `sslpassword`,
/// and anything else named like a secret).
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "token", "key"].iter().any(|word| name.contains(word)) && name != "sslkey"
}

/// A URL as it may be printed: the password of `user:password@` and every
/// secret query parameter replaced by `***`. Read with the URL parser, not
/// by cutting strings; a URL that does not parse shows only its scheme.
pub fn masked_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        let scheme = text.split_once("://").map_or("", |(scheme, _)| scheme);
        let scheme: String = scheme.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
        return format!("{scheme}://(an unreadable URL, not shown)");
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_parameter(&k) { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Parses `90s`, `15m`, `8h`, `7d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("invalid duration unit in {s:?}: use s, m, h or d")),
    };
    if seconds == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// A network (`10.0.0.0/8`) or one address (`192.168.1.5`, `::1`).
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is neither a network (10.0.0.0/8) nor an address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_by_scheme() {
        assert_eq!("sqlite://casebook.db".parse::<DatabaseUrl>(), Ok(DatabaseUrl::Sqlite("casebook.db".into())));
        assert_eq!("sqlite:///var/lib/cb.db".parse::<DatabaseUrl>(), Ok(DatabaseUrl::Sqlite("/var/lib/cb.db".into())));
        assert!(matches!("postgres://u:p@h/db".parse(), Ok(DatabaseUrl::Postgres(_))));
        assert!("mysql://h/db".parse::<DatabaseUrl>().is_err());
        assert!("sqlite://:memory:".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn postgres_url_display_hides_every_secret() {
        let url: DatabaseUrl = "postgres://casebook:s3cret@db:5432/cb".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://casebook:***@db:5432/cb");
        let url: DatabaseUrl =
            "postgres://casebook@db/cb?sslmode=require&password=s3cret&sslpassword=k3y&sslkey=/k.pem".parse().unwrap();
        let shown = url.to_string();
        assert!(!shown.contains("s3cret") && !shown.contains("k3y"), "{shown}");
        assert!(shown.contains("sslmode=require") && shown.contains("sslkey=%2Fk.pem"), "{shown}");
        assert!(!format!("{url:?}").contains("s3cret"));
        // Percent-encoded passwords and ones with an @ in them too.
        let url: DatabaseUrl = "postgres://u:p%40ss%2Fw0rd@db/cb".parse().unwrap();
        assert!(!url.to_string().contains("w0rd"), "{url}");
        let refused = "mysql://root:hunter2@db/x".parse::<DatabaseUrl>().unwrap_err();
        assert!(!refused.contains("hunter2"), "{refused}");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("8 weeks").is_err());
        assert!(parse_duration("0s").is_err());
    }

    /// `casebook serve` with these arguments, parsed.
    fn serve(args: &[&str]) -> Result<Box<ServeArgs>, clap::Error> {
        Cli::try_parse_from([&["casebook", "serve"], args].concat()).map(|cli| match cli.command {
            Command::Serve(args) => args,
            _ => unreachable!("serve parses as serve"),
        })
    }

    #[test]
    fn pool_size_is_optional_and_bounded() {
        assert_eq!(serve(&["--db-pool-size", "4"]).unwrap().pool_size, Some(4));
        assert!(serve(&["--db-pool-size", "0"]).is_err());
        assert!(serve(&["--db-pool-size", "many"]).is_err());
    }

    #[test]
    fn search_count_limit_defaults_to_ten_thousand_and_refuses_zero() {
        assert_eq!(serve(&[]).unwrap().search_count_limit, 10_000);
        assert_eq!(serve(&["--search-count-limit", "50"]).unwrap().search_count_limit, 50);
        assert!(serve(&["--search-count-limit", "0"]).is_err());
        assert!(serve(&["--search-count-limit", "10000001"]).is_err());
    }
}

/// Where attachments' bytes live and how large they may grow
/// (docs/attachments.md).
#[derive(Debug, Clone, Args)]
pub struct AttachmentArgs {
    /// Directory for attachments' bytes (default: `<database>.attachments`
    /// beside a SQLite database; on PostgreSQL, a directory or a bucket must
    /// be configured for attachments).
    #[arg(long = "attachments-dir", env = "CASEBOOK_ATTACHMENTS_DIR")]
    pub dir: Option<PathBuf>,
    /// An S3-compatible bucket for attachments' bytes (instead of a directory).
    #[arg(long = "s3-bucket", env = "CASEBOOK_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// The S3 service's URL (MinIO, SeaweedFS, Ceph...); absent: AWS S3.
    #[arg(long = "s3-endpoint", env = "CASEBOOK_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long = "s3-region", env = "CASEBOOK_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Access key id (else AWS_ACCESS_KEY_ID, or the instance's role).
    #[arg(long = "s3-access-key-id", env = "CASEBOOK_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    #[arg(long = "s3-secret-access-key", env = "CASEBOOK_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<Secret>,
    /// Path-style requests (`https://host/bucket/key`), as MinIO and most
    /// self-hosted stores need.
    #[arg(long = "s3-path-style", env = "CASEBOOK_S3_PATH_STYLE", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_path_style: bool,
    /// Keys begin with this folder (several deployments in one bucket).
    #[arg(long = "s3-prefix", env = "CASEBOOK_S3_PREFIX")]
    pub s3_prefix: Option<String>,
    /// Bytes one file may hold (at most 2 GiB - 1).
    #[arg(long = "attachment-max-bytes", env = "CASEBOOK_ATTACHMENT_MAX_BYTES", default_value_t = 100 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..=2_147_483_647))]
    pub max_bytes: u64,
    /// Attachments one case may hold.
    #[arg(long = "attachments-per-case", env = "CASEBOOK_ATTACHMENTS_PER_CASE", default_value_t = 500,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub per_case: i64,
    /// Bytes of distinct content one tenant's attachments may hold.
    #[arg(long = "attachment-quota", env = "CASEBOOK_ATTACHMENT_QUOTA", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub quota: u64,
    /// Seconds a signed download link works.
    #[arg(long = "attachment-link-ttl", env = "CASEBOOK_ATTACHMENT_LINK_TTL", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub link_ttl: u64,
    /// Seconds an upload may take in all.
    #[arg(long = "upload-timeout", env = "CASEBOOK_UPLOAD_TIMEOUT", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub upload_timeout: u64,
    /// The service's public URL: download links are absolute with it
    /// (`https://cases.example.com`), else paths from the server's root.
    #[arg(long = "public-url", env = "CASEBOOK_PUBLIC_URL")]
    pub public_url: Option<String>,
}
