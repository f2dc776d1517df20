//! Several `mosaic-bot serve` processes (the real binary) sharing one PostgreSQL database,
//! one fake Mattermost (every replica's WebSocket gets every post, as on a real server) and
//! the simulated backend; and the checks that prove each job was shown exactly once.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mosaic_bot::backend::JobEvent;
use mosaic_bot::relay::{OutcomeContext, render_event};
use mosaic_bot::store::Verbosity;
use mosaic_mattermost::MattermostDialect;
use mosaic_sim::Sim;
use serde_json::Value;
use sqlx::{Connection, Row};
use tokio::time::Instant;

use crate::fake::{BOT_ID, BOT_TOKEN, CHANNEL, FakeMattermost, Sent};
use crate::support::Db;

/// The lease every replica of these tests holds: short, so takeovers are quick.
pub const LEASE_SECS: u64 = 3;

/// One `mosaic-bot serve` process.
pub struct Replica {
    pub id: String,
    pub http: SocketAddr,
    child: tokio::process::Child,
    log: PathBuf,
}

/// The replicas, their database, their chat platform and their backend.
pub struct Cluster {
    pub fake: FakeMattermost,
    pub sim: Sim,
    pub db: Db,
    pub replicas: Vec<Option<Replica>>,
    logs: tempfile::TempDir,
}

impl Cluster {
    /// `n` replicas on a fresh database (named after `test`), the simulator at `tick_ms` a
    /// step; `None` (said loudly) without a PostgreSQL server.
    pub async fn start(test: &str, n: usize, tick_ms: u64) -> Option<Cluster> {
        let db = Db::postgres(test).await?;
        // Migrated once here, so the replicas do not race to create the schema.
        db.open().await.close().await;
        let mut cluster = Cluster {
            fake: FakeMattermost::start().await,
            sim: Sim::start(crate::sim_config(tick_ms)).await.expect("sim"),
            db,
            replicas: Vec::new(),
            logs: tempfile::tempdir().expect("a log directory"),
        };
        for i in 0..n {
            let replica = cluster.spawn(&format!("r{}", i + 1), None, &[]);
            cluster.replicas.push(Some(replica));
        }
        for i in 0..n {
            cluster.wait_ready(i).await;
        }
        Some(cluster)
    }

    /// Starts one more replica, `id`, reaching the database at `db_addr` (a proxy) instead
    /// of the server; returns its index once it is ready.
    pub async fn add_replica(&mut self, id: &str, db_addr: SocketAddr) -> usize {
        let replica = self.spawn(id, Some(db_addr), &[]);
        self.replicas.push(Some(replica));
        let i = self.replicas.len() - 1;
        self.wait_ready(i).await;
        i
    }

    /// The database server's address.
    pub fn db_server(&self) -> SocketAddr {
        let authority = self.db.url.split('@').nth(1).expect("a user in the URL");
        let host_port = authority.split('/').next().expect("a host");
        host_port.parse().expect("an IP address and port")
    }

    /// Starts one more replica, `id`, that exits (as a `kill -9` would leave it) right after
    /// its `posts`-th relay post, before recording it (the debug build's fault switch); returns
    /// its index once it is ready.
    pub async fn add_crashing_replica(&mut self, id: &str, posts: u64) -> usize {
        let switch = ("MOSAIC_FAULT_ABORT_AFTER_RELAY_POSTS", posts.to_string());
        let replica = self.spawn(id, None, &[switch]);
        self.replicas.push(Some(replica));
        let i = self.replicas.len() - 1;
        self.wait_ready(i).await;
        i
    }

    /// Replica `i`'s exit status, if it has exited.
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let replica = self.replicas[i].as_mut()?;
        let status = replica.child.try_wait().expect("a status")?;
        self.replicas[i] = None;
        Some(status)
    }

    /// Starts `serve` as replica `id`, through `db_addr` if given, with `env` added.
    fn spawn(&self, id: &str, db_addr: Option<SocketAddr>, env: &[(&str, String)]) -> Replica {
        let store_url = match db_addr {
            Some(addr) => self
                .db
                .url
                .replace(&self.db_server().to_string(), &addr.to_string()),
            None => self.db.url.clone(),
        };
        let http = crate::free_addr();
        let log = self.logs.path().join(format!("{id}-{}.log", http.port()));
        let file = std::fs::File::create(&log).expect("a log file");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mosaic-bot"));
        cmd.args(["--log-format", "json", "serve"])
            .current_dir(self.logs.path())
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .kill_on_drop(true);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MOSAIC__")) {
            cmd.env_remove(key);
        }
        cmd.envs([
            ("MOSAIC__BACKEND__URL", self.sim.base_url()),
            ("MOSAIC__BACKEND__TOKEN", self.sim.token().to_owned()),
            (
                "MOSAIC__BACKEND__WORKSPACE",
                self.sim.workspace().to_owned(),
            ),
            ("MOSAIC__STORE__URL", store_url),
            ("MOSAIC__MATTERMOST__URL", self.fake.url()),
            ("MOSAIC__MATTERMOST__TOKEN", BOT_TOKEN.to_owned()),
            ("MOSAIC__REPLICAS__ID", id.to_owned()),
            ("MOSAIC__REPLICAS__LEASE_SECS", LEASE_SECS.to_string()),
            ("MOSAIC__HTTP__LISTEN", http.to_string()),
            ("RUST_LOG", "info".to_owned()),
        ]);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().expect("the bot starts");
        Replica {
            id: id.to_owned(),
            http,
            child,
            log,
        }
    }

    /// Waits until replica `i` answers `/readyz` with 200 (store and Mattermost ready).
    pub async fn wait_ready(&mut self, i: usize) {
        let addr = self.replica(i).http;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(format!("http://{addr}/readyz")).await
                && response.status() == 200
            {
                return;
            }
            if let Some(status) = self.replicas[i]
                .as_mut()
                .and_then(|r| r.child.try_wait().ok().flatten())
            {
                panic!("replica {i} exited ({status}): {}", self.log(i));
            }
            assert!(Instant::now() < deadline, "replica {i} never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn replica(&self, i: usize) -> &Replica {
        self.replicas[i].as_ref().expect("replica running")
    }

    /// What replica `i` logged so far.
    pub fn log(&self, i: usize) -> String {
        self.replicas[i]
            .as_ref()
            .map(|r| std::fs::read_to_string(&r.log).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Prints every replica's log lines that name `job_id` (all processes, stopped ones
    /// included): what a failed assertion about the job needs to be understood.
    pub fn print_logs_of(&self, job_id: &str) {
        let Ok(dir) = std::fs::read_dir(self.logs.path()) else {
            return;
        };
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            println!("--- {} ---", file.display());
            for line in text.lines().filter(|l| l.contains(job_id)) {
                println!("{line}");
            }
        }
    }

    /// `kill -9` of replica `i`.
    pub async fn kill(&mut self, i: usize) {
        let mut replica = self.replicas[i].take().expect("replica running");
        replica.child.kill().await.expect("killed");
    }

    /// SIGTERM to replica `i`, waiting for its exit (0); then a new process with the same id,
    /// waited for until ready.
    pub async fn restart(&mut self, i: usize) {
        let mut replica = self.replicas[i].take().expect("replica running");
        let pid = replica.child.id().expect("a pid").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(15), replica.child.wait())
            .await
            .expect("a SIGTERM stops the replica in time")
            .expect("waited");
        assert!(
            status.success(),
            "{status}: {}",
            std::fs::read_to_string(&replica.log).unwrap_or_default()
        );
        let again = self.spawn(&replica.id, None, &[]);
        self.replicas[i] = Some(again);
        self.wait_ready(i).await;
    }

    /// Replica `i`'s `/metrics` value of `name` (0 when absent).
    pub async fn metric(&self, i: usize, name: &str) -> f64 {
        let addr = self.replica(i).http;
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("a body");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Stops every replica still running, gracefully, checking each exits 0.
    pub async fn stop_all(&mut self) {
        for i in 0..self.replicas.len() {
            let Some(mut replica) = self.replicas[i].take() else {
                continue;
            };
            let pid = replica.child.id().expect("a pid").to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            let status = tokio::time::timeout(Duration::from_secs(15), replica.child.wait())
                .await
                .expect("stops in time")
                .expect("waited");
            assert!(status.success(), "replica {i}: {status}");
        }
    }

    /// A query on the replicas' database.
    async fn query(&self, sql: &'static str) -> Vec<sqlx::postgres::PgRow> {
        let mut db = sqlx::postgres::PgConnection::connect(&self.db.url)
            .await
            .expect("the test connects");
        let rows = sqlx::query(sql).fetch_all(&mut db).await.expect(sql);
        let _ = db.close().await;
        rows
    }

    /// Job id → the command post (the thread's root) of every followed job.
    pub async fn jobs(&self) -> HashMap<String, String> {
        self.query("SELECT job_id, thread FROM followed_jobs")
            .await
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Job id → holder of every lease of an unfinished job.
    pub async fn holders(&self) -> HashMap<String, String> {
        self.query(
            "SELECT l.job_id, l.holder FROM relay_leases l \
             JOIN followed_jobs f ON f.job_id = l.job_id WHERE f.ended = 0",
        )
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    }

    /// Waits until the relays have settled: every job's card recorded, and the same holder
    /// for every unfinished job across 1.2 s (more than a renewal tick: no claim or hand-back
    /// under way); returns the holders.
    pub async fn settled(&self) -> HashMap<String, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let before = self.holders().await;
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let unrecorded = self
                .query("SELECT COUNT(*) FROM followed_jobs WHERE card_message_id IS NULL")
                .await[0]
                .get::<i64, _>(0);
            let after = self.holders().await;
            if before == after && unrecorded == 0 && !after.is_empty() {
                return after;
            }
            assert!(
                Instant::now() < deadline,
                "the relays never settle: {after:?}"
            );
        }
    }

    /// How many jobs have not ended.
    pub async fn unfinished(&self) -> usize {
        let rows = self
            .query("SELECT COUNT(*) FROM followed_jobs WHERE ended = 0")
            .await;
        usize::try_from(rows[0].get::<i64, _>(0)).expect("a count")
    }

    /// Waits until every one of `n` jobs has ended (relayed to its end), up to `patience`.
    pub async fn wait_all_ended(&self, n: usize, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let jobs = self.jobs().await.len();
            if jobs == n && self.unfinished().await == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} jobs stored, {} unfinished",
                jobs,
                self.unfinished().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Posts `n` commands `@mosaic-bot fix acme/web#K` (K = 1..=n); returns their post ids.
    pub fn post_fixes(&self, n: u64) -> Vec<String> {
        (1..=n)
            .map(|k| {
                self.fake
                    .user_post(CHANNEL, None, &format!("@mosaic-bot fix acme/web#{k}"))
            })
            .collect()
    }

    /// Proves from everything the bot sent that each job was shown exactly once: per command
    /// one 👀 and one ✅; per thread one card (its first post, the only post edited, last
    /// shown completed) and every milestone of the job's events once, in order, nothing
    /// else; exactly one job created per command; nothing sent outside these threads.
    pub fn assert_each_shown_once(&self, jobs: &HashMap<String, String>, roots: &[String]) {
        let sent = self.fake.sent();
        let creates = self
            .sim
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/runner-jobs")
            .count();
        assert_eq!(creates, roots.len(), "one job per command");
        assert_eq!(jobs.len(), roots.len(), "one followed job per command");
        let roots_set: HashSet<&str> = roots.iter().map(String::as_str).collect();
        let mut cards: HashMap<&str, &str> = HashMap::new();
        let mut lines: HashMap<&str, Vec<String>> = HashMap::new();
        let mut last_card: HashMap<&str, &str> = HashMap::new();
        let mut reactions: HashMap<&str, Vec<&str>> = HashMap::new();
        for s in &sent {
            match s {
                Sent::Post {
                    id,
                    channel,
                    root_id,
                    message,
                } => {
                    assert_eq!(channel, CHANNEL);
                    assert!(roots_set.contains(root_id.as_str()), "stray post: {s:?}");
                    if !cards.contains_key(root_id.as_str()) {
                        cards.insert(root_id, id);
                        last_card.insert(id, message);
                    } else {
                        lines.entry(root_id).or_default().extend(
                            message
                                .lines()
                                .filter(|l| !l.starts_with("Took "))
                                .map(str::to_owned),
                        );
                    }
                }
                Sent::Patch { id, message } => {
                    assert!(
                        cards.values().any(|c| c == id),
                        "only cards are edited: {s:?}"
                    );
                    last_card.insert(id, message);
                }
                Sent::Reaction {
                    post_id,
                    emoji,
                    user_id,
                } => {
                    assert_eq!(user_id, BOT_ID);
                    reactions.entry(post_id).or_default().push(emoji);
                }
                Sent::Ephemeral { text } => panic!("no ephemeral answer expected: {text}"),
                Sent::EphemeralPost { .. } => panic!("no private post expected: {s:?}"),
            }
        }
        for (job_id, root) in jobs {
            assert_eq!(
                reactions.get(root.as_str()).map(Vec::as_slice),
                Some(&["eyes", "white_check_mark"][..]),
                "one 👀 then one ✅ on {root}"
            );
            let card = cards
                .get(root.as_str())
                .unwrap_or_else(|| panic!("a card for {job_id}"));
            assert!(
                last_card[card].starts_with("✅ **Completed**"),
                "{job_id}'s card ends completed: {}",
                last_card[card]
            );
            let expected = expected_lines(&self.sim.events(job_id));
            let shown = lines.remove(root.as_str()).unwrap_or_default();
            if shown != expected {
                self.print_logs_of(job_id);
            }
            assert_eq!(
                shown, expected,
                "job {job_id}: every milestone once, in order"
            );
        }
        assert!(lines.is_empty(), "posts in unknown threads: {lines:?}");
    }
}

/// The lines a thread at milestones shows for `events`, "Took …" left out (it depends on when
/// the relay saw the job start).
fn expected_lines(events: &[Value]) -> Vec<String> {
    let ctx = OutcomeContext {
        bot_name: "mosaic".into(),
        duration: None,
    };
    let mut lines = Vec::new();
    for event in events {
        let Ok(event) = serde_json::from_value::<JobEvent>(event.clone()) else {
            continue;
        };
        if let Some(markup) = render_event(&event, Verbosity::Milestones, &ctx) {
            let text = mosaic_chat::markup::render(&markup, &MattermostDialect, 100_000).join("\n");
            lines.extend(
                text.lines()
                    .filter(|l| !l.starts_with("Took "))
                    .map(str::to_owned),
            );
        }
    }
    lines
}
