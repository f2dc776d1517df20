//! What the process-level benches share: the simulator's executable, its first output line,
//! numbers from the environment, and a latency histogram.

#![allow(dead_code)] // Each bench uses its own part of this module.

pub mod bot;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Builds the simulator in release mode (or takes `SIM_BIN`); its executable's path.
pub fn sim_binary() -> String {
    if let Ok(path) = std::env::var("SIM_BIN") {
        return path;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "mosaic-sim",
            "--bin",
            "mosaic-sim",
        ])
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building mosaic-sim failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(str::to_owned))
        .expect("cargo reports the mosaic-sim executable")
}

/// Starts the simulator at `bin` on a free port with `args` (quiet log); the process and
/// the URL it serves.
pub fn start_sim(bin: &str, args: &[&str]) -> (std::process::Child, String) {
    let mut sim = Command::new(bin)
        .args(["--port", "0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the simulator starts");
    let url = first_line(sim.stdout.take().expect("piped stdout"));
    (sim, url)
}

/// The first line a child printed (the simulator prints its URL).
pub fn first_line(stdout: impl std::io::Read) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the simulator prints its URL");
    line.trim().to_owned()
}

/// A number from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Latencies in microseconds: 1 µs buckets up to 10 ms, 1 ms buckets up to 10 s.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    max: AtomicU64,
}

const FINE: u64 = 10_000;
const COARSE: u64 = 10_000;

impl Histogram {
    pub fn new() -> Self {
        let buckets = (0..FINE + COARSE + 1).map(|_| AtomicU64::new(0)).collect();
        Self {
            buckets,
            max: AtomicU64::new(0),
        }
    }

    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let index = if us < FINE {
            us
        } else {
            (FINE + (us - FINE) / 1000).min(FINE + COARSE)
        };
        self.buckets[index as usize].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The bucket's lower bound in µs below which `q` of the samples fall.
    pub fn percentile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let target = ((total as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= target {
                let index = index as u64;
                return if index < FINE {
                    index
                } else {
                    FINE + (index - FINE) * 1000
                };
            }
        }
        self.max()
    }
}
