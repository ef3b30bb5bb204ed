//! The typed values of the settings that are more than a number or a
//! duration: each parses itself from its variable's text.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use url::Url;

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

/// The browser origins allowed to call the public API across origins
/// (`CORS_ALLOWED_ORIGINS`): a comma list of `scheme://host[:port]`, or
/// `*` for any. Empty, the default, sends no CORS headers at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    #[default]
    Off,
    Any,
    /// Each in its serialized form (`https://shop.example`), as browsers
    /// send it in `Origin`.
    List(Vec<String>),
}

impl FromStr for CorsOrigins {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let entries: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect();
        if entries == ["*"] {
            return Ok(Self::Any);
        }
        if entries.is_empty() {
            return Ok(Self::Off);
        }
        let origins = entries
            .iter()
            .map(|entry| {
                let url = Url::parse(entry)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https"))
                    .filter(|url| url.path() == "/" && url.query().is_none())
                    .filter(|url| url.username().is_empty() && url.password().is_none())
                    .ok_or_else(|| {
                        format!(
                            "`{entry}` is not an origin like `https://shop.example` (or `*` alone)"
                        )
                    })?;
                Ok(url.origin().ascii_serialization())
            })
            .collect::<Result<_, String>>()?;
        Ok(Self::List(origins))
    }
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
#[derive(Clone, PartialEq, Eq)]
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

/// Shows the URL with its password, if any, as `***`.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(url) => write!(f, "{:?}", redacted(&url)),
            Err(_) => f.write_str("\"<unparsable>\""),
        }
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

/// A URL that may carry a password (`amqp://user:pass@host`): `Debug`
/// shows it with the password as `***`. A wrapper of our own rather than
/// `secrecy`'s, which needs a `Zeroize` type, and a URL is not one.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    pub fn new(url: Url) -> Self {
        Self(url)
    }

    /// The URL itself, password included: for connecting, never for logs.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redacted(&self.0))
    }
}

/// `url` as text, with its password replaced by `***`.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        shown.set_password(Some("***")).ok();
    }
    shown.to_string()
}
