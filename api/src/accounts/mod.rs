//! Accounts and who is calling (SPEC section 4).
//!
//! - [`router`]: `POST /login`, `/accounts`.
//! - [`auth`]: tokens, the `Caller` / `Admin` extractors, password checks.
//! - [`guard`]: `PasswordGuard`, which every password check goes through.
//! - [`store`]: creating accounts and the bootstrap admin.
//! - [`model`]: `Username`, `Role`, `NewPassword`, and `Caller`, the
//!   account a request is made by.
//! - [`entity`]: the `accounts` table.

pub mod auth;
pub mod entity;
pub mod guard;
pub mod model;
pub mod router;
pub mod store;

pub use auth::{Admin, TokenKeys};
pub use guard::PasswordGuard;
pub use model::{Caller, NewPassword, Role, Username};
