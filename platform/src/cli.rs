//! The command-line flags every Mercato binary shares: settings a flag may
//! give instead of the environment. A flag wins over its variable, which
//! wins over the `MERCATO_CONFIG` file, which wins over the default.
//!
//! Only the settings one reaches for on a command line are flags; every
//! other one stays a variable (the README's configuration table). A
//! secret in a URL given as a flag shows in `ps`: prefer the variable there.

use std::path::PathBuf;

use crate::settings::{Settings, Vars};

/// Flags over the settings of the README's table.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// A TOML settings file, keys in lower case [env: MERCATO_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// SQLite or PostgreSQL URL [env: DATABASE_URL]
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// RabbitMQ URL; unset, the in-process broker [env: AMQP_URL]
    #[arg(long, value_name = "URL", global = true)]
    pub amqp_url: Option<String>,
    /// `pretty` or `json` [env: LOG_FORMAT]
    #[arg(long, value_name = "FORMAT", global = true)]
    pub log_format: Option<String>,
}

impl SettingsArgs {
    /// The variables these flags set.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = Vec::new();
        if let Some(config) = &self.config {
            vars.push(("MERCATO_CONFIG", config.display().to_string()));
        }
        for (var, value) in [
            ("DATABASE_URL", &self.database_url),
            ("AMQP_URL", &self.amqp_url),
            ("LOG_FORMAT", &self.log_format),
        ] {
            if let Some(value) = value {
                vars.push((var, value.clone()));
            }
        }
        vars
    }

    /// The settings of a binary's `main`: the process environment (and the
    /// `MERCATO_CONFIG` file it names), with these flags and then `extra`
    /// over it. A bad value is printed to stderr, naming the process and
    /// the variable, and becomes exit code 2.
    pub fn load(
        &self,
        process: &str,
        extra: &[(&'static str, String)],
    ) -> Result<Settings, std::process::ExitCode> {
        let mut vars: Vars = std::env::vars().collect();
        vars.extend(
            self.vars()
                .into_iter()
                .chain(extra.iter().cloned())
                .map(|(var, value)| (var.to_owned(), value)),
        );
        Settings::from_vars(vars).map_err(|e| {
            eprintln!("{process}: invalid configuration: {e}");
            std::process::ExitCode::from(2)
        })
    }
}
