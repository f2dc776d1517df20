//! The real daemon started on one chat platform against the simulator: what
//! the Discord, Mattermost and Slack whole-flow tests share.

use std::sync::Arc;
use std::time::Duration;

use mosaic_bot::config::Config;
use mosaic_bot::daemon::{self, DaemonError, RunOptions};
use mosaic_chat::ChatPlatform;
use mosaic_sim::{Sim, SimConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The simulator at `tick_ms` a step: slower jobs leave room to act mid-job.
pub fn sim_config(tick_ms: u64) -> SimConfig {
    SimConfig {
        tick: Duration::from_millis(tick_ms),
        ..SimConfig::fast()
    }
}

/// A free port's address on 127.0.0.1, for the daemon's `[http] listen`.
#[allow(dead_code)] // Not every platform's tests read the health endpoint.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// `/readyz` of the daemon at `addr`: its status and body.
#[allow(dead_code)]
pub async fn readyz(addr: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .expect("the health endpoint answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// Polls `/readyz` until its body's `platforms.{platform}` is `state`;
/// returns the status that came with it.
#[allow(dead_code)]
pub async fn until_platform_is(addr: std::net::SocketAddr, platform: &str, state: &str) -> u16 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = readyz(addr).await;
        if body["platforms"][platform] == state {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{platform} never became {state}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A running daemon.
pub struct Daemon {
    stop: CancellationToken,
    task: JoinHandle<Result<(), DaemonError>>,
}

impl Daemon {
    /// Starts the daemon on `platform` alone, against `sim`, keeping its state
    /// at `store_url`; `config` (TOML: permissions, channels…) is the
    /// configuration file under the environment.
    pub fn start_with(
        sim: &Sim,
        store_url: &str,
        platform: Arc<dyn ChatPlatform>,
        config: &str,
    ) -> Daemon {
        let mut file = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("a configuration file");
        std::io::Write::write_all(&mut file, config.as_bytes()).expect("written");
        let env = [
            ("MOSAIC__BACKEND__URL", sim.base_url()),
            ("MOSAIC__BACKEND__TOKEN", sim.token().to_owned()),
            ("MOSAIC__BACKEND__WORKSPACE", sim.workspace().to_owned()),
            ("MOSAIC__STORE__URL", store_url.to_owned()),
        ];
        let config = Config::load_from(Some(file.path()), env.map(|(k, v)| (k.to_owned(), v)))
            .expect("the configuration is valid");
        let backends = daemon::backend_clients(&config).expect("backend clients");
        let stop = CancellationToken::new();
        let options = RunOptions {
            http_listen: config.http_listen,
            ..RunOptions::default()
        };
        let task = tokio::spawn(daemon::run(
            Arc::new(config),
            backends,
            vec![platform],
            options,
            stop.clone(),
        ));
        Daemon { stop, task }
    }

    /// Waits up to `patience` for the daemon to end by itself (no stop asked).
    #[allow(dead_code)] // Not every platform's tests have a daemon that gives up.
    pub async fn ended(self, patience: Duration) -> Result<(), DaemonError> {
        tokio::time::timeout(patience, self.task)
            .await
            .expect("the daemon ends by itself")
            .expect("no panic")
    }

    /// Stops the daemon, waiting up to `patience`; after it returns nothing
    /// more can be sent.
    pub async fn stop(self, patience: Duration) -> Result<(), DaemonError> {
        self.stop.cancel();
        tokio::time::timeout(patience, self.task)
            .await
            .expect("the daemon stops in time")
            .expect("no panic")
    }
}

/// `mosaic-bot serve` as an operator runs it, configured by the environment
/// alone, logging JSON lines at `debug` to a captured standard error.
#[allow(dead_code)] // Not every platform's tests run the binary.
pub struct Served {
    child: tokio::process::Child,
    logs: JoinHandle<String>,
}

#[allow(dead_code)]
impl Served {
    /// Starts `serve` against `sim` with `env` (the platform's keys) on top
    /// of the backend, an in-memory store and a free health port.
    pub fn start(sim: &Sim, env: &[(&str, &str)]) -> Served {
        use tokio::io::AsyncReadExt;
        let dir = std::env::temp_dir();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mosaic-bot"));
        cmd.args(["--log-format", "json", "serve"])
            .current_dir(dir)
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // Nothing of the test runner's own: neither configuration nor fault switches.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MOSAIC")) {
            cmd.env_remove(key);
        }
        cmd.envs([
            ("MOSAIC__BACKEND__URL", sim.base_url().as_str()),
            ("MOSAIC__BACKEND__TOKEN", sim.token()),
            ("MOSAIC__BACKEND__WORKSPACE", sim.workspace()),
            ("MOSAIC__STORE__URL", "sqlite::memory:"),
            ("MOSAIC__HTTP__LISTEN", "127.0.0.1:0"),
            ("RUST_LOG", "debug"),
        ]);
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("the bot starts");
        let mut stderr = child.stderr.take().expect("piped");
        let logs = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Served { child, logs }
    }

    /// Waits up to `within` for the process to end by itself; returns its
    /// exit code and everything it logged.
    pub async fn exited(mut self, within: Duration) -> (Option<i32>, String) {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .expect("the bot ends in time")
            .expect("its exit status");
        (status.code(), self.logs.await.expect("the log reader ends"))
    }

    /// Kills the process; returns everything it logged.
    pub async fn kill(mut self) -> String {
        self.child.kill().await.expect("the bot stops");
        self.logs.await.expect("the log reader ends")
    }
}

/// Fails naming the first of `secrets` that `logs` holds.
#[allow(dead_code)]
pub fn assert_no_secret(logs: &str, secrets: &[&str]) {
    assert!(logs.lines().count() > 10, "debug logs were written: {logs}");
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "the logs hold the secret {secret:?}"
        );
    }
}
