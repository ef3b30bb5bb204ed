//! The listing service (seed 004).
//!
//! - [`router`]: `/listings` on the internal listener.
//! - [`model`]: `Listing`, `ListingType`, `Price`.
//! - [`entity`]: the `listings` table.
//! - [`pages`]: the pages it has answered, kept until the next insert.

pub mod entity;
pub mod model;
pub mod pages;
pub mod router;

pub use model::{Listing, ListingType, NewListing, Price};
