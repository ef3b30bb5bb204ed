//! Typed RPC on top of the byte-level [`Broker`].
//!
//! A request type names its queue and its reply type ([`RpcRequest`]).
//! On the wire a request is the JSON of its queue's message enum, tagged
//! with `type` and a version `v`; a reply is `{"ok": …}` or
//! `{"error": {"code", "msg"}}`, the code being the [`ErrorCode`] the API
//! answers with.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::broker::{Broker, Handled, RpcHandler, TransportError};
use platform::{Error, ErrorCode};

/// The message version this build speaks. A request of another version is
/// undecodable here and dead-lettered.
pub const VERSION: u16 = 1;

/// A request that can be sent over the broker.
pub trait RpcRequest: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The queue the request goes to.
    const QUEUE: &'static str;
    /// What a successful reply carries.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// A failure a worker replies with; the API answers with its code's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcFailure {
    pub code: ErrorCode,
    pub msg: String,
}

impl RpcFailure {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
        }
    }
}

/// Why a typed call got no reply value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No reply: a timeout (the API answers 504) or the broker unavailable (503).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The worker answered with a coded failure, which the API passes on.
    #[error("{}", .0.msg)]
    Failed(RpcFailure),
    /// The reply did not decode: a worker of another version, or a bug.
    #[error("undecodable reply: {0}")]
    BadReply(String),
}

/// How the API answers for a call: the transport's failures are 504 and
/// 503, a worker's failure keeps its code, an undecodable reply is a 500.
impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Transport(TransportError::Timeout { .. }) => {
                Self::UpstreamTimeout(e.to_string())
            }
            CallError::Transport(TransportError::Unavailable(_)) => {
                Self::Unavailable(e.to_string())
            }
            CallError::Failed(failure) => Self::from_code(failure.code, failure.msg),
            CallError::BadReply(_) => Self::Internal(anyhow::Error::new(e)),
        }
    }
}

/// A request on the wire: the message and the version it was written in.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u16,
    #[serde(flatten)]
    message: T,
}

/// A reply on the wire.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Reply<T> {
    Ok(T),
    Error(RpcFailure),
}

/// Sends `request` and decodes its reply.
pub async fn call<R: RpcRequest>(
    broker: &dyn Broker,
    request: &R,
    timeout: Duration,
) -> Result<R::Reply, CallError> {
    let body = serde_json::to_vec(&Envelope {
        v: VERSION,
        message: request,
    })
    .map_err(|e| CallError::BadReply(format!("encoding the request: {e}")))?;
    let reply = broker.call(R::QUEUE, body, timeout).await?;
    match serde_json::from_slice::<Reply<R::Reply>>(&reply) {
        Ok(Reply::Ok(value)) => Ok(value),
        Ok(Reply::Error(failure)) => Err(CallError::Failed(failure)),
        Err(e) => Err(CallError::BadReply(e.to_string())),
    }
}

/// Consumes the queue of `R` with `handle` until `shutdown` (see
/// [`Broker::serve`]). The queue comes from the request type, so a worker
/// cannot consume one queue while decoding another's messages.
pub async fn serve<R, F, Fut>(
    broker: &dyn Broker,
    prefetch: u16,
    shutdown: tokio_util::sync::CancellationToken,
    handle: F,
) -> anyhow::Result<()>
where
    R: RpcRequest,
    F: Fn(R) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R::Reply, RpcFailure>> + Send,
{
    broker
        .serve(R::QUEUE, handler(handle), prefetch, shutdown)
        .await
}

/// Turns an async function of a typed request into the [`RpcHandler`] of
/// its queue: it decodes the request (rejecting what does not decode),
/// runs the function and encodes the reply.
pub fn handler<R, F, Fut>(handle: F) -> Arc<dyn RpcHandler>
where
    R: RpcRequest,
    F: Fn(R) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R::Reply, RpcFailure>> + Send,
{
    Arc::new(TypedHandler {
        handle,
        request: PhantomData,
    })
}

struct TypedHandler<R, F> {
    handle: F,
    request: PhantomData<fn(R)>,
}

#[async_trait]
impl<R, F, Fut> RpcHandler for TypedHandler<R, F>
where
    R: RpcRequest,
    F: Fn(R) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R::Reply, RpcFailure>> + Send,
{
    async fn handle(&self, request: &[u8]) -> Handled {
        let request = match decode::<R>(request) {
            Ok(request) => request,
            Err(reason) => {
                let failure = RpcFailure::new(
                    ErrorCode::BadRequest,
                    format!("undecodable request: {reason}"),
                );
                return Handled::Rejected {
                    reply: encode::<R::Reply>(Reply::Error(failure)),
                    reason,
                };
            }
        };
        let reply = match (self.handle)(request).await {
            Ok(value) => {
                tracing::info!(outcome = "ok", "request handled");
                Reply::Ok(value)
            }
            Err(failure) => {
                tracing::info!(outcome = ?failure.code, reason = failure.msg, "request handled");
                Reply::Error(failure)
            }
        };
        Handled::Reply(encode(reply))
    }
}

fn decode<R: RpcRequest>(body: &[u8]) -> Result<R, String> {
    let envelope: Envelope<R> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if envelope.v != VERSION {
        return Err(format!(
            "message version {} (this worker speaks {VERSION})",
            envelope.v
        ));
    }
    Ok(envelope.message)
}

fn encode<T: Serialize>(reply: Reply<T>) -> Vec<u8> {
    serde_json::to_vec(&reply).unwrap_or_else(|e| {
        let failure = RpcFailure::new(ErrorCode::Internal, format!("encoding the reply: {e}"));
        serde_json::to_vec(&Reply::<()>::Error(failure)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::QuoteRequest;

    #[test]
    fn requests_carry_their_type_and_version() {
        let request = QuoteRequest::Get {
            symbol: crate::messages::Symbol::parse("aapl.us").expect("a symbol"),
        };
        let json = serde_json::to_value(Envelope {
            v: VERSION,
            message: &request,
        })
        .expect("encode");
        assert_eq!(
            json,
            serde_json::json!({"v": 1, "type": "quote.get", "symbol": "aapl.us"})
        );
        assert!(decode::<QuoteRequest>(json.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn other_versions_and_unknown_types_do_not_decode() {
        let v2 = br#"{"v": 2, "type": "quote.get", "symbol": "aapl.us"}"#;
        assert!(
            decode::<QuoteRequest>(v2)
                .expect_err("v2")
                .contains("version 2")
        );
        assert!(decode::<QuoteRequest>(br#"{"v": 1, "type": "quote.sell"}"#).is_err());
        assert!(decode::<QuoteRequest>(b"\xff not json").is_err());
    }

    #[test]
    fn call_errors_keep_their_code_at_the_edge() {
        let unavailable = CallError::from(TransportError::Unavailable("down".into()));
        assert_eq!(Error::from(unavailable).code(), ErrorCode::Unavailable);
        let timeout = CallError::from(TransportError::Timeout {
            queue: "quotes.rpc".into(),
            timeout: Duration::from_secs(1),
        });
        assert_eq!(Error::from(timeout).code(), ErrorCode::UpstreamTimeout);
        let failed = CallError::Failed(RpcFailure::new(ErrorCode::UpstreamError, "stooq"));
        assert_eq!(Error::from(failed).code(), ErrorCode::UpstreamError);
        let garbled = CallError::BadReply("not json".into());
        assert_eq!(Error::from(garbled).code(), ErrorCode::Internal);
    }

    #[test]
    fn failures_travel_with_their_code() {
        let failure = RpcFailure::new(ErrorCode::NotFound, "no such symbol");
        let bytes = encode::<()>(Reply::Error(failure.clone()));
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "NOT_FOUND", "msg": "no such symbol"}})
        );
    }
}
