//! The `offer-poller` process: see the library documentation.

use std::process::ExitCode;

use clap::Parser;
use offer_poller::OfferPoller;
use platform::cli::SettingsArgs;
use platform::{shutdown, telemetry};

/// Registers products with the Offers service (`OFFERS_BASE_URL`) on
/// request over RabbitMQ, and keeps their offers and price history fresh,
/// until SIGTERM or Ctrl-C. Every setting is an environment variable of
/// the README's configuration table.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    settings: SettingsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match args.settings.load("offer-poller", &[]) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    telemetry::init(settings.telemetry.log_format);
    let outcome = async {
        OfferPoller::build(&settings)
            .await?
            .run_until_stopped(shutdown::on_signal())
            .await
    };
    shutdown::report_exit("offer-poller", outcome.await)
}
