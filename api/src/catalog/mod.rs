//! The product catalog: products, the offers `offer-poller` gathers for
//! them, and their price trends.
//!
//! - [`router`]: `/products` and a product's offers.
//! - [`trends`]: `/products/{id}/trends`, price history summaries.
//! - [`store`]: the one writer of `products`, used by the router and by
//!   feed ingestion.
//! - [`model`]: `Sku`, `ProductName`, `Description`.
//!
//! The tables are in the `catalog-entities` crate, since `offer-poller`
//! reads and writes them too.

pub mod model;
pub mod router;
pub mod store;
pub mod trends;

pub use model::{Description, ProductName, Sku};
