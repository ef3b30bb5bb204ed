//! The `api` process: see the library documentation, and [`api::cli`] for
//! its command line.

use std::process::ExitCode;

use api::Application;
use api::cli::{self, Command};
use platform::{Settings, shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match Command::parse(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("api: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let settings = match Settings::load_for_process("api") {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    match command {
        Command::Serve => {
            if let Err(e) = settings.require_jwt_secret() {
                eprintln!("api: invalid configuration: {e}");
                return ExitCode::from(2);
            }
            telemetry::init(settings.telemetry.log_format);
            let stop = shutdown::on_signal();
            let outcome = async {
                Application::build(settings)
                    .await?
                    .run_until_stopped(stop)
                    .await
            };
            shutdown::report_exit("api", outcome.await)
        }
        Command::Healthcheck => match cli::healthcheck(&settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("api healthcheck: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::AddAccount { username, role } => {
            telemetry::init(settings.telemetry.log_format);
            let outcome = cli::add_account(settings, username, role).await;
            shutdown::report_exit("api accounts add", outcome)
        }
    }
}
