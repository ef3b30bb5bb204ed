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
//! - [`context`]: what handling a request needs: database, client, clock,
//!   series, and the token with its backoff.
//! - [`offers`]: the Offers service's client.
//! - [`registration`]: registering products, claimed through the database.
//! - [`polling`]: refreshing offers and price history once per period.
//! - [`token`]: its access token, fetched once per deployment.

pub mod context;
pub mod offers;
pub mod polling;
pub mod registration;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use platform::ErrorCode;
use platform::metrics::Metrics;
use platform::{Clock, Settings};
use rpc::broker::Broker;
use rpc::messages::{OfferRequest, Registered};
use rpc::{self, RpcFailure};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::offers::OffersClient;

pub use self::context::{Context, PollSeries, TOKEN_RETRY_FIRST, TOKEN_RETRY_MAX};

/// How often due registrations are retried.
const RETRY_TICK: Duration = Duration::from_secs(1);

/// How often the products waiting for registration are counted.
const COUNT_WAITING_EVERY: u32 = 5;

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
    /// `None` when `OFFERS_BASE_URL` is unset: then the poller only
    /// answers that the Offers service is not configured.
    context: Option<Arc<Context>>,
    /// The process's registry, served on `METRICS_ADDR`.
    metrics: Arc<Metrics>,
    prefetch: u16,
    period: Duration,
    concurrency: usize,
    /// Served on `METRICS_ADDR` by a standalone poller.
    metrics_listener: Option<std::net::TcpListener>,
}

/// The answer to `offers.register` while `OFFERS_BASE_URL` is unset.
pub const NOT_CONFIGURED: &str = "the Offers service is not configured (OFFERS_BASE_URL is unset): the product stays unregistered";

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
        let context = match &settings.offers.base_url {
            Some(base_url) => {
                let offers = OffersClient::new(base_url.clone(), settings.broker.rpc_timeout)?;
                Some(Arc::new(Context::new(db, offers, clock, metrics.clone())))
            }
            None => None,
        };
        Ok(Self {
            broker,
            context,
            metrics,
            prefetch: settings.broker.worker_prefetch,
            period: settings.offers.poll_interval,
            concurrency: settings.offers.concurrency,
            metrics_listener: None,
        })
    }

    /// Consumes and retries until `shutdown`, then finishes what is in hand.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let metrics = match self.metrics_listener {
            Some(listener) => {
                platform::metrics::serve(listener, self.metrics.clone(), shutdown.clone()).boxed()
            }
            None => async { Ok(()) }.boxed(),
        };
        let Some(context) = self.context else {
            tracing::info!(
                "OFFERS_BASE_URL is not set: new products stay unregistered and no offers are polled"
            );
            let serving = rpc::serve(
                &*self.broker,
                self.prefetch,
                shutdown,
                |_: OfferRequest| async {
                    Err::<Registered, _>(RpcFailure::new(ErrorCode::Unavailable, NOT_CONFIGURED))
                },
            );
            let (served, metrics) = tokio::join!(serving, metrics);
            return served.and(metrics);
        };
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
