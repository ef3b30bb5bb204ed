//! The user service (seed 004).
//!
//! - [`router`]: `/users` on the internal listener.
//! - [`model`]: `User`, `UserId`, `UserName`.
//! - [`entity`]: the `users` table.

pub mod entity;
pub mod model;
pub mod router;

pub use model::{User, UserId, UserName};
