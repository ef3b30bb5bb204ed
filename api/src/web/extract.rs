//! Extractors that answer bad input with our JSON error body: 400
//! `BAD_REQUEST` naming the problem (never axum's 422 or its plain-text
//! bodies), 413 `PAYLOAD_TOO_LARGE` for a body over the buffering limit.
//! Handlers take these instead of axum's own `Json`, `Query` and `Path`.
//!
//! Each also runs the control-character check ([`crate::web::text`]) on what
//! it reads, before decoding, so no handler sees a NUL in its input.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON body, or a 400 saying what is wrong with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Query parameters, or a 400 saying which one is wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

/// Path parameters, or a 400 saying which one is wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(request.headers()) {
            return Err(Error::BadRequest(
                "expected a body with `Content-Type: application/json`".into(),
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| rejected(rejection.status(), rejection.body_text()))?;
        crate::web::text::check_json(&body)?;
        axum::Json::<T>::from_bytes(&body)
            .map(|axum::Json(value)| Self(value))
            .map_err(|rejection: JsonRejection| rejected(rejection.status(), rejection.body_text()))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        crate::web::text::check_form(parts.uri.query().unwrap_or_default().as_bytes())?;
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| {
                rejected(rejection.status(), rejection.body_text())
            })
    }
}

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Ok(params) = RawPathParams::from_request_parts(parts, state).await {
            for (name, value) in &params {
                crate::web::text::check(name, value)?;
            }
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|rejection: PathRejection| rejected(rejection.status(), rejection.body_text()))
    }
}

/// `application/json`, or any `application/…+json`, as axum's `Json` wants.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.split_once('/').is_some_and(|(kind, sub)| {
            kind.eq_ignore_ascii_case("application") && sub.ends_with("+json")
        })
}

/// Our error for one of axum's rejections. Its text names the problem
/// ("Failed to deserialize the JSON body into the target type: missing
/// field `name` at line 1 column 2"); its status only tells a body that was
/// too large from every other mistake of the client's. A rejection that is
/// the server's fault (a route without the parameters its handler wants)
/// stays a 500.
fn rejected(status: StatusCode, text: String) -> Error {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge(text),
        status if status.is_server_error() => Error::Internal(anyhow::anyhow!(text)),
        _ => Error::BadRequest(text),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post};
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Product {
        name: String,
        price: u32,
    }

    #[derive(Debug, Deserialize)]
    struct Page {
        page: u32,
    }

    fn app() -> Router {
        Router::new()
            .route(
                "/products",
                post(|Json(product): Json<Product>| async move { Json(product) }),
            )
            .route(
                "/pages",
                get(|Query(page): Query<Page>| async move { page.page.to_string() }),
            )
            .route(
                "/products/{id}",
                get(|Path(id): Path<uuid::Uuid>| async move { id.to_string() }),
            )
            .layer(DefaultBodyLimit::max(64))
    }

    async fn send(request: axum::http::Request<Body>) -> (StatusCode, serde_json::Value) {
        let response = app().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    fn post_json(body: &str) -> axum::http::Request<Body> {
        axum::http::Request::post("/products")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .expect("a request")
    }

    fn get_request(uri: &str) -> axum::http::Request<Body> {
        axum::http::Request::get(uri)
            .body(Body::empty())
            .expect("a request")
    }

    #[tokio::test]
    async fn a_valid_body_goes_through() {
        let (status, body) = send(post_json(r#"{"name": "mesa", "price": 5}"#)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"name": "mesa", "price": 5}));
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_not_a_422() {
        for bad in [
            r#"{"name": "mesa""#,
            r#"{"name": "mesa", "price": "five"}"#,
            r#"{"name": "mesa"}"#,
        ] {
            let (status, body) = send(post_json(bad)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(body["code"], "BAD_REQUEST", "{bad}");
        }
        let (_, body) = send(post_json(r#"{"name": "mesa"}"#)).await;
        assert!(
            body["msg"]
                .as_str()
                .unwrap_or_default()
                .contains("missing field `price`"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_body_without_a_json_content_type_is_a_400() {
        let request = axum::http::Request::post("/products")
            .body(Body::from(r#"{"name": "mesa", "price": 5}"#))
            .expect("a request");
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "BAD_REQUEST");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_413() {
        let big = format!(r#"{{"name": "{}", "price": 5}}"#, "x".repeat(100));
        let (status, body) = send(post_json(&big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["code"], "PAYLOAD_TOO_LARGE");
    }

    #[tokio::test]
    async fn control_characters_are_400s_naming_the_field() {
        let (status, body) = send(post_json(r#"{"name": "me\u0000sa", "price": 5}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["msg"], "name contains the control character U+0000");
        let (status, body) = send(get_request("/pages?page=1&x=%07")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["msg"], "x contains the control character U+0007");
        let (status, body) = send(get_request("/products/%00")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["msg"], "id contains the control character U+0000");
    }

    #[tokio::test]
    async fn bad_query_and_path_values_are_400s() {
        for uri in [
            "/pages?page=-1",
            "/pages?page=one",
            "/pages",
            "/products/not-a-uuid",
        ] {
            let (status, body) = send(get_request(uri)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(body["code"], "BAD_REQUEST", "{uri}");
        }
    }
}
