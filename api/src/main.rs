//! The `api` process: see the library documentation.

use std::process::ExitCode;

use api::Application;
use shared::{Settings, shutdown, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load_for_process("api") {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    telemetry::init(settings.log_format);
    let stop = shutdown::on_signal();
    let outcome = async {
        Application::build(settings)
            .await?
            .run_until_stopped(stop)
            .await
    };
    shutdown::report_exit("api", outcome.await)
}
