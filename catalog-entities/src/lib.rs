//! sea-orm entities of the tables both `api` and `offer-poller` use: the
//! product catalog and what is kept of the Offers service. `api`'s catalog
//! writes products; `offer-poller` writes offers, price history, the token
//! and a product's registration columns. Times are
//! microseconds since the Unix epoch.

pub mod offer;
pub mod offers_token;
pub mod price_history;
pub mod product;
