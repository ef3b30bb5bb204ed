//! `api accounts …`: managing accounts from the shell, on `DATABASE_URL`
//! (migrated first when `MIGRATE_ON_START` says so).
//!
//! Passwords are read from the terminal without echo, or from the first
//! line of standard input when that is not a terminal (`printf '%s\n'
//! "$PW" | api accounts add …`); never from an argument, which would land
//! in shell history and in `ps`.
//!
//! A disabled account can no longer log in nor use Basic credentials.
//! Tokens it holds stay valid until they expire (five minutes), and a
//! running `api` may accept its Basic credentials for up to
//! `AUTH_CACHE_TTL_SECS` more: no process is asked to forget it.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use migrations::Schema;
use platform::{Clock, Settings};
use sea_orm::DatabaseConnection;

use crate::accounts::entity as account;
use crate::accounts::store::{self, Change};
use crate::accounts::{NewPassword, Role, Username};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add an account; the password is read from the terminal or stdin
    Add {
        #[arg(long, value_parser = Username::parse)]
        username: Username,
        /// admin, user or feeder
        #[arg(long, value_parser = Role::parse)]
        role: Role,
    },
    /// List every account: name, role, created, disabled
    List,
    /// Change an account's role
    SetRole {
        #[arg(long, value_parser = Username::parse)]
        username: Username,
        /// admin, user or feeder
        #[arg(long, value_parser = Role::parse)]
        role: Role,
    },
    /// Change an account's password, read from the terminal or stdin
    SetPassword {
        #[arg(long, value_parser = Username::parse)]
        username: Username,
    },
    /// Refuse an account's credentials from now on
    Disable {
        #[arg(long, value_parser = Username::parse)]
        username: Username,
    },
    /// Accept a disabled account's credentials again
    Enable {
        #[arg(long, value_parser = Username::parse)]
        username: Username,
    },
}

/// Runs one accounts command and prints what it did.
pub async fn run(settings: Settings, command: Command) -> anyhow::Result<()> {
    let password = match &command {
        Command::Add { .. } | Command::SetPassword { .. } => Some(read_password()?),
        _ => None,
    };
    let db = connect(&settings).await?;
    let clock = Clock::system();
    let outcome = async {
        match command {
            Command::Add { username, role } => {
                let password = NewPassword::parse(&password.unwrap_or_default())
                    .map_err(anyhow::Error::msg)?;
                let account = store::create_account(&db, &clock, username, password, role).await?;
                println!(
                    "account {} ({}) created",
                    account.username,
                    account.role.as_str()
                );
            }
            Command::List => print_accounts(&store::list_accounts(&db).await?),
            Command::SetRole { username, role } => {
                let account =
                    store::change_account(&db, &clock, &username, Change::Role(role)).await?;
                println!(
                    "account {} is now {}",
                    account.username,
                    account.role.as_str()
                );
            }
            Command::SetPassword { username } => {
                let password = NewPassword::parse(&password.unwrap_or_default())
                    .map_err(anyhow::Error::msg)?;
                let account =
                    store::change_account(&db, &clock, &username, Change::Password(password))
                        .await?;
                println!("password of {} changed", account.username);
            }
            Command::Disable { username } => {
                let account =
                    store::change_account(&db, &clock, &username, Change::Disabled(true)).await?;
                println!("account {} disabled", account.username);
            }
            Command::Enable { username } => {
                let account =
                    store::change_account(&db, &clock, &username, Change::Disabled(false)).await?;
                println!("account {} enabled", account.username);
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await.ok();
    outcome
}

async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = platform::db::connect(&settings.database.url)
        .await
        .context("DATABASE_URL: cannot connect to the database")?;
    if settings.database.migrate_on_start {
        migrations::up(&db, &[Schema::Core])
            .await
            .context("applying database migrations")?;
    }
    Ok(db)
}

fn print_accounts(accounts: &[account::Model]) {
    let width = accounts
        .iter()
        .map(|a| a.username.len())
        .max()
        .unwrap_or(0)
        .max("username".len());
    println!(
        "{:<width$}  {:<6}  {:<20}  disabled",
        "username", "role", "created"
    );
    for a in accounts {
        println!(
            "{:<width$}  {:<6}  {:<20}  {}",
            a.username,
            a.role.as_str(),
            a.created_at.to_rfc3339_seconds(),
            a.disabled_at
                .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339_seconds()),
        );
    }
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ").context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
