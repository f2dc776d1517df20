//! The persistent store: which jobs the bot follows and in which threads, how
//! far each relay has got, and which inbound messages were already handled.
//!
//! Nothing the bot needs after a restart lives only in memory: a restarted bot
//! asks [`Store::unfinished`] for every relay that has not ended and resumes
//! each from its `last_event_id`, editing the same `card_message_id`.
//!
//! One code path serves both engines through sqlx's `AnyPool`: SQLite (a
//! file, the embedded default) and PostgreSQL (for more than one replica).
//! The schema is portable SQL in `migrations/` (embedded by `migrate.rs`),
//! queries are plain runtime SQL, so the tests in `tests/store.rs` run the
//! same suite against both engines.
//!
//! - `dedupe.rs` keeps inbound dedupe keys ([`Store::first_sight`]);
//! - `memory.rs` keeps what chat adapters must remember across restarts;
//! - `jobs.rs` keeps followed jobs and their relay progress;
//! - `lifecycle.rs` writes a job's start (with its lease) and a relay's end (position,
//!   status, lease back) in one transaction each;
//! - `writes.rs` names the frequent writes ([`Store::first_sight`], a job's start and end,
//!   its card and verbosity, relay positions) and runs them: on SQLite through `batch.rs`,
//!   one task that commits whatever writes wait as one transaction (a group commit);
//! - `cards.rs` finds a job from its progress card (a button pressed under it);
//! - `leases.rs` keeps replicas' heartbeats and relay leases (several replicas on
//!   PostgreSQL); `renewal.rs` holds a renewal's statements;
//! - `lock.rs` keeps a SQLite file to one process;
//! - `positions.rs` records many relay positions in one transaction
//!   ([`Store::record_positions`]);
//! - `job.rs` defines [`FollowedJob`] and [`Verbosity`], and how values are
//!   spelled in the database;
//! - `error.rs` defines [`StoreError`].

mod batch;
mod cards;
mod dedupe;
mod error;
mod group_sql;
mod job;
mod jobs;
mod leases;
mod lifecycle;
mod lock;
mod memory;
mod migrate;
mod pg_group;
mod positions;
mod renewal;
mod shard_leases;
mod writes;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;
use sqlx::pool::PoolOptions;

pub use error::StoreError;
pub use job::{FollowedJob, UnknownVerbosity, Verbosity};
pub use leases::{Claimed, Renewal};
pub use lifecycle::Inserted;
pub use lock::LockError;
pub use positions::Position;
pub use shard_leases::{ShardLease, ShardView};

/// The database engine behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The bot's persistent state; cheap to clone (clones share one pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    /// The database file, on SQLite with a file.
    file: Option<std::path::PathBuf>,
    /// The writer task: SQLite's group commit of writes (one writer at a time), PostgreSQL's
    /// grouped small writes.
    batcher: Option<std::sync::Arc<batch::Batcher>>,
}

impl Store {
    /// Opens the store at `url` and brings its schema up to date.
    ///
    /// - `sqlite://path/to/bot.db` (or `sqlite:bot.db`): a file, created on
    ///   first start together with its parent directory;
    /// - `sqlite::memory:`: a database in memory, held by one connection that
    ///   is never closed, so the data lives as long as the store;
    /// - `postgres://user:password@host:port/database`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let target = Target::parse(url)?;
        if let Some(dir) = &target.create_dir {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let pool = target
            .pool_options()
            .connect(&target.url)
            .await
            .map_err(|source| StoreError::Open {
                url: redact(url),
                source,
            })?;
        if target.engine == Engine::Sqlite && target.create_dir.is_some() {
            // Write-ahead logging lets readers run beside the one writer. The
            // mode is kept in the file, so setting it once per open suffices.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(StoreError::engine("open"))?;
        }
        migrate::migrator().run(&pool).await?;
        Ok(Store {
            pool,
            engine: target.engine,
            file: target.file,
            batcher: Some(Default::default()),
        })
    }

    /// The database file, when the store is a SQLite file.
    pub fn sqlite_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Which engine this store runs on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether the database answers: what `/readyz` reports.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(StoreError::engine("ping"))
    }

    /// Closes every connection, waiting for statements under way; a store
    /// used afterwards fails. For an orderly shutdown, and for tests that
    /// reopen the same database as a restarted bot would.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Where and how to connect, read from a store URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    engine: Engine,
    /// The URL handed to sqlx.
    url: String,
    /// A SQLite file's directory, to create before connecting; `None` in
    /// memory and on PostgreSQL.
    create_dir: Option<std::path::PathBuf>,
    in_memory: bool,
    /// A SQLite file's path.
    file: Option<std::path::PathBuf>,
}

impl Target {
    fn parse(url: &str) -> Result<Target, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Target {
                engine: Engine::Postgres,
                url: url.to_owned(),
                create_dir: None,
                in_memory: false,
                file: None,
            });
        }
        let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            return Err(StoreError::UnsupportedUrl { url: redact(url) });
        };
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory = path == ":memory:" || params.split('&').any(|p| p == "mode=memory");
        if in_memory {
            return Ok(Target {
                engine: Engine::Sqlite,
                url: url.to_owned(),
                create_dir: None,
                in_memory,
                file: None,
            });
        }
        if path.is_empty() {
            return Err(StoreError::UnsupportedUrl { url: redact(url) });
        }
        // sqlx opens an existing file only, unless told `mode=rwc`.
        let url = if params.split('&').any(|p| p.starts_with("mode=")) {
            url.to_owned()
        } else if params.is_empty() {
            format!("{url}?mode=rwc")
        } else {
            format!("{url}&mode=rwc")
        };
        let dir = Path::new(path).parent().unwrap_or(Path::new(""));
        Ok(Target {
            engine: Engine::Sqlite,
            url,
            create_dir: Some(if dir.as_os_str().is_empty() {
                Path::new(".").to_path_buf()
            } else {
                dir.to_path_buf()
            }),
            in_memory,
            file: Some(Path::new(path).to_path_buf()),
        })
    }

    fn pool_options(&self) -> PoolOptions<sqlx::Any> {
        match (self.engine, self.in_memory) {
            // Each connection to `:memory:` would be a database of its own,
            // and the data dies with the last connection: keep exactly one,
            // forever.
            (Engine::Sqlite, true) => PoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            // SQLite has one writer at a time; a few connections let reads
            // run beside it without queueing every task on the file lock.
            (Engine::Sqlite, false) => {
                PoolOptions::new()
                    .max_connections(4)
                    // A connection to a local file does not drop; the ping sqlx sends before
                    // every query by default was a round trip to the connection's thread, 3.8%
                    // of the bot's CPU under the relay bench (perf, 2,000 jobs). PostgreSQL
                    // keeps it: a server restart or a network cut does drop connections.
                    .test_before_acquire(false)
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            // With write-ahead logging, NORMAL syncs at checkpoints instead of at
                            // every commit: a commit survives a crash of the process (it is in the
                            // log, handed to the OS), and only a power loss can undo the last few,
                            // whose commands and events are then handled again. FULL made every
                            // commit wait for the disk, which bounded the whole bot.
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *connection)
                                .await
                                .map(drop)
                        })
                    })
            }
            // sqlx pings a connection before lending it (by default) and again when it comes
            // back (always): two round trips to the server around every statement. The ping
            // on return already tests each connection after use, so only one that has been
            // idle for a while (the server may have restarted or a network cut it since) is
            // pinged before it is lent.
            (Engine::Postgres, _) => PoolOptions::new()
                .max_connections(10)
                .test_before_acquire(false)
                .before_acquire(|connection, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= IDLE_BEFORE_PING {
                            sqlx::Connection::ping(connection).await?;
                        }
                        Ok(true)
                    })
                }),
        }
    }
}

/// How long a PostgreSQL connection may sit idle in the pool and still be lent without a ping.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

/// `url` with its password replaced by `***`, for messages and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Now, in whole unix epoch seconds (rounded down).
fn now() -> i64 {
    since_epoch(Duration::ZERO).0
}

/// Now and now + `ttl`, in unix epoch seconds: now rounded down, the later
/// time rounded up, so that "later <= a future now" never holds before `ttl`
/// has fully passed. Saturates instead of overflowing on absurd ttls.
fn since_epoch(ttl: Duration) -> (i64, i64) {
    // A clock before 1970 is broken; treating it as 1970 keeps every
    // comparison consistent rather than failing the bot.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let later = now.checked_add(ttl).unwrap_or(Duration::MAX);
    let round_up = u64::from(later.subsec_nanos() > 0);
    let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
    (
        secs(now.as_secs()),
        secs(later.as_secs().saturating_add(round_up)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_are_created_with_their_directory() {
        let target = Target::parse("sqlite://data/bot.db").map_err(|e| e.to_string());
        let target = target.expect("parses");
        assert_eq!(target.engine, Engine::Sqlite);
        assert_eq!(target.url, "sqlite://data/bot.db?mode=rwc");
        assert_eq!(target.create_dir, Some("data".into()));
    }

    #[test]
    fn an_explicit_sqlite_mode_is_kept() {
        let target = Target::parse("sqlite:bot.db?mode=ro").expect("parses");
        assert_eq!(target.url, "sqlite:bot.db?mode=ro");
        assert_eq!(target.create_dir, Some(".".into()));
    }

    #[test]
    fn sqlite_memory_needs_no_directory() {
        let target = Target::parse("sqlite::memory:").expect("parses");
        assert!(target.in_memory);
        assert_eq!(target.create_dir, None);
        assert_eq!(target.pool_options().get_max_connections(), 1);
    }

    #[test]
    fn postgres_urls_are_passed_through() {
        let target = Target::parse("postgresql://u:p@h/db").expect("parses");
        assert_eq!(target.engine, Engine::Postgres);
        assert_eq!(target.url, "postgresql://u:p@h/db");
    }

    #[test]
    fn other_schemes_are_refused_without_their_password() {
        let error = Target::parse("mysql://root:hunter2@db/bot").expect_err("refused");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(
            error.to_string().contains("mysql://root:***@db/bot"),
            "{error}"
        );
    }

    #[test]
    fn redaction_hides_only_the_password() {
        assert_eq!(
            redact("postgres://bot:s3cr:et@db.example:5432/mosaic"),
            "postgres://bot:***@db.example:5432/mosaic"
        );
        assert_eq!(
            redact("postgres://bot@db/mosaic"),
            "postgres://bot@db/mosaic"
        );
        assert_eq!(redact("sqlite://a@b/bot.db"), "sqlite://a@b/bot.db");
    }

    #[test]
    fn expiry_rounds_up_and_now_rounds_down() {
        let (now, later) = since_epoch(Duration::from_millis(1500));
        assert!(later - now >= 2, "{now} {later}");
        assert!(later - now <= 3, "{now} {later}");
    }

    #[test]
    fn absurd_ttls_saturate() {
        let (_, later) = since_epoch(Duration::MAX);
        assert_eq!(later, i64::MAX);
    }
}
