//! Configuration: compiled-in defaults, then an optional TOML file named by
//! `MERCATO_CONFIG`, then environment variables, each under its plain name
//! (`DATABASE_URL`, not `MERCATO__DATABASE_URL`).
//!
//! Every value is parsed here, once, into a typed [`Settings`], one section
//! per component. A bad value stops the process at start with a
//! [`SettingsError`] naming the variable; nothing downstream ever sees a
//! raw string. Secrets are wrapped (`SecretString`, [`SecretUrl`], a
//! [`DatabaseUrl`] that hides its password), so `{:?}` of the settings
//! never shows one.
//!
//! Each variable's default is written once, in [`VARIABLES`]; the parser
//! reads it there, and a test checks the README's configuration table
//! against it, so the two cannot drift apart.
//!
//! # Layout
//!
//! - this file: the sections, [`VARIABLES`], loading;
//! - `values`: the typed values (`Services`, `DatabaseUrl`, `TrustedProxies`…);
//! - `source`: reading one variable at a time, with its default.

mod source;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use self::values::{
    CorsOrigins, DatabaseKind, DatabaseUrl, LogFormat, SecretUrl, Services, TrustedProxies,
};

/// Everything a Mercato process can be told, already validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `SERVICES`: which parts of Mercato this `api` process serves.
    pub services: Services,
    pub http: Http,
    pub database: Database,
    pub broker: Broker,
    pub auth: Auth,
    pub ingest: Ingest,
    pub offers: Offers,
    pub quotes: Quotes,
    pub catalog: Catalog,
    pub marketplace: Marketplace,
    pub telemetry: Telemetry,
}

/// The `api` process's listeners and the limits every request meets.
#[derive(Debug, Clone)]
pub struct Http {
    /// `PUBLIC_ADDR`: the public HTTP listener.
    pub public_addr: SocketAddr,
    /// `INTERNAL_ADDR`: the listener of the listing and user services.
    pub internal_addr: SocketAddr,
    /// `HTTP_BODY_MAX_BYTES`: the largest body of any request but a feed
    /// (those are buffered, so this bounds the memory a request can take).
    pub body_max_bytes: usize,
    /// `HTTP_HEADER_TIMEOUT_SECS`: how long a client may take to send a
    /// request's headers before the connection is closed.
    pub header_timeout: Duration,
    /// `HTTP_BODY_IDLE_TIMEOUT_SECS`: how long a request body may send
    /// nothing before it is cut off.
    pub body_idle_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long a stopping process waits for the
    /// requests in flight.
    pub shutdown_timeout: Duration,
    /// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `SHUTDOWN_DRAIN_SECS`: how long a stopping `api` keeps accepting
    /// requests while `/readyz` answers 503, so a load balancer stops
    /// sending it traffic before its listeners close.
    pub shutdown_drain: Duration,
    /// `CORS_ALLOWED_ORIGINS`: the browser origins allowed to call the
    /// public API; empty turns CORS off.
    pub cors_allowed_origins: CorsOrigins,
}

#[derive(Debug, Clone)]
pub struct Database {
    /// `DATABASE_URL`: SQLite or PostgreSQL.
    pub url: DatabaseUrl,
    /// `MIGRATE_ON_START`: apply pending migrations before serving.
    pub migrate_on_start: bool,
}

/// The RPC between the API and the workers.
#[derive(Debug, Clone)]
pub struct Broker {
    /// `AMQP_URL`; `None` selects the in-process broker.
    pub amqp_url: Option<SecretUrl>,
    /// `RPC_TIMEOUT_MS`: how long the API waits for a worker's reply.
    pub rpc_timeout: Duration,
    /// `WORKER_PREFETCH`: how many requests a worker handles at once.
    pub worker_prefetch: u16,
    /// `RUN_WORKERS`: whether `api` also runs the workers in-process.
    pub run_workers: bool,
}

/// Accounts, tokens and password checks.
#[derive(Debug, Clone)]
pub struct Auth {
    /// `JWT_SECRET`, at least [`Settings::MIN_JWT_SECRET_BYTES`] long;
    /// `None` lets an embedded `api` pick a random one (see
    /// [`Settings::require_jwt_secret`]).
    pub jwt_secret: Option<SecretString>,
    /// `ADMIN_USERNAME` and `ADMIN_PASSWORD`, set together or not at all.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// `AUTH_HASH_CONCURRENCY`: password checks (argon2) run at once.
    pub hash_concurrency: usize,
    /// `AUTH_HASH_WAIT_MS`: how long a password check waits for its turn
    /// before the request is answered 503.
    pub hash_wait: Duration,
    /// `AUTH_MAX_FAILURES`: failed password checks one client address may
    /// make in a minute before it gets 429s; 0 turns the throttle off.
    pub max_failures: u32,
    /// `AUTH_CACHE_TTL_SECS`: how long a verified Basic credential is
    /// remembered; 0 turns the cache off.
    pub cache_ttl: Duration,
}

/// The account created on start if no account has its name.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub username: String,
    pub password: SecretString,
}

/// Product-feed ingestion and its dedupe window.
#[derive(Debug, Clone)]
pub struct Ingest {
    /// `INGEST_MAX_BYTES`: the largest accepted feed body.
    pub max_bytes: u64,
    /// `INGEST_SPOOL_DIR`: where feed bodies are written while they arrive.
    pub spool_dir: PathBuf,
    /// `INGEST_ALLOW_ANONYMOUS`: accept feeds without credentials.
    pub allow_anonymous: bool,
    /// `INGEST_MAX_CONCURRENT`: feed uploads one process receives at once;
    /// more are refused with 503 and `Retry-After`.
    pub max_concurrent: usize,
    /// `INGEST_SPOOL_MIN_FREE_BYTES`: a spooled feed that would leave less
    /// free space than this on the spool's filesystem is refused with 507.
    pub spool_min_free_bytes: u64,
    /// `INGEST_LEASE_SECS`: how long a process's claim on a job lasts
    /// without progress; a job whose process is gone is taken up by
    /// another after at most this long.
    pub lease: Duration,
    /// `DEDUPE_WINDOW_SECS`: how long an accepted feed body blocks its twins.
    pub dedupe_window: Duration,
    /// `UPLOAD_EXPIRY_SECS`: how long a resumable upload may go without a
    /// byte before it expires and its bytes are deleted.
    pub upload_expiry: Duration,
    /// `REDIS_URL`; `None` selects the in-memory dedupe window.
    pub redis_url: Option<SecretUrl>,
}

/// The third-party Offers service and the poller that calls it.
#[derive(Debug, Clone)]
pub struct Offers {
    /// `OFFERS_BASE_URL`; `None` leaves products unregistered and the
    /// poller idle.
    pub base_url: Option<Url>,
    /// `OFFERS_POLL_INTERVAL_SECS`: how often each product's offers are refreshed.
    pub poll_interval: Duration,
    /// `OFFERS_CONCURRENCY`: how many Offers-service calls one poller makes at once.
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct Quotes {
    /// `STOOQ_BASE_URL`: where quotes come from.
    pub stooq_base_url: Url,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    /// `TREND_MAX_POINTS`: the most points a trend answer holds.
    pub trend_max_points: usize,
}

/// Seed 004's public API layer and the two services it calls.
#[derive(Debug, Clone)]
pub struct Marketplace {
    /// `LISTING_SERVICE_URL`; `None` means "the internal listener of this
    /// process", allowed only when this process serves the listing service.
    pub listing_service_url: Option<Url>,
    /// `USER_SERVICE_URL`; `None` means "the internal listener of this
    /// process", allowed only when this process serves the user service.
    pub user_service_url: Option<Url>,
    /// `SERVICES_IN_PROCESS`: a service of this process (its URL unset)
    /// is called through its router in-process, without a socket; `false`
    /// calls it over HTTP on the internal listener.
    pub services_in_process: bool,
    /// `SERVICE_TIMEOUT_MS`: how long the public API layer waits for the
    /// listing or user service before answering 504.
    pub service_timeout: Duration,
    /// `USER_CACHE_TTL_SECS`: how long the public API layer keeps a user it
    /// has looked up; zero turns the cache off.
    pub user_cache_ttl: Duration,
    /// `LISTING_PAGE_CACHE`: how many pages of listings the listing service
    /// keeps in memory until the next listing is created, when it is the
    /// only writer of its table (a SQLite database); zero keeps none.
    pub listing_page_cache: usize,
}

#[derive(Debug, Clone)]
pub struct Telemetry {
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `METRICS_ADDR`: where a standalone `quote-worker` or `offer-poller`
    /// serves `/metrics`; unset, it serves none (`api` serves its own on
    /// its listeners).
    pub metrics_addr: Option<SocketAddr>,
}

/// A variable Mercato reads, and its default as the README shows it.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub default: DefaultValue,
}

/// A variable's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This text, parsed like a value that was set.
    Value(&'static str),
    /// None: unset means "off" or "not used".
    Unset,
    /// Worked out from other values or the machine (the README says how).
    Derived,
}

const fn var(name: &'static str, default: DefaultValue) -> Variable {
    Variable { name, default }
}

use DefaultValue::{Derived, Unset, Value};

/// Every variable of the README's configuration table, in its order.
pub const VARIABLES: &[Variable] = &[
    var("PUBLIC_ADDR", Value("0.0.0.0:8080")),
    var("INTERNAL_ADDR", Value("127.0.0.1:8081")),
    var("SERVICES", Value("public,listings,users")),
    var("LISTING_SERVICE_URL", Derived),
    var("USER_SERVICE_URL", Derived),
    var("SERVICES_IN_PROCESS", Value("true")),
    var("SERVICE_TIMEOUT_MS", Value("5000")),
    var("USER_CACHE_TTL_SECS", Value("60")),
    var("LISTING_PAGE_CACHE", Value("1000")),
    var("DATABASE_URL", Value("sqlite://data/mercato.db?mode=rwc")),
    var("MIGRATE_ON_START", Derived),
    var("AMQP_URL", Unset),
    var("REDIS_URL", Unset),
    var("OFFERS_BASE_URL", Unset),
    var("STOOQ_BASE_URL", Value("https://stooq.com")),
    var("JWT_SECRET", Derived),
    var("ADMIN_USERNAME", Unset),
    var("ADMIN_PASSWORD", Unset),
    var("DEDUPE_WINDOW_SECS", Value("600")),
    var("OFFERS_POLL_INTERVAL_SECS", Value("60")),
    var("OFFERS_CONCURRENCY", Value("16")),
    var("RPC_TIMEOUT_MS", Value("5000")),
    var("WORKER_PREFETCH", Value("32")),
    var("METRICS_ADDR", Unset),
    var("RUN_WORKERS", Derived),
    var("INGEST_MAX_BYTES", Value("17179869184")),
    var("INGEST_SPOOL_DIR", Value("data/spool")),
    var("INGEST_SPOOL_MIN_FREE_BYTES", Value("1073741824")),
    var("INGEST_LEASE_SECS", Value("30")),
    var("INGEST_ALLOW_ANONYMOUS", Value("false")),
    var("INGEST_MAX_CONCURRENT", Value("64")),
    var("UPLOAD_EXPIRY_SECS", Value("86400")),
    var("HTTP_BODY_MAX_BYTES", Value("65536")),
    var("HTTP_HEADER_TIMEOUT_SECS", Value("10")),
    var("HTTP_BODY_IDLE_TIMEOUT_SECS", Value("30")),
    var("SHUTDOWN_TIMEOUT_SECS", Value("25")),
    var("SHUTDOWN_DRAIN_SECS", Value("0")),
    var("AUTH_HASH_CONCURRENCY", Derived),
    var("AUTH_HASH_WAIT_MS", Value("500")),
    var("AUTH_MAX_FAILURES", Value("20")),
    var("AUTH_CACHE_TTL_SECS", Value("60")),
    var("TRUSTED_PROXIES", Unset),
    var("CORS_ALLOWED_ORIGINS", Unset),
    var("TREND_MAX_POINTS", Value("1000")),
    var("LOG_FORMAT", Value("pretty")),
];

/// A configuration value that cannot be used, with the variable it came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("MERCATO_CONFIG: cannot read {path}: {reason}")]
    File { path: String, reason: String },
}

/// Where the variables come from: the process environment, or a map in tests.
pub type Vars = std::collections::HashMap<String, String>;

impl Settings {
    /// Builds settings from explicit variables, as if they were the
    /// environment. `MERCATO_CONFIG` among them names the optional file.
    pub fn from_vars(vars: Vars) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder();
        if let Some(path) = vars.get("MERCATO_CONFIG").filter(|p| !p.is_empty()) {
            builder = builder.add_source(config::File::new(path, config::FileFormat::Toml));
        }
        let source = builder
            .add_source(config::Environment::default().source(Some(vars.clone())))
            .build()
            .map_err(|e| SettingsError::File {
                path: vars.get("MERCATO_CONFIG").cloned().unwrap_or_default(),
                reason: e.to_string(),
            })?;
        source::Source(source).settings()
    }

    /// The shortest `JWT_SECRET` accepted: 32 bytes, the size of an
    /// HS256 key (RFC 7518 section 3.2 asks for a key at least as long as
    /// the hash).
    pub const MIN_JWT_SECRET_BYTES: usize = 32;

    /// `JWT_SECRET` may be left out only when everything is embedded: then
    /// one process issues and checks every token, and a random key per
    /// start will do. With a shared database or broker there may be other
    /// `api` replicas, which must all check the same signatures.
    pub fn require_jwt_secret(&self) -> Result<(), SettingsError> {
        if self.auth.jwt_secret.is_none() && !self.is_embedded() {
            return Err(source::invalid(
                "JWT_SECRET",
                format!(
                    "required outside embedded mode (PostgreSQL, RabbitMQ or Redis configured); at least {} bytes",
                    Self::MIN_JWT_SECRET_BYTES
                ),
            ));
        }
        Ok(())
    }

    /// True when every backend is embedded: SQLite, in-process broker, in-memory window.
    pub fn is_embedded(&self) -> bool {
        self.broker.amqp_url.is_none()
            && self.ingest.redis_url.is_none()
            && self.database.url.kind() == DatabaseKind::Sqlite
    }
}

/// Secrets shown as examples in Mercato's own files (`.env.example`, the
/// README): anyone can read them, so a deployment that kept one has no
/// secret at all. Values containing `change-me` are refused too.
pub const EXAMPLE_SECRETS: &[&str] = &[
    "change-me-to-64-hex-characters-from-openssl-rand-hex-32-please",
    "admin-password",
    "choose-one",
];

#[cfg(test)]
mod tests;
