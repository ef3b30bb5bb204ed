//! Which backends this test run uses, and fresh, isolated instances of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use api::ingest::dedupe::{DedupeWindow, MemoryWindow, RedisWindow};
use rpc::broker::Broker;
use rpc::{AmqpBroker, InProcessBroker};
use sea_orm::{ConnectionTrait, Database};
use url::Url;

/// The backends of this run; see the crate documentation.
#[derive(Debug, Clone)]
pub enum Backend {
    Embedded,
    Cluster(Box<Cluster>),
}

/// The servers `scripts/test` started for the cluster pass.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub postgres_url: Url,
    pub amqp_url: Url,
    pub rabbitmq_management_url: Url,
    pub redis_url: Url,
    /// Where tests put the private servers they start.
    pub scratch_dir: PathBuf,
}

/// The backends named by `MERCATO_TEST_BACKEND`.
pub fn backend() -> Backend {
    match std::env::var("MERCATO_TEST_BACKEND").as_deref() {
        Ok("cluster") => Backend::Cluster(Box::new(cluster())),
        Ok("embedded") | Err(_) => Backend::Embedded,
        Ok(other) => panic!("MERCATO_TEST_BACKEND must be `embedded` or `cluster`, not `{other}`"),
    }
}

/// The variables naming the cluster servers.
const CLUSTER_VARS: [&str; 5] = [
    "MERCATO_TEST_POSTGRES_URL",
    "MERCATO_TEST_AMQP_URL",
    "MERCATO_TEST_RABBITMQ_MANAGEMENT_URL",
    "MERCATO_TEST_REDIS_URL",
    "MERCATO_TEST_SCRATCH_DIR",
];

/// Whether this run has the cluster servers (`scripts/test` starts them
/// and sets [`CLUSTER_VARS`]); a plain `cargo test` has not.
pub fn cluster_configured() -> bool {
    CLUSTER_VARS
        .iter()
        .all(|var| std::env::var_os(var).is_some())
}

/// Ends a test that needs the cluster servers, with a one-line reason,
/// when this run has none (a plain `cargo test`): the test reports
/// passing without having run, which is why `scripts/test` never leaves
/// them out.
#[macro_export]
macro_rules! require_cluster {
    () => {
        if !$crate::backend::cluster_configured() {
            eprintln!(
                "skipped: needs PostgreSQL, RabbitMQ and Redis (the MERCATO_TEST_* variables scripts/test sets)"
            );
            return;
        }
    };
}

/// The cluster servers; for tests that only make sense on them.
pub fn cluster() -> Cluster {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the cluster tests through scripts/test")
        })
    };
    let url = |name: &str| Url::parse(&var(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    Cluster {
        postgres_url: url("MERCATO_TEST_POSTGRES_URL"),
        amqp_url: url("MERCATO_TEST_AMQP_URL"),
        rabbitmq_management_url: url("MERCATO_TEST_RABBITMQ_MANAGEMENT_URL"),
        redis_url: url("MERCATO_TEST_REDIS_URL"),
        scratch_dir: PathBuf::from(var("MERCATO_TEST_SCRATCH_DIR")),
    }
}

impl Backend {
    /// The settings variables that point a Mercato process at fresh,
    /// isolated backends: its own database and its own virtual host.
    pub async fn fresh_vars(&self) -> HashMap<String, String> {
        let mut vars = HashMap::new();
        match self {
            Backend::Embedded => {
                let dir = temp_dir();
                let db = dir.join("mercato.db");
                vars.insert(
                    "DATABASE_URL".into(),
                    format!("sqlite://{}?mode=rwc", db.display()),
                );
                vars.insert(
                    "INGEST_SPOOL_DIR".into(),
                    dir.join("spool").display().to_string(),
                );
            }
            Backend::Cluster(cluster) => {
                vars.insert(
                    "DATABASE_URL".into(),
                    cluster.fresh_database().await.to_string(),
                );
                vars.insert("AMQP_URL".into(), cluster.fresh_vhost().await.to_string());
                vars.insert("REDIS_URL".into(), cluster.redis_url.to_string());
                // Required of `api` outside embedded mode.
                vars.insert("JWT_SECRET".into(), crate::app::TEST_JWT_SECRET.into());
                vars.insert(
                    "INGEST_SPOOL_DIR".into(),
                    temp_dir().join("spool").display().to_string(),
                );
            }
        }
        vars
    }

    /// A broker of this run's kind, on its own virtual host.
    pub async fn fresh_broker(&self) -> Arc<dyn Broker> {
        match self {
            Backend::Embedded => Arc::new(InProcessBroker::new()),
            Backend::Cluster(cluster) => {
                Arc::new(AmqpBroker::new(&cluster.fresh_vhost().await, "test"))
            }
        }
    }

    /// Like [`Backend::fresh_broker`], with a way to read what it dead-lettered.
    pub async fn fresh_broker_with_dead_letters(&self) -> (Arc<dyn Broker>, DeadLetters) {
        match self {
            Backend::Embedded => {
                let broker = Arc::new(InProcessBroker::new());
                (broker.clone(), DeadLetters::InProcess(broker))
            }
            Backend::Cluster(cluster) => {
                let url = cluster.fresh_vhost().await;
                let vhost = url.path().trim_start_matches('/').to_owned();
                let broker = Arc::new(AmqpBroker::new(&url, "test"));
                let management = cluster.rabbitmq_management_url.clone();
                (broker, DeadLetters::RabbitMq { management, vhost })
            }
        }
    }

    /// A dedupe window of this run's kind. Redis is shared by the whole
    /// run, so tests use unique hashes.
    pub fn dedupe_window(&self) -> Arc<dyn DedupeWindow> {
        match self {
            Backend::Embedded => Arc::new(MemoryWindow::new(platform::Clock::system())),
            Backend::Cluster(cluster) => {
                Arc::new(RedisWindow::new(&cluster.redis_url).expect("a valid Redis URL"))
            }
        }
    }
}

/// Where a test broker's dead letters can be read.
pub enum DeadLetters {
    InProcess(Arc<InProcessBroker>),
    /// Read from the `<queue>.dead` queue through the management HTTP API.
    RabbitMq {
        management: Url,
        vhost: String,
    },
}

impl DeadLetters {
    /// The bodies dead-lettered from `queue`, oldest first.
    pub async fn of(&self, queue: &str) -> Vec<Vec<u8>> {
        match self {
            DeadLetters::InProcess(broker) => broker.dead_letters(queue),
            DeadLetters::RabbitMq { management, vhost } => {
                let dead = rpc::broker::dead_letter_queue(queue);
                let path = format!("/api/queues/{vhost}/{dead}/get");
                let messages: Vec<serde_json::Value> = management_api(management, reqwest::Method::POST, &path)
                    .json(&serde_json::json!({"count": 100, "ackmode": "ack_requeue_false", "encoding": "auto"}))
                    .send()
                    .await
                    .expect("management API")
                    .json()
                    .await
                    .expect("a JSON list of messages");
                messages
                    .iter()
                    .map(|m| {
                        m["payload"]
                            .as_str()
                            .unwrap_or_default()
                            .as_bytes()
                            .to_vec()
                    })
                    .collect()
            }
        }
    }
}

impl Cluster {
    /// A new, empty PostgreSQL database.
    pub async fn fresh_database(&self) -> Url {
        let name = format!("mercato_{}", uuid::Uuid::new_v4().simple());
        let mut admin = self.postgres_url.clone();
        admin.set_path("/postgres");
        let db = Database::connect(admin.as_str())
            .await
            .expect("connect to PostgreSQL");
        db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create a test database");
        db.close().await.ok();
        let mut url = self.postgres_url.clone();
        url.set_path(&format!("/{name}"));
        url
    }

    /// A new RabbitMQ virtual host, `guest` allowed everything on it, and
    /// the AMQP URL that opens it.
    pub async fn fresh_vhost(&self) -> Url {
        let vhost = format!("test-{}", uuid::Uuid::new_v4().simple());
        create_vhost(&self.rabbitmq_management_url, &vhost).await;
        let mut url = self.amqp_url.clone();
        url.set_path(&format!("/{vhost}"));
        url
    }
}

/// Creates `vhost` through the management HTTP API of the node at `management`.
pub async fn create_vhost(management: &Url, vhost: &str) {
    let api = |path: String| management_api(management, reqwest::Method::PUT, &path);
    let created = api(format!("/api/vhosts/{vhost}"))
        .send()
        .await
        .expect("management API");
    assert!(
        created.status().is_success(),
        "creating vhost {vhost}: {}",
        created.status()
    );
    let allowed = api(format!(
        "/api/permissions/{vhost}/{}",
        management.username()
    ))
    .json(&serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}))
    .send()
    .await
    .expect("management API");
    assert!(
        allowed.status().is_success(),
        "granting vhost {vhost}: {}",
        allowed.status()
    );
}

/// A request to the RabbitMQ management HTTP API at `management`, whose
/// credentials (in the URL) become Basic authentication.
fn management_api(
    management: &Url,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let mut url = management.clone();
    url.set_username("").ok();
    url.set_password(None).ok();
    url.set_path(path);
    reqwest::Client::new()
        .request(method, url)
        .basic_auth(management.username(), management.password())
}

/// A new directory under the temp dir (`scripts/test` points `TMPDIR` into
/// its own directory, removed when it ends).
pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mercato-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}
