//! The tus 1.0 endpoints under `/v1/uploads` (see the module above):
//!
//! - `OPTIONS /v1/uploads`: what is served (version, extensions, the
//!   largest upload).
//! - `POST /v1/uploads`: creates an upload of `Upload-Length` bytes
//!   (creation), with its first bytes if the body carries them
//!   (creation-with-upload); 201 with `Location`.
//! - `HEAD /v1/uploads/{id}`: how many bytes are committed.
//! - `PATCH /v1/uploads/{id}`: more bytes at `Upload-Offset`; the last
//!   one answers as `POST /v1/products` would, with the ingest's id in
//!   `Mercato-Ingest-Id`.
//! - `DELETE /v1/uploads/{id}`: ends an upload and deletes its bytes.
//!
//! The same callers as feeds (`admin`, `feeder`, or anyone when anonymous
//! feeds are on); an upload answers only its creator and admins (anyone
//! else gets 404). Every answer carries `Tus-Resumable: 1.0.0`.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use platform::Error;
use platform::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::headers::{self as tus, INGEST_ID, TUS_RESUMABLE, UPLOAD_EXPIRES, UPLOAD_OFFSET};
use super::{Progress, entity};
use crate::AppState;
use crate::ingest::receive;
use crate::ingest::sender::FeedSender;
use crate::web::extract::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload, upload_options))
        .routes(routes!(upload_status, append_upload, terminate_upload))
        // On every answer, a refusal by an extractor (401, 400) too.
        .layer(axum::middleware::map_response(with_tus_resumable))
}

async fn with_tus_resumable(mut response: Response) -> Response {
    response.headers_mut().insert(TUS_RESUMABLE, tus::VERSION);
    response
}

/// `response`, with the versions served on a 412.
fn tus_answer(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    if response.status() == StatusCode::PRECONDITION_FAILED {
        response
            .headers_mut()
            .insert(tus::TUS_VERSION, tus::VERSION);
    }
    response
}

/// The headers saying where an upload stands.
fn progress_headers(progress: &Progress) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(progress.offset));
    match progress.ingest {
        Some(ingest) => {
            if let Ok(value) = HeaderValue::from_str(&ingest.to_string()) {
                headers.insert(INGEST_ID, value);
            }
        }
        None => {
            if let Ok(value) = HeaderValue::from_str(&progress.expires_at.to_http_date()) {
                headers.insert(UPLOAD_EXPIRES, value);
            }
        }
    }
    headers
}

/// The upload `id` if `sender` may see it: its creator's, or any for an
/// admin; 404 otherwise, as for one that does not exist or expired.
async fn visible(state: &AppState, sender: &FeedSender, id: Uuid) -> Result<entity::Model, Error> {
    super::find(state, id)
        .await?
        .filter(|upload| sender.may_see(upload.sender))
        .ok_or_else(|| Error::NotFound(format!("upload {id} not found")))
}

/// What the server speaks: tus 1.0.0 with creation, creation-with-upload,
/// termination and expiration; uploads up to `INGEST_MAX_BYTES`.
#[utoipa::path(
    options,
    path = "/v1/uploads",
    tag = "uploads",
    responses((status = 204, description = "Tus-Version, Tus-Extension and Tus-Max-Size"))
)]
pub async fn upload_options(State(state): State<AppState>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(tus::TUS_VERSION, tus::VERSION);
    headers.insert(tus::TUS_EXTENSION, tus::EXTENSIONS);
    headers.insert(
        tus::TUS_MAX_SIZE,
        HeaderValue::from(state.settings.ingest.max_bytes),
    );
    tus_answer((StatusCode::NO_CONTENT, headers))
}

/// Creates a resumable upload of a feed of `Upload-Length` bytes; a body
/// with `Content-Type: application/offset+octet-stream` is its first bytes.
#[utoipa::path(
    post,
    path = "/v1/uploads",
    tag = "uploads",
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "The whole feed's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus metadata, echoed on HEAD"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream",
        description = "Optional: the feed's first bytes"),
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Created; `Location` names it, `Upload-Offset` says how many bytes it has"),
        (status = 400, body = ErrorBody, description = "No or bad Upload-Length, bad metadata, or the first bytes are no feed"),
        (status = 401, body = ErrorBody, description = "No or wrong credentials"),
        (status = 403, body = ErrorBody, description = "FORBIDDEN, or DUPLICATE when the first bytes complete a body accepted within the window"),
        (status = 412, body = ErrorBody, description = "Not tus 1.0.0"),
        (status = 413, body = ErrorBody, description = "Upload-Length over INGEST_MAX_BYTES"),
        (status = 503, body = ErrorBody, description = "Too many uploads at once, or the dedupe window cannot be checked; see Retry-After"),
        (status = 507, body = ErrorBody, description = "The spool's disk is nearly full"),
    )
)]
pub async fn create_upload(
    State(state): State<AppState>,
    sender: FeedSender,
    headers: HeaderMap,
    body: Body,
) -> Response {
    tus_answer(create(state, sender, headers, body).await)
}

async fn create(
    state: AppState,
    sender: FeedSender,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    tus::check_version(&headers)?;
    if headers.contains_key(tus::UPLOAD_DEFER_LENGTH) {
        return Err(Error::BadRequest(
            "Upload-Defer-Length is not supported: send Upload-Length".to_owned(),
        ));
    }
    let length = tus::number(&headers, &tus::UPLOAD_LENGTH)?
        .ok_or_else(|| Error::BadRequest("an upload needs Upload-Length".to_owned()))?;
    if length == 0 {
        return Err(Error::BadRequest(
            "an empty body is no feed: Upload-Length must be at least 2 (`[]`)".to_owned(),
        ));
    }
    let limits = &state.settings.ingest;
    if length > limits.max_bytes {
        return Err(receive::too_large(limits.max_bytes));
    }
    receive::check_room(&state.ingestion.spool, length, limits.spool_min_free_bytes)?;
    let metadata = tus::metadata(&headers)?;
    let with_bytes = tus::carries_bytes(&headers);
    let _permit = if with_bytes {
        Some(state.ingestion.receiving()?)
    } else {
        None
    };
    let upload = super::create(&state, sender.account_id(), length, metadata).await?;
    let location = format!("/v1/uploads/{}", upload.id);
    let progress = if with_bytes {
        tokio::spawn(super::append(state.clone(), upload, 0, body))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("the upload stopped: {e}")))??
    } else {
        Progress::of(&upload)
    };
    Ok((
        StatusCode::CREATED,
        [(LOCATION, location)],
        progress_headers(&progress),
    )
        .into_response())
}

/// How many bytes of the upload are committed: where to resume.
#[utoipa::path(
    head,
    path = "/v1/uploads/{id}",
    tag = "uploads",
    params(
        ("id" = Uuid, Path),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
    ),
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Upload-Offset, Upload-Length, Upload-Metadata; Mercato-Ingest-Id once complete, else Upload-Expires"),
        (status = 400, body = ErrorBody, description = "Bad request"),
        (status = 401, body = ErrorBody, description = "No or wrong credentials"),
        (status = 403, body = ErrorBody, description = "The account may not send feeds"),
        (status = 404, body = ErrorBody, description = "No such upload, expired, or not this caller's"),
        (status = 412, body = ErrorBody, description = "Not tus 1.0.0 (Tus-Version says what is)"),
    )
)]
pub async fn upload_status(
    State(state): State<AppState>,
    sender: FeedSender,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        tus::check_version(&headers)?;
        let upload = visible(&state, &sender, id).await?;
        let mut headers = progress_headers(&Progress::of(&upload));
        headers.insert(tus::UPLOAD_LENGTH, HeaderValue::from(upload.upload_length));
        if let Some(metadata) = upload.metadata.and_then(|m| HeaderValue::from_str(&m).ok()) {
            headers.insert(tus::UPLOAD_METADATA, metadata);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok::<_, Error>((StatusCode::OK, headers))
    };
    tus_answer(answer.await)
}

/// More bytes of the upload, at `Upload-Offset`. The last byte accepts
/// the feed as `POST /v1/products` does: 204 with `Mercato-Ingest-Id`, or
/// the same refusals (403 `DUPLICATE`, 400, 503).
#[utoipa::path(
    patch,
    path = "/v1/uploads/{id}",
    tag = "uploads",
    params(
        ("id" = Uuid, Path),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header, description = "The upload's offset, from HEAD"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Upload-Offset; Mercato-Ingest-Id once the feed is accepted"),
        (status = 400, body = ErrorBody, description = "No or bad Upload-Offset, the bytes are no feed (the upload ends), or the body was cut off (the bytes that arrived count)"),
        (status = 401, body = ErrorBody, description = "No or wrong credentials"),
        (status = 403, body = ErrorBody, description = "FORBIDDEN, or DUPLICATE: the completed body was accepted within the window (the upload ends); `ingest_id` names that ingest"),
        (status = 404, body = ErrorBody, description = "No such upload, expired, or not this caller's"),
        (status = 409, body = ErrorBody, description = "Upload-Offset is not the upload's offset"),
        (status = 412, body = ErrorBody, description = "Not tus 1.0.0 (Tus-Version says what is)"),
        (status = 413, body = ErrorBody, description = "More bytes than Upload-Length"),
        (status = 415, body = ErrorBody, description = "Not application/offset+octet-stream"),
        (status = 423, body = ErrorBody, description = "Another request is writing this upload"),
        (status = 503, body = ErrorBody, description = "Too many uploads at once, or the dedupe window cannot be checked; see Retry-After"),
        (status = 507, body = ErrorBody, description = "The spool's disk is nearly full"),
    )
)]
pub async fn append_upload(
    State(state): State<AppState>,
    sender: FeedSender,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = async {
        tus::check_version(&headers)?;
        if !tus::carries_bytes(&headers) {
            return Err(Error::UnsupportedMediaType(format!(
                "a PATCH carries `Content-Type: {}`",
                tus::OFFSET_OCTET_STREAM
            )));
        }
        let offset = tus::number(&headers, &UPLOAD_OFFSET)?
            .ok_or_else(|| Error::BadRequest("a PATCH needs Upload-Offset".to_owned()))?;
        let upload = visible(&state, &sender, id).await?;
        let _permit = state.ingestion.receiving()?;
        let progress = tokio::spawn(super::append(state.clone(), upload, offset, body))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("the upload stopped: {e}")))??;
        Ok::<_, Error>((StatusCode::NO_CONTENT, progress_headers(&progress)))
    };
    tus_answer(answer.await)
}

/// Ends an upload and deletes its bytes (a completed upload's ingest stays).
#[utoipa::path(
    delete,
    path = "/v1/uploads/{id}",
    tag = "uploads",
    params(
        ("id" = Uuid, Path),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
    ),
    security((), ("basic" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, body = ErrorBody, description = "Bad request"),
        (status = 401, body = ErrorBody, description = "No or wrong credentials"),
        (status = 403, body = ErrorBody, description = "The account may not send feeds"),
        (status = 404, body = ErrorBody, description = "No such upload, expired, or not this caller's"),
        (status = 412, body = ErrorBody, description = "Not tus 1.0.0 (Tus-Version says what is)"),
        (status = 423, body = ErrorBody, description = "A PATCH is writing it"),
    )
)]
pub async fn terminate_upload(
    State(state): State<AppState>,
    sender: FeedSender,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        tus::check_version(&headers)?;
        let upload = visible(&state, &sender, id).await?;
        super::terminate(&state, &upload).await?;
        Ok::<_, Error>(StatusCode::NO_CONTENT)
    };
    tus_answer(answer.await)
}
