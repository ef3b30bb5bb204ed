//! The Offers-service fake as a process, for running Mercato locally
//! without the (retired) real service: `OFFERS_FAKE_ADDR=127.0.0.1:9200
//! offers-fake`, then `OFFERS_BASE_URL=http://127.0.0.1:9200`. Prices move
//! every `OFFERS_FAKE_CHANGE_SECS` (default 60, as the real service did;
//! 0 never), and sold-out offers are replaced.

use std::time::Duration;

use tests::offers::OffersFake;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = std::env::var("OFFERS_FAKE_ADDR").unwrap_or_else(|_| "127.0.0.1:9200".into());
    let Ok(addr) = addr.parse() else {
        eprintln!("offers-fake: OFFERS_FAKE_ADDR: not an address: `{addr}`");
        return std::process::ExitCode::from(2);
    };
    let every = match std::env::var("OFFERS_FAKE_CHANGE_SECS")
        .as_deref()
        .unwrap_or("60")
        .parse::<u64>()
    {
        Ok(secs) => secs,
        Err(e) => {
            eprintln!("offers-fake: OFFERS_FAKE_CHANGE_SECS: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let fake = OffersFake::start_on(addr).await;
    println!("Offers fake on {}", fake.url);
    let changes = async {
        if every == 0 {
            return std::future::pending().await;
        }
        // Up, down, a bit further down, back up: prices that move but stay plausible.
        let deltas = [50, -30, -40, 20];
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        tick.tick().await;
        for delta in deltas.iter().cycle() {
            tick.tick().await;
            fake.change_prices(*delta);
        }
    };
    tokio::select! {
        () = changes => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(fake);
    std::process::ExitCode::SUCCESS
}
