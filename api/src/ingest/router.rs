//! Product-feed ingestion (SPEC section 8, seed 003).
//!
//! - `POST /v1/products`: a feed body of any size up to `INGEST_MAX_BYTES`.
//!   200 `{"id", "items"}` for the first copy of a body within the dedupe
//!   window; 403 `DUPLICATE` with `Retry-After` for the same bytes again,
//!   on any replica, naming the accepted ingest in `ingest_id`; 400 for a
//!   malformed or cut-off body, naming the first problem and its byte
//!   offset; 413 over the limit; 503 when the window cannot be checked;
//!   507 when the spool's disk is nearly full. A body sent with
//!   `Content-Encoding: gzip` or `zstd` is decoded as it streams
//!   ([`encoding`]); another coding is 415. A 200 names the ingest in
//!   `Location`.
//!
//! What became of accepted feeds is answered by [`report`](super::report),
//! resumable uploads by [`uploads`](super::uploads). Accounts with the role
//! `admin` or `feeder` may send feeds (a `user` gets 403: a feed writes the
//! catalog); without credentials only when `INGEST_ALLOW_ANONYMOUS` is on
//! ([`FeedSender`]).
//!
//! At most `INGEST_MAX_CONCURRENT` feeds are received at once per
//! process; beyond, 503 with `Retry-After`, before any of the body is read.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_LENGTH, LOCATION};
use axum::response::{IntoResponse, Response};
use platform::error::ErrorBody;
use platform::{Error, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::encoding::{self, Compression};
use super::sender::FeedSender;
use super::{accept, receive};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest_feed))
}

/// An accepted feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The ingest job's id, for `GET /v1/products/ingests/{id}`.
    pub id: Uuid,
    /// Products in the feed.
    pub items: u64,
}

/// Receives a product feed, refusing a body already accepted within the
/// dedupe window.
#[utoipa::path(
    post,
    path = "/v1/products",
    tag = "ingestion",
    request_body(
        content = String,
        description = "A JSON array of products, each with an `id` (string or number); \
                       `name` and `description` are applied to the catalog when present. \
                       May be sent with `Content-Encoding: gzip` or `zstd`",
        content_type = "application/json",
    ),
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = Accepted,
            headers(("Location" = String, description = "The ingest: `/v1/products/ingests/{id}`"))),
        (status = 400, body = ErrorBody, description = "Malformed, cut off or stalled, with the byte offset of the first problem"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "FORBIDDEN: the account may not send feeds; or DUPLICATE: the same body was accepted within the window, see Retry-After; `ingest_id` names the accepted ingest",
            headers(("Retry-After" = u64, description = "Seconds until the body is accepted again"))),
        (status = 413, body = ErrorBody, description = "The feed, decoded, is over INGEST_MAX_BYTES"),
        (status = 415, body = ErrorBody, description = "A Content-Encoding other than gzip or zstd",
            headers(("Accept-Encoding" = String, description = "gzip, zstd"))),
        (status = 503, body = ErrorBody, description = "The dedupe window cannot be checked, or too many feeds arrive at once; see Retry-After"),
        (status = 507, body = ErrorBody, description = "The spool's disk would be left with less than INGEST_SPOOL_MIN_FREE_BYTES free"),
    )
)]
pub async fn ingest_feed(
    State(state): State<AppState>,
    sender: FeedSender,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = match state.ingestion.receiving() {
        Ok(_upload) => accept_feed(&state, &sender, &headers, body).await,
        Err(busy) => Err(busy),
    };
    let label = match &outcome {
        Ok(_) => "accepted",
        Err(Error::Duplicate { .. }) => "duplicate",
        Err(Error::BadRequest(_)) => "malformed",
        Err(Error::PayloadTooLarge(_)) => "too_large",
        Err(Error::Unavailable(_)) => "unavailable",
        Err(Error::Busy { .. }) => "busy",
        Err(Error::InsufficientStorage(_)) => "disk_full",
        Err(Error::UnsupportedMediaType(_)) => "unsupported",
        Err(_) => "failed",
    };
    state
        .ingestion
        .metrics
        .feeds
        .with_label_values(&[label])
        .inc();
    match outcome {
        Ok(accepted) => (
            [(LOCATION, format!("/v1/products/ingests/{}", accepted.id))],
            Json(accepted),
        )
            .into_response(),
        // RFC 7694: a 415 for a content coding names the ones accepted.
        Err(e @ Error::UnsupportedMediaType(_)) => {
            ([(ACCEPT_ENCODING, "gzip, zstd")], e).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Receives one feed, then accepts it ([`accept::accept`]) in a task of
/// its own: the client going away after its last byte cannot stop that
/// halfway.
async fn accept_feed(
    state: &AppState,
    sender: &FeedSender,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted> {
    let limits = receive::Limits {
        max_bytes: state.settings.ingest.max_bytes,
        min_free_bytes: state.settings.ingest.spool_min_free_bytes,
    };
    let compression = Compression::of(headers)?;
    // A compressed body's length says nothing of its decoded size: the
    // limits hold while it streams.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok())
        .filter(|_| compression.is_none());
    if let Some(declared) = declared {
        if declared > limits.max_bytes {
            return Err(receive::too_large(limits.max_bytes));
        }
        receive::check_room(&state.ingestion.spool, declared, limits.min_free_bytes)?;
    }
    let id = Uuid::now_v7();
    let spool_to = || state.ingestion.spool.file_for(id);
    let received = match compression {
        None => receive::receive(receive::plain(body), limits, spool_to).await?,
        Some(compression) => {
            receive::receive(encoding::decoded(body, compression), limits, spool_to).await?
        }
    };
    state
        .ingestion
        .metrics
        .bytes
        .inc_by(received.inspected.size);
    let items = received.inspected.items;
    tokio::spawn(accept::accept(
        state.clone(),
        id,
        received,
        sender.account_id(),
    ))
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("accepting the feed stopped: {e}")))??;
    Ok(Accepted { id, items })
}
