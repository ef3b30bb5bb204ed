//! `offer-poller`: registers products with the Offers service on request
//! (`offers.register`) and, with the catalog feature, keeps their offers
//! and price history fresh.
//!
//! The same code runs as its own process against RabbitMQ (cluster mode)
//! and as a task inside `api` on the in-process broker (embedded mode).
//!
//! # Layout
//!
//! - [`handle_offer_request`]: the unit of work, one request to one reply.
//! - [`OfferPoller`]: the consume loop around it, built then run until
//!   stopped; a standalone one serves its metrics on `METRICS_ADDR`.
//! - [`offers`]: the Offers service's client.
//! - [`registration`]: registering products, claimed through the database.
//! - [`polling`]: refreshing offers and price history once per period.
//! - [`token`]: its access token, fetched once per deployment.

pub mod offers;
pub mod polling;
pub mod registration;
pub mod token;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::metrics::{self, Gauge, Histogram, HistogramOpts, Metrics, Registry, Series};
use platform::{Clock, Settings};
use rpc::broker::Broker;
use rpc::messages::{OfferRequest, Registered};
use rpc::{self, RpcFailure};
use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::offers::OffersClient;

/// How often due registrations are retried.
const RETRY_TICK: Duration = Duration::from_secs(1);

/// How often the products waiting for registration are counted.
const COUNT_WAITING_EVERY: u32 = 5;

/// The wait after the first failed token request; it doubles with each.
pub const TOKEN_RETRY_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two token requests.
pub const TOKEN_RETRY_MAX: Duration = Duration::from_secs(60);

/// The poller's series: `offers_registrations_waiting`,
/// `offers_poll_pass_duration_seconds`, `offers_poll_lag_seconds`.
pub struct PollSeries {
    registrations_waiting: Gauge,
    poll_pass_seconds: Histogram,
    poll_lag_seconds: Gauge,
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

    /// The deployment's Offers access token (see [`token`]). While asking
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
                let fetched = token::access_token(&self.db, &self.clock, &self.offers).await;
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

/// Answers one registration request.
pub async fn handle_offer_request(
    context: &Context,
    request: OfferRequest,
) -> Result<Registered, RpcFailure> {
    match request {
        OfferRequest::Register { product_id } => {
            registration::register_now(context, product_id).await?;
            Ok(Registered { product_id })
        }
    }
}

/// The consumer of `offers.register`, and the loop that retries failed
/// registrations.
pub struct OfferPoller {
    broker: Arc<dyn Broker>,
    context: Arc<Context>,
    prefetch: u16,
    period: Duration,
    concurrency: usize,
    /// Served on `METRICS_ADDR` by a standalone poller.
    metrics_listener: Option<std::net::TcpListener>,
}

impl OfferPoller {
    /// A standalone poller: connects to RabbitMQ at `AMQP_URL` and to the
    /// database at `DATABASE_URL`, and serves its metrics on
    /// `METRICS_ADDR` if set.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = platform::db::connect(&settings.database.url).await?;
        let metrics = Metrics::new();
        let broker = rpc::for_worker(settings, "offer-poller", metrics.clone())?;
        let mut poller = Self::with_broker(broker, db, settings, Clock::system(), metrics)?;
        poller.metrics_listener = settings
            .telemetry
            .metrics_addr
            .map(platform::metrics::bind)
            .transpose()?;
        Ok(poller)
    }

    /// A poller on a broker and database the caller already has (the
    /// embedded mode), reading the caller's clock and counting into the
    /// caller's metrics.
    pub fn with_broker(
        broker: Arc<dyn Broker>,
        db: DatabaseConnection,
        settings: &Settings,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let offers = OffersClient::new(
            settings.offers.base_url.clone(),
            settings.broker.rpc_timeout,
        )?;
        Ok(Self {
            broker,
            context: Arc::new(Context::new(db, offers, clock, metrics)),
            prefetch: settings.broker.worker_prefetch,
            period: settings.offers.poll_interval,
            concurrency: settings.offers.concurrency,
            metrics_listener: None,
        })
    }

    /// Consumes and retries until `shutdown`, then finishes what is in hand.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let context = self.context;
        let (metrics, shutdown_metrics) = (context.metrics.clone(), shutdown.clone());
        let retries = retry_loop(context.clone(), self.concurrency, shutdown.clone());
        let polls = poll_loop(
            context.clone(),
            self.period,
            self.concurrency,
            shutdown.clone(),
        );
        let serving = rpc::serve(
            &*self.broker,
            self.prefetch,
            shutdown,
            move |request: OfferRequest| {
                let context = context.clone();
                async move { handle_offer_request(&context, request).await }
            },
        );
        let metrics = async {
            match self.metrics_listener {
                Some(listener) => {
                    platform::metrics::serve(listener, metrics, shutdown_metrics).await
                }
                None => Ok(()),
            }
        };
        let ((), (), served, metrics) = tokio::join!(retries, polls, serving, metrics);
        served.and(metrics)
    }
}

/// Polls due products every [`RETRY_TICK`] until `shutdown`; each product
/// is due once per `period`.
async fn poll_loop(
    context: Arc<Context>,
    period: Duration,
    concurrency: usize,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(RETRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match polling::lag(&context).await {
            Ok(lag) => context.series.poll_lag_seconds.set(lag.as_secs_f64()),
            Err(e) => tracing::warn!(error = %e, "measuring the poll lag failed"),
        }
        loop {
            let started = std::time::Instant::now();
            match polling::poll_once(&context, period, concurrency).await {
                Ok(outcome) if outcome.claimed == 0 => break,
                Ok(outcome) => {
                    context
                        .series
                        .poll_pass_seconds
                        .observe(started.elapsed().as_secs_f64());
                    tracing::info!(
                        polled = outcome.polled,
                        failed = outcome.failed,
                        reregistering = outcome.reregistering,
                        seconds = started.elapsed().as_secs_f64(),
                        "offers refreshed"
                    );
                    if outcome.claimed < polling::BATCH as usize || shutdown.is_cancelled() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "polling offers failed");
                    break;
                }
            }
        }
    }
}

/// Retries due registrations every [`RETRY_TICK`] until `shutdown`,
/// `concurrency` at a time, pass after pass while full batches are due and
/// the service takes them (a feed can make a million products due at
/// once). A failed pass (the database down) is logged and the next tick
/// tries again.
async fn retry_loop(context: Arc<Context>, concurrency: usize, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(RETRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if ticks.is_multiple_of(COUNT_WAITING_EVERY) {
            match registration::waiting(&context).await {
                Ok(waiting) => context.series.registrations_waiting.set(waiting as f64),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot count the products waiting for registration")
                }
            }
        }
        ticks = ticks.wrapping_add(1);
        while !shutdown.is_cancelled() {
            match registration::retry_due(&context, concurrency).await {
                Ok(outcome) => {
                    if outcome.due > 0 {
                        tracing::info!(
                            due = outcome.due,
                            registered = outcome.registered,
                            "due registrations retried"
                        );
                    }
                    if !outcome.more_waiting() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "retrying registrations failed");
                    break;
                }
            }
        }
    }
}
