//! Configuration: compiled-in defaults, then an optional TOML file named by
//! `MERCATO_CONFIG`, then environment variables, each under its plain name
//! (`DATABASE_URL`, not `MERCATO__DATABASE_URL`).
//!
//! Every value is parsed here, once, into a typed [`Settings`]. A bad value
//! stops the process at start with a [`SettingsError`] naming the variable;
//! nothing downstream ever sees a raw string. The README's configuration
//! table lists the same variables with the same defaults.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

/// Everything a Mercato process can be told, already validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `PUBLIC_ADDR`: the public HTTP listener.
    pub public_addr: SocketAddr,
    /// `INTERNAL_ADDR`: the listener of the listing and user services.
    pub internal_addr: SocketAddr,
    /// `SERVICES`: which parts of Mercato this `api` process serves.
    pub services: Services,
    /// `LISTING_SERVICE_URL`; `None` means "the internal listener of this
    /// process", allowed only when this process serves the listing service.
    pub listing_service_url: Option<Url>,
    /// `USER_SERVICE_URL`; `None` means "the internal listener of this
    /// process", allowed only when this process serves the user service.
    pub user_service_url: Option<Url>,
    /// `SERVICE_TIMEOUT_MS`: how long the public API layer waits for the
    /// listing or user service before answering 504.
    pub service_timeout: Duration,
    /// `USER_CACHE_TTL_SECS`: how long the public API layer keeps a user it
    /// has looked up; zero turns the cache off.
    pub user_cache_ttl: Duration,
    /// `DATABASE_URL`: SQLite or PostgreSQL.
    pub database_url: DatabaseUrl,
    /// `MIGRATE_ON_START`: apply pending migrations before serving.
    pub migrate_on_start: bool,
    /// `AMQP_URL`; `None` selects the in-process broker.
    pub amqp_url: Option<Url>,
    /// `REDIS_URL`; `None` selects the in-memory dedupe window.
    pub redis_url: Option<Url>,
    /// `OFFERS_BASE_URL`: the third-party Offers service.
    pub offers_base_url: Url,
    /// `STOOQ_BASE_URL`: where quotes come from.
    pub stooq_base_url: Url,
    /// `JWT_SECRET`, at least [`Settings::MIN_JWT_SECRET_BYTES`] long;
    /// `None` lets an embedded `api` pick a random one (see
    /// [`Settings::require_jwt_secret`]).
    pub jwt_secret: Option<String>,
    /// `ADMIN_USERNAME` and `ADMIN_PASSWORD`, set together or not at all.
    pub bootstrap_admin: Option<(String, String)>,
    /// `DEDUPE_WINDOW_SECS`: how long an accepted feed body blocks its twins.
    pub dedupe_window: Duration,
    /// `OFFERS_POLL_INTERVAL_SECS`: how often each product's offers are refreshed.
    pub offers_poll_interval: Duration,
    /// `OFFERS_CONCURRENCY`: how many Offers-service calls one poller makes at once.
    pub offers_concurrency: usize,
    /// `RPC_TIMEOUT_MS`: how long the API waits for a worker's reply.
    pub rpc_timeout: Duration,
    /// `WORKER_PREFETCH`: how many requests a worker handles at once.
    pub worker_prefetch: u16,
    /// `METRICS_ADDR`: where a standalone `quote-worker` or `offer-poller`
    /// serves `/metrics`; unset, it serves none (`api` serves its own on
    /// its listeners).
    pub metrics_addr: Option<SocketAddr>,
    /// `RUN_WORKERS`: whether `api` also runs the workers in-process.
    pub run_workers: bool,
    /// `INGEST_MAX_BYTES`: the largest accepted feed body.
    pub ingest_max_bytes: u64,
    /// `INGEST_SPOOL_DIR`: where feed bodies are written while they arrive.
    pub ingest_spool_dir: PathBuf,
    /// `INGEST_ALLOW_ANONYMOUS`: accept feeds without credentials.
    pub ingest_allow_anonymous: bool,
    /// `INGEST_MAX_CONCURRENT`: feed uploads one process receives at once;
    /// more are refused with 503 and `Retry-After`.
    pub ingest_max_concurrent: usize,
    /// `INGEST_SPOOL_MIN_FREE_BYTES`: a spooled feed that would leave less
    /// free space than this on the spool's filesystem is refused with 507.
    pub ingest_spool_min_free_bytes: u64,
    /// `INGEST_LEASE_SECS`: how long a process's claim on a job lasts
    /// without progress; a job whose process is gone is taken up by
    /// another after at most this long.
    pub ingest_lease: Duration,
    /// `HTTP_BODY_MAX_BYTES`: the largest body of any request but a feed
    /// (those are buffered, so this bounds the memory a request can take).
    pub http_body_max_bytes: usize,
    /// `HTTP_HEADER_TIMEOUT_SECS`: how long a client may take to send a
    /// request's headers before the connection is closed.
    pub http_header_timeout: Duration,
    /// `HTTP_BODY_IDLE_TIMEOUT_SECS`: how long a request body may send
    /// nothing before it is cut off.
    pub http_body_idle_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long a stopping process waits for the
    /// requests in flight.
    pub shutdown_timeout: Duration,
    /// `AUTH_HASH_CONCURRENCY`: password checks (argon2) run at once.
    pub auth_hash_concurrency: usize,
    /// `AUTH_HASH_WAIT_MS`: how long a password check waits for its turn
    /// before the request is answered 503.
    pub auth_hash_wait: Duration,
    /// `AUTH_MAX_FAILURES`: failed password checks one client address may
    /// make in a minute before it gets 429s; 0 turns the throttle off.
    pub auth_max_failures: u32,
    /// `AUTH_CACHE_TTL_SECS`: how long a verified Basic credential is
    /// remembered; 0 turns the cache off.
    pub auth_cache_ttl: Duration,
    /// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `TREND_MAX_POINTS`: the most points a trend answer holds.
    pub trend_max_points: usize,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

/// Addresses and networks (`10.0.0.7`, `10.0.0.0/8`, `fd00::/8`) of the
/// proxies in front of `api` (`TRUSTED_PROXIES`, a comma list). A request
/// from one of them is taken to come from the address the proxy appended
/// to `X-Forwarded-For`; from anyone else, that header is ignored, since a
/// client can write whatever it likes in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|&(network, prefix)| in_network(ip, network, prefix))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|ip| in_network(IpAddr::V4(ip), network, prefix)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (addr, prefix) = entry.split_once('/').unwrap_or((entry, ""));
                let ip: IpAddr = addr
                    .parse()
                    .map_err(|_| format!("`{entry}` is not an IP address or network"))?;
                let bits = if ip.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    "" => bits,
                    prefix => prefix
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= bits)
                        .ok_or_else(|| format!("`{entry}`: the prefix must be 0 to {bits}"))?,
                };
                Ok((ip, prefix))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// A configuration value that cannot be used, with the variable it came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("MERCATO_CONFIG: cannot read {path}: {reason}")]
    File { path: String, reason: String },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when the output is a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("expected `pretty` or `json`, got `{other}`")),
        }
    }
}

/// The parts of Mercato an `api` process can serve (`SERVICES`, a comma
/// list). All three by default; a listing or user service of its own, on
/// its own database, is `SERVICES=listings` or `SERVICES=users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Services {
    /// `public`: the public listener, with everything on it (catalog,
    /// quotes, ingestion, the public API layer) and the in-process workers.
    pub public: bool,
    /// `listings`: the listing service, on the internal listener.
    pub listings: bool,
    /// `users`: the user service, on the internal listener.
    pub users: bool,
}

impl Services {
    pub const ALL: Self = Self {
        public: true,
        listings: true,
        users: true,
    };
}

impl FromStr for Services {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut services = Self {
            public: false,
            listings: false,
            users: false,
        };
        for name in s.split(',').map(str::trim) {
            match name {
                "public" => services.public = true,
                "listings" => services.listings = true,
                "users" => services.users = true,
                other => {
                    return Err(format!(
                        "unknown service `{other}`: expected a comma list of public, listings, users"
                    ));
                }
            }
        }
        Ok(services)
    }
}

/// A database URL Mercato knows how to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

/// The two SQL databases Mercato runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> DatabaseKind {
        if self.0.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else {
            DatabaseKind::Postgres
        }
    }

    /// The file a SQLite URL points at, `None` for in-memory SQLite and PostgreSQL.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.0.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(s).map_err(|e| format!("not a URL ({e}): `{s}`"))?;
        match url.scheme() {
            "sqlite" | "postgres" | "postgresql" => Ok(Self(s.to_owned())),
            other => Err(format!(
                "unsupported scheme `{other}`: expected sqlite:// or postgres://"
            )),
        }
    }
}

/// Where the variables come from: the process environment, or a map in tests.
pub type Vars = HashMap<String, String>;

impl Settings {
    /// Reads the optional `MERCATO_CONFIG` file and the process environment.
    pub fn load() -> Result<Self, SettingsError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// [`Settings::load`] for a binary's `main`: a bad value is printed to
    /// stderr, naming the process and the variable, and becomes exit code 2.
    pub fn load_for_process(process: &str) -> Result<Self, std::process::ExitCode> {
        Self::load().map_err(|e| {
            eprintln!("{process}: invalid configuration: {e}");
            std::process::ExitCode::from(2)
        })
    }

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
        Source(source).settings()
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
        if self.jwt_secret.is_none() && !self.is_embedded() {
            return Err(invalid(
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
        self.amqp_url.is_none()
            && self.redis_url.is_none()
            && self.database_url.kind() == DatabaseKind::Sqlite
    }
}

/// The merged configuration, read one variable at a time.
struct Source(config::Config);

impl Source {
    fn settings(&self) -> Result<Settings, SettingsError> {
        let database_url: DatabaseUrl =
            self.parse_or("DATABASE_URL", "sqlite://data/mercato.db?mode=rwc")?;
        let amqp_url = self.url("AMQP_URL", &["amqp", "amqps"])?;
        let admin_username = self.string("ADMIN_USERNAME")?;
        let admin_password = self.string("ADMIN_PASSWORD")?;
        if let Some(password) = &admin_password {
            refuse_example_secret("ADMIN_PASSWORD", password)?;
        }
        let bootstrap_admin = match (admin_username, admin_password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid("ADMIN_PASSWORD", "required with ADMIN_USERNAME"));
            }
            (None, Some(_)) => {
                return Err(invalid("ADMIN_USERNAME", "required with ADMIN_PASSWORD"));
            }
        };
        let services: Services = self.parse_or("SERVICES", "public,listings,users")?;
        let listing_service_url = self.url("LISTING_SERVICE_URL", &["http", "https"])?;
        if services.public && !services.listings && listing_service_url.is_none() {
            return Err(invalid(
                "LISTING_SERVICE_URL",
                "required when SERVICES does not include `listings`",
            ));
        }
        let user_service_url = self.url("USER_SERVICE_URL", &["http", "https"])?;
        if services.public && !services.users && user_service_url.is_none() {
            return Err(invalid(
                "USER_SERVICE_URL",
                "required when SERVICES does not include `users`",
            ));
        }
        Ok(Settings {
            public_addr: self.parse_or("PUBLIC_ADDR", "0.0.0.0:8080")?,
            internal_addr: self.parse_or("INTERNAL_ADDR", "127.0.0.1:8081")?,
            services,
            listing_service_url,
            user_service_url,
            service_timeout: Duration::from_millis(self.positive("SERVICE_TIMEOUT_MS", 5000)?),
            user_cache_ttl: Duration::from_secs(self.parse_or("USER_CACHE_TTL_SECS", "60")?),
            migrate_on_start: self
                .parse::<bool>("MIGRATE_ON_START")?
                .unwrap_or(database_url.kind() == DatabaseKind::Sqlite),
            database_url,
            run_workers: self
                .parse::<bool>("RUN_WORKERS")?
                .unwrap_or(amqp_url.is_none()),
            amqp_url,
            redis_url: self.url("REDIS_URL", &["redis", "rediss"])?,
            offers_base_url: self
                .url("OFFERS_BASE_URL", &["http", "https"])?
                .unwrap_or_else(default_offers_base_url),
            stooq_base_url: self
                .url("STOOQ_BASE_URL", &["http", "https"])?
                .unwrap_or_else(default_stooq_base_url),
            jwt_secret: self.jwt_secret()?,
            bootstrap_admin,
            dedupe_window: Duration::from_secs(self.positive("DEDUPE_WINDOW_SECS", 600)?),
            offers_poll_interval: Duration::from_secs(
                self.positive("OFFERS_POLL_INTERVAL_SECS", 60)?,
            ),
            offers_concurrency: self.positive("OFFERS_CONCURRENCY", 16)?,
            rpc_timeout: Duration::from_millis(self.positive("RPC_TIMEOUT_MS", 5000)?),
            worker_prefetch: self.positive("WORKER_PREFETCH", 32)?,
            metrics_addr: self.parse("METRICS_ADDR")?,
            ingest_max_bytes: self.positive("INGEST_MAX_BYTES", 16 * 1024 * 1024 * 1024)?,
            ingest_spool_dir: self.parse_or("INGEST_SPOOL_DIR", "data/spool")?,
            ingest_allow_anonymous: self.parse_or("INGEST_ALLOW_ANONYMOUS", "false")?,
            ingest_max_concurrent: self.positive("INGEST_MAX_CONCURRENT", 64)?,
            ingest_spool_min_free_bytes: self
                .parse_or("INGEST_SPOOL_MIN_FREE_BYTES", "1073741824")?,
            ingest_lease: Duration::from_secs(self.positive("INGEST_LEASE_SECS", 30)?),
            http_body_max_bytes: self.positive("HTTP_BODY_MAX_BYTES", 64 * 1024)?,
            http_header_timeout: Duration::from_secs(
                self.positive("HTTP_HEADER_TIMEOUT_SECS", 10)?,
            ),
            http_body_idle_timeout: Duration::from_secs(
                self.positive("HTTP_BODY_IDLE_TIMEOUT_SECS", 30)?,
            ),
            shutdown_timeout: Duration::from_secs(self.positive("SHUTDOWN_TIMEOUT_SECS", 25)?),
            auth_hash_concurrency: self.positive(
                "AUTH_HASH_CONCURRENCY",
                std::thread::available_parallelism().map_or(1, usize::from),
            )?,
            auth_hash_wait: Duration::from_millis(self.parse_or("AUTH_HASH_WAIT_MS", "500")?),
            auth_max_failures: self.parse_or("AUTH_MAX_FAILURES", "20")?,
            auth_cache_ttl: Duration::from_secs(self.parse_or("AUTH_CACHE_TTL_SECS", "60")?),
            trusted_proxies: self.parse_or("TRUSTED_PROXIES", "")?,
            trend_max_points: self.positive("TREND_MAX_POINTS", 1000)?,
            log_format: self.parse_or("LOG_FORMAT", "pretty")?,
        })
    }

    fn jwt_secret(&self) -> Result<Option<String>, SettingsError> {
        let secret = self.string("JWT_SECRET")?;
        if let Some(secret) = &secret {
            refuse_example_secret("JWT_SECRET", secret)?;
        }
        if let Some(secret) = &secret
            && secret.len() < Settings::MIN_JWT_SECRET_BYTES
        {
            return Err(invalid(
                "JWT_SECRET",
                format!(
                    "too short: {} bytes, at least {} needed",
                    secret.len(),
                    Settings::MIN_JWT_SECRET_BYTES
                ),
            ));
        }
        Ok(secret)
    }

    /// The raw value; an empty one counts as unset.
    fn string(&self, var: &'static str) -> Result<Option<String>, SettingsError> {
        match self.0.get_string(&var.to_ascii_lowercase()) {
            Ok(value) if value.is_empty() => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(config::ConfigError::NotFound(_)) => Ok(None),
            Err(e) => Err(invalid(var, e)),
        }
    }

    fn parse<T>(&self, var: &'static str) -> Result<Option<T>, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.string(var)?
            .map(|raw| {
                raw.parse()
                    .map_err(|e| invalid(var, format!("{e} (got `{raw}`)")))
            })
            .transpose()
    }

    fn parse_or<T>(&self, var: &'static str, default: &str) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let raw = self.string(var)?.unwrap_or_else(|| default.to_owned());
        raw.parse()
            .map_err(|e| invalid(var, format!("{e} (got `{raw}`)")))
    }

    fn positive<T>(&self, var: &'static str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr + PartialOrd + Default,
        T::Err: Display,
    {
        let value = self.parse::<T>(var)?.unwrap_or(default);
        if value <= T::default() {
            return Err(invalid(var, "must be greater than 0"));
        }
        Ok(value)
    }

    fn url(&self, var: &'static str, schemes: &[&str]) -> Result<Option<Url>, SettingsError> {
        let Some(url) = self.parse::<Url>(var)? else {
            return Ok(None);
        };
        if !schemes.contains(&url.scheme()) {
            return Err(invalid(
                var,
                format!(
                    "unsupported scheme `{}`: expected one of {}",
                    url.scheme(),
                    schemes.join(", ")
                ),
            ));
        }
        Ok(Some(url))
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

fn refuse_example_secret(var: &'static str, value: &str) -> Result<(), SettingsError> {
    if EXAMPLE_SECRETS.contains(&value) || value.to_ascii_lowercase().contains("change-me") {
        return Err(invalid(
            var,
            "an example value from Mercato's documentation: choose your own secret",
        ));
    }
    Ok(())
}

fn invalid(var: &'static str, reason: impl Display) -> SettingsError {
    SettingsError::Invalid {
        var,
        reason: reason.to_string(),
    }
}

fn default_offers_base_url() -> Url {
    Url::parse("https://applifting-python-excercise-ms.herokuapp.com/api/v1")
        .expect("the compiled-in Offers URL is valid")
}

fn default_stooq_base_url() -> Url {
    Url::parse("https://stooq.com").expect("the compiled-in stooq URL is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_vars(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn failing_var(vars: &[(&str, &str)]) -> &'static str {
        match settings(vars) {
            Err(SettingsError::Invalid { var, .. }) => var,
            other => panic!("expected an invalid variable, got {other:?}"),
        }
    }

    #[test]
    fn defaults_select_the_embedded_mode() {
        let s = settings(&[]).expect("defaults are valid");
        assert!(s.is_embedded());
        assert!(s.run_workers);
        assert!(s.migrate_on_start);
        assert_eq!(s.public_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(s.internal_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(s.dedupe_window, Duration::from_secs(600));
        assert_eq!(s.rpc_timeout, Duration::from_millis(5000));
        assert_eq!(s.ingest_max_bytes, 17_179_869_184);
        assert_eq!(s.worker_prefetch, 32);
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.services, Services::ALL);
        assert_eq!(s.service_timeout, Duration::from_millis(5000));
        assert_eq!(s.user_cache_ttl, Duration::from_secs(60));
        let s = settings(&[("USER_CACHE_TTL_SECS", "0")]).expect("zero turns it off");
        assert_eq!(s.user_cache_ttl, Duration::ZERO);
        assert_eq!(
            s.database_url.sqlite_file(),
            Some(PathBuf::from("data/mercato.db"))
        );
    }

    #[test]
    fn an_amqp_url_turns_the_in_process_workers_off() {
        let s = settings(&[("AMQP_URL", "amqp://127.0.0.1:5672/%2f")]).expect("valid");
        assert!(!s.run_workers);
        let s = settings(&[
            ("AMQP_URL", "amqp://127.0.0.1:5672/%2f"),
            ("RUN_WORKERS", "true"),
        ])
        .expect("valid");
        assert!(s.run_workers);
    }

    #[test]
    fn services_are_a_comma_list_of_known_names() {
        let s = settings(&[("SERVICES", "listings")]).expect("valid");
        assert!(s.services.listings && !s.services.users && !s.services.public);
        let s = settings(&[("SERVICES", " users , listings ")]).expect("valid");
        assert!(s.services.listings && s.services.users && !s.services.public);
        assert_eq!(failing_var(&[("SERVICES", "public,orders")]), "SERVICES");
        assert_eq!(failing_var(&[("SERVICES", "public,")]), "SERVICES");
    }

    #[test]
    fn a_public_layer_without_its_services_needs_their_urls() {
        assert_eq!(
            failing_var(&[("SERVICES", "public,users")]),
            "LISTING_SERVICE_URL"
        );
        assert_eq!(
            failing_var(&[("SERVICES", "public,listings")]),
            "USER_SERVICE_URL"
        );
        let s = settings(&[
            ("SERVICES", "public"),
            ("LISTING_SERVICE_URL", "http://listings.internal:8081"),
            ("USER_SERVICE_URL", "http://users.internal:8081"),
        ])
        .expect("valid");
        assert!(s.services.public && !s.services.listings);
    }

    #[test]
    fn a_jwt_secret_is_long_and_required_outside_embedded_mode() {
        assert_eq!(failing_var(&[("JWT_SECRET", "short")]), "JWT_SECRET");
        let long = "k".repeat(32);
        assert!(settings(&[("JWT_SECRET", &long)]).is_ok());
        let embedded = settings(&[]).expect("valid");
        assert!(embedded.require_jwt_secret().is_ok());
        let cluster = settings(&[("DATABASE_URL", "postgres://u@127.0.0.1/db")]).expect("valid");
        assert!(cluster.require_jwt_secret().is_err());
        let cluster = settings(&[
            ("DATABASE_URL", "postgres://u@127.0.0.1/db"),
            ("JWT_SECRET", &long),
        ])
        .expect("valid");
        assert!(cluster.require_jwt_secret().is_ok());
    }

    #[test]
    fn example_secrets_are_refused() {
        let example = EXAMPLE_SECRETS[0];
        assert_eq!(failing_var(&[("JWT_SECRET", example)]), "JWT_SECRET");
        let change_me = "this-is-long-enough-but-says-CHANGE-ME-please";
        assert_eq!(failing_var(&[("JWT_SECRET", change_me)]), "JWT_SECRET");
        for password in ["change-me", "admin-password", "choose-one"] {
            assert_eq!(
                failing_var(&[("ADMIN_USERNAME", "admin"), ("ADMIN_PASSWORD", password)]),
                "ADMIN_PASSWORD",
                "{password}"
            );
        }
        assert!(
            settings(&[
                ("ADMIN_USERNAME", "admin"),
                ("ADMIN_PASSWORD", "x7-own-pick")
            ])
            .is_ok()
        );
    }

    #[test]
    fn limits_have_defaults_and_refuse_zero() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.ingest_max_concurrent, 64);
        assert_eq!(s.ingest_spool_min_free_bytes, 1 << 30);
        assert_eq!(s.ingest_lease, Duration::from_secs(30));
        assert_eq!(s.http_body_max_bytes, 65_536);
        assert_eq!(s.http_header_timeout, Duration::from_secs(10));
        assert_eq!(s.http_body_idle_timeout, Duration::from_secs(30));
        assert_eq!(s.shutdown_timeout, Duration::from_secs(25));
        assert!(s.auth_hash_concurrency >= 1);
        assert_eq!(s.auth_max_failures, 20);
        assert_eq!(s.auth_cache_ttl, Duration::from_secs(60));
        assert_eq!(s.trend_max_points, 1000);
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(
            failing_var(&[("INGEST_MAX_CONCURRENT", "0")]),
            "INGEST_MAX_CONCURRENT"
        );
        assert_eq!(
            failing_var(&[("HTTP_HEADER_TIMEOUT_SECS", "0")]),
            "HTTP_HEADER_TIMEOUT_SECS"
        );
        let off = settings(&[("AUTH_MAX_FAILURES", "0"), ("AUTH_CACHE_TTL_SECS", "0")])
            .expect("zero turns them off");
        assert_eq!(off.auth_max_failures, 0);
        assert_eq!(off.auth_cache_ttl, Duration::ZERO);
    }

    #[test]
    fn trusted_proxies_are_addresses_and_networks() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.168.1.7,fd00::/8".parse().expect("valid");
        let ip = |s: &str| s.parse::<IpAddr>().expect("an address");
        assert!(proxies.contains(ip("10.20.30.40")));
        assert!(proxies.contains(ip("192.168.1.7")));
        assert!(!proxies.contains(ip("192.168.1.8")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(proxies.contains(ip("::ffff:10.1.1.1")));
        assert!(!proxies.contains(ip("11.0.0.1")));
        assert_eq!(
            failing_var(&[("TRUSTED_PROXIES", "10.0.0.0/33")]),
            "TRUSTED_PROXIES"
        );
        assert_eq!(
            failing_var(&[("TRUSTED_PROXIES", "nginx")]),
            "TRUSTED_PROXIES"
        );
    }

    #[test]
    fn postgres_is_not_migrated_on_start_unless_asked() {
        let url = ("DATABASE_URL", "postgres://u@127.0.0.1/db");
        assert!(!settings(&[url]).expect("valid").migrate_on_start);
        assert!(
            settings(&[url, ("MIGRATE_ON_START", "true")])
                .expect("valid")
                .migrate_on_start
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            failing_var(&[("DATABASE_URL", "mysql://x/y")]),
            "DATABASE_URL"
        );
        assert_eq!(
            failing_var(&[("DATABASE_URL", "not a url")]),
            "DATABASE_URL"
        );
        assert_eq!(
            failing_var(&[("DEDUPE_WINDOW_SECS", "0")]),
            "DEDUPE_WINDOW_SECS"
        );
        assert_eq!(
            failing_var(&[("DEDUPE_WINDOW_SECS", "-5")]),
            "DEDUPE_WINDOW_SECS"
        );
        assert_eq!(failing_var(&[("RPC_TIMEOUT_MS", "soon")]), "RPC_TIMEOUT_MS");
        assert_eq!(
            failing_var(&[("SERVICE_TIMEOUT_MS", "0")]),
            "SERVICE_TIMEOUT_MS"
        );
        assert_eq!(failing_var(&[("PUBLIC_ADDR", "localhost")]), "PUBLIC_ADDR");
        assert_eq!(failing_var(&[("AMQP_URL", "http://rabbit")]), "AMQP_URL");
        assert_eq!(failing_var(&[("REDIS_URL", "::")]), "REDIS_URL");
        assert_eq!(failing_var(&[("LOG_FORMAT", "xml")]), "LOG_FORMAT");
        assert_eq!(failing_var(&[("RUN_WORKERS", "maybe")]), "RUN_WORKERS");
        assert_eq!(failing_var(&[("ADMIN_USERNAME", "root")]), "ADMIN_PASSWORD");
    }

    #[test]
    fn the_message_names_the_variable_and_the_value() {
        let err = settings(&[("DEDUPE_WINDOW_SECS", "0")]).expect_err("zero window");
        assert_eq!(
            err.to_string(),
            "DEDUPE_WINDOW_SECS: must be greater than 0"
        );
        let err = settings(&[("RPC_TIMEOUT_MS", "soon")]).expect_err("not a number");
        assert!(err.to_string().starts_with("RPC_TIMEOUT_MS: "), "{err}");
        assert!(err.to_string().contains("`soon`"), "{err}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let s = settings(&[("AMQP_URL", ""), ("REDIS_URL", "")]).expect("valid");
        assert!(s.amqp_url.is_none() && s.redis_url.is_none());
    }

    #[test]
    fn a_config_file_is_overridden_by_the_environment() {
        let dir = std::env::temp_dir().join(format!("mercato-settings-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("mercato.toml");
        std::fs::write(&file, "rpc_timeout_ms = 750\ndedupe_window_secs = 30\n").expect("write");
        let path = file.to_string_lossy().into_owned();
        let s =
            settings(&[("MERCATO_CONFIG", &path), ("DEDUPE_WINDOW_SECS", "45")]).expect("valid");
        assert_eq!(s.rpc_timeout, Duration::from_millis(750));
        assert_eq!(s.dedupe_window, Duration::from_secs(45));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_missing_config_file_is_an_error_naming_mercato_config() {
        let err =
            settings(&[("MERCATO_CONFIG", "/nonexistent/mercato.toml")]).expect_err("missing");
        assert!(err.to_string().starts_with("MERCATO_CONFIG: "), "{err}");
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        let url: DatabaseUrl = "sqlite:///tmp/x/m.db?mode=rwc".parse().expect("valid");
        assert_eq!(url.sqlite_file(), Some(PathBuf::from("/tmp/x/m.db")));
        let url: DatabaseUrl = "sqlite::memory:".parse().expect("valid");
        assert_eq!(url.sqlite_file(), None);
        let url: DatabaseUrl = "postgres://u@h/db".parse().expect("valid");
        assert_eq!(url.kind(), DatabaseKind::Postgres);
        assert_eq!(url.sqlite_file(), None);
    }
}
