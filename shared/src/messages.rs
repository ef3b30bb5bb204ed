//! The messages of each queue: one enum per queue, decoded once by the
//! worker that consumes it (see [`crate::rpc::handler`]).
//!
//! The request and reply bodies grow with the features that use them; the
//! queue names are fixed here, where the management UI shows them.

use serde::{Deserialize, Serialize};

use crate::rpc::RpcRequest;

/// Quote requests, answered by `quote-worker`.
pub const QUOTES_RPC: &str = "quotes.rpc";
/// Product registrations with the Offers service, answered by `offer-poller`.
pub const OFFERS_REGISTER: &str = "offers.register";

/// A request on [`QUOTES_RPC`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum QuoteRequest {
    /// The latest quote of one stooq symbol.
    #[serde(rename = "quote.get")]
    Get { symbol: String },
}

/// A quote as stooq gives it: one row of its CSV.
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
