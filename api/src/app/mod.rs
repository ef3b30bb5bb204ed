//! The process: what it builds, what every handler can reach, and the two
//! HTTP apps the features' routers are merged into.
//!
//! - [`startup`]: `Application`, build then run, and the task supervisor.
//! - [`state`]: `AppState`, and the parts handlers take with `FromRef`.
//! - [`routes`]: the public and internal apps and the layers around them.
//! - [`openapi`]: the OpenAPI document, merged from each feature's, and Swagger UI.
//! - [`health`]: `/healthz` and `/readyz`.
//! - [`serve`]: serving an app on a listener, with header and shutdown timeouts.

pub mod health;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod state;

pub use startup::Application;
pub use state::AppState;
