//! The stooq fake as a process, for running Mercato without the internet.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use fakes::stooq::{Behaviour, StooqFake};

/// A fake of stooq's CSV quote endpoint (`GET /q/l/?s=…`). Point Mercato
/// at it with `STOOQ_BASE_URL=http://<addr>`.
#[derive(Debug, Parser)]
#[command(name = "stooq-fake", version)]
struct Args {
    /// Where to listen [env: STOOQ_FAKE_ADDR]
    #[arg(long, env = "STOOQ_FAKE_ADDR", default_value = "127.0.0.1:9100")]
    addr: SocketAddr,
    /// How it answers [env: STOOQ_FAKE_MODE]
    #[arg(long, env = "STOOQ_FAKE_MODE", value_enum, default_value_t = Mode::Normal)]
    mode: Mode,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Quotes for the symbols it knows, `N/D` for the rest.
    Normal,
    /// stooq's "Exceeded the daily hits limit" to every request.
    HitsLimit,
    /// An HTML error page, as a proxy in front of stooq may send.
    Garbage,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut fake = match StooqFake::start_on(args.addr).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("stooq-fake: cannot listen on {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    fake.set(match args.mode {
        Mode::Normal => Behaviour::Normal,
        Mode::HitsLimit => Behaviour::HitsLimit,
        Mode::Garbage => Behaviour::Garbage,
    });
    println!("stooq fake on {}", fake.url);
    tokio::select! {
        () = fake.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}
