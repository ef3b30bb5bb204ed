//! `api serve` and `api demo`: build the [`Application`], print the start
//! banner, serve until SIGTERM or Ctrl-C.
//!
//! The banner is printed once, to standard output, not logged: the URLs
//! of this process and, on a deployment without any account (and no
//! `ADMIN_*`), the password of the `admin` account just created for it,
//! shown this once and never written anywhere else.
//!
//! `api demo` first starts both third-party fakes ([`fakes`]) on loopback
//! inside the process and points `STOOQ_BASE_URL` and `OFFERS_BASE_URL` at
//! them, so quotes, registration, offers and trends work without the
//! internet. Their prices move every [`DEMO_PRICE_CHANGE`], and offers are
//! polled every [`DEMO_POLL_INTERVAL`] unless the environment sets
//! `OFFERS_POLL_INTERVAL_SECS` (a value in the `MERCATO_CONFIG` file is
//! overridden), so a trend grows while one watches.

use std::process::ExitCode;
use std::time::Duration;

use fakes::{OffersFake, StooqFake};
use platform::cli::SettingsArgs;
use platform::{Settings, shutdown, telemetry};
use url::Url;

use crate::Application;
use crate::accounts::store;
use crate::app::startup::loopback_url;

/// The listeners, as flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Listeners {
    /// The public listener [env: PUBLIC_ADDR]
    #[arg(long, value_name = "ADDR", global = true)]
    pub public_addr: Option<String>,
    /// The listing and user services' listener [env: INTERNAL_ADDR]
    #[arg(long, value_name = "ADDR", global = true)]
    pub internal_addr: Option<String>,
}

impl Listeners {
    /// The variables these flags set.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        [
            ("PUBLIC_ADDR", &self.public_addr),
            ("INTERNAL_ADDR", &self.internal_addr),
        ]
        .into_iter()
        .filter_map(|(var, value)| value.clone().map(|value| (var, value)))
        .collect()
    }
}

/// How often the demo's Offers fake moves its prices.
pub const DEMO_PRICE_CHANGE: Duration = Duration::from_secs(30);

/// `OFFERS_POLL_INTERVAL_SECS` of `api demo` when it is not set.
pub const DEMO_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// The banner's last line (tests read up to it).
pub const BANNER_END: &str = "Stop with Ctrl-C; `api --help` lists the other commands.";

/// The third-party fakes `api demo` runs.
struct Demo {
    stooq: StooqFake,
    offers: std::sync::Arc<OffersFake>,
}

/// `api serve`.
pub async fn serve(flags: &SettingsArgs, listeners: &Listeners) -> ExitCode {
    match flags.load("api", &listeners.vars()) {
        Ok(settings) => run(settings, None).await,
        Err(code) => code,
    }
}

/// `api demo`.
pub async fn demo(flags: &SettingsArgs, listeners: &Listeners) -> ExitCode {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let fakes = async {
        anyhow::Ok(Demo {
            stooq: StooqFake::start_on(loopback).await?,
            offers: std::sync::Arc::new(OffersFake::start_on(loopback).await?),
        })
    };
    let demo = match fakes.await {
        Ok(demo) => demo,
        Err(e) => {
            eprintln!("api demo: cannot start the fakes: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut vars = listeners.vars();
    vars.push(("STOOQ_BASE_URL", demo.stooq.url.to_string()));
    vars.push(("OFFERS_BASE_URL", demo.offers.url.to_string()));
    if std::env::var_os("OFFERS_POLL_INTERVAL_SECS").is_none() {
        vars.push((
            "OFFERS_POLL_INTERVAL_SECS",
            DEMO_POLL_INTERVAL.as_secs().to_string(),
        ));
    }
    let offers = demo.offers.clone();
    tokio::spawn(async move { offers.change_prices_every(DEMO_PRICE_CHANGE).await });
    match flags.load("api demo", &vars) {
        Ok(settings) => run(settings, Some(demo)).await,
        Err(code) => code,
    }
}

async fn run(settings: Settings, demo: Option<Demo>) -> ExitCode {
    if let Err(e) = settings.require_jwt_secret() {
        eprintln!("api: invalid configuration: {e}");
        return ExitCode::from(2);
    }
    telemetry::init(settings.telemetry.log_format);
    let stop = shutdown::on_signal();
    let outcome = async {
        let app = Application::build(settings).await?;
        let state = app.state();
        let first_admin =
            match state.settings.services.public && state.settings.auth.bootstrap_admin.is_none() {
                true => store::create_first_admin(&state.db, &state.clock).await?,
                false => None,
            };
        println!("{}", banner(&app, first_admin.as_deref(), demo.as_ref())?);
        app.run_until_stopped(stop).await
    };
    shutdown::report_exit("api", outcome.await)
}

fn banner(
    app: &Application,
    first_admin: Option<&str>,
    demo: Option<&Demo>,
) -> anyhow::Result<String> {
    let settings = &app.state().settings;
    let mode = match (settings.is_embedded(), demo.is_some()) {
        (true, true) => "demo: embedded backends, built-in fakes of stooq and the Offers service",
        (true, false) => "embedded: SQLite, in-process broker, in-memory dedupe window",
        (false, true) => "demo: built-in fakes of stooq and the Offers service",
        (false, false) => "cluster",
    };
    let mut lines = vec![
        format!("Mercato {} ({mode})", env!("CARGO_PKG_VERSION")),
        String::new(),
    ];
    let mut row = |name: &str, value: String| lines.push(format!("  {name:<13}{value}"));
    if let Some(public) = app.public_addr() {
        let url = trimmed(loopback_url(public)?);
        row("API", url.clone());
        row("Swagger UI", format!("{url}/docs"));
        row("OpenAPI", format!("{url}/openapi.json"));
    }
    let internal = trimmed(loopback_url(app.internal_addr())?);
    row(
        "Internal",
        format!("{internal}  (listing and user services; docs at {internal}/docs)"),
    );
    if let Some(demo) = demo {
        row("stooq fake", trimmed(demo.stooq.url.clone()));
        row("Offers fake", trimmed(demo.offers.url.clone()));
    }
    if settings.offers.base_url.is_none() {
        row(
            "Offers",
            "not configured (OFFERS_BASE_URL): products stay unregistered; `api demo` runs a fake"
                .to_owned(),
        );
    }
    if let Some(password) = first_admin {
        lines.push(String::new());
        lines.push("  No account existed, so one was created:".to_owned());
        lines.push(format!("    username  {}", store::FIRST_ADMIN));
        lines.push(format!("    password  {password}"));
        lines.push(
            "  It is shown this once. Change it with `api accounts set-password --username admin`."
                .to_owned(),
        );
    }
    lines.push(String::new());
    lines.push(format!("  {BANNER_END}"));
    Ok(lines.join("\n"))
}

/// A base URL without its trailing `/`, as one types it before a path.
fn trimmed(url: Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}
