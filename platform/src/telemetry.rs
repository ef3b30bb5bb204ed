//! Tracing set-up shared by every binary.

use std::fmt;

use serde::ser::{SerializeMap as _, Serializer as _};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_serde::AsSerde as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::settings::LogFormat;

/// `RUST_LOG` when unset: `info`, but sea-orm's migrator (a line per
/// migration, a screenful on a first start) only from `warn`: the
/// `migrations` crate logs one line saying what it applied.
pub const DEFAULT_FILTER: &str = "info,sea_orm_migration=warn";

/// Installs the global subscriber: `RUST_LOG` filters (default
/// [`DEFAULT_FILTER`]), `format` chooses between human-readable lines and
/// JSON lines ([`JsonLines`]).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second call (tests building several apps) keeps the first subscriber.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
    };
}

/// JSON lines, the same as tracing-subscriber's `json()` with the event's
/// fields flattened and the current span (the request's) under `span`:
///
/// `{"timestamp":…,"level":"INFO","message":…,…fields,"target":…,"span":{…fields,"name":"request"}}`
///
/// The difference is the span: tracing-subscriber parses the span's
/// fields, kept as JSON text, into a `serde_json::Value` and writes them
/// out again for every line; this writes the text as it is. Measured, the
/// request log was 30 % of the CPU of a small request, and the parse an
/// eighth of that.
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        // Events from the `log` crate carry their real target this way.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());

        let mut line = Vec::with_capacity(256);
        write_event(&mut line, &timestamp, meta, event).map_err(|_| fmt::Error)?;

        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            let extensions = span.extensions();
            let fields = extensions
                .get::<FormattedFields<JsonFields>>()
                .map_or("", |fields| fields.fields.as_str());
            line.pop(); // the map's closing brace
            line.extend_from_slice(b",\"span\":");
            match fields.strip_suffix('}') {
                Some(open) if open != "{" => {
                    line.extend_from_slice(open.as_bytes());
                    line.push(b',');
                }
                _ => line.push(b'{'),
            }
            line.extend_from_slice(b"\"name\":");
            serde_json::to_writer(&mut line, span.metadata().name()).map_err(|_| fmt::Error)?;
            line.extend_from_slice(b"}}");
        }
        // serde_json writes UTF-8 only.
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)?;
        writeln!(writer)
    }
}

/// The line up to and including `target`, as a closed JSON object.
fn write_event(
    line: &mut Vec<u8>,
    timestamp: &str,
    meta: &tracing::Metadata<'_>,
    event: &Event<'_>,
) -> Result<(), serde_json::Error> {
    let mut serializer = serde_json::Serializer::new(line);
    let mut map = serializer.serialize_map(None)?;
    map.serialize_entry("timestamp", timestamp)?;
    map.serialize_entry("level", &meta.level().as_serde())?;
    let mut visitor = tracing_serde::SerdeMapVisitor::new(map);
    event.record(&mut visitor);
    let mut map = visitor.take_serializer()?;
    map.serialize_entry("target", meta.target())?;
    map.end()
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// The same events, in and out of a span, as written by `subscriber`.
    fn log_with(subscriber: impl Subscriber + Send + Sync + 'static, lines: &Lines) -> Vec<Value> {
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                status = 200,
                latency = "1 ms",
                "finished processing request"
            );
            let span = tracing::info_span!(
                "request",
                method = %"POST",
                path = %"/v1/products",
                request_id = "a \"quoted\" é\u{1} id",
            );
            let _inside = span.enter();
            tracing::warn!(count = 3_u64, ratio = 0.5, ok = true, who = ?Some("debug"), "a warning");
            tracing::error!("no fields");
            let empty = tracing::info_span!("empty");
            let _deeper = empty.enter();
            tracing::info!(n = -1_i64, "in a span without fields");
        });
        let text = String::from_utf8(lines.0.lock().expect("not poisoned").clone()).expect("UTF-8");
        text.lines()
            .map(|line| {
                let mut value: Value = serde_json::from_str(line).expect(line);
                value
                    .as_object_mut()
                    .expect("an object")
                    .remove("timestamp");
                value
            })
            .collect()
    }

    #[test]
    fn lines_are_those_of_tracing_subscribers_json_format() {
        let ours = Lines::default();
        let theirs = Lines::default();
        let written = log_with(
            tracing_subscriber::fmt()
                .with_writer(ours.clone())
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines)
                .finish(),
            &ours,
        );
        let expected = log_with(
            tracing_subscriber::fmt()
                .with_writer(theirs.clone())
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
            &theirs,
        );
        assert_eq!(written.len(), 4);
        assert_eq!(written, expected);
        assert_eq!(written[1]["span"]["request_id"], "a \"quoted\" é\u{1} id");
        assert_eq!(written[3]["span"], serde_json::json!({"name": "empty"}));
    }

    #[test]
    fn keys_come_in_the_same_order() {
        let ours = Lines::default();
        tracing::subscriber::with_default(
            tracing_subscriber::fmt()
                .with_writer(ours.clone())
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines)
                .finish(),
            || {
                let span = tracing::info_span!("request", path = %"/x", method = %"GET");
                let _inside = span.enter();
                tracing::info!(status = 200, "done");
            },
        );
        let text = String::from_utf8(ours.0.lock().expect("not poisoned").clone()).expect("UTF-8");
        let line = text.trim_end();
        let after_timestamp = &line[line.find(",\"level\"").expect("a level")..];
        assert_eq!(
            after_timestamp,
            r#","level":"INFO","message":"done","status":200,"target":"platform::telemetry::tests","span":{"method":"GET","path":"/x","name":"request"}}"#
        );
    }
}
