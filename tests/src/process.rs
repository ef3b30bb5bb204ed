//! Mercato's own binaries as child processes, for what only a real process
//! shows: exit codes, signals, start-up failures.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The path of a workspace binary (`api`, `quote-worker`, …), next to
/// the test binaries. `scripts/test` builds them first; under a plain
/// `cargo test` a missing one is built here, once per test process, with
/// the same cargo and profile (cargo's own lock serialises the builds of
/// parallel tests).
pub fn binary(name: &str) -> PathBuf {
    let deps = std::env::current_exe().expect("the test binary's path");
    let dir = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    if !path.exists() {
        build_binaries(dir);
    }
    assert!(
        path.exists(),
        "{} is missing after `cargo build --workspace --bins`",
        path.display()
    );
    path
}

fn build_binaries(profile_dir: &std::path::Path) {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root");
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo
            .current_dir(workspace)
            .args(["build", "--workspace", "--bins"]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo build");
        assert!(status.success(), "cargo build --workspace --bins failed");
    });
}

/// A command running `name` with a clean environment plus `vars`, so
/// nothing from the developer's shell leaks into the test. Output is piped.
pub fn command(name: &str, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary(name));
    command.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Sends SIGTERM to a child.
pub async fn terminate(child: &Child) {
    let pid = child.id().expect("the child is running");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}");
}

/// Waits for a child to exit; fails the test after `limit`.
pub async fn wait_for_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    tokio::time::timeout(limit, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the process did not exit within {limit:?}"))
        .expect("wait for the child")
}

/// Reads JSON log lines (`LOG_FORMAT=json`) until one whose message is
/// `message`, and returns it.
pub async fn wait_for_log(
    lines: &mut Lines<BufReader<ChildStdout>>,
    message: &str,
    limit: Duration,
) -> serde_json::Value {
    let search = async {
        while let Some(line) = lines.next_line().await.expect("read the child's output") {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["message"] == message
            {
                return event;
            }
        }
        panic!("the process ended without logging `{message}`");
    };
    tokio::time::timeout(limit, search)
        .await
        .unwrap_or_else(|_| panic!("no `{message}` log line within {limit:?}"))
}

/// The child's stdout, line by line.
pub fn stdout_lines(child: &mut Child) -> Lines<BufReader<ChildStdout>> {
    BufReader::new(child.stdout.take().expect("stdout is piped")).lines()
}

/// Starts the worker `name` (`quote-worker`, `offer-poller`) with `vars`
/// and returns once it consumes its queue; its log is read and dropped
/// from then on, so the pipe never fills.
pub async fn start_consuming(name: &str, vars: &[(&str, &str)]) -> Child {
    let mut worker = command(name, vars).spawn().expect("start the worker");
    let mut log = stdout_lines(&mut worker);
    wait_for_log(&mut log, "consuming", Duration::from_secs(30)).await;
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    worker
}

/// What `api serve` and `api demo` print at start ([`api::cli::serve`]).
#[derive(Debug)]
pub struct Banner {
    /// Every line, for failure messages.
    pub text: String,
    /// The public listener's base URL.
    pub api: String,
    /// The first admin's password, if the banner shows one.
    pub admin_password: Option<String>,
}

/// Reads the child's stdout up to the end of its start banner.
pub async fn read_banner(lines: &mut Lines<BufReader<ChildStdout>>, limit: Duration) -> Banner {
    let read = async {
        let mut text = Vec::new();
        while let Some(line) = lines.next_line().await.expect("read the child's output") {
            let end = line.contains(api::cli::serve::BANNER_END);
            text.push(line);
            if end {
                break;
            }
        }
        text
    };
    let text = tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| panic!("no start banner within {limit:?}"));
    let value = |label: &str| {
        text.iter()
            .find_map(|line| line.trim_start().strip_prefix(label))
            .map(|rest| rest.trim().to_owned())
    };
    let text_joined = text.join("\n");
    Banner {
        api: value("API ").unwrap_or_else(|| panic!("no API line in the banner:\n{text_joined}")),
        admin_password: value("password "),
        text: text_joined,
    }
}
