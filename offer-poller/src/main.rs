//! The `offer-poller` process: see the library documentation.

use std::process::ExitCode;

use offer_poller::OfferPoller;
use platform::{Settings, shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load_for_process("offer-poller") {
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
