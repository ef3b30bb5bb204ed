//! The stooq fake as a process, for running Mercato locally without the
//! internet: `STOOQ_FAKE_ADDR=127.0.0.1:9100 stooq-fake`, then
//! `STOOQ_BASE_URL=http://127.0.0.1:9100`. `STOOQ_FAKE_MODE=hits-limit` or
//! `garbage` makes it misbehave.

use tests::stooq::{Behaviour, StooqFake};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = std::env::var("STOOQ_FAKE_ADDR").unwrap_or_else(|_| "127.0.0.1:9100".into());
    let Ok(addr) = addr.parse() else {
        eprintln!("stooq-fake: STOOQ_FAKE_ADDR: not an address: `{addr}`");
        return std::process::ExitCode::from(2);
    };
    let behaviour = match std::env::var("STOOQ_FAKE_MODE").as_deref() {
        Ok("hits-limit") => Behaviour::HitsLimit,
        Ok("garbage") => Behaviour::Garbage,
        Ok("") | Ok("normal") | Err(_) => Behaviour::Normal,
        Ok(other) => {
            eprintln!(
                "stooq-fake: STOOQ_FAKE_MODE: expected normal, hits-limit or garbage, got `{other}`"
            );
            return std::process::ExitCode::from(2);
        }
    };
    let mut fake = StooqFake::start_on(addr).await;
    fake.set(behaviour);
    println!("stooq fake on {}", fake.url);
    tokio::select! {
        () = fake.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    std::process::ExitCode::SUCCESS
}
