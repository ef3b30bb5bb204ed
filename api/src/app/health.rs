//! `GET /healthz` (the process is alive) and `GET /readyz` (this replica
//! can serve: see [`readyz`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use platform::metrics::{self, Registry, Series};
use prometheus::{GaugeVec, Opts};
use sea_orm::EntityTrait as _;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// How long one backend may take to answer a readiness check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `/healthz`, `/readyz` and `/metrics`, served by both listeners.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(crate::web::metrics::render))
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
    status: ReadinessStatus,
    /// One entry per backend: `database`, `broker`, `dedupe_window`.
    checks: BTreeMap<&'static str, Check>,
    /// Problems that do not stop this replica serving but need an
    /// operator, so they do not make `/readyz` fail: `offers_service` when
    /// `OFFERS_BASE_URL` is unset, or when the Offers service refuses the
    /// deployment's access token.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    warnings: BTreeMap<&'static str, Check>,
}

/// Whether this replica can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    /// Every backend answered.
    Ready,
    /// The database answered, a shared backend (broker, dedupe window) did
    /// not: this replica serves, and the routes that need that backend
    /// answer 503 until it is back. Every replica shares it, so taking
    /// this one out of the balancer would help nothing.
    Degraded,
    /// The process was told to stop and is finishing its requests.
    Draining,
    /// This replica's database cannot be reached.
    Unavailable,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// Which implementation is configured: `sqlite`, `postgres`, `rabbitmq`,
    /// `in-process`, `redis`, `in-memory`, `offers-service`.
    backend: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `backend_up{backend}`: 1 when the last `/readyz` reached it, else 0.
pub struct ReadinessSeries {
    up: GaugeVec,
}

impl Series for ReadinessSeries {
    fn register(registry: &Registry) -> Self {
        let up = GaugeVec::new(
            Opts::new(
                "backend_up",
                "Whether the last readiness check reached each backend (1) or not (0)",
            ),
            &["backend"],
        )
        .expect("a valid gauge definition");
        Self {
            up: metrics::registered(registry, up),
        }
    }
}

/// Whether *this* replica can serve. 503 only while it drains after
/// SIGTERM, or when its database cannot be reached: shared backends (the
/// broker, the dedupe window) are reported in the body and in the
/// `backend_up` metric, not the status, since they fail on every replica
/// at once and a balancer that dropped them all would turn a partial
/// outage into a total one.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "This replica serves; `status` is `ready` or `degraded`", body = Readiness),
        (status = 503, description = "Draining after SIGTERM, or the database cannot be reached", body = Readiness),
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
    let series = state.metrics.process.series::<ReadinessSeries>();
    for (name, check) in &checks {
        series
            .up
            .with_label_values(&[name])
            .set(if check.ok { 1.0 } else { 0.0 });
    }
    let status = if state.draining.is_cancelled() {
        ReadinessStatus::Draining
    } else if !checks["database"].ok {
        ReadinessStatus::Unavailable
    } else if checks.values().all(|check| check.ok) {
        ReadinessStatus::Ready
    } else {
        ReadinessStatus::Degraded
    };
    let code = match status {
        ReadinessStatus::Ready | ReadinessStatus::Degraded => StatusCode::OK,
        ReadinessStatus::Draining | ReadinessStatus::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = Readiness {
        status,
        checks,
        warnings: warnings(&state).await,
    };
    (code, Json(body))
}

async fn warnings(state: &AppState) -> BTreeMap<&'static str, Check> {
    let mut warnings = BTreeMap::new();
    if !state.settings.services.public {
        return warnings;
    }
    if state.settings.offers.base_url.is_none() {
        warnings.insert(
            "offers_service",
            Check {
                backend: "offers-service",
                ok: false,
                error: Some(
                    "not configured: OFFERS_BASE_URL is unset, so products are stored unregistered and no offers are polled".to_owned(),
                ),
            },
        );
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
