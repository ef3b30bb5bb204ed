//! Stock quotes (`/stock`), fetched from stooq by `quote-worker` over the
//! broker and remembered in the `quotes` table.
//!
//! - [`router`]: the endpoints and the RPC call.
//! - [`entity`]: the `quotes` table.

pub mod entity;
pub mod router;
