//! What every handler can reach, cloned into each request.

use std::sync::Arc;

use crate::ingest::dedupe::DedupeWindow;
use platform::{Clock, Settings};
use rpc::broker::Broker;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::accounts::{PasswordGuard, TokenKeys};
use crate::ingest::Ingestion;
use crate::marketplace::public_api::clients::{ListingService, UserService};
use crate::web::metrics::HttpMetrics;

/// Shared handles of one API process. Cloning is cheap: every field is a
/// pointer, and the database and the service clients are connection pools.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub broker: Arc<dyn Broker>,
    pub dedupe: Arc<dyn DedupeWindow>,
    pub metrics: Arc<HttpMetrics>,
    /// The keys login tokens are signed and checked with.
    pub tokens: Arc<TokenKeys>,
    /// What every password check goes through: turns, throttle, cache.
    pub passwords: Arc<PasswordGuard>,
    /// Where timestamps come from; frozen by tests.
    pub clock: Clock,
    /// The public API layer's way to the listing service.
    pub listing_service: ListingService,
    /// The public API layer's way to the user service.
    pub user_service: UserService,
    /// The spool directory, and the wake-up call of the feed apply task.
    pub ingestion: Arc<Ingestion>,
    /// Cancelled when the process is told to stop: `/readyz` answers 503
    /// from then on, while requests in flight finish.
    pub draining: CancellationToken,
}

impl axum::extract::FromRef<AppState> for Arc<HttpMetrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
