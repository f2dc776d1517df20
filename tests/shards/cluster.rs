//! Several `mosaic-bot serve` processes (the real binary) running Discord with `[discord]
//! shards` on one PostgreSQL database, against one fake Discord (whose gateway routes each
//! guild's events to its shard and records every shard connection) and the simulated
//! backend.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mosaic_sim::Sim;
use sqlx::{Connection, Row};
use tokio::time::Instant;

use crate::fake::{APP_ID, FakeDiscord};
use crate::support::Db;

/// The lease every replica of these tests holds: short, so takeovers are quick.
pub const LEASE_SECS: u64 = 3;

/// One `mosaic-bot serve` process.
pub struct Replica {
    pub id: String,
    child: tokio::process::Child,
    log: PathBuf,
}

/// The replicas, their database, the fake Discord and the backend.
pub struct ShardCluster {
    pub fake: FakeDiscord,
    pub sim: Sim,
    pub db: Db,
    pub shards: u32,
    pub replicas: Vec<Option<Replica>>,
    logs: tempfile::TempDir,
}

impl ShardCluster {
    /// `n` replicas of a bot with `shards` shards on a fresh database (named after `test`),
    /// the fake given `guilds` more guilds (id, channel) besides its first; `None` (said
    /// loudly) without a PostgreSQL server.
    pub async fn start(
        test: &str,
        n: usize,
        shards: u32,
        guilds: &[(u64, u64)],
    ) -> Option<ShardCluster> {
        let db = Db::postgres(test).await?;
        // Migrated once here, so the replicas do not race to create the schema.
        db.open().await.close().await;
        let fake = FakeDiscord::start().await;
        for &(guild, channel) in guilds {
            fake.add_guild(guild, channel);
        }
        let mut cluster = ShardCluster {
            fake,
            sim: Sim::start(crate::sim_config(100)).await.expect("sim"),
            db,
            shards,
            replicas: Vec::new(),
            logs: tempfile::tempdir().expect("a log directory"),
        };
        for i in 0..n {
            let replica = cluster.spawn(&format!("r{}", i + 1));
            cluster.replicas.push(Some(replica));
        }
        Some(cluster)
    }

    /// Starts `serve` as replica `id`.
    fn spawn(&self, id: &str) -> Replica {
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
            ("MOSAIC__STORE__URL", self.db.url.clone()),
            ("MOSAIC__DISCORD__TOKEN", "bot-token".to_owned()),
            ("MOSAIC__DISCORD__APPLICATION_ID", APP_ID.to_string()),
            ("MOSAIC__DISCORD__API_URL", self.fake.url()),
            ("MOSAIC__DISCORD__GATEWAY_URL", self.fake.gateway_url()),
            ("MOSAIC__DISCORD__SHARDS", self.shards.to_string()),
            ("MOSAIC__REPLICAS__ID", id.to_owned()),
            ("MOSAIC__REPLICAS__LEASE_SECS", LEASE_SECS.to_string()),
            ("MOSAIC__HTTP__LISTEN", http.to_string()),
            ("RUST_LOG", "info".to_owned()),
        ]);
        let child = cmd.spawn().expect("the bot starts");
        Replica {
            id: id.to_owned(),
            child,
            log,
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

    /// The index of the replica named `id`.
    pub fn index_of(&self, id: &str) -> usize {
        self.replicas
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.id == id))
            .expect("a running replica of that id")
    }

    /// `kill -9` of replica `i`.
    pub async fn kill(&mut self, i: usize) {
        let mut replica = self.replicas[i].take().expect("replica running");
        replica.child.kill().await.expect("killed");
    }

    /// SIGTERM to replica `i`; returns once it exited (0).
    pub async fn stop(&mut self, i: usize) {
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
    }

    /// Stops every replica still running, gracefully.
    pub async fn stop_all(&mut self) {
        for i in 0..self.replicas.len() {
            if self.replicas[i].is_some() {
                self.stop(i).await;
            }
        }
    }

    /// Shard → its holder, for the shard leases live now.
    pub async fn holders(&self) -> BTreeMap<u32, String> {
        let mut db = sqlx::postgres::PgConnection::connect(&self.db.url)
            .await
            .expect("the test connects");
        let rows = sqlx::query(
            "SELECT shard_id, holder FROM shard_leases \
             WHERE expires_ms > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        )
        .fetch_all(&mut db)
        .await
        .expect("the shard leases");
        let _ = db.close().await;
        rows.iter()
            .map(|r| {
                let shard: i64 = r.get(0);
                (u32::try_from(shard).expect("a shard"), r.get(1))
            })
            .collect()
    }

    /// Waits until every shard is connected exactly once and its lease held by a live
    /// replica, the shards spread so that no replica holds more than its share; returns
    /// the holders.
    pub async fn wait_spread(&self) -> BTreeMap<u32, String> {
        let live = self.replicas.iter().flatten().count() as u32;
        let share = self.shards.div_ceil(live.max(1));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let holders = self.holders().await;
            let open = self.fake.open_shards();
            let once = (0..self.shards).all(|s| open.get(&s) == Some(&1));
            let mut per: BTreeMap<&str, u32> = BTreeMap::new();
            for holder in holders.values() {
                *per.entry(holder.as_str()).or_default() += 1;
            }
            if once && holders.len() == self.shards as usize && per.values().all(|n| *n <= share) {
                return holders;
            }
            assert!(
                Instant::now() < deadline,
                "the shards never spread: holders {holders:?}, open {open:?}\n{}",
                (0..self.replicas.len())
                    .map(|i| self.log(i))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until shard `shard` has a connection opened after `since`; returns when it
    /// opened.
    pub async fn wait_reconnected(&self, shard: u32, since: Instant) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let opened = self
                .fake
                .connections()
                .iter()
                .find(|c| c.shard == shard && c.opened > since && c.closed.is_none())
                .map(|c| c.opened);
            if let Some(opened) = opened {
                return opened;
            }
            assert!(
                Instant::now() < deadline,
                "shard {shard} never connected again: {:?}",
                self.fake.connections()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
