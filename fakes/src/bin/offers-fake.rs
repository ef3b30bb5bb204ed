//! The Offers-service fake as a process, for running Mercato against it
//! without the (retired) real service.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fakes::OffersFake;

/// A fake of the Offers service: `POST /auth`, `POST /products/register`,
/// `GET /products/{id}/offers`, as the service documented them. Point
/// Mercato at it with `OFFERS_BASE_URL=http://<addr>`.
#[derive(Debug, Parser)]
#[command(name = "offers-fake", version)]
struct Args {
    /// Where to listen [env: OFFERS_FAKE_ADDR]
    #[arg(long, env = "OFFERS_FAKE_ADDR", default_value = "127.0.0.1:9200")]
    addr: SocketAddr,
    /// Move every price (and restock sold-out offers) this often, as the
    /// real service did; 0 never [env: OFFERS_FAKE_CHANGE_SECS]
    #[arg(long, env = "OFFERS_FAKE_CHANGE_SECS", default_value_t = 60)]
    change_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let fake = match OffersFake::start_on(args.addr).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("offers-fake: cannot listen on {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    println!("Offers fake on {}", fake.url);
    let changes = async {
        match args.change_secs {
            0 => std::future::pending().await,
            secs => fake.change_prices_every(Duration::from_secs(secs)).await,
        }
    };
    tokio::select! {
        () = changes => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}
