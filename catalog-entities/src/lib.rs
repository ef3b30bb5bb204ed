//! sea-orm entities of the tables both `api` and `offer-poller` use: the
//! product catalog and what is kept of the Offers service. `api`'s catalog
//! writes products; `offer-poller` writes offers, price history, the token
//! and a product's registration columns. Times are [`platform::Timestamp`]s:
//! microseconds since the Unix epoch, in `BIGINT` columns.
//!
//! # Layout
//!
//! - [`product`]: `products`, with the registration columns `offer-poller` keeps.
//! - [`offer`]: `offers`, the current offers of each product.
//! - [`price_history`]: `price_history`, every price an offer had.
//! - [`offers_token`]: `offers_token`, the deployment's Offers access token.

pub mod offer;
pub mod offers_token;
pub mod price_history;
pub mod product;
