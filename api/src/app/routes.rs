//! The two HTTP applications of an `api` process.
//!
//! - The **public** app (`PUBLIC_ADDR`): the product API, operations
//!   endpoints (`/healthz`, `/readyz`, `/metrics`) and the API docs.
//! - The **internal** app (`INTERNAL_ADDR`, loopback by default): the
//!   listing and user services (seed 004), which only the public API layer
//!   calls, with the operations endpoints.
//!
//! `SERVICES` decides which of the public app, the listing service and the
//! user service a process serves.
//!
//! Each resource has its own module exposing `router()`; the functions here
//! merge them and add the layers every request goes through: request id
//! (a client's own only if short and printable), trace context (carried
//! on to the workers), request log, error log, metrics, the body limits
//! (`HTTP_BODY_MAX_BYTES` for buffered bodies, `HTTP_BODY_IDLE_TIMEOUT_SECS`
//! for every body), a 405 in the error envelope with `Allow`, a handler's
//! panic turned into a 500 in the envelope, and response compression (gzip
//! or brotli, as the client accepts); the public app also has CORS when
//! `CORS_ALLOWED_ORIGINS` names origins. Each app serves its own OpenAPI
//! document and Swagger UI ([`super::openapi`]). They return plain
//! `Router`s so tests can drive them with `oneshot` as well as over a
//! socket.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use platform::Services;
use platform::error::LoggedError;
use platform::settings::CorsOrigins;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutBody;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;

use platform::trace::{self, TraceContext};

use crate::AppState;
use crate::ingest::uploads::headers as tus;
use crate::web::compress::CompressWhenAskedLayer;
use crate::web::metrics;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The app served on `PUBLIC_ADDR`.
pub fn public_app(state: AppState) -> Router {
    let routes = super::openapi::with_docs(public_routes());
    let cors = cors(&state.settings.http.cors_allowed_origins);
    let app = with_layers(routes, state);
    match cors {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// The public listener's routes, each with its documentation.
pub fn public_routes() -> OpenApiRouter<AppState> {
    super::openapi::public_frame()
        .merge(super::health::router())
        .merge(crate::marketplace::public_api::router::router())
        .merge(crate::accounts::router::router())
        .merge(crate::quotes::router::router())
        .merge(crate::catalog::router::router())
        .merge(crate::ingest::router::router())
        .merge(crate::ingest::report::router())
        .merge(crate::ingest::uploads::router::router())
        .merge(crate::catalog::trends::router())
}

/// The CORS layer of the public app, if `CORS_ALLOWED_ORIGINS` names any
/// origin. It answers preflights itself (before routing, so they are not
/// 405s) and adds `Access-Control-Allow-Origin` for allowed origins only;
/// a browser refuses the answer to any other. Credentials travel in the
/// `Authorization` header, never in cookies, so none are allowed.
fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::Off => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(origins) => AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                REQUEST_ID,
                // Resumable uploads (tus), for browser clients such as Uppy.
                tus::TUS_RESUMABLE,
                tus::UPLOAD_LENGTH,
                tus::UPLOAD_OFFSET,
                tus::UPLOAD_METADATA,
            ])
            .expose_headers([
                header::RETRY_AFTER,
                header::LOCATION,
                REQUEST_ID,
                tus::TUS_RESUMABLE,
                tus::TUS_VERSION,
                tus::TUS_EXTENSION,
                tus::TUS_MAX_SIZE,
                tus::UPLOAD_LENGTH,
                tus::UPLOAD_OFFSET,
                tus::UPLOAD_METADATA,
                tus::UPLOAD_EXPIRES,
                tus::INGEST_ID,
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// The app served on `INTERNAL_ADDR`: the services this process serves.
pub fn internal_app(state: AppState) -> Router {
    let routes = super::openapi::with_docs(internal_routes(state.settings.services));
    with_layers(routes, state)
}

/// The internal listener's routes, each with its documentation.
pub fn internal_routes(services: Services) -> OpenApiRouter<AppState> {
    let mut routes = super::openapi::internal_frame().merge(super::health::router());
    if services.listings {
        routes = routes.merge(crate::marketplace::listings::router::router());
    }
    if services.users {
        routes = routes.merge(crate::marketplace::users::router::router());
    }
    routes
}

/// Adds the fallback and the layers shared by both apps, outermost first:
/// the request id is set first, so the request log, the error log and the
/// metrics all see it. Public so that tests can put a route of their own
/// (one that panics) under the same layers.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let settings = &state.settings;
    // One `ServiceBuilder`, the outermost layer first: `Router::layer`
    // boxes every route once per call, and each box is an allocation and
    // a clone per request (a refused feed went from 75 to 55 µs of CPU).
    // For the same reason a layer that only changes the request is a
    // `map_request`, one that only reads the response a `map_response`:
    // `from_fn` clones and boxes everything inside it per request.
    let layers = ServiceBuilder::new()
        .layer(CompressWhenAskedLayer)
        .map_request(drop_bad_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(middleware::from_fn(with_trace_context))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|id| id.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .map_response(platform::error::log_errors)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn(method_not_allowed))
        .map_request(body_idle_timeout(settings.http.body_idle_timeout))
        .layer(DefaultBodyLimit::max(settings.http.body_max_bytes))
        .layer(CatchPanicLayer::custom(panic_answer));
    routes.fallback(not_found).layer(layers).with_state(state)
}

/// A handler that panicked answers 500 in the error envelope, and the
/// process goes on: the panic message goes to the log (and stderr), never
/// to the client.
fn panic_answer(panic: Box<dyn std::any::Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    platform::Error::Internal(anyhow::anyhow!("a handler panicked: {message}")).into_response()
}

/// Removes a client's `X-Request-Id` that is too long or not printable
/// ASCII, so the next layer gives the request a fresh one.
fn drop_bad_request_id(mut request: Request) -> Request {
    let bad = request
        .headers()
        .get(&REQUEST_ID)
        .is_some_and(|id| !trace::is_valid_request_id(id.as_bytes()));
    if bad {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// Cuts off a request body that sends nothing for `idle` (SPEC section
/// 10, "Slow clients"): reading it fails, as if the client had gone.
fn body_idle_timeout(idle: Duration) -> impl Fn(Request) -> Request + Clone {
    move |request: Request| request.map(|body| Body::new(TimeoutBody::new(idle, body)))
}

/// axum answers a known path with an unknown method with an empty 405:
/// this gives it the error envelope, keeping its `Allow` header.
async fn method_not_allowed(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.extensions().get::<LoggedError>().is_some()
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut answer =
        platform::Error::MethodNotAllowed(format!("{path} does not take {method}")).into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// Runs the request with its [`TraceContext`] (request id, and the
/// incoming or a new `traceparent`), so the RPCs it sends carry both to
/// the workers' logs.
async fn with_trace_context(request: Request, next: Next) -> Response {
    let context = {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        TraceContext::from_headers(header(trace::REQUEST_ID), header(trace::TRACEPARENT))
    };
    context.scope(next.run(request)).await
}

/// Unknown paths get the JSON error body too, not an empty 404.
async fn not_found(request: Request) -> platform::Error {
    platform::Error::NotFound(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
}
