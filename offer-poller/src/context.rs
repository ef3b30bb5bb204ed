//! What handling a request needs ([`Context`]): the database, the Offers
//! client, the clock, the poller's series, and the deployment's token
//! with the backoff of asking for it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::Clock;
use platform::metrics::{self, Gauge, Histogram, HistogramOpts, Metrics, Registry, Series};
use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::offers::OffersClient;

/// The wait after the first failed token request; it doubles with each.
pub const TOKEN_RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two token requests.
pub const TOKEN_RETRY_MAX: Duration = Duration::from_secs(60);

/// The poller's series: `offers_registrations_waiting`,
/// `offers_poll_pass_duration_seconds`, `offers_poll_lag_seconds`.
pub struct PollSeries {
    pub(crate) registrations_waiting: Gauge,
    pub(crate) poll_pass_seconds: Histogram,
    pub(crate) poll_lag_seconds: Gauge,
}

impl Series for PollSeries {
    fn register(registry: &Registry) -> Self {
        Self {
            registrations_waiting: metrics::gauge(
                registry,
                "offers_registrations_waiting",
                "Products not yet registered with the Offers service",
            ),
            poll_pass_seconds: metrics::registered(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "offers_poll_pass_duration_seconds",
                        "offer-poller passes that polled something",
                    )
                    .buckets(metrics::LATENCY_BUCKETS.to_vec()),
                )
                .expect("a valid histogram definition"),
            ),
            poll_lag_seconds: metrics::gauge(
                registry,
                "offers_poll_lag_seconds",
                "How overdue the most overdue product's poll is",
            ),
        }
    }
}

/// What handling a request needs.
pub struct Context {
    pub db: DatabaseConnection,
    pub offers: OffersClient,
    pub clock: Clock,
    /// The process's registry, served on `METRICS_ADDR`.
    pub metrics: Arc<Metrics>,
    /// Poll passes, lag and waiting registrations are recorded here.
    pub series: Arc<PollSeries>,
    /// The deployment's access token, once this process has read it.
    token: OnceCell<String>,
    /// Where asking for the token stands after failures.
    token_backoff: Mutex<TokenBackoff>,
}

impl Context {
    pub fn new(
        db: DatabaseConnection,
        offers: OffersClient,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            offers: offers.with_metrics(metrics.clone()),
            clock,
            series: metrics.series(),
            metrics,
            token: OnceCell::new(),
            token_backoff: Mutex::default(),
        }
    }

    /// The deployment's Offers access token (see [`token`](crate::token)). While asking
    /// for it fails, asking again backs off (from [`TOKEN_RETRY_FIRST`],
    /// doubling up to [`TOKEN_RETRY_MAX`]); callers in between fail at
    /// once without calling the service.
    pub async fn token(&self) -> anyhow::Result<String> {
        if let Some(token) = self.token.get() {
            return Ok(token.clone());
        }
        let token = self
            .token
            .get_or_try_init(|| async {
                // Checked here too: callers that queued behind a failed
                // request must not each make one of their own.
                if let Some(until) = self.lock_backoff().next_at
                    && Instant::now() < until
                {
                    anyhow::bail!(
                        "no Offers access token: asking again in {:?}",
                        until - Instant::now()
                    );
                }
                let fetched = crate::token::access_token(&self.db, &self.clock, &self.offers).await;
                let mut backoff = self.lock_backoff();
                match &fetched {
                    Ok(_) if backoff.failures > 0 => {
                        tracing::info!(
                            failures = backoff.failures,
                            "Offers access token obtained after failed requests"
                        );
                        *backoff = TokenBackoff::default();
                    }
                    Ok(_) => {}
                    Err(e) => {
                        backoff.failures += 1;
                        let wait = platform::backoff::after_failures(
                            backoff.failures,
                            TOKEN_RETRY_FIRST,
                            TOKEN_RETRY_MAX,
                        );
                        backoff.next_at = Some(Instant::now() + wait);
                        if backoff.failures == 1 {
                            tracing::warn!(
                                error = format!("{e:#}"),
                                "cannot get an Offers access token; asking again with backoff"
                            );
                        }
                    }
                }
                fetched
            })
            .await?;
        Ok(token.clone())
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, TokenBackoff> {
        self.token_backoff.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Failed token requests in a row, and when the next may be made.
#[derive(Debug, Default)]
struct TokenBackoff {
    failures: u32,
    next_at: Option<Instant>,
}
