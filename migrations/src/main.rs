//! `migrations [up|down|status]`: the schemas of the services named by
//! `SERVICES` (all three by default), on `DATABASE_URL`. `api migrate`
//! does the same from the `api` binary.

use std::process::ExitCode;

use clap::Parser;
use migrations::{Command, Schema};
use platform::cli::SettingsArgs;
use platform::{shutdown, telemetry};

/// Applies, rolls back or lists the database migrations of the services
/// `SERVICES` names, on `DATABASE_URL`.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    /// What to do; `up` when left out.
    command: Option<Command>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match args.settings.load("migrations", &[]) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    telemetry::init(settings.telemetry.log_format);
    let command = args.command.unwrap_or(Command::Up);
    let outcome = async {
        let db = platform::db::connect(&settings.database.url).await?;
        migrations::run(command, &db, &Schema::for_services(settings.services)).await?;
        anyhow::Ok(())
    };
    shutdown::report_exit("migrations", outcome.await)
}
