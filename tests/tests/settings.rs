//! A bad configuration stops a process at start, naming the variable.

use std::time::Duration;

use tests::process::{command, wait_for_exit};

/// Runs `binary` with `vars` and returns its exit code and all it printed.
async fn start_with(binary: &str, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tests::backend::temp_dir();
    let mut child = command(binary, vars)
        .current_dir(&dir)
        .spawn()
        .expect("start the binary");
    let status = wait_for_exit(&mut child, Duration::from_secs(30)).await;
    let output = child.wait_with_output().await.expect("collect the output");
    let printed = [output.stdout, output.stderr].concat();
    (
        status.code(),
        String::from_utf8_lossy(&printed).into_owned(),
    )
}

#[tokio::test]
async fn a_bad_database_url_stops_api_naming_the_variable() {
    let (code, stderr) = start_with("api", &[("DATABASE_URL", "mysql://db/mercato")]).await;

    assert_eq!(code, Some(2), "output: {stderr}");
    assert!(stderr.contains("DATABASE_URL"), "output: {stderr}");
    assert!(stderr.contains("mysql"), "output: {stderr}");
}

#[tokio::test]
async fn a_zero_dedupe_window_stops_api_naming_the_variable() {
    let (code, stderr) = start_with("api", &[("DEDUPE_WINDOW_SECS", "0")]).await;

    assert_eq!(code, Some(2), "output: {stderr}");
    assert!(
        stderr.contains("DEDUPE_WINDOW_SECS: must be greater than 0"),
        "output: {stderr}"
    );
}

#[tokio::test]
async fn a_standalone_worker_without_rabbitmq_says_it_needs_amqp_url() {
    for worker in ["quote-worker", "offer-poller"] {
        let (code, printed) = start_with(worker, &[("LOG_FORMAT", "json")]).await;
        assert_eq!(
            code,
            Some(1),
            "{worker} must not start without a broker: {printed}"
        );
        assert!(
            printed.contains("AMQP_URL: required"),
            "{worker}: {printed}"
        );
    }
}
