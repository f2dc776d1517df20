//! The REST calls of `BackendClient` through real sockets: against the simulator for the
//! contract, against a canned server for retries, `Retry-After` and timeouts.

mod backend_support;

use std::time::{Duration, Instant};

use backend_support::canned::{Answer, Canned, job_json, nest_error};
use backend_support::{client, config, config_for, job, sim};
use mosaic_bot::backend::{
    BackendError, CreateJob, EventId, IssueRef, JobId, JobOrigin, JobStatus, RetryPolicy,
};
use mosaic_sim::{Faults, Script, SimConfig};

fn issue(number: u64) -> IssueRef {
    IssueRef {
        owner: "acme".into(),
        repo: "web".into(),
        number,
        url: Some(format!("https://github.com/acme/web/issues/{number}")),
    }
}

fn origin() -> JobOrigin {
    JobOrigin {
        platform: "discord".into(),
        channel_id: "c-1".into(),
        thread_id: Some("t-1".into()),
        user_id: "u-1".into(),
        user_name: "ada".into(),
        message_url: Some("https://discord.com/channels/1/2/3".into()),
    }
}

#[tokio::test]
async fn create_job_sends_the_contract_body_and_headers() {
    let sim = sim().await;
    let backend = client(config(&sim));
    let job = backend
        .create_job(&CreateJob::fix(issue(42), origin()))
        .await
        .expect("job created");
    assert_eq!(job.issue.as_ref().map(|i| i.number), Some(42));
    assert_eq!(job.kind.as_deref(), Some("fix"));
    assert!(
        !job.status.is_final(),
        "a new job is not final: {:?}",
        job.status
    );

    let posts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "exactly one POST: {posts:?}");
    assert_eq!(posts[0].path, "/runner-jobs");
    assert_eq!(posts[0].workspace.as_deref(), Some(sim.workspace()));
    let body = posts[0].body.clone().expect("a JSON body");
    assert_eq!(body["type"], "fix");
    assert_eq!(body["issue"]["owner"], "acme");
    assert_eq!(body["origin"]["threadId"], "t-1");
    assert_eq!(body["origin"]["userName"], "ada");
}

#[tokio::test]
async fn job_and_jobs_for_issue_read_what_the_backend_has() {
    let sim = sim().await;
    let backend = client(config(&sim));
    let first = backend
        .create_job(&CreateJob::fix(issue(7), origin()))
        .await
        .unwrap();
    let second = backend
        .create_job(&CreateJob::fix(issue(7), origin()))
        .await
        .unwrap();
    backend
        .create_job(&CreateJob::fix(issue(8), origin()))
        .await
        .unwrap();

    let fetched = backend.job(&first.id).await.unwrap();
    assert_eq!(fetched.id, first.id);

    let list = backend.jobs_for_issue("acme", "web", 7, 10).await.unwrap();
    let ids: Vec<&JobId> = list.data.iter().map(|j| &j.id).collect();
    assert_eq!(ids, [&second.id, &first.id], "newest first, issue 7 only");
    assert_eq!(list.total, 2);
    let page = backend.jobs_for_issue("acme", "web", 7, 1).await.unwrap();
    assert_eq!((page.data.len(), page.total), (1, 2));
}

/// A simulator whose jobs take seconds, so that a job is still running when a test acts on it.
async fn slow_sim() -> mosaic_sim::Sim {
    backend_support::sim_with(SimConfig {
        tick: Duration::from_millis(100),
        ..SimConfig::fast()
    })
    .await
}

#[tokio::test]
async fn cancel_then_cancel_again_is_a_conflict() {
    let sim = slow_sim().await;
    let backend = client(config(&sim));
    let created = backend
        .create_job(&CreateJob::fix(issue(9), origin()))
        .await
        .unwrap();
    let cancelled = backend
        .cancel(&created.id, Some("changed my mind"))
        .await
        .unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let again = backend.cancel(&created.id, None).await;
    assert!(
        matches!(again, Err(BackendError::Conflict { ref message }) if message.contains("CANCELLED")),
        "{again:?}"
    );
    let cancels: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/cancel"))
        .collect();
    assert_eq!(cancels.len(), 2, "a 409 is not retried");
    assert_eq!(
        cancels[0].body.as_ref().map(|b| b["reason"].clone()),
        Some("changed my mind".into())
    );
}

#[tokio::test]
async fn retry_conflicts_while_running_and_creates_a_new_job_once_cancelled() {
    let sim = slow_sim().await;
    let backend = client(config(&sim));
    let running = backend
        .create_job(&CreateJob::fix(issue(11), origin()))
        .await
        .unwrap();
    let error = backend.retry(&running.id).await.unwrap_err();
    assert!(
        matches!(error, BackendError::Conflict { ref message } if message.contains("retried")),
        "{error:?}"
    );

    backend.cancel(&running.id, None).await.unwrap();
    let retried = backend
        .retry(&running.id)
        .await
        .expect("a cancelled job can be retried");
    assert_eq!(retried.retry_of.as_ref(), Some(&running.id));
    assert_ne!(retried.id, running.id);
    assert_eq!(retried.issue.as_ref().map(|i| i.number), Some(11));
    let retries = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/retry"))
        .count();
    assert_eq!(retries, 2, "one request per call, the 409 not retried");
}

#[tokio::test]
async fn a_failed_job_can_be_retried() {
    let sim = sim().await;
    let backend = client(config(&sim));
    sim.script_issue("acme", "web", 12, Script::failing(), Faults::default());
    let failing = backend
        .create_job(&CreateJob::fix(issue(12), origin()))
        .await
        .unwrap();
    sim.wait_final(failing.id.as_str()).await;
    let failed = backend.job(&failing.id).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.error.is_some(), "a failed job says why");
    let retried = backend.retry(&failing.id).await.unwrap();
    assert_eq!(retried.retry_of.as_ref(), Some(&failing.id));
}

#[tokio::test]
async fn events_after_lists_all_or_the_tail() {
    let sim = sim().await;
    let backend = client(config(&sim));
    let id = job(&sim, Script::tiny(), Faults::default());
    let truth = sim.wait_final(id.as_str()).await;

    let all = backend.events_after(&id, None).await.unwrap();
    backend_support::assert_exactly(&all, &truth);
    let third = EventId::new(truth[2]["id"].as_str().unwrap());
    let tail = backend.events_after(&id, Some(&third)).await.unwrap();
    backend_support::assert_exactly(&tail, &truth[3..]);
}

#[tokio::test]
async fn wrong_token_wrong_workspace_and_unknown_job_map_to_their_errors() {
    let sim = sim().await;
    let id = job(&sim, Script::tiny(), Faults::default());

    let bad_token = client(config_for(
        &sim.base_url(),
        "not-the-token",
        sim.workspace(),
    ));
    let error = bad_token.job(&id).await.unwrap_err();
    assert!(
        matches!(error, BackendError::Unauthorized { .. }),
        "{error:?}"
    );

    let bad_workspace = client(config_for(&sim.base_url(), sim.token(), "someone-else"));
    let error = bad_workspace.job(&id).await.unwrap_err();
    assert!(matches!(error, BackendError::Forbidden { .. }), "{error:?}");

    let backend = client(config(&sim));
    let error = backend.job(&JobId::new("no-such-job")).await.unwrap_err();
    assert!(
        matches!(error, BackendError::NotFound { ref message } if message.contains("not found")),
        "{error:?}"
    );
    let auth_calls = sim.requests().len();
    assert_eq!(auth_calls, 3, "401, 403 and 404 are not retried");
}

#[tokio::test]
async fn validation_errors_keep_every_message() {
    let sim = sim().await;
    let backend = client(config(&sim));
    let invalid = IssueRef {
        number: 0,
        url: None,
        ..issue(1)
    };
    let error = backend
        .create_job(&CreateJob::fix(invalid, origin()))
        .await
        .unwrap_err();
    let BackendError::Invalid { messages } = error else {
        panic!("expected Invalid, got {error:?}");
    };
    assert!(
        messages.contains(&"issue.number must be a positive integer".to_owned()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"issue.url must be a URL address".to_owned()),
        "{messages:?}"
    );
}

#[tokio::test]
async fn a_503_then_success_is_retried_for_reads_and_writes() {
    let unavailable = Answer::Json(
        503,
        vec!["Retry-After: 0"],
        nest_error(503, "down", "Service Unavailable"),
    );
    let ok = Answer::Json(201, vec![], job_json("j-1", "PENDING"));
    let canned = Canned::start(vec![unavailable.clone(), ok.clone(), unavailable, ok]).await;
    let backend = client(config_for(&canned.base_url, "tok", "ws"));

    let created = backend
        .create_job(&CreateJob::fix(issue(1), origin()))
        .await
        .unwrap();
    assert_eq!(created.id, JobId::new("j-1"));
    let fetched = backend.job(&created.id).await.unwrap();
    assert_eq!(fetched.status, JobStatus::Pending);

    let seen = canned.seen();
    assert_eq!(seen.len(), 4, "one retry per call");
    assert_eq!(seen[0].request_line(), "POST /runner-jobs HTTP/1.1");
    assert_eq!(seen[1].request_line(), "POST /runner-jobs HTTP/1.1");
    assert_eq!(seen[3].request_line(), "GET /runner-jobs/j-1 HTTP/1.1");
    assert_eq!(
        seen[0].header("authorization").as_deref(),
        Some("Bearer tok")
    );
    assert_eq!(seen[0].header("x-workspace-id").as_deref(), Some("ws"));
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let limited = Answer::Json(
        429,
        vec!["Retry-After: 1"],
        nest_error(429, "slow down", "Too Many Requests"),
    );
    let canned = Canned::start(vec![
        limited,
        Answer::Json(200, vec![], job_json("j-2", "running")),
    ])
    .await;
    let backend = client(config_for(&canned.base_url, "tok", "ws"));
    let started = Instant::now();
    let job = backend.job(&JobId::new("j-2")).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(job.status, JobStatus::Running);
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After honoured, waited {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "and not much longer, waited {waited:?}"
    );
    assert_eq!(canned.seen().len(), 2);
}

#[tokio::test]
async fn a_500_is_retried_for_reads_only_and_reported_with_its_message() {
    let broken = Answer::Json(
        500,
        vec![],
        nest_error(500, "database exploded", "Internal Server Error"),
    );
    let canned = Canned::start(vec![broken]).await;
    let backend = client(config_for(&canned.base_url, "tok", "ws"));

    let error = backend.job(&JobId::new("j")).await.unwrap_err();
    assert_eq!(
        error,
        BackendError::Unavailable {
            status: 500,
            message: "database exploded".into()
        }
    );
    assert_eq!(canned.seen().len(), 3, "a read is tried max_attempts times");

    let error = backend
        .create_job(&CreateJob::fix(issue(1), origin()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, BackendError::Unavailable { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(
        canned.seen().len(),
        4,
        "a write that may have created a job is not replayed"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_a_write_is_not_replayed() {
    let canned = Canned::start(vec![Answer::Hang]).await;
    let mut config = config_for(&canned.base_url, "tok", "ws");
    config.request_timeout = Duration::from_millis(200);
    let backend = client(config);

    let started = Instant::now();
    let error = backend
        .create_job(&CreateJob::fix(issue(1), origin()))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        BackendError::Timeout {
            after: Duration::from_millis(200)
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(canned.seen().len(), 1, "a timed-out write is not replayed");

    let error = backend.job(&JobId::new("j")).await.unwrap_err();
    assert!(matches!(error, BackendError::Timeout { .. }), "{error:?}");
    assert_eq!(canned.seen().len(), 4, "a timed-out read is retried");
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_after_retries() {
    // A port that was just free: connecting to it is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config_for(&format!("http://127.0.0.1:{port}"), "tok", "ws");
    config.retry = RetryPolicy {
        max_attempts: 2,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    let backend = client(config);
    let error = backend
        .create_job(&CreateJob::fix(issue(1), origin()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, BackendError::Transport { ref message } if message.to_lowercase().contains("refused")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_success_body_that_is_not_a_job_is_a_decode_error() {
    let canned = Canned::start(vec![Answer::Json(200, vec![], "[1, 2]".into())]).await;
    let backend = client(config_for(&canned.base_url, "tok", "ws"));
    let error = backend.job(&JobId::new("j")).await.unwrap_err();
    assert!(matches!(error, BackendError::Decode { .. }), "{error:?}");
    assert_eq!(canned.seen().len(), 1, "a decode error is not retried");
}

#[tokio::test]
async fn concurrent_requests_are_bounded() {
    let pause = Duration::from_millis(100);
    let canned = Canned::start(vec![Answer::Slow(pause, 200, job_json("j", "QUEUED"))]).await;
    let mut config = config_for(&canned.base_url, "tok", "ws");
    config.max_concurrent_requests = 2;
    let backend = client(config);
    let id = JobId::new("j");
    let started = Instant::now();
    let calls = (0..6).map(|_| backend.job(&id));
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.unwrap().status, JobStatus::Queued);
    }
    assert_eq!(canned.seen().len(), 6);
    assert_eq!(canned.peak_load(), 2, "never more than two at once");
    assert!(
        started.elapsed() >= pause * 3,
        "six calls, two at a time: {:?}",
        started.elapsed()
    );
}
