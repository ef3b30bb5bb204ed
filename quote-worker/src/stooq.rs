//! stooq's quote endpoint: `GET {STOOQ_BASE_URL}/q/l/?s={code}&f=sd2t2ohlcvn&h&e=csv`.
//!
//! stooq answers HTTP 200 whatever happens. The body is a CSV header line
//! (`Symbol,Date,Time,Open,High,Low,Close,Volume,Name`) and one row, lines
//! ending in CRLF; an unknown symbol gets a row of `N/D`; over the daily
//! limit the body is plain text ("Exceeded the daily hits limit"). Each
//! case becomes a typed failure whose code the API answers with: 404 for
//! an unknown symbol, 502 for anything stooq got wrong.

use std::time::Duration;

use platform::ErrorCode;
use rpc::RpcFailure;
use rpc::messages::{Quote, Symbol};
use serde::Deserialize;
use url::Url;

const HEADER: &str = "Symbol,Date,Time,Open,High,Low,Close,Volume,Name";

/// A pooled client of stooq, with a connect timeout and an overall one.
#[derive(Debug, Clone)]
pub struct Stooq {
    http: reqwest::Client,
    base: Url,
}

impl Stooq {
    pub fn new(base: Url, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: platform::http::client(timeout)?,
            base,
        })
    }

    /// The URL of `symbol`'s quote. The symbol's characters are all safe
    /// in a query but `^`, which is percent-encoded.
    pub fn quote_url(&self, symbol: &Symbol) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map(|mut segments| {
                segments.pop_if_empty().extend(["q", "l", ""]);
            })
            .ok();
        let code = symbol.as_str().replace('^', "%5E");
        url.set_query(Some(&format!("s={code}&f=sd2t2ohlcvn&h&e=csv")));
        url
    }

    /// The latest quote of `symbol`.
    pub async fn quote(&self, symbol: &Symbol) -> Result<Quote, RpcFailure> {
        let response = self
            .http
            .get(self.quote_url(symbol))
            .send()
            .await
            .map_err(|e| upstream(format!("stooq unreachable: {e}")))?;
        // Only a 200 is an answer (a redirect is not followed, and not one).
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(upstream(format!("stooq answered {status}")));
        }
        let body = platform::http::read_capped(response, platform::http::MAX_ANSWER_BYTES)
            .await
            .map_err(|e| upstream(format!("reading stooq's answer: {e}")))?;
        parse(symbol, &String::from_utf8_lossy(&body))
    }
}

fn upstream(msg: String) -> RpcFailure {
    RpcFailure::new(ErrorCode::UpstreamError, msg)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    symbol: String,
    date: String,
    time: String,
    open: String,
    high: String,
    low: String,
    close: String,
    volume: String,
    name: String,
}

/// Reads stooq's answer for `symbol`.
pub fn parse(symbol: &Symbol, body: &str) -> Result<Quote, RpcFailure> {
    if !body.starts_with(HEADER) {
        let text: String = body.trim().chars().take(80).collect();
        return Err(upstream(format!(
            "stooq answered something else than a quote: {text:?}"
        )));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(body.as_bytes());
    let row: Row = reader
        .deserialize()
        .next()
        .ok_or_else(|| upstream("stooq answered no row".into()))?
        .map_err(|e| upstream(format!("stooq answered a malformed row: {e}")))?;
    if row.date == "N/D" || row.close == "N/D" {
        return Err(RpcFailure::new(
            ErrorCode::NotFound,
            format!("stooq has no quote for {symbol}"),
        ));
    }
    let number = |field: &str, value: &str| {
        value
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| upstream(format!("stooq answered {field} `{value}`, not a number")))
    };
    Ok(Quote {
        open: number("Open", &row.open)?,
        high: number("High", &row.high)?,
        low: number("Low", &row.low)?,
        close: number("Close", &row.close)?,
        volume: row.volume.parse().ok(),
        symbol: row.symbol,
        name: row.name,
        date: row.date,
        time: row.time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol(code: &str) -> Symbol {
        Symbol::parse(code).expect("a symbol")
    }

    #[test]
    fn a_known_symbol_is_read_from_its_crlf_row() {
        let body = "Symbol,Date,Time,Open,High,Low,Close,Volume,Name\r\nAAPL.US,2026-11-20,22:00:09,228.3,230.12,227.5,229.87,41234567,APPLE\r\n";
        let quote = parse(&symbol("aapl.us"), body).expect("a quote");
        assert_eq!(quote.symbol, "AAPL.US");
        assert_eq!(quote.name, "APPLE");
        assert_eq!(quote.close, 229.87);
        assert_eq!(quote.open, 228.3);
        assert_eq!(quote.volume, Some(41_234_567.0));
        assert_eq!(
            (quote.date.as_str(), quote.time.as_str()),
            ("2026-11-20", "22:00:09")
        );
    }

    #[test]
    fn a_name_with_a_comma_is_read_quoted_and_a_missing_volume_is_none() {
        let body = "Symbol,Date,Time,Open,High,Low,Close,Volume,Name\r\nX.US,2026-11-20,22:00:09,1,2,0.5,1.5,,\"ACME, INC\"\r\n";
        let quote = parse(&symbol("x.us"), body).expect("a quote");
        assert_eq!(quote.name, "ACME, INC");
        assert_eq!(quote.volume, None);
    }

    #[test]
    fn an_n_d_row_is_not_found() {
        let body = "Symbol,Date,Time,Open,High,Low,Close,Volume,Name\r\nNOPE.US,N/D,N/D,N/D,N/D,N/D,N/D,N/D,N/D\r\n";
        let failure = parse(&symbol("nope.us"), body).expect_err("unknown");
        assert_eq!(failure.code, ErrorCode::NotFound);
    }

    #[test]
    fn plain_text_and_broken_rows_are_upstream_errors() {
        for body in [
            "Exceeded the daily hits limit",
            "<html>oops</html>",
            "",
            "Symbol,Date,Time,Open,High,Low,Close,Volume,Name\r\n",
            "Symbol,Date,Time,Open,High,Low,Close,Volume,Name\r\nAAPL.US,2026-11-20\r\n",
            "Symbol,Date,Time,Open,High,Low,Close,Volume,Name\r\nAAPL.US,2026-11-20,22:00:09,x,2,1,1.5,10,APPLE\r\n",
        ] {
            let failure = parse(&symbol("aapl.us"), body).expect_err(body);
            assert_eq!(failure.code, ErrorCode::UpstreamError, "{body:?}");
        }
    }

    #[test]
    fn the_url_asks_for_the_documented_csv() {
        let stooq = Stooq::new(
            Url::parse("https://stooq.com").expect("a URL"),
            Duration::from_secs(1),
        )
        .expect("a client");
        assert_eq!(
            stooq.quote_url(&symbol("AAPL.US")).as_str(),
            "https://stooq.com/q/l/?s=aapl.us&f=sd2t2ohlcvn&h&e=csv"
        );
        assert_eq!(
            stooq.quote_url(&symbol("^spx")).as_str(),
            "https://stooq.com/q/l/?s=%5Espx&f=sd2t2ohlcvn&h&e=csv"
        );
    }
}
