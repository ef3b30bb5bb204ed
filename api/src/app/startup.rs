//! Building an `api` process, then running it until it is told to stop.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::ingest::dedupe::{DedupeWindow, MemoryWindow, RedisWindow, RefusalCache};
use anyhow::Context as _;
use migrations::Schema;
use offer_poller::OfferPoller;
use platform::db::GroupInsert;
use platform::metrics::Metrics;
use platform::{Clock, Settings};
use quote_worker::QuoteWorker;
use rpc::broker::Broker;
use rpc::{AmqpBroker, InProcessBroker, MeteredBroker};
use sea_orm::DbBackend;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::AppState;
use crate::app::routes as http;
use crate::app::serve::{ConnectionLimits, serve};
use crate::app::state::Handles;
use crate::ingest::{Ingestion, Spool, apply};
use crate::marketplace::listings::entity as listing;
use crate::marketplace::listings::pages::PageCache;
use crate::marketplace::public_api::clients::{ListingService, UserService};
use crate::marketplace::public_api::transport::{LocalServices, Transport};
use crate::marketplace::users::entity as user;
use crate::web::metrics::HttpMetrics;

/// A built `api` process: connections open, listeners bound, nothing served yet.
pub struct Application {
    state: AppState,
    /// `None` when `SERVICES` leaves out `public`.
    public: Option<TcpListener>,
    internal: TcpListener,
}

impl Application {
    /// Opens the database (migrating the schemas of the services it serves
    /// if `MIGRATE_ON_START`), prepares the broker, the dedupe window and
    /// the service clients, and binds the listeners. Port 0 picks a free
    /// port; [`Application::public_addr`] tells which.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// [`Application::build`] with timestamps taken from `clock`.
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let tokens = crate::accounts::auth::token_keys(&settings)?;
        let db = platform::db::connect(&settings.database.url)
            .await
            .context("DATABASE_URL: cannot connect to the database")?;
        if settings.database.migrate_on_start {
            migrations::up(&db, &Schema::for_services(settings.services))
                .await
                .context("applying database migrations")?;
        }
        if settings.services.public
            && let Some(admin) = &settings.auth.bootstrap_admin
        {
            crate::accounts::store::ensure_bootstrap_admin(&db, &clock, admin).await?;
        }
        let writer = platform::db::writer(&settings.database.url, &db)
            .await
            .context("DATABASE_URL: cannot connect to the database")?;
        let metrics = Metrics::new();
        let broker: Arc<dyn Broker> = match &settings.broker.amqp_url {
            Some(url) => Arc::new(AmqpBroker::new(url.expose(), "api")),
            None => Arc::new(InProcessBroker::new()),
        };
        let broker: Arc<dyn Broker> = Arc::new(MeteredBroker::new(broker, metrics.clone()));
        let dedupe: Arc<dyn DedupeWindow> = match &settings.ingest.redis_url {
            Some(url) => Arc::new(RefusalCache::new(Arc::new(
                RedisWindow::new(url.expose()).context("REDIS_URL")?,
            ))),
            None => Arc::new(MemoryWindow::new(clock.clone())),
        };
        let public = match settings.services.public {
            true => Some(bind("PUBLIC_ADDR", settings.http.public_addr).await?),
            false => None,
        };
        let internal = bind("INTERNAL_ADDR", settings.http.internal_addr).await?;
        let own_services = loopback_url(internal.local_addr()?)?;
        let http = platform::http::client(settings.marketplace.service_timeout)?;
        let local_services = LocalServices::default();
        let transport = |url: Option<&Url>| match url {
            Some(url) => Transport::Http {
                http: http.clone(),
                base: url.clone(),
            },
            None if settings.marketplace.services_in_process => Transport::InProcess {
                services: local_services.clone(),
                timeout: settings.marketplace.service_timeout,
            },
            None => Transport::Http {
                http: http.clone(),
                base: own_services.clone(),
            },
        };
        let listing_service =
            ListingService::new(transport(settings.marketplace.listing_service_url.as_ref()));
        let user_service = UserService::new(
            transport(settings.marketplace.user_service_url.as_ref()),
            settings.marketplace.user_cache_ttl,
            clock.clone(),
        );
        // Pages are kept only where this process is the only writer of the
        // listings table: a SQLite database is one process's. Replicas
        // sharing PostgreSQL would each miss the others' inserts.
        let listing_pages = Arc::new(PageCache::new(match db.get_database_backend() {
            DbBackend::Sqlite => settings.marketplace.listing_page_cache,
            _ => 0,
        }));
        let spool = match settings.services.public {
            true => Spool::open(&settings.ingest.spool_dir).with_context(|| {
                format!(
                    "INGEST_SPOOL_DIR: cannot use {}",
                    settings.ingest.spool_dir.display()
                )
            })?,
            false => Spool::unused(&settings.ingest.spool_dir),
        };
        let state = AppState::new(Handles {
            ingestion: Ingestion::new(spool, writer, settings.ingest.max_concurrent, &metrics),
            passwords: Arc::new(crate::accounts::PasswordGuard::new(&settings, &metrics)),
            settings: Arc::new(settings),
            broker,
            dedupe,
            metrics: Arc::new(HttpMetrics::new(metrics)),
            tokens,
            clock,
            // Every write empties the page cache from the inserting task,
            // so even a caller that went away cannot leave a stale page.
            new_listings: GroupInsert::start_with(db.clone(), |row: &listing::Model| row.id, {
                let pages = listing_pages.clone();
                move || pages.invalidate()
            }),
            listing_pages,
            new_users: GroupInsert::start(db.clone(), |row: &user::Model| row.id),
            db,
            listing_service,
            user_service,
            local_services,
            draining: CancellationToken::new(),
        });
        Ok(Self {
            state,
            public,
            internal,
        })
    }

    /// `None` when this process does not serve the public listener.
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.public.as_ref().map(|public| {
            public
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    pub fn internal_addr(&self) -> SocketAddr {
        self.internal
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves both listeners, and runs the workers in-process when
    /// `RUN_WORKERS` is on, until `stop` is cancelled: then drains (see
    /// [`drain`]), stops accepting, finishes the requests and messages in
    /// flight, and returns. If any part stops on its own, the others are
    /// stopped too and the failure is returned.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let Self {
            state,
            public,
            internal,
        } = self;
        let settings = state.settings.clone();
        let shutdown = CancellationToken::new();
        tokio::spawn(drain(
            stop,
            state.draining.clone(),
            settings.http.shutdown_drain,
            shutdown.clone(),
        ));
        let run_workers = settings.broker.run_workers && settings.services.public;
        let public_addr = public.as_ref().map(TcpListener::local_addr).transpose()?;
        tracing::info!(
            public = public_addr.map(tracing::field::display),
            internal = %internal.local_addr()?,
            services = ?settings.services,
            broker = state.broker.kind(),
            dedupe_window = state.dedupe.kind(),
            workers = run_workers,
            "listening"
        );
        let mut tasks = Tasks::new(shutdown.clone());
        let limits = ConnectionLimits {
            header_timeout: settings.http.header_timeout,
            shutdown_timeout: settings.http.shutdown_timeout,
        };
        let internal_app = http::internal_app(state.clone());
        // Kept while the process runs: the in-process clients call it. Set
        // before the public listener serves, or its first requests would
        // find no service to call (a 503).
        let _local_services = state.local_services.serve(internal_app.clone());
        if let Some(public) = public {
            tasks.spawn(
                "public listener",
                serve(
                    public,
                    http::public_app(state.clone()),
                    limits,
                    shutdown.clone(),
                ),
            );
        }
        tasks.spawn(
            "internal listener",
            serve(internal, internal_app, limits, shutdown.clone()),
        );
        if settings.services.public {
            let applier = apply::Applier {
                clock: state.clock.clone(),
                ingestion: state.ingestion.clone(),
                dedupe: state.dedupe.clone(),
                metrics: state.ingestion.metrics.clone(),
                lease: settings.ingest.lease,
            };
            tasks.spawn("feed applier", apply::run(applier, shutdown.clone()));
        }
        if run_workers {
            let process_metrics = state.metrics.process.clone();
            let quotes =
                QuoteWorker::with_broker(state.broker.clone(), &settings, process_metrics.clone())?;
            tasks.spawn("quote-worker", quotes.run_until_stopped(shutdown.clone()));
            let offers = OfferPoller::with_broker(
                state.broker.clone(),
                state.db.clone(),
                &settings,
                state.clock.clone(),
                process_metrics,
            )?;
            tasks.spawn("offer-poller", offers.run_until_stopped(shutdown.clone()));
        }
        let outcome = tasks.supervise().await;
        // Every task is done with the database: closing the pool now lets
        // SQLite fold its write-ahead log back into the database file.
        state.ingestion.db.close_by_ref().await.ok();
        state.db.close_by_ref().await.ok();
        outcome
    }
}

/// When `stop` is cancelled: marks the process draining (`/readyz`
/// answers 503), keeps serving for `SHUTDOWN_DRAIN_SECS` so a load
/// balancer takes this replica out before its listeners close, then
/// cancels `shutdown`. A part that fails cancels `shutdown` itself, and
/// ends the drain.
async fn drain(
    stop: CancellationToken,
    draining: CancellationToken,
    period: std::time::Duration,
    shutdown: CancellationToken,
) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = shutdown.cancelled() => {
            draining.cancel();
            return;
        }
    }
    draining.cancel();
    if !period.is_zero() {
        tracing::info!(
            ?period,
            "draining: /readyz answers 503 until the listeners close"
        );
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = shutdown.cancelled() => {}
        }
    }
    shutdown.cancel();
}

/// `http://` and `addr`, with an unspecified IP (`0.0.0.0`, `::`) replaced
/// by loopback: how this process reaches its own internal listener.
pub fn loopback_url(addr: SocketAddr) -> anyhow::Result<Url> {
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    Ok(Url::parse(&format!(
        "http://{}",
        SocketAddr::new(ip, addr.port())
    ))?)
}

async fn bind(var: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{var}: cannot listen on {addr}"))
}

/// The long-running parts of a process, each with a name for the log.
struct Tasks {
    set: JoinSet<anyhow::Result<()>>,
    names: HashMap<tokio::task::Id, &'static str>,
    shutdown: CancellationToken,
}

impl Tasks {
    fn new(shutdown: CancellationToken) -> Self {
        Self {
            set: JoinSet::new(),
            names: HashMap::new(),
            shutdown,
        }
    }

    fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits for every task. The first one to stop before shutdown was
    /// asked for (by error, panic or just returning) triggers the shutdown
    /// of the rest, and its failure is what the process reports.
    async fn supervise(mut self) -> anyhow::Result<()> {
        let mut failure: Option<anyhow::Error> = None;
        while let Some(done) = self.set.join_next_with_id().await {
            let (id, outcome) = match done {
                Ok((id, outcome)) => (id, outcome),
                Err(e) => (e.id(), Err(anyhow::anyhow!("panicked: {e}"))),
            };
            let name = self.names.get(&id).copied().unwrap_or("a task");
            let outcome = match outcome {
                Ok(()) if self.shutdown.is_cancelled() => continue,
                Ok(()) => anyhow::anyhow!("{name} stopped on its own"),
                Err(e) => e.context(format!("{name} failed")),
            };
            tracing::error!(error = format!("{outcome:#}"), "stopping the process");
            self.shutdown.cancel();
            failure.get_or_insert(outcome);
        }
        failure.map_or(Ok(()), Err)
    }
}
