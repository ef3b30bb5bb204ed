//! A fake of stooq's quote endpoint, `GET /q/l/?s={code}&f=sd2t2ohlcvn&h&e=csv`,
//! answering as stooq does:
//!
//! - always HTTP 200, a header line and one row, lines ending in CRLF;
//! - a known symbol: its row (`AAPL.US,2026-11-20,22:00:09,…,APPLE`);
//! - an unknown one: the symbol in upper case and `N/D` in every other field;
//! - over the daily limit: the plain text `Exceeded the daily hits limit`
//!   for every symbol ([`Behaviour::HitsLimit`]);
//! - a broken answer that is not CSV at all ([`Behaviour::Garbage`]);
//! - [`SLOW_SYMBOL`], which is never answered in time for any test.
//!
//! It runs inside tests ([`StooqFake::start`]) and as the `stooq-fake`
//! binary for local demos.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;
use tokio::task::JoinHandle;
use url::Url;

/// A symbol whose answer takes an hour.
pub const SLOW_SYMBOL: &str = "slow.us";

const HEADER: &str = "Symbol,Date,Time,Open,High,Low,Close,Volume,Name";

/// The symbols the fake knows: code, then the rest of the row after the symbol.
const KNOWN: &[(&str, &str)] = &[
    (
        "aapl.us",
        "2026-11-20,22:00:09,228.3,230.12,227.5,229.87,41234567,APPLE",
    ),
    (
        "msft.us",
        "2026-11-20,22:00:09,412.05,415.8,410.2,414.56,18234511,MICROSOFT",
    ),
    (
        "goog.us",
        "2026-11-20,22:00:09,171.2,173.9,170.8,173.15,20112233,ALPHABET",
    ),
    (
        "amzn.us",
        "2026-11-20,22:00:09,198.5,201.3,197.9,200.44,35110022,AMAZON.COM",
    ),
    (
        "tsla.us",
        "2026-11-20,22:00:09,252.1,258.7,249.3,256.02,90012345,TESLA",
    ),
    (
        "nvda.us",
        "2026-11-20,22:00:09,141.1,143.6,139.8,142.9,210334455,NVIDIA",
    ),
    (
        "meta.us",
        "2026-11-20,22:00:09,560.3,566.1,555.2,563.75,12003344,META PLATFORMS",
    ),
    (
        "^spx",
        "2026-11-20,22:00:09,5901.2,5932.8,5890.1,5928.4,,S&P 500",
    ),
];

/// How the fake answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// As stooq on a good day.
    Normal,
    /// `Exceeded the daily hits limit`, as plain text, with HTTP 200.
    HitsLimit,
    /// A page that is not CSV.
    Garbage,
    /// A 302 to the same request with `redirected=1`, which would be
    /// answered normally: a client must not follow it.
    Redirect,
    /// A quote followed by over 1 MiB of rows.
    Huge,
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    requests: AtomicUsize,
}

/// A running fake, stopped when dropped.
pub struct StooqFake {
    /// Its base URL, for `STOOQ_BASE_URL`.
    pub url: Url,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl StooqFake {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("bind a loopback port")
    }

    /// Starts on `addr`; fails if it cannot listen there.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour::Normal),
            requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/q/l/", get(quote))
            .with_state(shared.clone());
        let (url, task) = crate::serve(addr, app).await?;
        Ok(Self { url, shared, task })
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = behaviour;
    }

    /// How many quote requests it has received.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Serves until the server stops (for the binary).
    pub async fn wait(&mut self) {
        (&mut self.task).await.ok();
    }
}

impl Drop for StooqFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Deserialize)]
struct QuoteQuery {
    s: String,
}

async fn quote(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<QuoteQuery>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let behaviour = *shared.behaviour.lock().unwrap_or_else(|e| e.into_inner());
    let redirected = uri.query().is_some_and(|q| q.contains("redirected=1"));
    match behaviour {
        Behaviour::HitsLimit => return "Exceeded the daily hits limit".into_response(),
        Behaviour::Garbage => {
            return "<html><body><h1>502 Bad Gateway</h1></body></html>\r\n".into_response();
        }
        Behaviour::Redirect if !redirected => {
            let to = format!("{uri}&redirected=1");
            return (axum::http::StatusCode::FOUND, [("location", to)], "").into_response();
        }
        Behaviour::Huge => {
            let row = "AAPL.US,2026-11-20,22:00:09,1,1,1,1,1,APPLE\r\n";
            let mut body = answer(&query.s);
            body.push_str(&row.repeat(2 * 1024 * 1024 / row.len()));
            return body.into_response();
        }
        Behaviour::Normal | Behaviour::Redirect => {}
    }
    if query.s.eq_ignore_ascii_case(SLOW_SYMBOL) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    answer(&query.s).into_response()
}

/// The CSV stooq answers for `code`: its quote, or `N/D` fields.
fn answer(code: &str) -> String {
    let code = code.to_ascii_lowercase();
    let row = match KNOWN.iter().find(|(known, _)| *known == code) {
        Some((_, rest)) => format!("{},{rest}", code.to_ascii_uppercase()),
        None => format!(
            "{},N/D,N/D,N/D,N/D,N/D,N/D,N/D,N/D",
            code.to_ascii_uppercase()
        ),
    };
    format!("{HEADER}\r\n{row}\r\n")
}
