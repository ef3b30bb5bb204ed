//! Response compression (gzip or brotli) for the clients that ask for it.
//!
//! tower-http's `Compression` wraps every response body in its
//! `CompressionBody`, which holds its encoders inline: 5,824 bytes, boxed
//! into axum's `Body` and copied for every response, even when the client
//! sent no `Accept-Encoding` and nothing is compressed. This layer sends
//! only the requests that carry the header through it; the others go
//! straight to the service inside. What is compressed, and how, is
//! tower-http's.

use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use futures_util::TryFutureExt as _;
use futures_util::future::{Either, MapOk};
use tower::{Layer, Service};
use tower_http::compression::predicate::DefaultPredicate;
use tower_http::compression::{Compression, CompressionBody, CompressionLayer};

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompressWhenAskedLayer;

impl<S: Clone> Layer<S> for CompressWhenAskedLayer {
    type Service = CompressWhenAsked<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CompressWhenAsked {
            compressed: CompressionLayer::new()
                .compress_when(DefaultPredicate::new())
                .layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct CompressWhenAsked<S> {
    plain: S,
    compressed: Compression<S, DefaultPredicate>,
}

type Compressed<F> = MapOk<
    tower_http::compression::ResponseFuture<F, DefaultPredicate>,
    fn(Response<CompressionBody<Body>>) -> Response,
>;

impl<S> Service<Request> for CompressWhenAsked<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Compressed<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both wrap the same service; whichever takes the call must be ready.
        match self.plain.poll_ready(cx)? {
            Poll::Ready(()) => self.compressed.poll_ready(cx),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.headers().contains_key(header::ACCEPT_ENCODING) {
            let into_response: fn(Response<CompressionBody<Body>>) -> Response =
                |response| response.map(Body::new);
            Either::Right(self.compressed.call(request).map_ok(into_response))
        } else {
            Either::Left(self.plain.call(request))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    async fn answer(accept_encoding: Option<&str>) -> Response {
        let text = "the same words again and again ".repeat(20);
        let service = CompressWhenAskedLayer.layer(tower::service_fn(move |_: Request| {
            let text = text.clone();
            async move {
                Ok::<_, std::convert::Infallible>(
                    Response::builder()
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(text))
                        .expect("a response"),
                )
            }
        }));
        let mut request = Request::new(Body::empty());
        if let Some(encoding) = accept_encoding {
            request.headers_mut().insert(
                header::ACCEPT_ENCODING,
                encoding.parse().expect("a header value"),
            );
        }
        service.oneshot(request).await.expect("infallible")
    }

    async fn body_len(response: Response) -> usize {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body")
            .len()
    }

    #[tokio::test]
    async fn a_client_that_accepts_gzip_gets_gzip() {
        let response = answer(Some("gzip")).await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(body_len(response).await < 620 / 2);
    }

    #[tokio::test]
    async fn a_client_that_asks_for_nothing_gets_the_body_as_it_is() {
        let response = answer(None).await;
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(body_len(response).await, 620);
    }

    #[tokio::test]
    async fn a_client_that_accepts_only_identity_gets_the_body_as_it_is() {
        let response = answer(Some("identity")).await;
        assert!(!response.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(body_len(response).await, 620);
    }
}
