//! The `quote-worker` process: see the library documentation.

use std::process::ExitCode;

use platform::{Settings, shutdown, telemetry};
use quote_worker::QuoteWorker;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load_for_process("quote-worker") {
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
