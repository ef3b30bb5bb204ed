//! `GET /healthz` (the process is alive) and `GET /readyz` (the backends it
//! was configured with can be reached).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::EntityTrait as _;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// How long one backend may take to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: answering at all is the point.
    status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every check passed, else `unavailable`.
    status: &'static str,
    /// One entry per backend: `database`, `broker`, `dedupe_window`.
    checks: BTreeMap<&'static str, Check>,
    /// Problems that do not stop this replica serving but need an
    /// operator, so they do not make `/readyz` fail: `offers_service` when
    /// the Offers service refuses the deployment's access token.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    warnings: BTreeMap<&'static str, Check>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// Which implementation is configured: `sqlite`, `postgres`, `rabbitmq`,
    /// `in-process`, `redis`, `in-memory`.
    backend: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Every configured backend is reachable: the database, the broker and the
/// dedupe window. 503 names the ones that are not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "ready to serve", body = Readiness),
        (status = 503, description = "a backend cannot be reached", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database_backend = match state.settings.database.url.kind() {
        platform::settings::DatabaseKind::Sqlite => "sqlite",
        platform::settings::DatabaseKind::Postgres => "postgres",
    };
    let (database, broker, dedupe_window) = tokio::join!(
        check(database_backend, state.db.ping()),
        check(state.broker.kind(), state.broker.check()),
        check(state.dedupe.kind(), state.dedupe.check()),
    );
    let checks = BTreeMap::from([
        ("database", database),
        ("broker", broker),
        ("dedupe_window", dedupe_window),
    ]);
    let ready = checks.values().all(|check| check.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        checks,
        warnings: warnings(&state).await,
    };
    (status, Json(body))
}

async fn warnings(state: &AppState) -> BTreeMap<&'static str, Check> {
    let mut warnings = BTreeMap::new();
    if !state.settings.services.public {
        return warnings;
    }
    let token = catalog_entities::offers_token::Entity::find_by_id("offers")
        .one(&state.db)
        .await;
    if let Ok(Some(token)) = token
        && let Some(refused_at) = token.refused_at
    {
        warnings.insert(
            "offers_service",
            Check {
                backend: "offers-service",
                ok: false,
                error: Some(format!(
                    "the Offers service refused the access token at {}; offers are not refreshed",
                    refused_at.to_rfc3339()
                )),
            },
        );
    }
    warnings
}

/// Runs one probe. `/readyz` is public, so a failure says only that the
/// backend is unreachable or slow; the backend's own error (which may
/// name hosts, users or URLs) goes to the log.
async fn check<E: std::fmt::Display>(
    backend: &'static str,
    probe: impl Future<Output = Result<(), E>>,
) -> Check {
    let error = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            tracing::warn!(backend, error = %e, "readiness check failed");
            Some("unreachable".to_owned())
        }
        Err(_) => Some(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    Check {
        backend,
        ok: error.is_none(),
        error,
    }
}
