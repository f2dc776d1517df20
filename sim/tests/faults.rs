//! Each failure mode of backend-api.md, observed on the wire.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Read, WITHIN, ids, job_events, start};
use mosaic_sim::{Faults, Script, Sim};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A standard job with `faults`, created through REST so the bot's path is
/// the one exercised.
async fn job_with(sim: &Sim, faults: Faults) -> String {
    sim.script_issue("acme", "web", 42, Script::standard(), faults);
    Client::new(sim).create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn mode_1_every_connection_ends_cleanly_after_k_events() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            drop_after: Some(3),
            ..Faults::default()
        },
    )
    .await;
    let client = Client::new(&sim);
    let (mut delivered, mut last, mut connections) = (Vec::new(), None::<String>, 0);
    loop {
        connections += 1;
        let (frames, end) = client.sse(&id, last.as_deref()).await.until_end().await;
        assert!(matches!(end, Read::End), "{end:?}");
        let events = job_events(&frames);
        if frames.last().and_then(|f| f.event.as_deref()) == Some("stream.complete") {
            assert!(events.len() <= 3);
            delivered.extend(events);
            break;
        }
        assert_eq!(
            events.len(),
            3,
            "a dropped connection carried exactly K events"
        );
        last = events
            .last()
            .and_then(|e| e["id"].as_str())
            .map(str::to_owned);
        delivered.extend(events);
        assert!(connections < 100, "never completes");
    }
    assert_eq!(delivered, sim.events(&id), "each event once, in order");
    assert_eq!(
        connections,
        delivered.len().div_ceil(3) + usize::from(delivered.len() % 3 == 0)
    );
    assert_eq!(sim.stream_connections(&id), connections);
}

#[tokio::test]
async fn mode_1_reset_cuts_the_body_after_k_events() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            drop_after: Some(2),
            reset_on_drop: true,
            ..Faults::default()
        },
    )
    .await;
    let mut stream = Client::new(&sim).sse(&id, None).await;
    let (frames, end) = stream.until_end().await;
    assert!(
        matches!(end, Read::Cut(_)),
        "a reset, not a clean end: {end:?}"
    );
    assert_eq!(ids(&job_events(&frames)), ["e-0001", "e-0002"]);
}

#[tokio::test]
async fn mode_1_reset_is_a_tcp_reset() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            drop_after: Some(2),
            reset_on_drop: true,
            ..Faults::default()
        },
    )
    .await;
    sim.wait_final(&id).await;
    let mut socket = TcpStream::connect(sim.addr()).await.unwrap();
    let request = format!(
        "GET /runner-jobs/{id}/events/stream HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer {}\r\nX-Workspace-Id: {}\r\n\r\n",
        sim.token(),
        sim.workspace()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let error = tokio::time::timeout(WITHIN, async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) => return None,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(error) => return Some(error.kind()),
            }
        }
    })
    .await
    .expect("the connection ends");
    assert_eq!(error, Some(std::io::ErrorKind::ConnectionReset));
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(!text.contains("stream.complete"));
}

#[tokio::test]
async fn mode_2_last_event_id_is_ignored_and_everything_replays() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            ignore_last_event_id: true,
            ..Faults::default()
        },
    )
    .await;
    let truth = sim.wait_final(&id).await;
    let (frames, _) = Client::new(&sim)
        .sse(&id, Some("e-0005"))
        .await
        .until_end()
        .await;
    assert_eq!(job_events(&frames), truth);
    assert_eq!(frames[0].id.as_deref(), Some("e-0001"));
}

#[tokio::test]
async fn mode_3_the_first_connection_stalls_silently_and_stays_open() {
    let sim = start(|cfg| cfg.keepalive = Duration::from_millis(40)).await;
    let faults = Faults {
        stall_after: Some(3),
        stall_connections: 1,
        ..Faults::default()
    };
    let id = job_with(&sim, faults).await;
    let client = Client::new(&sim);
    let mut stalled = client.sse(&id, None).await;
    for expected in ["e-0001", "e-0002", "e-0003"] {
        assert_eq!(stalled.frame().await.id.as_deref(), Some(expected));
    }
    // Ten keep-alive periods: a keep-alive, an event or a close would show.
    let silence = stalled.next(Duration::from_millis(400)).await;
    assert!(matches!(silence, Read::Silent), "{silence:?}");

    let (frames, end) = client.sse(&id, Some("e-0003")).await.until_end().await;
    assert!(matches!(end, Read::End));
    assert_eq!(job_events(&frames), sim.events(&id)[3..].to_vec());
    // The stalled connection is still open and still says nothing.
    assert!(matches!(
        stalled.next(Duration::from_millis(100)).await,
        Read::Silent
    ));
}

#[tokio::test]
async fn mode_4_the_first_connects_answer_503_with_retry_after() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            unavailable_connects: 2,
            ..Faults::default()
        },
    )
    .await;
    let client = Client::new(&sim);
    for _ in 0..2 {
        let response = client.stream(&id, None).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("0")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["statusCode"], 503);
    }
    let (frames, _) = client.sse(&id, None).await.until_end().await;
    assert_eq!(job_events(&frames), sim.events(&id));
    assert_eq!(sim.stream_connections(&id), 3);
}

#[tokio::test]
async fn mode_4_refused_connections_then_the_same_port_again() {
    let sim = start(|cfg| cfg.tick = Duration::from_secs(60)).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut open = client.sse(&id, None).await;
    assert_eq!(open.frame().await.id.as_deref(), Some("e-0001"));

    let refused_at = Instant::now();
    sim.refuse_connections_for(Duration::from_millis(300));
    let error = TcpStream::connect(sim.addr()).await.expect_err("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(
        matches!(open.next(WITHIN).await, Read::Cut(_)),
        "open streams die with the server"
    );

    tokio::time::timeout(WITHIN, async {
        while TcpStream::connect(sim.addr()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("listening again");
    assert!(refused_at.elapsed() >= Duration::from_millis(300));
    let (status, job) = client.get(&format!("/runner-jobs/{id}")).await;
    assert_eq!(status, StatusCode::OK, "the job survived: {job}");
    let mut again = client.sse(&id, Some("e-0001")).await;
    assert!(matches!(
        again.next(Duration::from_millis(100)).await,
        Read::Silent
    ));
}

#[tokio::test]
async fn mode_5_weird_payloads_reach_the_wire_intact() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            weird_payloads: true,
            ..Faults::default()
        },
    )
    .await;
    let truth = sim.wait_final(&id).await;
    let (frames, _) = Client::new(&sim).sse(&id, None).await.until_end().await;
    let events = job_events(&frames);
    assert_eq!(events, truth);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"ai.thinking") && kinds.contains(&"runner.heartbeat"),
        "{kinds:?}"
    );
    assert!(
        events.iter().any(|e| e.get("actor").is_none()),
        "an event without actor"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "step.progress" && e["payload"].get("message").is_none())
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "ai.artifact_created" && e["payload"].get("url").is_none())
    );
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| e["payload"]["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.len() >= 100 * 1024),
        "a 100 KB output"
    );
    assert!(
        texts.iter().any(|t| t.contains("\u{1b}[1;31m")),
        "ANSI codes"
    );
    let mentions = texts
        .iter()
        .find(|t| t.contains("@everyone"))
        .expect("a mention");
    for mention in ["@here", "<!channel>", "<@123>"] {
        assert!(mentions.contains(mention), "{mention}");
    }
    let huge = frames.iter().find(|f| f.raw.len() > 100 * 1024).unwrap();
    assert_eq!(
        huge.raw.lines().count(),
        3,
        "the huge event is still one data line"
    );
    assert_eq!(
        events.last().unwrap()["type"],
        "job.completed",
        "the job still completes"
    );
}

#[tokio::test]
async fn mode_6_malformed_lines_are_interleaved_with_intact_events() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            malformed_lines: true,
            ..Faults::default()
        },
    )
    .await;
    let truth = sim.wait_final(&id).await;
    let mut stream = Client::new(&sim).sse(&id, None).await;
    let (frames, end) = stream.until_end().await;
    assert!(matches!(end, Read::End));
    for garbage in [
        "\n\ngarbage without colon\n\n",
        "\n\ndata: {not json\n\n",
        "event: step.output\ndata: this is not json at all\n\n",
    ] {
        assert!(stream.raw.contains(garbage), "{garbage:?}");
    }
    assert!(
        stream.raw.matches("garbage without colon").count() > 5,
        "garbage recurs"
    );
    assert_eq!(
        job_events(&frames),
        truth,
        "every event intact, once, in order"
    );
    assert_eq!(
        frames.last().unwrap().event.as_deref(),
        Some("stream.complete")
    );
}

#[tokio::test]
async fn an_error_event_ends_the_first_connection_only() {
    let sim = start(|_| {}).await;
    let id = job_with(
        &sim,
        Faults {
            error_event_after: Some(2),
            ..Faults::default()
        },
    )
    .await;
    let client = Client::new(&sim);
    let (frames, end) = client.sse(&id, None).await.until_end().await;
    assert!(matches!(end, Read::End));
    assert_eq!(ids(&job_events(&frames)), ["e-0001", "e-0002"]);
    let error = frames.last().unwrap();
    assert_eq!(error.event.as_deref(), Some("error"));
    assert!(error.json().unwrap()["message"].is_string());

    let (frames, _) = client.sse(&id, Some("e-0002")).await.until_end().await;
    assert!(frames.iter().all(|f| f.event.as_deref() != Some("error")));
    assert_eq!(job_events(&frames), sim.events(&id)[2..].to_vec());
}

#[tokio::test]
async fn mode_8_no_ids_only_newer_events_and_a_gap_to_backfill() {
    let sim = start(|cfg| cfg.tick = Duration::from_millis(5)).await;
    let faults = Faults {
        live_only_no_ids: true,
        drop_after: Some(2),
        ..Faults::default()
    };
    let id = job_with(&sim, faults).await;
    let client = Client::new(&sim);
    let (frames, _) = client.sse(&id, None).await.until_end().await;
    assert!(
        frames
            .iter()
            .all(|f| f.id.is_none() && !f.raw.contains("\nid:")),
        "no id lines"
    );
    let first = job_events(&frames);
    assert_eq!(first.len(), 2);
    assert_ne!(
        first[0]["id"], "e-0001",
        "job.created predates the connection"
    );
    let last = first[1]["id"].as_str().unwrap().to_owned();

    let truth = sim.wait_final(&id).await;
    let (frames, _) = client.sse(&id, Some(&last)).await.until_end().await;
    assert_eq!(
        frames.len(),
        1,
        "Last-Event-ID ignored; only stream.complete: {frames:?}"
    );
    assert_eq!(frames[0].event.as_deref(), Some("stream.complete"));

    let (_, backfill) = client
        .get(&format!("/runner-jobs/{id}/events?after={last}"))
        .await;
    let position = truth.iter().position(|e| e["id"] == last.as_str()).unwrap();
    assert_eq!(backfill.as_array().unwrap(), &truth[position + 1..]);
    assert!(backfill.as_array().unwrap().len() > 10, "a real gap");
}
