//! What every handler can reach, cloned into each request.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use shared::Settings;
use shared::broker::Broker;
use shared::dedupe::DedupeWindow;

use crate::metrics::HttpMetrics;

/// Shared handles of one API process. Cloning is cheap: every field is a
/// pointer, and the database is a connection pool.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub broker: Arc<dyn Broker>,
    pub dedupe: Arc<dyn DedupeWindow>,
    pub metrics: Arc<HttpMetrics>,
}

impl axum::extract::FromRef<AppState> for Arc<HttpMetrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
