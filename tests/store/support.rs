//! The databases the store's tests run on, and the jobs they store.
//!
//! Each test gets a database of its own, so tests run in parallel: a SQLite
//! file in a fresh temporary directory, or a fresh PostgreSQL database
//! created on the server that `MOSAIC_TEST_POSTGRES_URL` points at (see
//! `.ci/postgres`) and dropped when the test ends, even if it fails.

use std::sync::atomic::{AtomicU32, Ordering};

use mosaic_bot::command::{IssueKind, IssueRef};
use mosaic_bot::store::{Engine, FollowedJob, Store, Verbosity};
use mosaic_chat::{Platform, ThreadRef};
use sqlx::{AssertSqlSafe, Connection};

/// The variable naming a PostgreSQL server (a role allowed to create
/// databases) for the PostgreSQL half of the suite.
pub const POSTGRES_URL: &str = "MOSAIC_TEST_POSTGRES_URL";

/// A database for one test.
pub struct Db {
    pub engine: Engine,
    pub url: String,
    /// Keeps a SQLite file's directory until the test ends.
    _dir: Option<tempfile::TempDir>,
    /// A PostgreSQL database to drop at the end: the server's URL, the name.
    drop_database: Option<(String, String)>,
}

impl Db {
    /// A SQLite file, not created yet, in a fresh temporary directory.
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("bot.db").display());
        Db {
            engine: Engine::Sqlite,
            url,
            _dir: Some(dir),
            drop_database: None,
        }
    }

    /// A fresh PostgreSQL database named after `test`, or `None` (saying
    /// so in one line) when no server is configured.
    pub async fn postgres(test: &str) -> Option<Db> {
        let Some(server) = std::env::var(POSTGRES_URL)
            .ok()
            .filter(|url| !url.is_empty())
        else {
            println!(
                "skipped {test} on PostgreSQL: {POSTGRES_URL} is not set \
                 (eval \"$(.ci/postgres | tail -n 1)\" starts a server and sets it)"
            );
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut name = format!("mosaic_t{}_{unique}_{test}", std::process::id());
        // PostgreSQL cuts identifiers at 63 bytes; the prefix keeps them unique.
        name.truncate(63);
        admin(&server, &format!("CREATE DATABASE {name}")).await;
        Some(Db {
            engine: Engine::Postgres,
            url: with_database(&server, &name),
            _dir: None,
            drop_database: Some((server, name)),
        })
    }

    /// Opens the store on this database, as the bot does at start-up.
    pub async fn open(&self) -> Store {
        match Store::open(&self.url).await {
            Ok(store) => store,
            Err(error) => panic!("opening {}: {error}", self.url),
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let Some((server, name)) = self.drop_database.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on a
        // future: drop the database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(admin(
                    &server,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test database");
        }
    }
}

/// Runs one statement on the PostgreSQL server's own database.
async fn admin(server: &str, statement: &str) {
    let mut connection = sqlx::postgres::PgConnection::connect(server)
        .await
        .unwrap_or_else(|error| panic!("connecting to {POSTGRES_URL}: {error}"));
    sqlx::query(AssertSqlSafe(statement))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
    let _ = connection.close().await;
}

/// `server` (a `postgres://…/db?params` URL) pointed at database `name`.
fn with_database(server: &str, name: &str) -> String {
    let authority_at = server.find("://").map_or(0, |at| at + 3);
    let path_at = server[authority_at..]
        .find('/')
        .map_or(server.len(), |at| authority_at + at);
    let query_at = server[path_at..]
        .find('?')
        .map_or(server.len(), |at| path_at + at);
    format!("{}/{name}{}", &server[..path_at], &server[query_at..])
}

/// A thread on the console platform.
pub fn thread(channel: &str, thread: &str) -> ThreadRef {
    ThreadRef {
        platform: Platform::new("console"),
        channel: channel.to_owned(),
        thread: thread.to_owned(),
    }
}

/// Issue `number` of `acme/web` on GitHub.
pub fn issue(number: u64) -> IssueRef {
    IssueRef::new("github.com", "acme", "web", number, IssueKind::Issue)
}

/// A freshly started job: no card, no event relayed yet.
/// The workspace of the jobs [`job`] makes.
pub const WORKSPACE: &str = "ws-a";

pub fn job(job_id: &str, thread: ThreadRef, issue: IssueRef) -> FollowedJob {
    FollowedJob {
        job_id: job_id.to_owned(),
        workspace: WORKSPACE.to_owned(),
        thread,
        command_message_id: Some(format!("msg-{job_id}")),
        requester_id: "u1".to_owned(),
        requester_name: "alice".to_owned(),
        issue,
        retry_of: None,
        card_message_id: None,
        verbosity: Verbosity::Milestones,
        last_event_id: None,
        last_event_seq: 0,
        last_post_id: None,
        posts_settled: false,
        status: "QUEUED".to_owned(),
        ended: false,
        created_at: 0,
        updated_at: 0,
    }
}

/// The ids of `jobs`, in order.
pub fn ids(jobs: &[FollowedJob]) -> Vec<&str> {
    jobs.iter().map(|job| job.job_id.as_str()).collect()
}

#[test]
fn the_test_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/mosaic?sslmode=disable", "t1"),
        "postgres://u:p@h:5432/t1?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
}
