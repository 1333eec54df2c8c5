//! The `casebook` command line: parses arguments and calls into the library.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

use casebook::auth::{TokenRequest, issue_token};
use casebook::config::{Cli, Command, LogFormat};
use casebook::server;

// A page of nested cases allocates thousands of small values; glibc's malloc
// took a third of the server's CPU on the dashboard page.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("casebook: {}", described(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line; a cause whose words its wrapper
/// already printed (errors that show their source) is not repeated.
fn described(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logs(&cli)?;

    match cli.command {
        Command::Schema => {
            print!("{}", casebook::graphql::sdl());
        }
        Command::Migrate { database } => {
            let applied = casebook::server::migrate(&database.url).await?;
            println!("{applied} migration(s) applied to {}", database.url);
        }
        Command::Token(args) => {
            let secret = args.secret.as_ref().context("set CASEBOOK_JWT_SECRET to sign tokens")?;
            let token = issue_token(
                secret.expose(),
                &TokenRequest {
                    sub: &args.sub,
                    name: args.name.as_deref(),
                    email: args.email.as_deref(),
                    tenant: &args.tenant,
                    roles: &args.roles,
                    ttl: args.ttl,
                    issuer: args.issuer.as_deref(),
                    audience: args.audience.as_deref(),
                },
            )?;
            println!("{token}");
        }
        Command::Serve(args) => {
            let jwt = server::jwt_config(&args)?;
            let mut settings = server::settings(&args)?;
            if args.dev {
                let tokens = server::dev_tokens(&jwt)?;
                settings.dev_tokens = tokens.into_iter().map(|dev| (dev.role.to_owned(), dev.token)).collect();
            }
            let dev_tokens = settings.dev_tokens.clone();
            let state = server::prepare(&args.database.url, &jwt, args.pool_size, settings).await?;
            let listener =
                TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
            let addr = listener.local_addr()?;
            if args.dev {
                println!("casebook (dev) on http://{addr}/  (GraphiQL; API at http://{addr}/graphql)");
                for (role, token) in &dev_tokens {
                    println!("\n{role} token:\n{token}");
                }
                println!("\nUse one as the header  Authorization: Bearer <token> (GraphiQL offers them in its picker)");
            }
            if let Some(metrics_addr) = args.metrics_listen {
                let handle = casebook::observe::install()?;
                let metrics = TcpListener::bind(metrics_addr)
                    .await
                    .with_context(|| format!("listening for metrics on {metrics_addr}"))?;
                tracing::info!(addr = %metrics.local_addr()?, "metrics at /metrics");
                tokio::spawn(async move {
                    if let Err(error) = casebook::observe::serve(metrics, handle).await {
                        tracing::error!(%error, "the metrics listener stopped");
                    }
                });
            }
            tracing::info!(%addr, "serving");
            server::serve(listener, state).await?;
        }
        Command::Demo(args) => {
            casebook::server::migrate(&args.database.url).await?;
            let db = casebook::server::open(&args.database.url, None)?;
            if let Some(existing) = casebook::demo::existing(&db, &args.tenant).await?
                && !args.force
            {
                anyhow::bail!(
                    "tenant {:?} in {} already holds data ({} cases, {} incidents, {} users): the demo would upsert \
                     users, reorder the workflow's statuses and add {} cases to it. Pass --force to seed into it \
                     anyway, or --tenant to name another",
                    args.tenant,
                    args.database.url,
                    existing.cases,
                    existing.incidents,
                    existing.users,
                    args.cases
                );
            }
            let bar = indicatif::ProgressBar::new(args.cases.into());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cases  {per_sec}  eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let started = std::time::Instant::now();
            let size = casebook::demo::DemoSize { cases: args.cases, fixed: None };
            let summary = casebook::demo::seed(&db, &args.tenant, &size, |done| bar.set_position(done)).await?;
            bar.finish_and_clear();
            println!(
                "seeded tenant {:?} in {}: {} cases, {} tasks, {} incidents, {} activity entries ({:.1}s)",
                args.tenant,
                args.database.url,
                summary.cases,
                summary.tasks,
                summary.incidents,
                summary.activity,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// `serve` logs to standard output (its event stream); the other commands
/// to standard error (their output is what they print). JSON unless the
/// stream is a terminal, colours only on one.
fn init_logs(cli: &Cli) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).context("invalid CASEBOOK_LOG filter")?;
    let to_stdout = matches!(cli.command, Command::Serve(_));
    let terminal = if to_stdout { std::io::stdout().is_terminal() } else { std::io::stderr().is_terminal() };
    let format = cli.log_format.unwrap_or(if terminal { LogFormat::Text } else { LogFormat::Json });
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match (format, to_stdout) {
        (LogFormat::Json, true) => logs.json().with_span_list(true).with_writer(std::io::stdout).init(),
        (LogFormat::Json, false) => logs.json().with_span_list(true).with_writer(std::io::stderr).init(),
        (LogFormat::Text, true) => logs.with_ansi(terminal).with_writer(std::io::stdout).init(),
        (LogFormat::Text, false) => logs.with_ansi(terminal).with_writer(std::io::stderr).init(),
    }
    Ok(())
}
