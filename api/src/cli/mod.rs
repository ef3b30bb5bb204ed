//! The `api` binary's command line (clap):
//!
//! - `api` or `api serve`: serve (see [`serve`]).
//! - `api demo`: serve with both third-party fakes inside the process, so
//!   quotes, offers and trends work offline.
//! - `api accounts add|list|set-role|set-password|disable|enable`
//!   ([`accounts`]).
//! - `api migrate [up|down|status]`: what the `migrations` binary does.
//! - `api healthcheck`: exit 0 if this host's `api` answers `/healthz` on
//!   `PUBLIC_ADDR` within 2 s, 1 if not: a container `HEALTHCHECK` for an
//!   image without curl.
//!
//! Every command takes the shared settings flags ([`SettingsArgs`]) and
//! the listeners' addresses ([`serve::Listeners`]), before or after it.

pub mod accounts;
pub mod serve;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use migrations::Schema;
use platform::cli::SettingsArgs;
use platform::{Settings, shutdown, telemetry};

/// Mercato's HTTP API: a product catalog with offers and price history,
/// stock quotes, listings, and product-feed ingestion. With no backend
/// configured it is the whole system in one process (SQLite, in-process
/// broker); every setting is an environment variable of the README's
/// configuration table, and the flags below override them.
#[derive(Debug, Parser)]
#[command(name = "api", version)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub listeners: serve::Listeners,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default)
    Serve,
    /// Serve with built-in fakes of stooq and the Offers service: every
    /// feature works offline
    Demo,
    /// Add, list and change accounts
    #[command(subcommand)]
    Accounts(accounts::Command),
    /// Apply, roll back or list the database migrations (`up` when left out)
    Migrate {
        #[command(subcommand)]
        action: Option<migrations::Command>,
    },
    /// Exit 0 if the local api answers /healthz within 2 s, else 1
    Healthcheck,
}

/// Runs the command line of this process.
pub async fn main() -> ExitCode {
    let mut cli = Cli::parse();
    match cli.command.take().unwrap_or(Command::Serve) {
        Command::Serve => serve::serve(&cli.settings, &cli.listeners).await,
        Command::Demo => serve::demo(&cli.settings, &cli.listeners).await,
        Command::Accounts(command) => {
            with_settings(&cli, "api accounts", async |settings| {
                telemetry::init(settings.telemetry.log_format);
                exit_quietly("api accounts", accounts::run(settings, command).await)
            })
            .await
        }
        Command::Migrate { action } => {
            with_settings(&cli, "api migrate", async |settings| {
                telemetry::init(settings.telemetry.log_format);
                let action = action.unwrap_or(migrations::Command::Up);
                shutdown::report_exit("api migrate", migrate(&settings, action).await)
            })
            .await
        }
        Command::Healthcheck => {
            with_settings(&cli, "api healthcheck", async |settings| {
                exit_quietly("api healthcheck", healthcheck(&settings).await)
            })
            .await
        }
    }
}

/// Runs a one-shot command on the settings of the command line, or exits
/// with code 2 naming the bad variable.
async fn with_settings(
    cli: &Cli,
    command: &str,
    run: impl AsyncFnOnce(Settings) -> ExitCode,
) -> ExitCode {
    match cli.settings.load(command, &cli.listeners.vars()) {
        Ok(settings) => run(settings).await,
        Err(code) => code,
    }
}

/// A one-shot command's end: its error on stderr (not as a log line) and
/// exit code 1.
fn exit_quietly(command: &str, outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{command}: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn migrate(settings: &Settings, command: migrations::Command) -> anyhow::Result<()> {
    let db = platform::db::connect(&settings.database.url)
        .await
        .context("DATABASE_URL: cannot connect to the database")?;
    migrations::run(command, &db, &Schema::for_services(settings.services)).await?;
    db.close().await.ok();
    Ok(())
}

/// Asks `/healthz` of the `api` listening on `PUBLIC_ADDR` (on loopback
/// when it listens on every address).
pub async fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let base = crate::app::startup::loopback_url(settings.http.public_addr)?;
    let url = base.join("healthz")?;
    let response = platform::http::client(std::time::Duration::from_secs(2))?
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("api").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_serve() {
        assert!(parse(&[]).expect("valid").command.is_none());
        assert!(matches!(
            parse(&["serve"]).expect("valid").command,
            Some(Command::Serve)
        ));
        assert!(matches!(
            parse(&["healthcheck"]).expect("valid").command,
            Some(Command::Healthcheck)
        ));
    }

    #[test]
    fn accounts_add_takes_a_username_and_a_role_but_no_password() {
        let cli =
            parse(&["accounts", "add", "--role", "user", "--username", "ana"]).expect("valid");
        match cli.command {
            Some(Command::Accounts(accounts::Command::Add { username, role })) => {
                assert_eq!(username.as_str(), "ana");
                assert_eq!(role, crate::accounts::Role::User);
            }
            other => panic!("expected accounts add, got {other:?}"),
        }
        assert!(parse(&["accounts", "add", "--username", "ana"]).is_err());
        assert!(parse(&["accounts", "add", "--username", "ana", "--role", "root"]).is_err());
        assert!(
            parse(&[
                "accounts",
                "add",
                "--username",
                "ana",
                "--role",
                "user",
                "--password",
                "x"
            ])
            .is_err()
        );
        assert!(parse(&["accounts", "add", "--username"]).is_err());
        assert!(parse(&["acounts"]).is_err());
    }

    #[test]
    fn flags_become_settings_variables() {
        let cli =
            parse(&["--database-url", "sqlite::memory:", "migrate", "status"]).expect("valid");
        assert_eq!(
            cli.settings.vars(),
            vec![("DATABASE_URL", "sqlite::memory:".to_owned())]
        );
        assert!(matches!(
            cli.command,
            Some(Command::Migrate {
                action: Some(migrations::Command::Status)
            })
        ));
    }
}
