//! The `api` process: see the library documentation, and [`api::cli`] for
//! its command line.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    api::cli::main().await
}
