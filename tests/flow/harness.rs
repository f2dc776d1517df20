//! Drives `mosaic-bot console --json` as a script would: a real process,
//! JSON lines in and out, against a simulator on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use mosaic_sim::{Sim, SimConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Long enough for a whole simulated job on a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One bot process, its input, and the operations it printed.
pub struct Bot {
    child: Child,
    stdin: Option<ChildStdin>,
    out: mpsc::UnboundedReceiver<Value>,
    /// Every operation received so far, in order.
    pub seen: Vec<Value>,
    /// Standard error, when captured (`World::bot_logging`).
    logs: Option<tokio::task::JoinHandle<String>>,
}

/// A simulator, and a directory for the bot's SQLite file.
pub struct World {
    pub sim: Sim,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn new() -> World {
        World::with(SimConfig::fast()).await
    }

    pub async fn with(config: SimConfig) -> World {
        World {
            sim: Sim::start(config).await.expect("the simulator starts"),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("bot.db")
    }

    /// Starts `mosaic-bot console --json` against the simulator.
    pub fn bot(&self) -> Bot {
        self.bot_with(&[])
    }

    pub fn bot_with(&self, env: &[(&str, &str)]) -> Bot {
        Bot::spawn(&self.sim, &self.db(), env, Logs::Inherit, None)
    }

    /// A bot logging JSON lines at `info` to a captured standard error.
    pub fn bot_logging(&self) -> Bot {
        Bot::spawn(&self.sim, &self.db(), &[], Logs::Capture, None)
    }

    /// A bot whose backend and everything else come from `config` (TOML,
    /// `SIM` standing for the simulator's URL) and `env`, not from flags;
    /// its logs (JSON lines, `info`) are captured.
    pub fn bot_configured(&self, config: &str, env: &[(&str, &str)]) -> Bot {
        let path = self.dir.path().join("mosaic.toml");
        std::fs::write(&path, config.replace("SIM", &self.sim.base_url()))
            .expect("the configuration is written");
        Bot::spawn(&self.sim, &self.db(), env, Logs::Capture, Some(&path))
    }
}

/// Where the bot's standard error goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logs {
    Inherit,
    /// JSON lines at `info`, kept for `finish_with_logs`.
    Capture,
}

impl Bot {
    fn spawn(sim: &Sim, db: &Path, env: &[(&str, &str)], logs: Logs, config: Option<&Path>) -> Bot {
        let capture_logs = logs == Logs::Capture;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mosaic-bot"));
        if capture_logs {
            cmd.args(["--log-format", "json"]).stderr(Stdio::piped());
        }
        match config {
            Some(path) => {
                cmd.arg("--config").arg(path).args(["console", "--json"]);
            }
            None => {
                cmd.args(["console", "--json", "--backend", &sim.base_url()])
                    .args(["--token", sim.token(), "--workspace", sim.workspace()]);
            }
        }
        cmd.current_dir(db.parent().expect("the db has a directory"))
            .env("MOSAIC__STORE__URL", format!("sqlite://{}", db.display()))
            .env("RUST_LOG", if capture_logs { "info" } else { "warn" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if !capture_logs {
            cmd.stderr(Stdio::inherit());
        }
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MOSAIC__")) {
            if key != "MOSAIC__STORE__URL" {
                cmd.env_remove(key);
            }
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd.spawn().expect("the bot starts");
        let stdin = child.stdin.take();
        let logs = child.stderr.take().map(|stderr| {
            tokio::spawn(async move {
                let mut text = String::new();
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    text.push_str(&line);
                    text.push('\n');
                }
                text
            })
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, out) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("the console printed a non-JSON line {line:?}: {e}")
                });
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Bot {
            child,
            stdin,
            out,
            seen: Vec::new(),
            logs,
        }
    }

    /// Sends one message as a JSON line.
    pub async fn say(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("input is still open");
        let mut line = message.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .await
            .expect("the bot reads its input");
        stdin.flush().await.expect("the bot reads its input");
    }

    /// A top-level message `id` in channel `c1` from alice.
    pub async fn top(&mut self, id: &str, text: &str) {
        self.say(json!({"id": id, "channel": "c1", "user": "alice", "text": text}))
            .await;
    }

    /// A message `id` in thread `thread` of channel `c1` from alice.
    pub async fn in_thread(&mut self, id: &str, thread: &str, text: &str) {
        self.say(
            json!({"id": id, "channel": "c1", "thread": thread, "user": "alice", "text": text}),
        )
        .await;
    }

    /// Waits for the next operation that `matches`, keeping every one seen.
    pub async fn expect(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let next = tokio::time::timeout_at(deadline, self.out.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; seen: {:#?}", self.seen))
                .unwrap_or_else(|| panic!("the bot ended before {what}; seen: {:#?}", self.seen));
            self.seen.push(next.clone());
            if matches(&next) {
                return next;
            }
        }
    }

    /// The first operation seen so far that `matches`, or else the next one
    /// (for replies whose order among each other is not the point).
    pub async fn seen_or_expect(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        match self.seen.iter().find(|op| matches(op)) {
            Some(op) => op.clone(),
            None => self.expect(what, matches).await,
        }
    }

    /// Closes the input and waits for the process to exit on its own; returns
    /// every operation it printed.
    pub async fn finish(mut self) -> Vec<Value> {
        drop(self.stdin.take());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the bot did not exit; seen: {:#?}", self.seen))
            .expect("the bot runs");
        assert!(status.success(), "the console exits 0, got {status}");
        while let Some(op) = self.out.recv().await {
            self.seen.push(op);
        }
        self.seen
    }

    /// As [`Bot::finish`], with what the bot logged (see `World::bot_logging`).
    pub async fn finish_with_logs(mut self) -> (Vec<Value>, String) {
        let logs = self.logs.take().expect("logs are captured");
        let ops = self.finish().await;
        (ops, logs.await.expect("the log reader ends"))
    }

    /// Sends SIGTERM, keeps the input open, and waits for the process to
    /// exit; returns its status and every operation it printed.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, Vec<Value>) {
        let pid = self.child.id().expect("the bot runs");
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the bot did not stop; seen: {:#?}", self.seen))
            .expect("the bot runs");
        while let Some(op) = self.out.recv().await {
            self.seen.push(op);
        }
        (status, self.seen)
    }

    /// Kills the process at once, as a crash would.
    pub async fn crash(mut self) -> Vec<Value> {
        self.child.kill().await.expect("the bot can be killed");
        while let Ok(Some(op)) = tokio::time::timeout(Duration::from_secs(5), self.out.recv()).await
        {
            self.seen.push(op);
        }
        self.seen
    }
}

/// Whether `op` is a post in `thread`.
pub fn is_post_in(op: &Value, thread: &str) -> bool {
    op["op"] == "post" && op["thread"] == thread
}

/// The text of an operation.
pub fn text(op: &Value) -> &str {
    op["text"].as_str().unwrap_or("")
}

/// The posts (not edits) in `thread`, in order.
pub fn posts_in<'a>(ops: &'a [Value], thread: &str) -> Vec<&'a Value> {
    ops.iter().filter(|op| is_post_in(op, thread)).collect()
}
