//! The library API other crates' tests drive: scripting issues, creating
//! jobs directly, the truth (events, emission times), server-wide faults,
//! configuration and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Read, WITHIN, start};
use mosaic_sim::{Faults, Gate, Outcome, OutputStream, Script, Sim, SimConfig, Step};
use reqwest::StatusCode;
use serde_json::Value;

fn total_steps(events: &[Value]) -> Option<u64> {
    events.iter().find(|e| e["type"] == "step.started")?["payload"]["total"].as_u64()
}

#[tokio::test]
async fn scripts_queue_fifo_per_issue_then_the_default_applies() {
    let sim = start(|_| {}).await;
    sim.script_issue("acme", "web", 7, Script::tiny(), Faults::default());
    sim.script_issue("ACME", "Web", 7, Script::failing(), Faults::default());
    let client = Client::new(&sim);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let id = client.create("acme", "web", 7).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let events = sim.wait_final(&id).await;
        outcomes.push((
            total_steps(&events),
            sim.job(&id).unwrap()["status"].clone(),
        ));
    }
    assert_eq!(
        outcomes,
        [
            (Some(1), "COMPLETED".into()),
            (Some(5), "FAILED".into()),
            (Some(6), "COMPLETED".into())
        ]
    );
}

#[tokio::test]
async fn a_scripted_issue_takes_its_faults_and_other_jobs_do_not() {
    let sim = start(|_| {}).await;
    sim.script_issue(
        "acme",
        "web",
        8,
        Script::tiny(),
        Faults {
            unavailable_connects: 1,
            ..Faults::default()
        },
    );
    let client = Client::new(&sim);
    let faulty = client.create("acme", "web", 8).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let healthy = client.create("acme", "web", 9).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        client.stream(&faulty, None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(client.stream(&healthy, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn set_faults_applies_to_jobs_created_afterwards() {
    let sim = start(|_| {}).await;
    let before = sim.create_job("acme", "web", 1, Script::tiny(), Faults::default());
    sim.set_faults(Faults {
        unavailable_connects: 1,
        ..Faults::default()
    });
    let client = Client::new(&sim);
    let after = client.create("acme", "web", 2).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(client.stream(&before, None).await.status(), StatusCode::OK);
    assert_eq!(
        client.stream(&after, None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(client.stream(&after, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn create_job_makes_a_job_of_the_first_workspace_following_its_script() {
    let sim = start(|_| {}).await;
    let script = Script {
        steps: vec![Step {
            name: "Only step".to_owned(),
            progress: vec![(50, "half".to_owned())],
            output: vec![(OutputStream::Stderr, "warn".to_owned())],
            tool_calls: vec![],
        }],
        gates: vec![Gate {
            name: "lint".to_owned(),
            passes: false,
            details: "2 problems".to_owned(),
        }],
        outcome: Outcome::Completed {
            summary: "Done for {owner}/{repo}#{number}".to_owned(),
            pr_url: None,
        },
    };
    let id = sim.create_job("acme", "web", 5, script, Faults::default());
    let events = sim.wait_final(&id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "job.created",
            "job.queued",
            "job.started",
            "step.started",
            "step.progress",
            "step.output",
            "ai.tokens_used",
            "step.completed",
            "gate.started",
            "gate.failed",
            "ai.artifact_created",
            "job.completed",
        ]
    );
    assert_eq!(events[5]["payload"]["stream"], "stderr");
    assert_eq!(events[9]["payload"]["details"], "2 problems");
    assert_eq!(
        events[11]["payload"],
        serde_json::json!({"summary": "Done for acme/web#5"})
    );
    let (status, job) = Client::new(&sim).get(&format!("/runner-jobs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["origin"], Value::Null);
    assert_eq!(
        job["result"],
        serde_json::json!({"summary": "Done for acme/web#5", "prUrl": null})
    );
    assert_eq!(Some(job), sim.job(&id));
}

#[tokio::test]
async fn events_are_emitted_one_per_tick_and_their_times_recorded() {
    let tick = Duration::from_millis(3);
    let sim = start(|cfg| cfg.tick = tick).await;
    let id = sim.create_job("acme", "web", 1, Script::tiny(), Faults::default());
    let events = sim.wait_final(&id).await;
    let emitted = sim.emitted_at(&id);
    let emitted_ids: Vec<&str> = emitted.iter().map(|(id, _)| id.as_str()).collect();
    let event_ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(emitted_ids, event_ids);
    for pair in emitted.windows(2) {
        assert!(
            pair[1].1 - pair[0].1 >= tick,
            "{} came less than a tick after {}",
            pair[1].0,
            pair[0].0
        );
    }
}

#[tokio::test]
async fn a_standard_job_ends_well_within_a_second_at_the_default_tick() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let started = Instant::now();
    let id = sim.create_job("acme", "web", 1, Script::standard(), Faults::default());
    let events = tokio::time::timeout(WITHIN, sim.wait_final(&id))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(events.len() > 50);
}

#[tokio::test]
async fn precise_timestamps_have_microseconds_and_job_times_keep_millis() {
    let sim = start(|cfg| cfg.precise_timestamps = true).await;
    let id = sim.create_job("acme", "web", 1, Script::tiny(), Faults::default());
    let events = sim.wait_final(&id).await;
    for event in &events {
        let stamp = event["timestamp"].as_str().unwrap();
        assert_eq!(stamp.len(), "2026-11-20T10:00:02.123456Z".len(), "{stamp}");
    }
    let created = sim.job(&id).unwrap()["createdAt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created.len(), "2026-11-20T10:00:02.123Z".len());

    let plain = start(|_| {}).await;
    let id = plain.create_job("acme", "web", 1, Script::tiny(), Faults::default());
    let stamp = plain.wait_final(&id).await[0]["timestamp"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stamp.len(), "2026-11-20T10:00:02.123Z".len(), "{stamp}");
}

#[tokio::test]
async fn unknown_jobs_have_no_truth_and_do_not_block() {
    let sim = start(|_| {}).await;
    let ghost = "00000000-0000-4000-8000-000000000404";
    assert_eq!(
        tokio::time::timeout(WITHIN, sim.wait_final(ghost))
            .await
            .unwrap(),
        Vec::<Value>::new()
    );
    assert_eq!(sim.job(ghost), None);
    assert!(sim.emitted_at(ghost).is_empty());
    assert_eq!(sim.stream_connections(ghost), 0);
}

#[tokio::test]
async fn configurations_hold_their_documented_values() {
    let default = SimConfig::default();
    assert_eq!(default.token, "sim-token");
    assert_eq!(default.workspaces, ["00000000-0000-4000-8000-0000000000aa"]);
    assert_eq!(default.tick, Duration::from_millis(1));
    assert_eq!(default.keepalive, Duration::from_secs(15));
    assert!(!default.precise_timestamps);
    assert_eq!(SimConfig::fast().tick, Duration::from_millis(1));
    assert_eq!(SimConfig::demo().tick, Duration::from_millis(700));
    let sim = Sim::start(default).await.unwrap();
    assert_eq!(
        sim.base_url(),
        format!("http://127.0.0.1:{}", sim.addr().port())
    );
    assert_eq!(sim.token(), "sim-token");
    assert_eq!(sim.workspace(), "00000000-0000-4000-8000-0000000000aa");
}

#[tokio::test]
async fn shutdown_cuts_open_streams_and_closes_the_port() {
    let sim = start(|cfg| cfg.tick = Duration::from_secs(60)).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut open = client.sse(&id, None).await;
    assert_eq!(open.frame().await.id.as_deref(), Some("e-0001"));
    let addr = sim.addr();
    tokio::time::timeout(WITHIN, sim.clone().shutdown())
        .await
        .expect("shutdown does not wait for streams");
    assert!(matches!(open.next(WITHIN).await, Read::Cut(_) | Read::End));
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "port closed");
    // The truth stays readable after shutdown.
    assert_eq!(sim.events(&id).len(), 1);
}

#[tokio::test]
async fn first_sent_stamps_each_event_at_its_first_sending_only() {
    let sim = start(|cfg| cfg.precise_timestamps = true).await;
    let client = Client::new(&sim);
    let id = sim.create_job("acme", "web", 1, Script::tiny(), Faults::default());
    let events = sim.wait_final(&id).await;
    let path = format!("/_sim/runner-jobs/{id}/first-sent");
    // No stream yet: nothing was sent.
    let (status, before) = client.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before, Value::Array(vec![Value::Null; events.len()]));

    let (frames, _) = client.sse(&id, None).await.until_end().await;
    assert_eq!(common::job_events(&frames).len(), events.len());
    let (_, sent) = client.get(&path).await;
    let sent: Vec<String> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().expect("every event was sent").to_owned())
        .collect();
    for (event, sent) in events.iter().zip(&sent) {
        // Microseconds, as the timestamps; and never before the event was emitted.
        assert_eq!(sent.len(), "2026-11-20T10:00:02.123456Z".len(), "{sent}");
        assert!(sent.as_str() >= event["timestamp"].as_str().unwrap());
    }
    // A replay on a second connection does not move the first sending.
    let _ = client.sse(&id, None).await.until_end().await;
    let (_, again) = client.get(&path).await;
    assert_eq!(
        again,
        Value::Array(sent.into_iter().map(Value::String).collect())
    );

    let (status, _) = client
        .get("/_sim/runner-jobs/00000000-0000-4000-8000-000000000404/first-sent")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
