//! The bot's side of the whole-binary bench (`benches/relay.rs`): a fresh database per run,
//! and the bot process's memory and CPU time, sampled from `/proc`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the bot keeps its store for one run: a SQLite file in a temporary directory, or a
/// database of its own on the PostgreSQL server `MOSAIC_TEST_POSTGRES_URL` names (dropped
/// after the run).
pub struct Database {
    pub engine: String,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl Database {
    pub fn fresh(engine: &str, n: usize) -> Option<Database> {
        match engine {
            "sqlite" => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("bot.db").display());
                Some(Database {
                    engine: engine.to_owned(),
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            "postgres" => {
                let Some(server) = std::env::var("MOSAIC_TEST_POSTGRES_URL")
                    .ok()
                    .filter(|u| !u.is_empty())
                else {
                    eprintln!(
                        "relay bench: PostgreSQL skipped, MOSAIC_TEST_POSTGRES_URL is not set \
                         (eval \"$(.ci/postgres | tail -n 1)\" starts a server and sets it)"
                    );
                    return None;
                };
                let name = format!("mosaic_bench_{}_{n}", std::process::id());
                admin(&server, &format!("CREATE DATABASE {name}"));
                Some(Database {
                    engine: engine.to_owned(),
                    url: with_database(&server, &name),
                    _dir: None,
                    postgres: Some((server, name)),
                })
            }
            other => panic!("RELAY_ENGINES: `{other}` is neither sqlite nor postgres"),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((server, name)) = self.postgres.take() {
            admin(
                &server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one statement on the PostgreSQL server's own database.
fn admin(server: &str, statement: &str) {
    use sqlx::Connection;
    runtime().block_on(async {
        let mut connection = sqlx::postgres::PgConnection::connect(server)
            .await
            .unwrap_or_else(|error| panic!("connecting to MOSAIC_TEST_POSTGRES_URL: {error}"));
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
        let _ = connection.close().await;
    });
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

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Samples the bot's RSS and CPU time from `/proc` until stopped.
pub struct Watch {
    stop: Arc<AtomicBool>,
    last: Arc<Mutex<(u64, u64, f64)>>,
    thread: std::thread::JoinHandle<()>,
    pid: u32,
}

impl Watch {
    pub fn start(pid: u32) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let last = Arc::new(Mutex::new((0, 0, 0.0)));
        let thread = std::thread::spawn({
            let (stop, last) = (Arc::clone(&stop), Arc::clone(&last));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(sample) = sample(pid) {
                        *last.lock().expect("not poisoned") = sample;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Watch {
            stop,
            last,
            thread,
            pid,
        }
    }

    pub fn rss_now(&self) -> u64 {
        sample(self.pid).map_or(0, |(rss, _, _)| rss)
    }

    /// Peak RSS (KiB) and CPU seconds as last seen before the bot exited.
    pub fn stop(self) -> (u64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let (_, peak, cpu) = *self.last.lock().expect("not poisoned");
        (peak, cpu)
    }
}

/// User + system CPU seconds of `pid` so far, while it lives.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    sample(pid).map(|(_, _, cpu)| cpu)
}

/// User + system CPU seconds of every `postgres` process, with what their exited children
/// spent (the server's `cutime` + `cstime`): the difference over a run is what the PostgreSQL
/// server spent on it, backends that ended during it included. The server is the machine's
/// one (`.ci/postgres`), so anything else using it at the time counts too.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return f64::NAN;
    };
    let ticks: u64 = dir
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            let (head, after) = stat.rsplit_once(')')?;
            if !head.ends_with("(postgres") {
                return None;
            }
            let fields: Vec<&str> = after.split_whitespace().collect();
            // utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the name.
            fields
                .get(11..15)?
                .iter()
                .map(|f| f.parse::<u64>().ok())
                .sum::<Option<u64>>()
        })
        .sum();
    ticks as f64 / 100.0
}

/// (VmRSS KiB, VmHWM KiB, user + system CPU seconds) of `pid`, while it lives.
fn sample(pid: u32) -> Option<(u64, u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux (sysconf(_SC_CLK_TCK)).
    Some((field("VmRSS:")?, field("VmHWM:")?, ticks as f64 / 100.0))
}
