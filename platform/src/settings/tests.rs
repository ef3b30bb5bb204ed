use std::net::IpAddr;

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
    assert!(s.broker.run_workers);
    assert!(s.database.migrate_on_start);
    assert_eq!(s.http.public_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(s.http.internal_addr.to_string(), "127.0.0.1:8081");
    assert_eq!(s.ingest.dedupe_window, Duration::from_secs(600));
    assert_eq!(s.broker.rpc_timeout, Duration::from_millis(5000));
    assert_eq!(s.ingest.max_bytes, 17_179_869_184);
    assert_eq!(s.broker.worker_prefetch, 32);
    assert_eq!(s.telemetry.log_format, LogFormat::Pretty);
    assert_eq!(s.services, Services::ALL);
    assert_eq!(s.marketplace.service_timeout, Duration::from_millis(5000));
    assert_eq!(s.marketplace.user_cache_ttl, Duration::from_secs(60));
    let s = settings(&[("USER_CACHE_TTL_SECS", "0")]).expect("zero turns it off");
    assert_eq!(s.marketplace.user_cache_ttl, Duration::ZERO);
    assert_eq!(
        s.database.url.sqlite_file(),
        Some(PathBuf::from("data/mercato.db"))
    );
}

#[test]
fn an_amqp_url_turns_the_in_process_workers_off() {
    let s = settings(&[("AMQP_URL", "amqp://127.0.0.1:5672/%2f")]).expect("valid");
    assert!(!s.broker.run_workers);
    let s = settings(&[
        ("AMQP_URL", "amqp://127.0.0.1:5672/%2f"),
        ("RUN_WORKERS", "true"),
    ])
    .expect("valid");
    assert!(s.broker.run_workers);
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
    assert_eq!(s.ingest.max_concurrent, 64);
    assert_eq!(s.ingest.spool_min_free_bytes, 1 << 30);
    assert_eq!(s.ingest.lease, Duration::from_secs(30));
    assert_eq!(s.http.body_max_bytes, 65_536);
    assert_eq!(s.http.header_timeout, Duration::from_secs(10));
    assert_eq!(s.http.body_idle_timeout, Duration::from_secs(30));
    assert_eq!(s.http.shutdown_timeout, Duration::from_secs(25));
    assert!(s.auth.hash_concurrency >= 1);
    assert_eq!(s.auth.max_failures, 20);
    assert_eq!(s.auth.cache_ttl, Duration::from_secs(60));
    assert_eq!(s.catalog.trend_max_points, 1000);
    assert!(s.http.trusted_proxies.is_empty());
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
    assert_eq!(off.auth.max_failures, 0);
    assert_eq!(off.auth.cache_ttl, Duration::ZERO);
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
    assert!(!settings(&[url]).expect("valid").database.migrate_on_start);
    assert!(
        settings(&[url, ("MIGRATE_ON_START", "true")])
            .expect("valid")
            .database
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
    assert!(s.broker.amqp_url.is_none() && s.ingest.redis_url.is_none());
}

#[test]
fn a_config_file_is_overridden_by_the_environment() {
    let dir = std::env::temp_dir().join(format!("mercato-settings-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("mercato.toml");
    std::fs::write(&file, "rpc_timeout_ms = 750\ndedupe_window_secs = 30\n").expect("write");
    let path = file.to_string_lossy().into_owned();
    let s = settings(&[("MERCATO_CONFIG", &path), ("DEDUPE_WINDOW_SECS", "45")]).expect("valid");
    assert_eq!(s.broker.rpc_timeout, Duration::from_millis(750));
    assert_eq!(s.ingest.dedupe_window, Duration::from_secs(45));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_missing_config_file_is_an_error_naming_mercato_config() {
    let err = settings(&[("MERCATO_CONFIG", "/nonexistent/mercato.toml")]).expect_err("missing");
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

#[test]
fn debug_output_never_shows_a_secret() {
    let s = settings(&[
        ("JWT_SECRET", "jwt-secret-that-is-long-enough-0123456789"),
        ("ADMIN_USERNAME", "root"),
        ("ADMIN_PASSWORD", "admin-pw-x7"),
        (
            "DATABASE_URL",
            "postgres://mercato:db-pw-x7@db:5432/mercato",
        ),
        ("AMQP_URL", "amqp://mercato:amqp-pw-x7@rabbit:5672/%2f"),
        ("REDIS_URL", "redis://:redis-pw-x7@redis:6379"),
    ])
    .expect("valid");
    let shown = format!("{s:?}");
    for secret in [
        "jwt-secret-that",
        "admin-pw-x7",
        "db-pw-x7",
        "amqp-pw-x7",
        "redis-pw-x7",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("postgres://mercato:***@db:5432/mercato"),
        "{shown}"
    );
    assert!(shown.contains("root"), "the username is no secret: {shown}");
    assert_eq!(
        s.broker
            .amqp_url
            .as_ref()
            .map(|url| url.expose().password()),
        Some(Some("amqp-pw-x7")),
        "connecting still has the password"
    );
}

#[test]
fn every_default_parses() {
    // A default that does not parse would only fail where it is read.
    let s = settings(&[]).expect("defaults are valid");
    assert_eq!(
        s.offers.base_url, None,
        "no Offers service unless one is named"
    );
    assert_eq!(s.http.cors_allowed_origins, CorsOrigins::Off);
    assert_eq!(s.http.shutdown_drain, std::time::Duration::ZERO);
    assert_eq!(s.quotes.stooq_base_url.as_str(), "https://stooq.com/");
    assert_eq!(s.ingest.spool_dir, PathBuf::from("data/spool"));
    assert!(!s.ingest.allow_anonymous);
    let names: std::collections::HashSet<_> = VARIABLES.iter().map(|v| v.name).collect();
    assert_eq!(names.len(), VARIABLES.len(), "a variable listed twice");
}

#[test]
fn cors_origins_are_origins_or_a_lone_star() {
    let origins = |value: &str| {
        settings(&[("CORS_ALLOWED_ORIGINS", value)]).map(|s| s.http.cors_allowed_origins)
    };
    assert_eq!(
        origins("https://shop.example, http://localhost:3000").expect("valid"),
        CorsOrigins::List(vec![
            "https://shop.example".into(),
            "http://localhost:3000".into()
        ])
    );
    assert_eq!(origins("*").expect("valid"), CorsOrigins::Any);
    for bad in [
        "shop.example",
        "https://shop.example/path",
        "ftp://shop.example",
        "*, https://a.example",
    ] {
        assert!(origins(bad).is_err(), "`{bad}` accepted");
    }
}

/// The README's configuration table: `(variables, default cell)` of each
/// row, a row naming one or more variables (`A` / `B`).
fn readme_rows() -> Vec<(Vec<String>, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    let table = readme
        .split("| variable | default | meaning |")
        .nth(1)
        .expect("the configuration table");
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let names = cells[0]
                .trim_start_matches("| ")
                .split(" / ")
                .map(|name| name.trim_matches('`').to_owned())
                .collect();
            (names, cells[1].to_owned())
        })
        .collect()
}

#[test]
fn the_readme_lists_every_variable_with_its_default() {
    let rows = readme_rows();
    let documented: Vec<&String> = rows.iter().flat_map(|(names, _)| names).collect();
    for variable in VARIABLES {
        let Some((_, default)) = rows
            .iter()
            .find(|(names, _)| names.iter().any(|n| n == variable.name))
        else {
            panic!("{} is not in the README's table", variable.name);
        };
        match variable.default {
            DefaultValue::Value(value) => assert!(
                default.starts_with(&format!("`{value}`")),
                "{}: the README says {default}, the code {value}",
                variable.name
            ),
            DefaultValue::Unset => assert!(
                default.starts_with("unset"),
                "{}: the README says {default}, the code leaves it unset",
                variable.name
            ),
            // Says how: more than one value in backticks, or words.
            DefaultValue::Derived => assert!(
                default.matches('`').count() > 2 || !default.starts_with('`'),
                "{}: the README says {default}, the code works it out",
                variable.name
            ),
        }
    }
    // RUST_LOG is read by the log filter, not here.
    for name in documented {
        assert!(
            name == "RUST_LOG" || VARIABLES.iter().any(|v| v.name == name.as_str()),
            "the README lists {name}, which the code does not read"
        );
    }
}
