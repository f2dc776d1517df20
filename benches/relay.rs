//! Whole-binary relay bench: N jobs through the release `mosaic-bot console --json`, against
//! `mosaic-sim` in its own process, as a team's admin would run them. Run by hand:
//!
//! ```sh
//! eval "$(.ci/postgres | tail -n 1)"   # optional: the PostgreSQL half
//! cargo bench --bench relay            # N = 500, 2,000, 5,000 on SQLite and PostgreSQL
//! RELAY_N=2000 RELAY_ENGINES=sqlite cargo bench --bench relay
//! ```
//!
//! `RELAY_BOT_BIN` and `SIM_BIN` run other builds of the bot and the simulator (an earlier
//! commit's, to compare).
//!
//! Each job has a channel of its own (`fix bench/relay#i` in channel `ci`, then `verbose` in
//! its thread, so that every event becomes a chat line) and plays the simulator's `bench`
//! script: 22 events, 4 a second (`--tick-ms 250`), so 2,000 jobs are 8,000 events a second.
//! Jobs start spread evenly over `RELAY_SPREAD_MS` (5 s), as real ones do. Every run has a
//! fresh simulator, bot and database. Per run it reports:
//! - idle RSS (the bot after start-up, before any input), peak RSS (VmHWM), and RSS per job
//!   above idle: (peak − idle) / N;
//! - event → stdout-line latency: the arrival instant of the first `post` line showing an
//!   event minus the event's own timestamp (the simulator's emit instant, in microseconds with
//!   `--precise-timestamps`; same machine clock). `job.created` is left out: it is emitted
//!   before the job's relay exists;
//!   The p99 is also given apart for the events emitted while commands still arrive (the
//!   first `RELAY_SPREAD_MS`: every job starting, the store busy with two commands per job)
//!   and for those emitted after (relaying only), to tell which phase makes the tail; and
//!   (on stderr, before the row) by the second of the run each event was emitted in, to tell
//!   when the bot fell behind and when it caught up;
//! - CPU seconds of the bot (user + system, from `/proc`), and of the simulator over the same
//!   run (it shares the cores); on PostgreSQL also of the server (`db s`: every `postgres`
//!   process, with its exited backends), from the bot's start to its exit;
//! - lost and repeated events: each event of each job (fetched from the simulator at the end)
//!   emitted after its thread's `verbose` reply must show exactly once in the thread; one
//!   emitted before may show once or not at all (it may have been taken in at the default
//!   verbosity): those not shown are counted as `early`.
//!
//! The bot's log (its default level) goes to a file, as under a supervisor. Beside each run
//! the bench prints the load average: the machine is shared, so wall-clock latencies are only
//! comparable at similar load.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use serde_json::Value;

mod support;
use support::bot::{Database, Watch, runtime};
use support::{Histogram, env_u64};

const TOKEN: &str = "bench-token";
const WORKSPACE: &str = "00000000-0000-4000-8000-0000000000be";
const OWNER: &str = "bench";
const REPO: &str = "relay";

fn main() {
    // `cargo bench` passes `--bench`; this is not a libtest harness, so any other argument
    // (a filter) is ignored.
    let sizes: Vec<usize> = std::env::var("RELAY_N")
        .unwrap_or_else(|_| "500,2000,5000".to_owned())
        .split(',')
        .map(|n| n.trim().parse().expect("RELAY_N is a list of numbers"))
        .collect();
    let engines = std::env::var("RELAY_ENGINES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    let sim = support::sim_binary();
    // `RELAY_BOT_BIN` runs another build of the bot (an earlier commit's, to compare).
    let bot = std::env::var("RELAY_BOT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mosaic-bot").to_owned());
    let mut rows = Vec::new();
    for engine in engines.split(',').map(str::trim) {
        for &n in &sizes {
            let Some(db) = Database::fresh(engine, n) else {
                continue;
            };
            eprintln!("relay bench: {engine}, {n} jobs …");
            let row = run(&bot, &sim, &db, n);
            eprintln!("{}", row.line());
            rows.push(row);
        }
    }
    println!();
    println!("{}", Row::header());
    for row in &rows {
        println!("{}", row.line());
    }
    if rows.iter().any(|r| r.lost + r.repeated > 0) {
        eprintln!("events were lost or repeated");
        std::process::exit(1);
    }
}

/// One run's figures.
struct Row {
    engine: String,
    jobs: usize,
    load: String,
    idle_kib: u64,
    peak_kib: u64,
    p50_us: u64,
    p99_us: u64,
    /// p99 of the events emitted while commands still arrived, and of those after.
    p99_starting_us: u64,
    p99_after_us: u64,
    /// p99 from the simulator's sending of each event on: without the simulator's own delay.
    p99_sent_us: u64,
    max_us: u64,
    samples: u64,
    cpu_s: f64,
    /// The simulator's CPU seconds over the same run: it shares the machine's cores.
    sim_cpu_s: f64,
    /// The PostgreSQL server's CPU seconds over the same run (NaN on SQLite): it shares the
    /// cores too.
    db_cpu_s: f64,
    wall_s: f64,
    lost: usize,
    repeated: usize,
    unshown_early: usize,
}

impl Row {
    fn header() -> String {
        format!(
            "{:<8} | {:>5} | {:>14} | {:>8} | {:>8} | {:>8} | {:>9} | {:>9} | {:>9} | {:>9} | {:>9} | {:>7} | {:>7} | {:>6} | {:>6} | {:>5} | {:>4} | {:>4} | {:>5}",
            "engine",
            "jobs",
            "load (1/5 min)",
            "idle RSS",
            "peak RSS",
            "RSS/job",
            "p50",
            "p99",
            "p99 start",
            "p99 after",
            "p99 sent",
            "max",
            "events",
            "CPU s",
            "sim s",
            "db s",
            "lost",
            "rep.",
            "early"
        )
    }

    fn line(&self) -> String {
        let per_job = (self.peak_kib.saturating_sub(self.idle_kib) as f64) / self.jobs as f64;
        format!(
            "{:<8} | {:>5} | {:>14} | {:>5} MB | {:>5} MB | {:>5.1} KB | {:>6.2} ms | {:>6.2} ms | {:>6.2} ms | {:>6.2} ms | {:>6.2} ms | {:>4} ms | {:>7} | {:>6.1} | {:>6.1} | {:>5} | {:>4} | {:>4} | {:>5}   (wall {:.1} s)",
            self.engine,
            self.jobs,
            self.load,
            self.idle_kib / 1024,
            self.peak_kib / 1024,
            per_job,
            self.p50_us as f64 / 1000.0,
            self.p99_us as f64 / 1000.0,
            self.p99_starting_us as f64 / 1000.0,
            self.p99_after_us as f64 / 1000.0,
            self.p99_sent_us as f64 / 1000.0,
            self.max_us / 1000,
            self.samples,
            self.cpu_s,
            self.sim_cpu_s,
            if self.db_cpu_s.is_nan() {
                "-".to_owned()
            } else {
                format!("{:.1}", self.db_cpu_s)
            },
            self.lost,
            self.repeated,
            self.unshown_early,
            self.wall_s,
        )
    }
}

/// One output line of the bot and when it arrived.
struct Arrived {
    at: SystemTime,
    line: String,
}

/// One measured run: a fresh simulator and bot, `n` jobs.
fn run(bot: &str, sim_bin: &str, db: &Database, n: usize) -> Row {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let (mut sim, url) = support::start_sim(
        sim_bin,
        &[
            "--tick-ms",
            "250",
            "--precise-timestamps",
            "--script",
            "bench",
            "--token",
            TOKEN,
            "--workspace",
            WORKSPACE,
        ],
    );
    let db_before = (db.engine == "postgres").then(support::bot::postgres_cpu_seconds);
    let log = tempfile::NamedTempFile::new().expect("a log file");
    let mut child = Command::new(bot)
        .args(["console", "--json", "--backend", &url, "--token", TOKEN])
        .args(["--workspace", WORKSPACE])
        .env("MOSAIC__STORE__URL", &db.url)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log.reopen().expect("the log file"))
        .spawn()
        .expect("the bot starts");
    let pid = child.id();
    let lines = read_lines(&mut child);
    let watch = Watch::start(pid);

    // Idle: started, store open, nothing followed.
    std::thread::sleep(Duration::from_millis(1500));
    let idle_kib = watch.rss_now();

    let started = Instant::now();
    let spread = Duration::from_millis(env_u64("RELAY_SPREAD_MS", 5000));
    let mut stdin = child.stdin.take().expect("piped stdin");
    for i in 0..n {
        let due = spread.mul_f64(i as f64 / n as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        let input = format!(
            "{{\"id\":\"f{i}\",\"channel\":\"c{i}\",\"user\":\"bench\",\"text\":\"@mosaic fix {OWNER}/{REPO}#{}\"}}\n\
             {{\"id\":\"v{i}\",\"channel\":\"c{i}\",\"thread\":\"f{i}\",\"user\":\"bench\",\"text\":\"@mosaic verbose\"}}\n",
            i + 1
        );
        stdin.write_all(input.as_bytes()).expect("the bot reads");
    }
    let commands_done = SystemTime::now();
    // End of input: the bot exits once every relay it started has ended.
    drop(stdin);
    let lines = lines.join().expect("the reader thread");
    let (peak_kib, cpu_s) = watch.stop();
    let status = child.wait().expect("the bot exits");
    let db_cpu_s = db_before.map_or(f64::NAN, |before| {
        support::bot::postgres_cpu_seconds() - before
    });
    let wall_s = started.elapsed().as_secs_f64();
    assert!(
        status.success(),
        "the bot failed ({status}); log: {}",
        log.path().display()
    );

    // Before the events are fetched: what the simulator spent serving the run.
    let sim_cpu_s = support::bot::cpu_seconds(sim.id()).unwrap_or(f64::NAN);
    let events = runtime().block_on(fetch_events(&url, n));
    let _ = sim.kill();
    let _ = sim.wait();
    let Score {
        latencies: histogram,
        starting,
        after,
        by_second,
        in_bot,
        lost,
        repeated,
        unshown_early,
    } = score(&lines, &events, commands_done);
    for (second, (h, bot)) in &by_second {
        eprintln!(
            "  second {second:>3}: {:>6} events  p50 {:>9.2} ms  p99 {:>9.2} ms  (from sent: p99 {:>9.2} ms)",
            h.count(),
            h.percentile(0.50) as f64 / 1000.0,
            h.percentile(0.99) as f64 / 1000.0,
            bot.percentile(0.99) as f64 / 1000.0
        );
    }
    if lost + repeated > 0 {
        let kept = log.keep().map(|(_, p)| p.display().to_string());
        eprintln!("the bot's log is kept: {}", kept.unwrap_or_default());
    }
    Row {
        engine: db.engine.clone(),
        jobs: n,
        load,
        idle_kib,
        peak_kib,
        p50_us: histogram.percentile(0.50),
        p99_us: histogram.percentile(0.99),
        p99_starting_us: starting.percentile(0.99),
        p99_after_us: after.percentile(0.99),
        p99_sent_us: in_bot.percentile(0.99),
        max_us: histogram.max(),
        samples: histogram.count(),
        cpu_s,
        sim_cpu_s,
        db_cpu_s,
        wall_s,
        lost,
        repeated,
        unshown_early,
    }
}

/// Reads the bot's output on a thread of its own, stamping each line as it arrives.
fn read_lines(child: &mut Child) -> std::thread::JoinHandle<Vec<Arrived>> {
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        let mut out = Vec::new();
        for line in BufReader::with_capacity(1 << 16, stdout).lines() {
            let Ok(line) = line else { break };
            out.push(Arrived {
                at: SystemTime::now(),
                line,
            });
        }
        out
    })
}

/// One job's events as the simulator stored them: (type, payload, emit instant, the instant
/// the simulator first handed it to a stream connection).
type JobEvents = Vec<(String, Value, SystemTime, Option<SystemTime>)>;

/// Every job's events, by the channel its fix was typed in.
async fn fetch_events(url: &str, n: usize) -> HashMap<String, JobEvents> {
    let client = reqwest::Client::new();
    let get = |path: String| {
        let request = client
            .get(format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .header("X-Workspace-Id", WORKSPACE);
        async move {
            let response = request.send().await.expect("the simulator answers");
            response.json::<Value>().await.expect("a JSON answer")
        }
    };
    futures_util::stream::iter(0..n)
        .map(|i| async move {
            let list = get(format!(
                "/runner-jobs?owner={OWNER}&repo={REPO}&issue={}&limit=1",
                i + 1
            ))
            .await;
            let id = list["data"][0]["id"]
                .as_str()
                .expect("the job exists")
                .to_owned();
            let events = get(format!("/runner-jobs/{id}/events")).await;
            let sent = get(format!("/_sim/runner-jobs/{id}/first-sent")).await;
            let events = events
                .as_array()
                .expect("an event list")
                .iter()
                .enumerate()
                .map(|(n, e)| {
                    let at = e["timestamp"]
                        .as_str()
                        .and_then(|t| humantime::parse_rfc3339(t).ok())
                        .expect("a timestamp");
                    let sent = sent[n]
                        .as_str()
                        .and_then(|t| humantime::parse_rfc3339(t).ok());
                    (
                        e["type"].as_str().unwrap_or("").to_owned(),
                        e["payload"].clone(),
                        at,
                        sent,
                    )
                })
                .collect();
            (format!("c{i}"), events)
        })
        .buffer_unordered(32)
        .collect()
        .await
}

/// The text that shows `kind` with `payload` in a thread (verbose), and nothing else of the
/// bench script's: the script gives every event a distinct text.
fn signature(kind: &str, p: &Value) -> String {
    let s = |key: &str| p[key].as_str().unwrap_or("").to_owned();
    match kind {
        "job.created" => "Job created".to_owned(),
        "job.queued" => "Job queued".to_owned(),
        "job.started" => "Job started".to_owned(),
        "step.started" => format!("{}/{}: {}", p["index"], p["total"], s("step")),
        "step.completed" => format!("{}/{} done: {}", p["index"], p["total"], s("step")),
        "step.progress" => s("message"),
        "step.output" => s("text"),
        "ai.tool_called" => s("input"),
        "ai.tokens_used" => format!("Tokens used: {} in", p["input"]),
        "ai.artifact_created" => format!("{}: {}", s("kind"), s("name")),
        "job.completed" => s("summary"),
        other => panic!("the bench script has no `{other}` event"),
    }
}

/// What the bot's threads showed, against what the jobs emitted.
struct Score {
    latencies: Histogram,
    /// The same latencies split: events emitted while commands still arrived, and after.
    starting: Histogram,
    after: Histogram,
    /// The latencies by the second of the run the event was emitted in (from the first
    /// event), to tell when the tail forms: while jobs start, at the peak, or throughout.
    /// Beside each, the part from the simulator's sending on (stream, bot, pipe): the rest
    /// is the simulator's own delay, which a backend on other machines would not add.
    by_second: std::collections::BTreeMap<u64, (Histogram, Histogram)>,
    /// The latencies from the simulator's sending of each event on.
    in_bot: Histogram,
    lost: usize,
    repeated: usize,
    /// Events emitted before their thread's `verbose` took effect and not shown: allowed
    /// (such an event is not one the thread shows), and not in the latencies.
    unshown_early: usize,
}

/// What the `verbose` command answers once the thread's relay shows every event.
const VERBOSE_REPLY: &str = "This thread now shows every event";

/// Latencies of every shown event, and how many were lost and repeated.
///
/// An event emitted after the thread's `verbose` reply arrived must show exactly once; one
/// emitted before may have been taken in at the old verbosity, so it shows once or not at
/// all. No event may show twice.
fn score(
    lines: &[Arrived],
    events: &HashMap<String, JobEvents>,
    commands_done: SystemTime,
) -> Score {
    let mut posts: HashMap<String, Vec<(SystemTime, String)>> = HashMap::new();
    for arrived in lines {
        let Ok(op) = serde_json::from_str::<Value>(&arrived.line) else {
            continue;
        };
        if op["op"] == "post" {
            let channel = op["channel"].as_str().unwrap_or("").to_owned();
            let text = op["text"].as_str().unwrap_or("").to_owned();
            posts.entry(channel).or_default().push((arrived.at, text));
        }
    }
    let mut score = Score {
        latencies: Histogram::new(),
        starting: Histogram::new(),
        after: Histogram::new(),
        by_second: std::collections::BTreeMap::new(),
        in_bot: Histogram::new(),
        lost: 0,
        repeated: 0,
        unshown_early: 0,
    };
    let first_event = events
        .values()
        .flatten()
        .map(|(_, _, emitted, _)| *emitted)
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    // `RELAY_TRACE=FILE`: every shown event as `emitted_us latency_us kind channel`, the
    // emit instant counted from the first event, to see the tail's shape finer than a second.
    let mut trace = std::env::var_os("RELAY_TRACE")
        .map(|path| std::io::BufWriter::new(std::fs::File::create(path).expect("the trace file")));
    for (channel, job_events) in events {
        let thread_posts = posts.get(channel).map_or(&[][..], Vec::as_slice);
        let verbose_at = thread_posts
            .iter()
            .find(|(_, text)| text.starts_with(VERBOSE_REPLY))
            .map(|(at, _)| *at);
        for (kind, payload, emitted, sent) in job_events {
            let wanted = signature(kind, payload);
            let mut shown = thread_posts
                .iter()
                .filter(|(_, text)| text.contains(&wanted))
                .map(|(at, text)| (at, text.matches(&wanted).count()));
            let first = shown.next();
            let times: usize =
                first.iter().map(|(_, c)| c).sum::<usize>() + shown.map(|(_, c)| c).sum::<usize>();
            let must_show = verbose_at.is_some_and(|at| *emitted > at);
            match times {
                1 => {}
                0 if !must_show => score.unshown_early += 1,
                0 => {
                    score.lost += 1;
                    if score.lost <= 3 {
                        eprintln!(
                            "lost in {channel}: {kind} `{wanted}`; the thread shows {thread_posts:?}"
                        );
                    }
                }
                more => score.repeated += more - 1,
            }
            if let (Some((at, _)), false) = (first, kind == "job.created") {
                let latency = at.duration_since(*emitted).unwrap_or_default();
                score.latencies.record(latency);
                let second = emitted.duration_since(first_event).unwrap_or_default();
                if let Some(trace) = &mut trace {
                    writeln!(
                        trace,
                        "{} {} {kind} {channel}",
                        second.as_micros(),
                        latency.as_micros()
                    )
                    .expect("the trace file");
                }
                let (all, bot) = score
                    .by_second
                    .entry(second.as_secs())
                    .or_insert_with(|| (Histogram::new(), Histogram::new()));
                all.record(latency);
                if let Some(sent) = sent {
                    let in_bot = at.duration_since(*sent).unwrap_or_default();
                    bot.record(in_bot);
                    score.in_bot.record(in_bot);
                }
                if *emitted <= commands_done {
                    score.starting.record(latency);
                } else {
                    score.after.record(latency);
                }
            }
        }
    }
    score
}
