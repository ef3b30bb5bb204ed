//! `migrations [up|down|status]`: the schemas of the services named by
//! `SERVICES` (all three by default), on `DATABASE_URL`.

use std::process::ExitCode;

use migrations::{Command, Schema};
use platform::{Settings, shutdown, telemetry};

const USAGE: &str = "usage: migrations [up|down|status]   (default: up)";

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load_for_process("migrations") {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    telemetry::init(settings.telemetry.log_format);
    let mut args = std::env::args().skip(1);
    let command = match (args.next().as_deref().map(str::parse), args.next()) {
        (None, None) => Command::Up,
        (Some(Ok(command)), None) => command,
        (Some(Err(e)), _) => {
            eprintln!("migrations: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
        (_, Some(extra)) => {
            eprintln!("migrations: unexpected argument `{extra}`\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = async {
        let db = platform::db::connect(&settings.database.url).await?;
        migrations::run(command, &db, &Schema::for_services(settings.services)).await?;
        anyhow::Ok(())
    };
    shutdown::report_exit("migrations", outcome.await)
}
