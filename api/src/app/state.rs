//! What every handler can reach, cloned into each request.

use std::sync::Arc;

use crate::ingest::dedupe::DedupeWindow;
use platform::db::GroupInsert;
use platform::{Clock, Settings};
use rpc::broker::Broker;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::accounts::{PasswordGuard, TokenKeys};
use crate::ingest::Ingestion;
use crate::marketplace::listings::entity as listing;
use crate::marketplace::listings::pages::PageCache;
use crate::marketplace::public_api::clients::{ListingService, UserService};
use crate::marketplace::public_api::transport::LocalServices;
use crate::marketplace::users::entity as user;
use crate::web::metrics::HttpMetrics;

/// Shared handles of one API process, behind one pointer: every request
/// clones the state (axum's `State` extractor, the layers that take it),
/// and one reference count is cheaper than one per handle (measured: 1.3 %
/// of the CPU of a small-feed request went to cloning and dropping the
/// handles one by one).
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl AppState {
    pub fn new(handles: Handles) -> Self {
        Self(Arc::new(handles))
    }
}

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// What [`AppState`] holds: the database and the service clients are
/// connection pools, the rest shared.
pub struct Handles {
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
    /// The listing service's inserts: those that arrive together are
    /// committed together.
    pub new_listings: GroupInsert<listing::ActiveModel>,
    /// The pages of listings the listing service has answered since its
    /// last insert.
    pub listing_pages: Arc<PageCache>,
    /// The user service's inserts, the same way.
    pub new_users: GroupInsert<user::ActiveModel>,
    /// The public API layer's way to the listing service.
    pub listing_service: ListingService,
    /// The public API layer's way to the user service.
    pub user_service: UserService,
    /// The internal listener's router, for the clients that call this
    /// process's services in-process.
    pub local_services: LocalServices,
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
