//! Reading the merged configuration one variable at a time, each with the
//! default [`VARIABLES`] gives it, into the sections of [`Settings`].

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{
    Auth, BootstrapAdmin, Broker, Catalog, Database, DatabaseKind, DatabaseUrl, DefaultValue,
    EXAMPLE_SECRETS, Http, Ingest, Marketplace, Offers, Quotes, SecretUrl, Services, Settings,
    SettingsError, Telemetry, VARIABLES,
};

/// The merged configuration.
pub(super) struct Source(pub(super) config::Config);

impl Source {
    pub(super) fn settings(&self) -> Result<Settings, SettingsError> {
        let database_url: DatabaseUrl = self.parse_or("DATABASE_URL")?;
        let amqp_url = self.url("AMQP_URL", &["amqp", "amqps"])?;
        let services: Services = self.parse_or("SERVICES")?;
        Ok(Settings {
            services,
            http: Http {
                public_addr: self.parse_or("PUBLIC_ADDR")?,
                internal_addr: self.parse_or("INTERNAL_ADDR")?,
                body_max_bytes: self.positive("HTTP_BODY_MAX_BYTES")?,
                header_timeout: Duration::from_secs(self.positive("HTTP_HEADER_TIMEOUT_SECS")?),
                body_idle_timeout: Duration::from_secs(
                    self.positive("HTTP_BODY_IDLE_TIMEOUT_SECS")?,
                ),
                shutdown_timeout: Duration::from_secs(self.positive("SHUTDOWN_TIMEOUT_SECS")?),
                trusted_proxies: self.parse::<_>("TRUSTED_PROXIES")?.unwrap_or_default(),
                shutdown_drain: Duration::from_secs(self.parse_or("SHUTDOWN_DRAIN_SECS")?),
                cors_allowed_origins: self.parse::<_>("CORS_ALLOWED_ORIGINS")?.unwrap_or_default(),
            },
            database: Database {
                migrate_on_start: self
                    .parse::<bool>("MIGRATE_ON_START")?
                    .unwrap_or(database_url.kind() == DatabaseKind::Sqlite),
                url: database_url,
            },
            broker: Broker {
                run_workers: self
                    .parse::<bool>("RUN_WORKERS")?
                    .unwrap_or(amqp_url.is_none()),
                amqp_url: amqp_url.map(SecretUrl::new),
                rpc_timeout: Duration::from_millis(self.positive("RPC_TIMEOUT_MS")?),
                worker_prefetch: self.positive("WORKER_PREFETCH")?,
            },
            auth: Auth {
                jwt_secret: self.jwt_secret()?,
                bootstrap_admin: self.bootstrap_admin()?,
                hash_concurrency: match self.parse::<usize>("AUTH_HASH_CONCURRENCY")? {
                    Some(0) => {
                        return Err(invalid("AUTH_HASH_CONCURRENCY", "must be greater than 0"));
                    }
                    Some(n) => n,
                    None => std::thread::available_parallelism().map_or(1, usize::from),
                },
                hash_wait: Duration::from_millis(self.parse_or("AUTH_HASH_WAIT_MS")?),
                max_failures: self.parse_or("AUTH_MAX_FAILURES")?,
                cache_ttl: Duration::from_secs(self.parse_or("AUTH_CACHE_TTL_SECS")?),
            },
            ingest: Ingest {
                max_bytes: self.positive("INGEST_MAX_BYTES")?,
                spool_dir: self.parse_or("INGEST_SPOOL_DIR")?,
                allow_anonymous: self.parse_or("INGEST_ALLOW_ANONYMOUS")?,
                max_concurrent: self.positive("INGEST_MAX_CONCURRENT")?,
                spool_min_free_bytes: self.parse_or("INGEST_SPOOL_MIN_FREE_BYTES")?,
                lease: Duration::from_secs(self.positive("INGEST_LEASE_SECS")?),
                dedupe_window: Duration::from_secs(self.positive("DEDUPE_WINDOW_SECS")?),
                upload_expiry: Duration::from_secs(self.positive("UPLOAD_EXPIRY_SECS")?),
                redis_url: self
                    .url("REDIS_URL", &["redis", "rediss"])?
                    .map(SecretUrl::new),
            },
            offers: Offers {
                base_url: self.url("OFFERS_BASE_URL", &["http", "https"])?,
                poll_interval: Duration::from_secs(self.positive("OFFERS_POLL_INTERVAL_SECS")?),
                concurrency: self.positive("OFFERS_CONCURRENCY")?,
            },
            quotes: Quotes {
                stooq_base_url: self.web_url("STOOQ_BASE_URL")?,
            },
            catalog: Catalog {
                trend_max_points: self.positive("TREND_MAX_POINTS")?,
            },
            marketplace: self.marketplace(services)?,
            telemetry: Telemetry {
                log_format: self.parse_or("LOG_FORMAT")?,
                metrics_addr: self.parse("METRICS_ADDR")?,
            },
        })
    }

    fn marketplace(&self, services: Services) -> Result<Marketplace, SettingsError> {
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
        Ok(Marketplace {
            listing_service_url,
            user_service_url,
            services_in_process: self.parse_or("SERVICES_IN_PROCESS")?,
            service_timeout: Duration::from_millis(self.positive("SERVICE_TIMEOUT_MS")?),
            user_cache_ttl: Duration::from_secs(self.parse_or("USER_CACHE_TTL_SECS")?),
            listing_page_cache: self.parse_or("LISTING_PAGE_CACHE")?,
        })
    }

    fn bootstrap_admin(&self) -> Result<Option<BootstrapAdmin>, SettingsError> {
        let username = self.string("ADMIN_USERNAME")?;
        let password = self.string("ADMIN_PASSWORD")?;
        if let Some(password) = &password {
            refuse_example_secret("ADMIN_PASSWORD", password)?;
        }
        match (username, password) {
            (Some(username), Some(password)) => Ok(Some(BootstrapAdmin {
                username,
                password: SecretString::from(password),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid("ADMIN_PASSWORD", "required with ADMIN_USERNAME")),
            (None, Some(_)) => Err(invalid("ADMIN_USERNAME", "required with ADMIN_PASSWORD")),
        }
    }

    fn jwt_secret(&self) -> Result<Option<SecretString>, SettingsError> {
        let Some(secret) = self.string("JWT_SECRET")?.map(SecretString::from) else {
            return Ok(None);
        };
        let exposed = secret.expose_secret();
        refuse_example_secret("JWT_SECRET", exposed)?;
        if exposed.len() < Settings::MIN_JWT_SECRET_BYTES {
            return Err(invalid(
                "JWT_SECRET",
                format!(
                    "too short: {} bytes, at least {} needed",
                    exposed.len(),
                    Settings::MIN_JWT_SECRET_BYTES
                ),
            ));
        }
        Ok(Some(secret))
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

    /// The value, or the default [`VARIABLES`] gives `var`.
    fn parse_or<T>(&self, var: &'static str) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let raw = self
            .string(var)?
            .unwrap_or_else(|| default_of(var).to_owned());
        raw.parse()
            .map_err(|e| invalid(var, format!("{e} (got `{raw}`)")))
    }

    fn positive<T>(&self, var: &'static str) -> Result<T, SettingsError>
    where
        T: FromStr + PartialOrd + std::default::Default,
        T::Err: Display,
    {
        let value: T = self.parse_or(var)?;
        if value <= T::default() {
            return Err(invalid(var, "must be greater than 0"));
        }
        Ok(value)
    }

    /// An `http` or `https` URL, or the default [`VARIABLES`] gives `var`.
    fn web_url(&self, var: &'static str) -> Result<Url, SettingsError> {
        match self.url(var, &["http", "https"])? {
            Some(url) => Ok(url),
            None => default_of(var)
                .parse()
                .map_err(|e| invalid(var, format!("the default does not parse: {e}"))),
        }
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

/// The default of `var`; a variable read with a default must have one in
/// [`VARIABLES`] (a unit test reads every one).
fn default_of(var: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|v| v.name == var)
        .and_then(|v| match v.default {
            DefaultValue::Value(default) => Some(default),
            DefaultValue::Unset | DefaultValue::Derived => None,
        })
        .unwrap_or("")
}

fn refuse_example_secret(var: &'static str, value: &str) -> Result<(), SettingsError> {
    if EXAMPLE_SECRETS.contains(&value) || value.to_ascii_lowercase().contains("change-me") {
        return Err(invalid(
            var,
            "an example value from Mercato's documentation: choose your own secret",
        ));
    }
    Ok(())
}

pub(super) fn invalid(var: &'static str, reason: impl Display) -> SettingsError {
    SettingsError::Invalid {
        var,
        reason: reason.to_string(),
    }
}
