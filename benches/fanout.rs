//! Fan-out bench: one process follows N job streams at once. Run by hand:
//! `cargo bench --bench fanout` (N = 1,000 and 5,000; `FANOUT_N=200,2000` overrides).
//!
//! The simulator runs as a separate process (`mosaic-sim --precise-timestamps`, built in
//! release mode on first use, or `FANOUT_SIM_BIN=path`), so its memory is not counted. Each N
//! runs in a fresh child process of this bench, so that one run's freed-but-kept heap does not
//! flatter the next. Per N it reports:
//! - memory per stream: growth of VmRSS from before the jobs exist to the moment every stream
//!   is connected and has delivered events, divided by N; beside it the growth of live heap
//!   bytes (a counting allocator), which tells what the streams hold from allocator slack;
//! - event latency: receive time minus the event's own timestamp (microseconds, same machine
//!   clock), over live events delivered in a window after every stream is connected (backfilled
//!   events are old by design and left out).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use mosaic_bot::backend::{
    BackendClient, BackendConfig, CreateJob, Followed, IssueRef, JobId, JobOrigin, RetryPolicy,
    StreamPolicy,
};
use mosaic_bot::secret::Secret;

mod support;
use support::{Histogram, env_u64};

/// Counts live heap bytes, to tell what the streams hold from allocator slack in the RSS.
struct CountingAlloc;
static LIVE_HEAP: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE_HEAP.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE_HEAP.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        LIVE_HEAP.fetch_add(size as u64, Ordering::Relaxed);
        LIVE_HEAP.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

const TOKEN: &str = "bench-token";
const WORKSPACE: &str = "bench-workspace";
/// Events a stream must have delivered before it counts as up.
const READY_AFTER: u64 = 1;

fn main() {
    if let Ok(n) = std::env::var("FANOUT_CHILD") {
        let n = n.parse().expect("FANOUT_CHILD is a number");
        let url = std::env::var("FANOUT_SIM_URL").expect("FANOUT_SIM_URL is set");
        child(n, &url);
        return;
    }
    let sizes: Vec<usize> = std::env::var("FANOUT_N")
        .unwrap_or_else(|_| "1000,5000".to_owned())
        .split(',')
        .map(|n| n.trim().parse().expect("FANOUT_N is a list of numbers"))
        .collect();
    let tick_ms = env_u64("FANOUT_TICK_MS", 250);
    let sim_bin = std::env::var("FANOUT_SIM_BIN").unwrap_or_else(|_| support::sim_binary());
    let tick = tick_ms.to_string();
    let (mut sim, url) = support::start_sim(
        &sim_bin,
        &[
            "--tick-ms",
            &tick,
            "--precise-timestamps",
            "--token",
            TOKEN,
            "--workspace",
            WORKSPACE,
        ],
    );
    eprintln!("simulator {} at {url}, tick {tick_ms} ms", sim.id());

    let mut rows = Vec::new();
    for n in sizes {
        let output = Command::new(std::env::current_exe().expect("own path"))
            .env("FANOUT_CHILD", n.to_string())
            .env("FANOUT_SIM_URL", &url)
            .stderr(Stdio::inherit())
            .output()
            .expect("the bench child runs");
        let row = String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned();
        if !output.status.success() || row.is_empty() {
            eprintln!("run with N = {n} failed ({})", output.status);
        }
        rows.push(row);
    }
    let _ = sim.kill();
    let _ = sim.wait();

    println!();
    let header = [
        "streams",
        "RSS before",
        "RSS after",
        "RSS/stream",
        "heap/strm",
        "connect",
        "live evts",
        "p50",
        "p99",
        "max",
    ];
    let widths = [7, 11, 11, 10, 10, 8, 9, 9, 9, 7];
    let cells: Vec<String> = header
        .iter()
        .zip(widths)
        .map(|(name, width)| format!("{name:>width$}"))
        .collect();
    println!("{}", cells.join(" | "));
    println!(
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 3 * (widths.len() - 1))
    );
    for row in rows {
        println!("{row}");
    }
}

/// One measured run with `n` streams; prints one table row on stdout.
fn child(n: usize, url: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let client = BackendClient::new(config(url)).expect("client");
        let latencies = Arc::new(Histogram::new());
        // Warm up everything lazily initialised (pool, runtime threads, tracing callsites),
        // so that the baseline holds it.
        let warm = create(&client, 0).await;
        let mut warm_stream = client.follow(warm, None);
        let _ = warm_stream.next().await;
        drop(warm_stream);
        tokio::time::sleep(Duration::from_millis(200)).await;

        let rss_before = rss_kib();
        let heap_before = LIVE_HEAP.load(Ordering::Relaxed);
        let jobs = create_jobs(&client, n).await;
        let ready = Arc::new(AtomicUsize::new(0));
        let measuring = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        for job in jobs {
            let stream = client.follow(job, None);
            tokio::spawn(follow(stream, Arc::clone(&ready), Arc::clone(&measuring), Arc::clone(&latencies)));
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while ready.load(Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "only {} of {n} streams came up", ready.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect = started.elapsed();
        let rss_after = rss_kib();
        let heap_after = LIVE_HEAP.load(Ordering::Relaxed);

        measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(env_u64("FANOUT_WINDOW_S", 5))).await;
        measuring.store(false, Ordering::Relaxed);

        let per_stream = (rss_after.saturating_sub(rss_before) as f64) / n as f64;
        let heap_per_stream = heap_after.saturating_sub(heap_before) as f64 / 1024.0 / n as f64;
        println!(
            "{n:>7} | {:>7} KiB | {:>7} KiB | {per_stream:>6.1} KiB | {heap_per_stream:>6.1} KiB | {:>6.2} s | {:>9} | {:>6} µs | {:>6} µs | {:>4} ms",
            rss_before,
            rss_after,
            connect.as_secs_f64(),
            latencies.count(),
            latencies.percentile(0.50),
            latencies.percentile(0.99),
            latencies.max() / 1000,
        );
    });
    // The streams are still open; exiting is the fastest way to close them all.
    std::process::exit(0);
}

/// One stream's consumer: counts events, records live latencies in the window.
async fn follow(
    mut stream: mosaic_bot::backend::JobEventStream,
    ready: Arc<AtomicUsize>,
    measuring: Arc<AtomicBool>,
    latencies: Arc<Histogram>,
) {
    let mut seen = 0u64;
    while let Some(item) = stream.next().await {
        let Followed::Event(event) = item else { break };
        if measuring.load(Ordering::Relaxed)
            && let Some(emitted) = event.timestamp
            && let Ok(age) = SystemTime::now().duration_since(emitted)
        {
            latencies.record(age);
        }
        seen += 1;
        if seen == READY_AFTER {
            ready.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn config(url: &str) -> BackendConfig {
    BackendConfig {
        request_timeout: Duration::from_secs(30),
        use_env_proxy: false,
        retry: RetryPolicy {
            max_attempts: 5,
            ..RetryPolicy::default()
        },
        stream: StreamPolicy::default(),
        ..BackendConfig::new(url, Secret::from(TOKEN), WORKSPACE)
    }
}

async fn create_jobs(client: &BackendClient, n: usize) -> Vec<JobId> {
    // A few creates in flight at a time: the sim's timelines start at creation, and this is
    // set-up, not the thing measured.
    futures_util::stream::iter(1..=n)
        .map(|i| create(client, i as u64))
        .buffered(32)
        .collect()
        .await
}

async fn create(client: &BackendClient, number: u64) -> JobId {
    let issue = IssueRef {
        owner: "bench".into(),
        repo: "fanout".into(),
        number: number + 1,
        url: Some(format!(
            "https://github.com/bench/fanout/issues/{}",
            number + 1
        )),
    };
    let origin = JobOrigin {
        platform: "console".into(),
        channel_id: "bench".into(),
        thread_id: None,
        user_id: "bench".into(),
        user_name: "bench".into(),
        message_url: None,
    };
    client
        .create_job(&CreateJob::fix(issue, origin))
        .await
        .expect("job created")
        .id
}

/// This process's resident set in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
