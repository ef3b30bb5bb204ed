//! The ingestion series, registered in the process's registry once.

use platform::metrics::{self, Gauge, IntCounter, IntCounterVec, Registry, Series};

/// See the module documentation; the table in `docs/operations.md` says
/// what each label means.
pub struct IngestSeries {
    /// `dedupe_claims_total{result}`.
    pub dedupe_claims: IntCounterVec,
    /// `ingest_bytes_total`: feed bytes received in full.
    pub bytes: IntCounter,
    /// `ingest_feeds_total{outcome}`.
    pub feeds: IntCounterVec,
    /// `ingest_jobs_total{status}`: jobs finished.
    pub jobs: IntCounterVec,
    /// `ingest_items_applied_total`.
    pub items_applied: IntCounter,
    /// `ingest_oldest_pending_age_seconds`: the stuck-job signal.
    pub oldest_pending_seconds: Gauge,
    /// `ingest_job_retries_total`.
    pub job_retries: IntCounter,
}

impl Series for IngestSeries {
    fn register(registry: &Registry) -> Self {
        Self {
            dedupe_claims: metrics::counter(
                registry,
                "dedupe_claims_total",
                "Feed dedupe-window claims, by result",
                &["result"],
            ),
            bytes: metrics::total(
                registry,
                "ingest_bytes_total",
                "Feed bytes received in full",
            ),
            feeds: metrics::counter(
                registry,
                "ingest_feeds_total",
                "Feeds sent, by outcome",
                &["outcome"],
            ),
            jobs: metrics::counter(
                registry,
                "ingest_jobs_total",
                "Ingest jobs finished",
                &["status"],
            ),
            items_applied: metrics::total(
                registry,
                "ingest_items_applied_total",
                "Feed items applied to the catalog",
            ),
            oldest_pending_seconds: metrics::gauge(
                registry,
                "ingest_oldest_pending_age_seconds",
                "Age of the oldest accepted feed not yet applied, 0 when none",
            ),
            job_retries: metrics::total(
                registry,
                "ingest_job_retries_total",
                "Ingest jobs put back after a failure that may pass",
            ),
        }
    }
}
