//! A whole `api` process inside the test, on port 0 and fresh backends.

use std::collections::HashMap;
use std::net::SocketAddr;

use api::{AppState, Application};
use shared::Settings;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::backend;

/// A running `api`; stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the public listener.
    pub address: String,
    /// `http://127.0.0.1:<port>` of the internal listener.
    pub internal_address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    running: Option<JoinHandle<anyhow::Result<()>>>,
}

/// An `api` on this run's backends, running its workers in-process.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(HashMap::new()).await
}

/// Like [`spawn_app`], with some settings variables replaced or added.
pub async fn spawn_app_with(overrides: HashMap<String, String>) -> TestApp {
    let mut vars = backend().fresh_vars().await;
    vars.insert("PUBLIC_ADDR".into(), "127.0.0.1:0".into());
    vars.insert("INTERNAL_ADDR".into(), "127.0.0.1:0".into());
    vars.insert("MIGRATE_ON_START".into(), "true".into());
    vars.insert("RUN_WORKERS".into(), "true".into());
    vars.insert("RPC_TIMEOUT_MS".into(), "2000".into());
    vars.extend(overrides);
    let settings = Settings::from_vars(vars).expect("valid test settings");
    let app = Application::build(settings).await.expect("the app builds");
    let address = url_of(app.public_addr());
    let internal_address = url_of(app.internal_addr());
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        address,
        internal_address,
        state,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("a client"),
        shutdown,
        running: Some(running),
    }
}

fn url_of(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// Stops the app as SIGTERM would and returns how it ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let running = self.running.take().expect("running until stopped");
        running.await.expect("the app task does not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
