//! Several `api` processes on the shared PostgreSQL, RabbitMQ and Redis,
//! behind nginx: the cluster of SPEC section 1 on one machine, for the
//! tests that need separate replicas (a body accepted by one and refused
//! by another, a replica killed mid-feed, a replica's memory use).
//!
//! nginx runs with the repository's `deploy/nginx-native.conf`, the same
//! configuration `scripts/cluster` uses.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Child;

use crate::backend::{cluster, temp_dir};
use crate::process::{command, stdout_lines, wait_for_log};
use crate::servers::free_port;

const NGINX_CONF: &str = include_str!("../../deploy/nginx-native.conf");

/// See the module documentation. Everything stops when it is dropped.
pub struct Replicas {
    /// The settings every replica shares (each has its own spool
    /// directory, unless they share one).
    pub vars: HashMap<String, String>,
    pub replicas: Vec<Replica>,
    /// `http://127.0.0.1:<port>` of nginx.
    pub balancer: String,
    pub client: reqwest::Client,
    nginx: Child,
}

/// One `api` process.
pub struct Replica {
    /// `http://127.0.0.1:<port>` of its public listener.
    pub address: String,
    pub spool_dir: PathBuf,
    process: Child,
}

impl Replica {
    pub fn pid(&self) -> u32 {
        self.process.id().expect("the replica is running")
    }

    /// The process's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmHWM line")
    }

    /// SIGTERM, then waits for the process to exit, failing the test
    /// after `limit`.
    pub async fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        crate::process::terminate(&self.process).await;
        crate::process::wait_for_exit(&mut self.process, limit).await
    }

    /// SIGKILL: the process dies on the spot, as in a crash.
    pub async fn kill(&mut self) {
        self.process.kill().await.expect("kill the replica");
    }
}

impl Replicas {
    /// `count` replicas on a fresh database and virtual host, accepting
    /// anonymous feeds, with nginx in front.
    pub async fn start(count: usize) -> Self {
        Self::start_with(count, HashMap::new()).await
    }

    /// Like [`Replicas::start`], with some settings replaced or added.
    pub async fn start_with(count: usize, overrides: HashMap<String, String>) -> Self {
        Self::start_spooling(count, overrides, None).await
    }

    /// Like [`Replicas::start`], every replica spooling to one directory,
    /// as compose's replicas share one volume.
    pub async fn start_sharing_spool(count: usize) -> Self {
        Self::start_spooling(count, HashMap::new(), Some(temp_dir().join("spool"))).await
    }

    /// `shared_spool`: one spool directory for all, or one each.
    async fn start_spooling(
        count: usize,
        overrides: HashMap<String, String>,
        shared_spool: Option<PathBuf>,
    ) -> Self {
        let spool = || {
            shared_spool
                .clone()
                .unwrap_or_else(|| temp_dir().join("spool"))
        };
        let cluster = cluster();
        let mut vars = HashMap::from([
            (
                "DATABASE_URL".to_owned(),
                cluster.fresh_database().await.to_string(),
            ),
            (
                "AMQP_URL".to_owned(),
                cluster.fresh_vhost().await.to_string(),
            ),
            ("REDIS_URL".to_owned(), cluster.redis_url.to_string()),
            (
                "JWT_SECRET".to_owned(),
                crate::app::TEST_JWT_SECRET.to_owned(),
            ),
            ("PUBLIC_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("INTERNAL_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("MIGRATE_ON_START".to_owned(), "true".to_owned()),
            ("RUN_WORKERS".to_owned(), "false".to_owned()),
            ("INGEST_ALLOW_ANONYMOUS".to_owned(), "true".to_owned()),
            ("LOG_FORMAT".to_owned(), "json".to_owned()),
            // A replica killed mid-feed leaves its job to whoever comes
            // next once the lease lapses: short, so tests do not wait long.
            ("INGEST_LEASE_SECS".to_owned(), "3".to_owned()),
        ]);
        vars.extend(overrides);
        let mut replicas = Vec::with_capacity(count);
        // The first one migrates the database alone; the others find it done.
        replicas.push(start_replica(&vars, spool()).await);
        let rest = (1..count).map(|_| start_replica(&vars, spool()));
        replicas.extend(futures_util::future::join_all(rest).await);
        let (nginx, balancer) = start_nginx(&replicas).await;
        Self {
            vars,
            replicas,
            balancer,
            client: reqwest::Client::new(),
            nginx,
        }
    }

    /// Starts replica `index` again (after [`Replica::kill`]), on the same
    /// spool directory, as a restarted container would be. nginx is not
    /// told: use the new replica's address directly.
    pub async fn restart(&mut self, index: usize) {
        let spool_dir = self.replicas[index].spool_dir.clone();
        self.replicas[index] = start_replica(&self.vars, spool_dir).await;
    }
}

impl Drop for Replicas {
    /// SIGTERM, and a wait for nginx to exit: its master then stops its
    /// workers, which a SIGKILL (`kill_on_drop`) would leave behind.
    fn drop(&mut self) {
        if let Some(pid) = self.nginx.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            for _ in 0..250 {
                if matches!(self.nginx.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// One `api` process on this run's backends, with `overrides`: for the
/// tests that flood, throttle or starve a process, or read its memory, so
/// they disturb nothing else. It serves its public listener on a free
/// port and logs JSON lines.
pub async fn start_api(overrides: &[(&str, &str)]) -> Replica {
    let mut vars = crate::backend().fresh_vars().await;
    for (name, value) in [
        ("PUBLIC_ADDR", "127.0.0.1:0"),
        ("INTERNAL_ADDR", "127.0.0.1:0"),
        ("MIGRATE_ON_START", "true"),
        ("LOG_FORMAT", "json"),
    ] {
        vars.insert(name.into(), value.into());
    }
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let spool_dir = PathBuf::from(&vars["INGEST_SPOOL_DIR"]);
    start_replica(&vars, spool_dir).await
}

async fn start_replica(vars: &HashMap<String, String>, spool_dir: PathBuf) -> Replica {
    let mut vars = vars.clone();
    vars.insert("INGEST_SPOOL_DIR".into(), spool_dir.display().to_string());
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut process = command("api", &pairs)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start api");
    let mut lines = stdout_lines(&mut process);
    let listening = wait_for_log(&mut lines, "listening", Duration::from_secs(60)).await;
    let address = format!(
        "http://{}",
        listening["public"].as_str().expect("the public address")
    );
    // Keep reading its log, or the process would block once the pipe is full.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Replica {
        address,
        spool_dir,
        process,
    }
}

async fn start_nginx(replicas: &[Replica]) -> (Child, String) {
    let dir = temp_dir().join("nginx");
    std::fs::create_dir_all(&dir).expect("create the nginx dir");
    let port = free_port();
    let upstreams: String = replicas
        .iter()
        .map(|replica| {
            format!(
                "server {};\n",
                replica.address.trim_start_matches("http://")
            )
        })
        .collect();
    let conf = NGINX_CONF
        .replace("@DIR@", &dir.display().to_string())
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
        .replace("@UPSTREAMS@", &upstreams);
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    let nginx = tokio::process::Command::new("nginx")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx (Debian package nginx)");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (nginx, format!("http://127.0.0.1:{port}"))
}
