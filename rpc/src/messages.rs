//! The messages of each queue: one enum per queue, decoded once by the
//! worker that consumes it (see [`crate::typed::handler`]).
//!
//! The request and reply bodies grow with the features that use them; the
//! queue names are fixed here, where the management UI shows them.

use serde::{Deserialize, Serialize};

use crate::typed::RpcRequest;

/// Quote requests, answered by `quote-worker`.
pub const QUOTES_RPC: &str = "quotes.rpc";
/// Product registrations with the Offers service, answered by `offer-poller`.
pub const OFFERS_REGISTER: &str = "offers.register";

/// A stooq symbol (`aapl.us`, `^spx`, `eurusd`): 1 to 20 letters, digits,
/// `.`, `-`, `^` or `_`, kept in lower case (stooq ignores case). Checked
/// by the API before anything is sent, and again when a message is decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

impl Symbol {
    pub const MAX_CHARS: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("q: a stock symbol is required, e.g. q=aapl.us".into());
        }
        let valid = raw.chars().count() <= Self::MAX_CHARS
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '^' | '_'));
        if !valid {
            return Err(format!(
                "q: `{raw}` is not a stooq symbol (1 to {} letters, digits, `.`, `-`, `^`, `_`)",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Symbol {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Symbol> for String {
    fn from(symbol: Symbol) -> Self {
        symbol.0
    }
}

impl std::fmt::Display for Symbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request on [`QUOTES_RPC`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QuoteRequest {
    /// The latest quote of one stooq symbol.
    #[serde(rename = "quote.get")]
    Get { symbol: Symbol },
}

/// A quote as stooq gives it: one row of its CSV (`symbol` and `name` as
/// stooq spells them, e.g. `AAPL.US`, `APPLE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub symbol: String,
    pub name: String,
    pub date: String,
    pub time: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: Option<f64>,
}

impl RpcRequest for QuoteRequest {
    const QUEUE: &'static str = QUOTES_RPC;
    type Reply = Quote;
}

/// A request on [`OFFERS_REGISTER`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OfferRequest {
    /// Register a stored product with the Offers service.
    #[serde(rename = "offers.register")]
    Register { product_id: uuid::Uuid },
}

/// The Offers service has the product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub product_id: uuid::Uuid,
}

impl RpcRequest for OfferRequest {
    const QUEUE: &'static str = OFFERS_REGISTER;
    type Reply = Registered;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_stooq_codes_in_lower_case() {
        assert_eq!(
            Symbol::parse(" AAPL.US ").map(String::from),
            Ok("aapl.us".to_owned())
        );
        for good in ["^spx", "eurusd", "brk-b.us", "x_y", &"a".repeat(20)] {
            assert!(Symbol::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "  ",
            "aapl us",
            "a/b",
            "aapl.us&s=x",
            "ä",
            &"a".repeat(21),
        ] {
            assert!(Symbol::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_request_with_a_bad_symbol_does_not_decode() {
        let good = r#"{"type": "quote.get", "symbol": "AAPL.US"}"#;
        let request: QuoteRequest = serde_json::from_str(good).expect("decodes");
        assert_eq!(
            request,
            QuoteRequest::Get {
                symbol: Symbol::parse("aapl.us").expect("valid")
            }
        );
        let bad = r#"{"type": "quote.get", "symbol": "aapl us"}"#;
        assert!(serde_json::from_str::<QuoteRequest>(bad).is_err());
    }
}
