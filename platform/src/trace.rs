//! What ties the work of one API request together across processes: its
//! request id (`X-Request-Id`, incoming or generated) and its W3C trace
//! context (`traceparent`, incoming or started here).
//!
//! `api` sets a [`TraceContext`] for each request's task; an RPC sent from
//! that task carries it in AMQP message headers of the same names; the
//! worker handles the request inside [`TraceContext::span`], so its log
//! lines carry the same ids. One grep for a request id follows a request
//! through every process.
//!
//! The `traceparent` is passed along as it came, not forked into child
//! spans: enough to correlate logs, without a tracing backend.

use std::future::Future;

/// The header, and AMQP message header, of the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// The header, and AMQP message header, of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Longer request ids than this (from a client) are replaced.
pub const MAX_REQUEST_ID: usize = 128;

/// Whether a client's `X-Request-Id` may be kept: 1 to
/// [`MAX_REQUEST_ID`] printable ASCII characters. Anything else is
/// replaced with a fresh id before it reaches a log line or a reply, so a
/// client cannot make every log line it causes 100 KB long or put control
/// characters in it.
pub fn is_valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len()) && id.iter().all(|b| (0x20..0x7f).contains(b))
}

/// See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub request_id: Option<String>,
    pub traceparent: Option<String>,
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// The context from a request's headers: the request id if
    /// [`is_valid_request_id`] (the API replaces any other before this),
    /// and the `traceparent` if it is well-formed, or
    /// a new one.
    pub fn from_headers(request_id: Option<&str>, traceparent: Option<&str>) -> Self {
        Self {
            request_id: request_id
                .filter(|id| is_valid_request_id(id.as_bytes()))
                .map(str::to_owned),
            traceparent: Some(
                traceparent
                    .filter(|value| is_traceparent(value))
                    .map_or_else(new_traceparent, str::to_owned),
            ),
        }
    }

    /// The context of the task running now; empty outside any.
    pub fn current() -> Self {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    /// Runs `work` with this context as the current one.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }

    /// The span a worker handles one request of `queue` in.
    pub fn span(&self, queue: &str) -> tracing::Span {
        tracing::info_span!(
            "rpc",
            queue,
            request_id = self.request_id.as_deref().unwrap_or_default(),
            traceparent = self.traceparent.as_deref().unwrap_or_default(),
        )
    }
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower case.
fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    matches!(parts.as_slice(), [version, trace, parent, flags]
        if hex(version, 2) && *version != "ff" && hex(trace, 32) && hex(parent, 16) && hex(flags, 2)
            && trace.bytes().any(|b| b != b'0') && parent.bytes().any(|b| b != b'0'))
}

/// A new sampled trace: random trace and parent ids.
fn new_traceparent() -> String {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!("00-{trace}-{}-01", &parent[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_traceparent_is_kept_and_anything_else_replaced() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

        let kept = TraceContext::from_headers(Some("abc"), Some(given));
        let replaced = TraceContext::from_headers(None, Some("00-nothex-00f067aa0ba902b7-01"));
        let started = TraceContext::from_headers(None, None);

        assert_eq!(kept.traceparent.as_deref(), Some(given));
        assert_eq!(kept.request_id.as_deref(), Some("abc"));
        for context in [replaced, started] {
            let traceparent = context.traceparent.expect("a traceparent");
            assert!(is_traceparent(&traceparent), "{traceparent}");
        }
        assert!(!is_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
    }

    #[test]
    fn request_ids_are_short_printable_ascii() {
        assert!(is_valid_request_id(b"req-1"));
        assert!(is_valid_request_id("x".repeat(128).as_bytes()));
        assert!(!is_valid_request_id("x".repeat(129).as_bytes()));
        assert!(!is_valid_request_id(b""));
        assert!(!is_valid_request_id(b"line\nbreak"));
        assert!(!is_valid_request_id("caf\u{e9}".as_bytes()));
        let long = "x".repeat(100_000);
        assert_eq!(
            TraceContext::from_headers(Some(&long), None).request_id,
            None
        );
    }

    #[tokio::test]
    async fn the_context_is_current_inside_its_scope_only() {
        let context = TraceContext::from_headers(Some("req-1"), None);

        let inside = context
            .clone()
            .scope(async { TraceContext::current() })
            .await;

        assert_eq!(inside, context);
        assert_eq!(TraceContext::current(), TraceContext::default());
    }
}
