//! Private servers for tests that stop and restart them. The shared servers
//! of `scripts/test` are never stopped: other tests are using them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

use crate::backend::{cluster, create_vhost};

/// A port that was free a moment ago, below the kernel's ephemeral range
/// (32768 and up) so that no outgoing connection takes it before the
/// server binds it, and apart from the 20000–32000 that `scripts/test`
/// picks its own servers' ports from.
pub fn free_port() -> u16 {
    loop {
        let port = 10_000 + (uuid::Uuid::new_v4().as_u128() % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A `redis-server` of this test's own.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let dir = cluster()
            .scratch_dir
            .join(format!("redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the Redis dir");
        let mut server = Self {
            port: free_port(),
            dir,
            process: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("redis://127.0.0.1:{}", self.port)).expect("a valid URL")
    }

    /// Kills the server (like a crash: no goodbye to clients).
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await.expect("kill redis-server");
        }
    }

    /// Starts the server again on the same port; returns once it accepts connections.
    pub async fn restart(&mut self) {
        let mut process = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server");
        let mut lines = BufReader::new(process.stdout.take().expect("piped")).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await.expect("read redis output") {
                if line.contains("Ready to accept connections") {
                    return;
                }
            }
            panic!("redis-server exited before it was ready");
        };
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("redis-server starts");
        // Keep draining its output so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.process = Some(process);
    }
}

/// A RabbitMQ node of this test's own, in its own directory.
pub struct RabbitNode {
    dir: PathBuf,
    amqp_port: u16,
    management_port: u16,
}

impl RabbitNode {
    /// Starts a node (about ten seconds) and returns once it is ready.
    pub async fn start() -> Self {
        let dir = cluster()
            .scratch_dir
            .join(format!("rabbitmq-{}", uuid::Uuid::new_v4().simple()));
        let node = Self {
            dir,
            amqp_port: free_port(),
            management_port: free_port(),
        };
        let ports = [node.amqp_port, free_port(), node.management_port].map(|p| p.to_string());
        run_script(&[
            "start",
            &node.dir.to_string_lossy(),
            &ports[0],
            &ports[1],
            &ports[2],
        ])
        .await;
        node
    }

    /// The AMQP URL of a fresh virtual host on this node.
    pub async fn fresh_vhost(&self) -> Url {
        let vhost = format!("test-{}", uuid::Uuid::new_v4().simple());
        let management = Url::parse(&format!(
            "http://guest:guest@127.0.0.1:{}",
            self.management_port
        ))
        .expect("a valid URL");
        create_vhost(&management, &vhost).await;
        Url::parse(&format!(
            "amqp://guest:guest@127.0.0.1:{}/{vhost}",
            self.amqp_port
        ))
        .expect("a valid URL")
    }

    /// `rabbitmqctl stop_app`: the broker goes away, the Erlang node stays.
    pub async fn stop_app(&self) {
        run_script(&["ctl", &self.dir.to_string_lossy(), "stop_app"]).await;
    }

    /// `rabbitmqctl start_app`: the broker comes back.
    pub async fn start_app(&self) {
        run_script(&["ctl", &self.dir.to_string_lossy(), "start_app"]).await;
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("rabbitmq.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
}

async fn run_script(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/rabbitmq-node");
    let output = Command::new(&script)
        .args(args)
        .output()
        .await
        .expect("run scripts/rabbitmq-node");
    assert!(
        output.status.success(),
        "scripts/rabbitmq-node {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
