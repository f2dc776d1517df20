//! Shared set-up of the backend integration tests: a simulator per test, a client configured
//! for it with short timings, and the collection of a followed job's items.

#![allow(dead_code)] // each test file uses a different part

pub mod canned;

use std::time::Duration;

use futures_util::StreamExt;
use mosaic_bot::backend::{
    BackendClient, BackendConfig, Followed, JobEvent, JobEventStream, JobId, RetryPolicy,
    StreamEnd, StreamPolicy,
};
use mosaic_bot::secret::Secret;
use mosaic_sim::{Faults, Script, Sim, SimConfig};
use serde_json::Value;

/// Longest any single test waits for a stream to end.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Logs to the test output when `RUST_LOG` is set (`RUST_LOG=mosaic_bot=debug`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A simulator with a 1 ms tick.
pub async fn sim() -> Sim {
    sim_with(SimConfig::fast()).await
}

pub async fn sim_with(config: SimConfig) -> Sim {
    init_tracing();
    Sim::start(config).await.expect("simulator starts")
}

/// A client for `sim` with test timings: quick retries and reconnects, a stall timeout long
/// enough never to fire unless a test lowers it.
pub fn config(sim: &Sim) -> BackendConfig {
    config_for(&sim.base_url(), sim.token(), sim.workspace())
}

pub fn config_for(base_url: &str, token: &str, workspace: &str) -> BackendConfig {
    BackendConfig {
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        use_env_proxy: false,
        retry: RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        stream: StreamPolicy {
            stall_timeout: Duration::from_secs(5),
            reconnect_min_delay: Duration::from_millis(10),
            reconnect_max_delay: Duration::from_millis(100),
            give_up_after: None,
        },
        ..BackendConfig::new(base_url, Secret::from(token), workspace)
    }
}

pub fn client(config: BackendConfig) -> BackendClient {
    BackendClient::new(config).expect("client builds")
}

/// A job of `script` with `faults`, created in the simulator directly.
pub fn job(sim: &Sim, script: Script, faults: Faults) -> JobId {
    JobId::new(sim.create_job("acme", "web", 42, script, faults))
}

/// Reads a followed job to its end: the events, the end, and a check that nothing follows it.
pub async fn collect(mut stream: JobEventStream) -> (Vec<JobEvent>, StreamEnd) {
    let run = async {
        let mut events = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Followed::Event(event) => events.push(event),
                Followed::End(end) => {
                    assert_eq!(stream.next().await, None, "nothing may follow End");
                    return (events, end);
                }
            }
        }
        panic!("the stream ended without an End item");
    };
    tokio::time::timeout(DEADLINE, run)
        .await
        .expect("the followed job ends within the deadline")
}

/// The ids of the simulator's truth.
pub fn truth_ids(truth: &[Value]) -> Vec<String> {
    truth
        .iter()
        .map(|event| {
            event["id"]
                .as_str()
                .expect("sim events have ids")
                .to_owned()
        })
        .collect()
}

pub fn ids(events: &[JobEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.as_str().to_owned()).collect()
}

/// Asserts that `delivered` is exactly the simulator's events: same ids, same types, same
/// order, nothing repeated, nothing missing.
pub fn assert_exactly(delivered: &[JobEvent], truth: &[Value]) {
    assert!(!truth.is_empty(), "the simulator emitted nothing");
    assert_eq!(
        ids(delivered),
        truth_ids(truth),
        "delivered ids differ from the truth"
    );
    let kinds: Vec<&str> = delivered.iter().map(JobEvent::type_name).collect();
    let truth_kinds: Vec<&str> = truth
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, truth_kinds, "delivered types differ from the truth");
}

/// Stream requests the simulator received for `job`, in order.
pub fn stream_requests(sim: &Sim, job: &JobId) -> Vec<mosaic_sim::RecordedRequest> {
    let path = format!("/runner-jobs/{job}/events/stream");
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .collect()
}
