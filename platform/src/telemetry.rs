//! Tracing set-up shared by every binary.

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// `RUST_LOG` when unset: `info`, but sea-orm's migrator (a line per
/// migration, a screenful on a first start) only from `warn`: the
/// `migrations` crate logs one line saying what it applied.
pub const DEFAULT_FILTER: &str = "info,sea_orm_migration=warn";

/// Installs the global subscriber: `RUST_LOG` filters (default
/// [`DEFAULT_FILTER`]), `format` chooses between human-readable lines and
/// JSON lines.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second call (tests building several apps) keeps the first subscriber.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            // The request span alone: the list of every enclosing span
            // repeated it, doubling each request's line.
            .with_span_list(false)
            .try_init(),
    };
}
