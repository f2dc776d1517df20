//! The event stream over a real socket, without faults: framing, replay after
//! `Last-Event-ID`, live events, keep-alive, `stream.complete` and close,
//! cancel and delete.

mod common;

use std::time::Duration;

use common::{Client, Read, WITHIN, ids, job_events, start};
use mosaic_sim::{Faults, Script};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn frames_are_id_event_data_and_end_with_stream_complete_then_close() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = client.sse(&id, None).await;
    let (frames, end) = stream.until_end().await;
    assert!(matches!(end, Read::End), "{end:?}");
    let truth = sim.events(&id);
    assert_eq!(
        frames.len(),
        truth.len() + 1,
        "one frame per event, then stream.complete"
    );
    for (frame, event) in frames.iter().zip(&truth) {
        let id = event["id"].as_str().unwrap();
        let kind = event["type"].as_str().unwrap();
        let lines: Vec<&str> = frame.raw.split('\n').collect();
        assert_eq!(lines[..2], [format!("id: {id}"), format!("event: {kind}")]);
        assert_eq!(lines.len(), 3, "data on one line: {lines:?}");
        let data = lines[2].strip_prefix("data: ").expect("a data line");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(data).unwrap(),
            *event
        );
    }
    let complete = frames.last().unwrap();
    assert_eq!(
        complete.raw,
        format!(
            "event: stream.complete\ndata: {}",
            json!({"jobId": id, "status": "COMPLETED"})
        )
    );
    assert_eq!(truth.last().unwrap()["type"], "job.completed");
    assert!(stream.raw.ends_with("\n\n"));
}

#[tokio::test]
async fn a_live_stream_sees_the_whole_standard_lifecycle_in_order() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = client.sse(&id, None).await;
    let (frames, _) = stream.until_end().await;
    let events = job_events(&frames);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds[..4],
        ["job.created", "job.queued", "job.started", "step.started"]
    );
    assert_eq!(
        events[3]["payload"],
        json!({"step": "Clone repository", "index": 1, "total": 6})
    );
    let steps: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "step.completed")
        .map(|e| e["payload"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "Clone repository",
            "Reproduce issue",
            "Plan fix",
            "Apply fix",
            "Run tests",
            "Open pull request"
        ]
    );
    let gates: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "gate.passed")
        .map(|e| e["payload"]["gate"].as_str().unwrap())
        .collect();
    assert_eq!(gates, ["typecheck", "lint", "build", "test"]);
    for kind in [
        "step.progress",
        "step.output",
        "ai.tool_called",
        "ai.tokens_used",
        "gate.started",
        "ai.artifact_created",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing");
    }
    let output = events.iter().find(|e| e["type"] == "step.output").unwrap();
    assert!(["stdout", "stderr"].contains(&output["payload"]["stream"].as_str().unwrap()));
    let done = events.last().unwrap();
    assert_eq!(done["type"], "job.completed");
    assert_eq!(
        done["payload"]["prUrl"],
        "https://github.com/acme/web/pull/57"
    );
    assert_eq!(events, sim.events(&id));
}

#[tokio::test]
async fn last_event_id_replays_only_what_follows_it() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let truth = sim.wait_final(&id).await;
    let mut stream = client.sse(&id, Some("e-0005")).await;
    let (frames, end) = stream.until_end().await;
    assert!(matches!(end, Read::End));
    assert_eq!(job_events(&frames), truth[5..].to_vec());
    assert_eq!(
        frames.last().unwrap().event.as_deref(),
        Some("stream.complete")
    );

    // Resuming from the last event gets only stream.complete.
    let last = truth.last().unwrap()["id"].as_str().unwrap().to_owned();
    let (frames, _) = client.sse(&id, Some(&last)).await.until_end().await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].event.as_deref(), Some("stream.complete"));
}

#[tokio::test]
async fn a_final_job_streams_everything_at_once() {
    // A 10 s keep-alive: the stream must not wait for anything.
    let sim = start(|cfg| cfg.keepalive = Duration::from_secs(10)).await;
    let id = sim.create_job("acme", "web", 42, Script::failing(), Faults::default());
    let truth = sim.wait_final(&id).await;
    let (frames, end) = Client::new(&sim).sse(&id, None).await.until_end().await;
    assert!(matches!(end, Read::End));
    assert_eq!(job_events(&frames), truth);
    assert_eq!(
        frames.last().unwrap().json(),
        Some(json!({"jobId": id, "status": "FAILED"}))
    );
}

#[tokio::test]
async fn silence_is_filled_with_keep_alive_comments() {
    let sim = start(|cfg| {
        cfg.tick = Duration::from_secs(60);
        cfg.keepalive = Duration::from_millis(50);
    })
    .await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = client.sse(&id, None).await;
    assert_eq!(stream.frame().await.event.as_deref(), Some("job.created"));
    for _ in 0..2 {
        let frame = stream.frame().await;
        assert_eq!(frame.raw, ": keep-alive");
        assert_eq!(frame.event, None);
    }
}

#[tokio::test]
async fn cancel_stops_the_timeline_and_ends_the_stream() {
    let sim = start(|cfg| cfg.tick = Duration::from_millis(5)).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = client.sse(&id, None).await;
    while stream.frame().await.event.as_deref() != Some("step.started") {}
    let (status, job) = client
        .post(
            &format!("/runner-jobs/{id}/cancel"),
            Some(json!({"reason": "stop"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "CANCELLED");
    let (frames, end) = stream.until_end().await;
    assert!(matches!(end, Read::End));
    let tail: Vec<Option<&str>> = frames
        .iter()
        .rev()
        .take(2)
        .map(|f| f.event.as_deref())
        .collect();
    assert_eq!(tail, [Some("stream.complete"), Some("job.cancelled")]);
    assert_eq!(
        frames.last().unwrap().json().unwrap()["status"],
        "CANCELLED"
    );

    // Another job's whole timeline is the clock: many ticks pass, and the
    // cancelled job emits nothing more.
    let count = sim.events(&id).len();
    let other = sim.create_job("acme", "web", 43, Script::tiny(), Faults::default());
    sim.wait_final(&other).await;
    let events = sim.events(&id);
    assert_eq!(events.len(), count);
    assert_eq!(events.last().unwrap()["type"], "job.cancelled");
    assert_eq!(events.last().unwrap()["payload"]["reason"], "stop");
    assert_eq!(sim.job(&id).unwrap()["status"], "CANCELLED");
}

#[tokio::test]
async fn delete_closes_open_streams_and_everything_answers_404() {
    let sim = start(|cfg| cfg.tick = Duration::from_secs(60)).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = client.sse(&id, None).await;
    assert_eq!(stream.frame().await.event.as_deref(), Some("job.created"));
    sim.delete_job(&id);
    let (frames, end) = stream.until_end().await;
    assert!(frames.is_empty(), "{frames:?}");
    assert!(matches!(end, Read::End), "{end:?}");
    for path in [
        format!("/runner-jobs/{id}"),
        format!("/runner-jobs/{id}/events"),
        format!("/runner-jobs/{id}/events/stream"),
    ] {
        let (status, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["message"], "Runner job not found");
    }
    assert_eq!(
        client
            .post(&format!("/runner-jobs/{id}/cancel"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(sim.job(&id), None);
    assert_eq!(
        ids(&sim.events(&id)),
        ["e-0001"],
        "the truth stays for comparison"
    );
    // Both stream requests were counted, the 404 one too.
    assert_eq!(sim.stream_connections(&id), 2);
}

#[tokio::test]
async fn delete_also_ends_a_running_timeline() {
    let sim = start(|cfg| cfg.tick = Duration::from_millis(2)).await;
    let id = sim.create_job("acme", "web", 42, Script::standard(), Faults::default());
    sim.delete_job(&id);
    let count = sim.events(&id).len();
    let other = sim.create_job("acme", "web", 43, Script::tiny(), Faults::default());
    let _ = tokio::time::timeout(WITHIN, sim.wait_final(&other))
        .await
        .expect("other job ends");
    assert_eq!(sim.events(&id).len(), count);
    // wait_final on a deleted job returns instead of hanging.
    let events = tokio::time::timeout(WITHIN, sim.wait_final(&id))
        .await
        .expect("returns");
    assert_eq!(events.len(), count);
}
