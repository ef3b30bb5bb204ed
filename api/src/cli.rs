//! The `api` binary's command line:
//!
//! - `api`: serve (the default).
//! - `api healthcheck`: exit 0 if this host's `api` answers `/healthz` on
//!   `PUBLIC_ADDR` within 2 s, 1 if not: a container `HEALTHCHECK` for an
//!   image without curl.
//! - `api accounts add --username NAME --role admin|user|feeder`: add an account
//!   from the shell. The password is read from the terminal without echo,
//!   or from the first line of standard input when that is not a terminal
//!   (`printf '%s\n' "$PW" | api accounts add …`); never from an argument,
//!   which would land in shell history and in `ps`.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;
use migrations::Schema;
use platform::{Clock, Settings};

use crate::accounts::{NewPassword, Role, Username};

pub const USAGE: &str = "usage: api                                              serve\n       api healthcheck                                  exit 0 if the local api answers /healthz\n       api accounts add --username NAME --role admin|user|feeder   add an account (password from the terminal or stdin)";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    Healthcheck,
    AddAccount { username: Username, role: Role },
}

impl Command {
    /// Parses the arguments after the program name.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            [] | ["serve"] => Ok(Self::Serve),
            ["healthcheck"] => Ok(Self::Healthcheck),
            ["accounts", "add", options @ ..] => {
                let (mut username, mut role) = (None, None);
                let mut options = options.iter();
                while let Some(option) = options.next() {
                    let value = options
                        .next()
                        .ok_or_else(|| format!("{option} needs a value"))?;
                    match *option {
                        "--username" => username = Some(Username::parse(value)?),
                        "--role" => role = Some(Role::parse(value)?),
                        other => return Err(format!("unknown option `{other}`")),
                    }
                }
                Ok(Self::AddAccount {
                    username: username.ok_or("--username is required")?,
                    role: role.ok_or("--role is required")?,
                })
            }
            _ => Err(format!("unknown command `{}`", args.join(" "))),
        }
    }
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

/// Adds an account to `DATABASE_URL` (migrating it first when
/// `MIGRATE_ON_START` says so), with a password read as the module says.
pub async fn add_account(settings: Settings, username: Username, role: Role) -> anyhow::Result<()> {
    let password = read_password()?;
    let password = NewPassword::parse(&password).map_err(anyhow::Error::msg)?;
    let db = platform::db::connect(&settings.database.url)
        .await
        .context("DATABASE_URL: cannot connect to the database")?;
    if settings.database.migrate_on_start {
        migrations::up(&db, &[Schema::Core])
            .await
            .context("applying database migrations")?;
    }
    let account =
        crate::accounts::store::create_account(&db, &Clock::system(), username, password, role)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("account {} ({:?}) created", account.username, account.role);
    db.close().await.ok();
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Command::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn no_arguments_serve() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["serve"]), Ok(Command::Serve));
        assert_eq!(parse(&["healthcheck"]), Ok(Command::Healthcheck));
    }

    #[test]
    fn accounts_add_takes_a_username_and_a_role_but_no_password() {
        assert_eq!(
            parse(&["accounts", "add", "--role", "user", "--username", "ana"]),
            Ok(Command::AddAccount {
                username: Username::parse("ana").expect("valid"),
                role: Role::User,
            })
        );
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
}
