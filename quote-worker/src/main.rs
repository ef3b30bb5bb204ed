//! The `quote-worker` process: see the library documentation.

use std::process::ExitCode;

use clap::Parser;
use platform::cli::SettingsArgs;
use platform::{shutdown, telemetry};
use quote_worker::QuoteWorker;

/// Answers `quotes.get` over RabbitMQ with quotes from stooq
/// (`STOOQ_BASE_URL`), until SIGTERM or Ctrl-C. Every setting is an
/// environment variable of the README's configuration table.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    settings: SettingsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match args.settings.load("quote-worker", &[]) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    telemetry::init(settings.telemetry.log_format);
    let outcome = async {
        QuoteWorker::build(&settings)?
            .run_until_stopped(shutdown::on_signal())
            .await
    };
    shutdown::report_exit("quote-worker", outcome.await)
}
