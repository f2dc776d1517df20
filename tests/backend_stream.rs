//! `BackendClient::follow` against the simulator, one test per failure mode of
//! backend-api.md: whatever the server does, the delivered events are exactly the
//! simulator's events (same ids, same order, none repeated, none missing), then one `End`.

mod backend_support;

use std::time::{Duration, Instant};

use backend_support::{
    assert_exactly, client, collect, config, config_for, ids, job, sim, sim_with, stream_requests,
    truth_ids,
};
use futures_util::StreamExt;
use mosaic_bot::backend::{EventId, EventKind, Followed, JobEvent, JobId, JobStatus, StreamEnd};
use mosaic_sim::{Faults, Script, SimConfig};

/// A simulator whose events come every `tick`, so a test can act while a job runs.
async fn paced_sim(tick: Duration) -> mosaic_sim::Sim {
    sim_with(SimConfig {
        tick,
        ..SimConfig::fast()
    })
    .await
}

/// A job on a simulator in failure mode 8 (live-only stream, no `id:` lines), events every
/// `tick`.
async fn live_only_job(tick: Duration) -> (mosaic_sim::Sim, JobId) {
    let sim = paced_sim(tick).await;
    let faults = Faults {
        live_only_no_ids: true,
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    (sim, id)
}

#[tokio::test]
async fn a_healthy_stream_delivers_every_event_once_and_ends_completed() {
    let sim = sim().await;
    let id = job(&sim, Script::standard(), Faults::default());
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::JobCompleted(_))
    ));
    assert_eq!(
        sim.stream_connections(id.as_str()),
        1,
        "no reconnect was needed"
    );
}

/// The job's event lists asked for (`GET …/events`, with their query), in order.
fn event_lists(sim: &mosaic_sim::Sim, job: &JobId) -> Vec<String> {
    let path = format!("/runner-jobs/{job}/events");
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.split('?').next() == Some(path.as_str()))
        .map(|r| r.path)
        .collect()
}

/// Follows a standard job with `faults` to its completion over `connections` stream
/// connections, checking every event came once; the job and its events.
async fn completed_over(
    sim: &mosaic_sim::Sim,
    faults: Faults,
    connections: usize,
) -> (JobId, Vec<JobEvent>) {
    let id = job(sim, Script::standard(), faults);
    let (events, end) = collect(client(config(sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert_eq!(sim.stream_connections(id.as_str()), connections);
    (id, events)
}

/// The list of a job's events after `after`, as the bot asks for it.
fn list_after(job: &JobId, after: &JobEvent) -> String {
    format!("/runner-jobs/{job}/events?after={}", after.id)
}

#[tokio::test]
async fn a_replaying_stream_is_not_listed_over_rest() {
    // The stream's first event carries an `id:` line: the server replays the stored events,
    // so the first connect lists none; and the one connection carried the whole job, every
    // event with its `id:`, so its `stream.complete` lists none either.
    let sim = sim().await;
    let (id, _) = completed_over(&sim, Faults::default(), 1).await;
    assert_eq!(event_lists(&sim, &id), Vec::<String>::new());
}

#[tokio::test]
async fn a_replaying_stream_with_unreadable_data_is_listed_at_its_end() {
    // Mode 6 on a replaying server: the data it could not read may have been an event, so
    // the end lists what follows the last delivered one.
    let sim = sim().await;
    let faults = Faults {
        malformed_lines: true,
        ..Faults::default()
    };
    let (id, events) = completed_over(&sim, faults, 1).await;
    let last = events.last().expect("events");
    assert_eq!(event_lists(&sim, &id), [list_after(&id, last)]);
}

#[tokio::test]
async fn a_replaying_stream_that_was_reconnected_is_listed_at_its_end() {
    // The second connection did not carry the job from its start: its reconnect lists what
    // the first one may have left out, and its `stream.complete` lists once more. (Paced, so
    // that the job still runs when the first connection ends.)
    let sim = paced_sim(Duration::from_millis(10)).await;
    let faults = Faults {
        error_event_after: Some(5),
        ..Faults::default()
    };
    let (id, events) = completed_over(&sim, faults, 2).await;
    let last = events.last().expect("events");
    assert_eq!(
        event_lists(&sim, &id),
        [list_after(&id, &events[4]), list_after(&id, last)]
    );
}

#[tokio::test]
async fn mode8_a_quiet_live_only_stream_is_backfilled_without_waiting_for_an_event() {
    // A live-only stream of a job whose next event is far off: its past is listed after a
    // short wait for the stream to show whether it replays, not after the next event.
    let (sim, id) = live_only_job(Duration::from_secs(3)).await;
    let past = sim.events(id.as_str());
    assert!(!past.is_empty(), "the job has a past");
    let started = Instant::now();
    let mut stream = client(config(&sim)).follow(id.clone(), None);
    let first = tokio::time::timeout(Duration::from_secs(2), stream.next())
        .await
        .expect("the past is delivered before the next event");
    let Some(Followed::Event(first)) = first else {
        panic!("an event first: {first:?}");
    };
    assert_eq!(
        Some(first.id.as_str()),
        past[0]["id"].as_str(),
        "oldest first"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        event_lists(&sim, &id),
        [format!("/runner-jobs/{id}/events")]
    );
}

#[tokio::test]
async fn a_failing_job_ends_with_its_failed_status() {
    let sim = sim().await;
    let id = job(&sim, Script::failing(), Faults::default());
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Failed));
    assert_exactly(&events, &sim.events(id.as_str()));
}

#[tokio::test]
async fn mode1_clean_drops_reconnect_with_last_event_id() {
    let sim = sim().await;
    let faults = Faults {
        drop_after: Some(3),
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));

    let streams = stream_requests(&sim, &id);
    assert!(
        streams.len() >= 2,
        "dropped connections were reopened: {}",
        streams.len()
    );
    assert_eq!(
        streams[0].last_event_id, None,
        "the first connect resumes nothing"
    );
    let delivered = ids(&events);
    for reconnect in &streams[1..] {
        let resumed = reconnect
            .last_event_id
            .as_ref()
            .expect("reconnects send Last-Event-ID");
        assert!(
            delivered.contains(resumed),
            "Last-Event-ID {resumed} is a delivered event"
        );
    }
}

#[tokio::test]
async fn mode1_reset_connections_are_survived() {
    let sim = sim().await;
    let faults = Faults {
        drop_after: Some(4),
        reset_on_drop: true,
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert!(sim.stream_connections(id.as_str()) >= 2);
}

#[tokio::test]
async fn mode2_replays_from_the_start_are_deduplicated() {
    let sim = sim().await;
    // The error event forces one reconnect, which this server answers from the first event.
    let faults = Faults {
        ignore_last_event_id: true,
        error_event_after: Some(5),
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert_eq!(sim.stream_connections(id.as_str()), 2);
}

#[tokio::test]
async fn mode2_with_drops_still_gets_past_the_first_events() {
    let sim = sim().await;
    // Every connection replays the same first 3 events and drops: only the backfill moves on.
    let faults = Faults {
        ignore_last_event_id: true,
        drop_after: Some(3),
        ..Faults::default()
    };
    let id = job(&sim, Script::tiny(), faults);
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
}

#[tokio::test]
async fn mode3_a_stalled_connection_is_detected_and_replaced() {
    // Paced so that the job still runs when the stall is noticed (else the job check after
    // the stall finds it final and no reconnect is needed).
    let sim = paced_sim(Duration::from_millis(20)).await;
    let faults = Faults {
        stall_after: Some(3),
        stall_connections: 1,
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    let mut config = config(&sim);
    config.stream.stall_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let (events, end) = collect(client(config).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert_eq!(
        sim.stream_connections(id.as_str()),
        2,
        "one stalled, one replacement"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the stall was waited out"
    );
}

#[tokio::test]
async fn mode4_503_on_connect_is_retried_with_backoff() {
    let sim = sim().await;
    let faults = Faults {
        unavailable_connects: 3,
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert_eq!(
        sim.stream_connections(id.as_str()),
        4,
        "three 503s, then one that streamed"
    );
}

#[tokio::test]
async fn mode4_refused_connections_mid_stream_are_survived() {
    // Paced so that the job outlives the refusal: then the stream must really come back.
    let sim = paced_sim(Duration::from_millis(20)).await;
    let id = job(&sim, Script::standard(), Faults::default());
    let mut stream = client(config(&sim)).follow(id.clone(), None);
    let Some(Followed::Event(first)) = stream.next().await else {
        panic!("expected a first event");
    };
    sim.refuse_connections_for(Duration::from_millis(300));
    let (rest, end) = collect(stream).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    let mut events = vec![first];
    events.extend(rest);
    assert_exactly(&events, &sim.events(id.as_str()));
    assert!(sim.stream_connections(id.as_str()) >= 2);
}

#[tokio::test]
async fn mode4_refused_connections_before_the_first_connect_are_retried() {
    let sim = sim().await;
    let id = job(&sim, Script::tiny(), Faults::default());
    sim.refuse_connections_for(Duration::from_millis(300));
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
}

#[tokio::test]
async fn mode5_weird_payloads_arrive_intact() {
    let sim = sim().await;
    let id = job(
        &sim,
        Script::standard(),
        Faults {
            weird_payloads: true,
            ..Faults::default()
        },
    );
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    let truth = sim.events(id.as_str());
    assert_exactly(&events, &truth);

    let unknown: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Unknown { kind, .. } => Some(kind.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        unknown.contains(&"ai.thinking") && unknown.contains(&"runner.heartbeat"),
        "{unknown:?}"
    );
    // Every step.output text is delivered byte for byte: the 100 KB one, ANSI, mentions.
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepOutput(out) => out.text.as_deref(),
            _ => None,
        })
        .collect();
    let truth_texts: Vec<&str> = truth
        .iter()
        .filter(|e| e["type"] == "step.output")
        .filter_map(|e| e["payload"]["text"].as_str())
        .collect();
    assert_eq!(texts, truth_texts);
    assert!(
        texts.iter().any(|t| t.len() == 100 * 1024),
        "the 100 KB output is whole"
    );
    assert!(
        texts.iter().any(|t| t.contains("\u{1b}[1;31m")),
        "ANSI codes are kept"
    );
    assert!(
        texts.iter().any(|t| t.contains("@everyone")),
        "mentions are not this layer's job"
    );
    let progress_without_message = events.iter().any(|e| {
        matches!(&e.kind, EventKind::StepProgress(p) if p.message.is_none() && p.percent == Some(10))
    });
    assert!(
        progress_without_message,
        "a missing optional field is tolerated"
    );
}

#[tokio::test]
async fn mode6_malformed_lines_are_skipped_on_the_same_connection() {
    let sim = sim().await;
    let id = job(
        &sim,
        Script::standard(),
        Faults {
            malformed_lines: true,
            ..Faults::default()
        },
    );
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert_eq!(
        sim.stream_connections(id.as_str()),
        1,
        "garbage does not cost a reconnect"
    );
}

#[tokio::test]
async fn an_error_event_reconnects() {
    let sim = sim().await;
    let id = job(
        &sim,
        Script::standard(),
        Faults {
            error_event_after: Some(4),
            ..Faults::default()
        },
    );
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    let streams = stream_requests(&sim, &id);
    assert_eq!(streams.len(), 2);
    assert_eq!(
        streams[1].last_event_id.as_deref(),
        Some(ids(&events)[3].as_str())
    );
}

#[tokio::test]
async fn mode7_a_deleted_job_ends_not_found() {
    let sim = paced_sim(Duration::from_millis(20)).await;
    let id = job(&sim, Script::standard(), Faults::default());
    let mut stream = client(config(&sim)).follow(id.clone(), None);
    let Some(Followed::Event(first)) = stream.next().await else {
        panic!("expected a first event");
    };
    sim.delete_job(id.as_str());
    let (rest, end) = collect(stream).await;
    assert_eq!(end, StreamEnd::NotFound);
    // Whatever was delivered is a prefix of the truth, without repeats.
    let mut delivered = vec![first.id.as_str().to_owned()];
    delivered.extend(ids(&rest));
    let truth = truth_ids(&sim.events(id.as_str()));
    assert_eq!(delivered, truth[..delivered.len()]);
    assert!(
        sim.stream_connections(id.as_str()) <= 2,
        "no retry loop after the 404"
    );
}

#[tokio::test]
async fn mode7_an_unknown_job_ends_not_found_at_once() {
    let sim = sim().await;
    let id = JobId::new("no-such-job");
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!((events.len(), end), (0, StreamEnd::NotFound));
    assert_eq!(sim.stream_connections(id.as_str()), 1);
}

#[tokio::test]
async fn mode8_live_only_streams_without_ids_are_backfilled() {
    let sim = paced_sim(Duration::from_millis(2)).await;
    // Drops make gaps: events emitted while reconnecting never come on the live stream.
    let faults = Faults {
        live_only_no_ids: true,
        drop_after: Some(4),
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
    assert!(sim.stream_connections(id.as_str()) >= 2);
}

#[tokio::test]
async fn mode8_joining_a_running_job_backfills_its_past() {
    let (sim, id) = live_only_job(Duration::from_millis(3)).await;
    // Join late: the live-only stream will not carry what came before.
    tokio::time::timeout(Duration::from_secs(5), async {
        while sim.events(id.as_str()).len() < 10 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the job progresses");
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), None)).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str()));
}

#[tokio::test]
async fn resume_delivers_only_what_follows_the_resume_point() {
    let sim = sim().await;
    let id = job(&sim, Script::standard(), Faults::default());
    let truth = sim.wait_final(id.as_str()).await;
    let resume = EventId::new(truth[9]["id"].as_str().unwrap());
    let (events, end) =
        collect(client(config(&sim)).follow(id.clone(), Some(resume.clone()))).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &truth[10..]);
    let streams = stream_requests(&sim, &id);
    assert_eq!(streams[0].last_event_id.as_deref(), Some(resume.as_str()));
}

#[tokio::test]
async fn resume_survives_a_server_that_replays_from_the_start() {
    let sim = paced_sim(Duration::from_millis(3)).await;
    let faults = Faults {
        ignore_last_event_id: true,
        ..Faults::default()
    };
    let id = job(&sim, Script::standard(), faults);
    // Resume mid-run: some events precede the resume point, more are still to come.
    tokio::time::timeout(Duration::from_secs(5), async {
        while sim.events(id.as_str()).len() < 8 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the job progresses");
    let resume = EventId::new(sim.events(id.as_str())[5]["id"].as_str().unwrap());
    let (events, end) = collect(client(config(&sim)).follow(id.clone(), Some(resume))).await;
    assert_eq!(end, StreamEnd::Completed(JobStatus::Completed));
    assert_exactly(&events, &sim.events(id.as_str())[6..]);
}

#[tokio::test]
async fn a_wrong_token_ends_unauthorized_promptly() {
    let sim = sim().await;
    let id = job(&sim, Script::standard(), Faults::default());
    let started = Instant::now();
    let bad = client(config_for(&sim.base_url(), "wrong", sim.workspace()));
    let (events, end) = collect(bad.follow(id.clone(), None)).await;
    assert_eq!((events.len(), end), (0, StreamEnd::Unauthorized));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        sim.stream_connections(id.as_str()),
        1,
        "no retry loop on 401"
    );

    let other_workspace = client(config_for(&sim.base_url(), sim.token(), "not-mine"));
    let (_, end) = collect(other_workspace.follow(id, None)).await;
    assert_eq!(end, StreamEnd::Unauthorized, "403 ends the same way");
}

#[tokio::test]
async fn consecutive_failed_connects_give_up_when_configured() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config_for(&format!("http://127.0.0.1:{port}"), "tok", "ws");
    config.stream.give_up_after = Some(3);
    let (events, end) = collect(client(config).follow(JobId::new("j"), None)).await;
    assert!(events.is_empty());
    let StreamEnd::GaveUp {
        attempts,
        last_error,
    } = end
    else {
        panic!("expected GaveUp, got {end:?}");
    };
    assert_eq!(attempts, 3);
    assert!(
        last_error.to_lowercase().contains("refused"),
        "{last_error}"
    );
}

#[tokio::test]
async fn many_jobs_followed_at_once_are_each_delivered_exactly() {
    let sim = sim().await;
    let backend = client(config(&sim));
    let faults = [
        Faults::default(),
        Faults {
            drop_after: Some(5),
            ..Faults::default()
        },
        Faults {
            live_only_no_ids: true,
            error_event_after: Some(2),
            ..Faults::default()
        },
        Faults {
            malformed_lines: true,
            ignore_last_event_id: true,
            ..Faults::default()
        },
    ];
    let jobs: Vec<JobId> = faults
        .into_iter()
        .map(|f| job(&sim, Script::standard(), f))
        .collect();
    let runs = jobs
        .iter()
        .map(|id| collect(backend.follow(id.clone(), None)));
    let results = futures_util::future::join_all(runs).await;
    for (id, (events, end)) in jobs.iter().zip(results) {
        assert_eq!(end, StreamEnd::Completed(JobStatus::Completed), "job {id}");
        assert_exactly(&events, &sim.events(id.as_str()));
    }
}
