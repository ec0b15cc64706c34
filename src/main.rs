//! `rapport`: the one binary. Parses the command line and the configuration, sets up logging,
//! and hands over to the library crates.

mod ask;
mod bench;
mod eval;
mod eval_agent;
mod eval_answerability;
mod eval_intents;
mod ingest;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rapport_server::config::LogFormat;
use rapport_server::{App, Config};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "rapport",
    version,
    about = "Self-hostable AI support agent that remembers the customer across channels"
)]
struct Cli {
    /// TOML configuration file; `RAPPORT_*` environment variables override it.
    #[arg(long, global = true, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve HTTP and the background workers.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Add or re-sync knowledge (in process; stop the server on this data dir first).
    Ingest {
        #[command(subcommand)]
        command: ingest::IngestCommand,
    },
    /// Send one customer message through the whole pipeline; prints the reply and its trace.
    Ask(ask::AskArgs),
    /// Measure quality on evaluation sets.
    Eval {
        #[command(subcommand)]
        command: eval::EvalCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Issue an API token for a user, straight from the database (for a shell or a script on
    /// the server; the token is printed once).
    Token {
        /// The user the token acts as.
        #[arg(long)]
        email: String,
        /// What the token is for.
        #[arg(long, default_value = "command line")]
        name: String,
    },
    /// Measure the speed of a component on this machine.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (file + environment), secrets masked.
    Show,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    init_logging(&config);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            print!("{}", config.to_masked_toml()?);
            Ok(())
        }
        Command::Bench { command } => bench::run(command, &config).await,
        Command::Ingest { command } => ingest::run(command, config).await,
        Command::Eval { command } => eval::run(command, config).await,
        Command::Ask(args) => ask::run(args, config).await,
        Command::Token { email, name } => token(config, &email, &name).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = rapport_server::bind(&config).await?;
    let app = App::build(config).await.context("could not start")?;
    first_admin(&app).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let running = app.start(listener, shutdown.clone());
    tracing::info!("listening on http://{addr}");
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and jobs");
        shutdown.cancel();
    });
    running.stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

/// A new install gets its first admin: from `RAPPORT_ADMIN_EMAIL`/`RAPPORT_ADMIN_PASSWORD`, or
/// with a one-time password printed here, once.
async fn first_admin(app: &App) -> anyhow::Result<()> {
    let secrets = &app.config.secrets;
    let created = app
        .auth
        .ensure_first_admin(
            app.config.auth.admin_email.as_deref(),
            secrets.admin_password.as_ref().map(|p| p.expose()),
        )
        .await
        .context("could not create the first admin")?;
    if let Some(admin) = created {
        match admin.one_time_password {
            Some(password) => println!(
                "\nFirst admin created. Sign in at http://{}:{}/ as {} with the one-time password\n\n    {password}\n\nand change it (POST /api/v1/auth/password). It is not shown again.\n",
                app.config.bind, app.config.port, admin.email
            ),
            None => {
                tracing::info!(email = %admin.email, "first admin created from RAPPORT_ADMIN_EMAIL")
            }
        }
    }
    Ok(())
}

async fn token(config: Config, email: &str, name: &str) -> anyhow::Result<()> {
    let store = rapport_store::Store::connect(&config.store_options()).await?;
    store.migrate().await?;
    let users = store.credentials(email).await?;
    let [found] = users.as_slice() else {
        anyhow::bail!(
            "{} active users have the e-mail {email:?}; expected one",
            users.len()
        );
    };
    let user = &found.user;
    let auth =
        rapport_auth::Authenticator::new(store.clone(), std::time::Duration::from_secs(3600));
    let issued = auth
        .issue_token(
            rapport_core::ids::WorkspaceId(user.workspace_id),
            user.id,
            name,
        )
        .await?;
    println!("{}", issued.token);
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = rapport_store::Store::connect(&config.store_options()).await?;
    store.migrate().await?;
    let applied = store.applied_migrations().await?;
    println!(
        "database ({}) is at migration {}",
        store.backend().as_str(),
        applied.last().copied().unwrap_or(0)
    );
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
