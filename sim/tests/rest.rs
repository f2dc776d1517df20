//! The REST endpoints of backend-api.md over a real socket: shapes, status
//! codes and NestJS error bodies.

mod common;

use common::{Client, fix_body, start};
use mosaic_sim::{Faults, Script};
use reqwest::StatusCode;
use serde_json::{Value, json};

const OTHER_WORKSPACE: &str = "00000000-0000-4000-8000-0000000000bb";

fn is_iso_millis(value: &Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let bytes = text.as_bytes();
    // 2026-11-20T10:00:02.000Z
    text.len() == 24
        && text.ends_with('Z')
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[19] == b'.'
        && text[20..23].bytes().all(|b| b.is_ascii_digit())
}

#[tokio::test]
async fn create_answers_201_with_a_pending_runner_job() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let (status, job) = client
        .post("/runner-jobs", Some(fix_body("acme", "web", 42)))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(job["id"], "00000000-0000-4000-8000-000000000001");
    assert_eq!(job["type"], "fix");
    assert_eq!(job["status"], "PENDING");
    assert_eq!(job["progressPercent"], 0);
    assert_eq!(
        job["issue"],
        json!({"owner": "acme", "repo": "web", "number": 42, "url": "https://github.com/acme/web/issues/42"})
    );
    assert_eq!(job["origin"]["userName"], "alice");
    for absent in ["result", "error", "retryOf", "startedAt", "completedAt"] {
        assert_eq!(job[absent], Value::Null, "{absent}");
    }
    assert!(is_iso_millis(&job["createdAt"]), "{}", job["createdAt"]);
    let (_, second) = client
        .post("/runner-jobs", Some(fix_body("acme", "web", 43)))
        .await;
    assert_eq!(second["id"], "00000000-0000-4000-8000-000000000002");
}

#[tokio::test]
async fn get_follows_the_job_to_completed_with_result_and_times() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.wait_final(&id).await;
    let (status, job) = client.get(&format!("/runner-jobs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job["progressPercent"], 100);
    assert_eq!(
        job["result"]["prUrl"],
        "https://github.com/acme/web/pull/57"
    );
    assert!(
        job["result"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("#42"))
    );
    assert_eq!(job["error"], Value::Null);
    for time in ["createdAt", "startedAt", "completedAt"] {
        assert!(is_iso_millis(&job[time]), "{time}: {}", job[time]);
    }
    assert!(job["startedAt"].as_str() <= job["completedAt"].as_str());
    assert_eq!(Some(job), sim.job(&id));
}

#[tokio::test]
async fn a_failing_job_ends_failed_with_its_error() {
    let sim = start(|cfg| cfg.default_script = Script::failing()).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.wait_final(&id).await;
    let (_, job) = client.get(&format!("/runner-jobs/{id}")).await;
    assert_eq!(job["status"], "FAILED");
    assert!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.contains("Run tests failed"))
    );
    assert_eq!(job["result"], Value::Null);
    assert!(is_iso_millis(&job["completedAt"]));
}

#[tokio::test]
async fn list_filters_by_issue_newest_first_with_total_and_limit() {
    let sim = start(|cfg| cfg.default_script = Script::tiny()).await;
    let client = Client::new(&sim);
    let mut ids = Vec::new();
    for number in [42, 43, 42, 42] {
        ids.push(
            client.create("acme", "web", number).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    client.create("acme", "api", 42).await;
    let (status, page) = client
        .get("/runner-jobs?owner=acme&repo=web&issue=42")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 3);
    let listed: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[3].as_str(), ids[2].as_str(), ids[0].as_str()]);

    let (_, limited) = client
        .get("/runner-jobs?owner=acme&repo=web&issue=42&limit=2")
        .await;
    assert_eq!(limited["total"], 3);
    assert_eq!(limited["data"].as_array().map(Vec::len), Some(2));

    let (_, everything) = client.get("/runner-jobs").await;
    assert_eq!(everything["total"], 5);
}

#[tokio::test]
async fn cancel_answers_the_cancelled_job_then_409_once_final() {
    let sim = start(|cfg| cfg.tick = std::time::Duration::from_secs(60)).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/runner-jobs/{id}/cancel");
    let (status, job) = client
        .post(&path, Some(json!({"reason": "not needed"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "CANCELLED");
    assert!(is_iso_millis(&job["completedAt"]));
    let last = sim.events(&id).pop().unwrap();
    assert_eq!(last["type"], "job.cancelled");
    assert_eq!(last["payload"], json!({"reason": "not needed"}));

    let (status, body) = client.post(&path, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"statusCode": 409, "message": "Runner job is already CANCELLED", "error": "Conflict"})
    );
}

#[tokio::test]
async fn retry_is_409_until_cancelled_then_201_with_retry_of() {
    // A 60 s tick keeps the job from moving: it is certainly not final.
    let sim = start(|cfg| cfg.tick = std::time::Duration::from_secs(60)).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 1).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = client.post(&format!("/runner-jobs/{id}/retry"), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "Conflict");
    assert_eq!(client.get("/runner-jobs").await.1["total"], 1);

    client
        .post(&format!("/runner-jobs/{id}/cancel"), None)
        .await;
    let (status, retried) = client.post(&format!("/runner-jobs/{id}/retry"), None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(retried["retryOf"], id.as_str());
    assert_ne!(retried["id"], id.as_str());
    assert_eq!(retried["status"], "PENDING");
    assert_eq!(retried["issue"]["number"], 1);
    assert_eq!(retried["origin"]["userName"], "alice");
}

#[tokio::test]
async fn retry_is_201_after_failure_and_409_after_completion() {
    let sim = start(|cfg| cfg.default_script = Script::failing()).await;
    let client = Client::new(&sim);
    let failed = client.create("acme", "web", 2).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.wait_final(&failed).await;
    let (status, retried) = client
        .post(&format!("/runner-jobs/{failed}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(retried["retryOf"], failed.as_str());

    let completed = sim.create_job("acme", "web", 4, Script::tiny(), Faults::default());
    sim.wait_final(&completed).await;
    let (status, body) = client
        .post(&format!("/runner-jobs/{completed}/retry"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["message"],
        "Runner job cannot be retried while COMPLETED"
    );
}

#[tokio::test]
async fn events_are_oldest_first_and_after_skips_up_to_the_id() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let truth = sim.wait_final(&id).await;
    let (status, all) = client.get(&format!("/runner-jobs/{id}/events")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all, Value::Array(truth.clone()));
    assert_eq!(all[0]["id"], "e-0001");
    assert_eq!(all[0]["type"], "job.created");
    assert_eq!(all[0]["jobId"], id.as_str());
    assert_eq!(all[0]["actor"], "system");
    let (_, after) = client
        .get(&format!("/runner-jobs/{id}/events?after=e-0003"))
        .await;
    assert_eq!(after, Value::Array(truth[3..].to_vec()));
    let (_, none) = client
        .get(&format!(
            "/runner-jobs/{id}/events?after={}",
            truth.last().unwrap()["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(none, json!([]));
    let (status, body) = client
        .get(&format!("/runner-jobs/{id}/events?after=seven"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].is_array());
}

#[tokio::test]
async fn bad_or_missing_token_is_401_on_every_endpoint() {
    let sim = start(|_| {}).await;
    let id = Client::new(&sim).create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for client in [
        Client::with(&sim, None, Some(sim.workspace())),
        Client::with(&sim, Some("wrong"), Some(sim.workspace())),
    ] {
        for (post, path) in [
            (true, "/runner-jobs".to_owned()),
            (false, "/runner-jobs".to_owned()),
            (false, format!("/runner-jobs/{id}")),
            (true, format!("/runner-jobs/{id}/cancel")),
            (true, format!("/runner-jobs/{id}/retry")),
            (false, format!("/runner-jobs/{id}/events")),
            (false, format!("/runner-jobs/{id}/events/stream")),
        ] {
            let (status, body) = if post {
                client.post(&path, Some(fix_body("acme", "web", 1))).await
            } else {
                client.get(&path).await
            };
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(body["statusCode"], 401);
            assert_eq!(body["error"], "Unauthorized");
            assert!(body["message"].is_string());
        }
    }
    // Nothing was created or cancelled by the refused calls.
    assert_eq!(
        sim.job(&id).unwrap()["status"]
            .as_str()
            .map(|s| s != "CANCELLED"),
        Some(true)
    );
    assert_eq!(Client::new(&sim).get("/runner-jobs").await.1["total"], 1);
}

#[tokio::test]
async fn missing_or_unknown_workspace_is_403() {
    let sim = start(|_| {}).await;
    for client in [
        Client::with(&sim, Some(sim.token()), None),
        Client::with(&sim, Some(sim.token()), Some("nope")),
    ] {
        let (status, body) = client.get("/runner-jobs").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["statusCode"], 403);
        assert_eq!(body["error"], "Forbidden");
    }
}

#[tokio::test]
async fn a_workspace_with_its_own_token_accepts_only_that_token() {
    let sim = start(|cfg| {
        *cfg = cfg
            .clone()
            .with_workspace_token(OTHER_WORKSPACE, "other-token");
    })
    .await;
    let own = Client::with(&sim, Some("other-token"), Some(OTHER_WORKSPACE));
    assert_eq!(own.get("/runner-jobs").await.0, StatusCode::OK);
    // A real token, but of another workspace: the WorkspaceGuard's 403.
    for client in [
        Client::with(&sim, Some(sim.token()), Some(OTHER_WORKSPACE)),
        Client::with(&sim, Some("other-token"), Some(sim.workspace())),
    ] {
        let (status, body) = client.get("/runner-jobs").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["message"], "You are not a member of this workspace");
    }
    // The job's workspace is what the sim records for each request.
    let id = own.create("acme", "web", 7).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = sim.requests().into_iter().find(|r| {
        r.method == "POST"
            && r.path == "/runner-jobs"
            && r.workspace.as_deref() == Some(OTHER_WORKSPACE)
    });
    assert!(
        posted.is_some(),
        "the create was recorded with its workspace"
    );
    assert_eq!(
        own.get(&format!("/runner-jobs/{id}")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn jobs_are_visible_only_in_their_workspace() {
    let sim = start(|cfg| cfg.workspaces.push(OTHER_WORKSPACE.to_owned())).await;
    let mine = Client::new(&sim);
    let theirs = Client::with(&sim, Some(sim.token()), Some(OTHER_WORKSPACE));
    let id = theirs.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        theirs.get(&format!("/runner-jobs/{id}")).await.0,
        StatusCode::OK
    );
    for path in [
        format!("/runner-jobs/{id}"),
        format!("/runner-jobs/{id}/events"),
        format!("/runner-jobs/{id}/events/stream"),
    ] {
        let (status, body) = mine.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            body,
            json!({"statusCode": 404, "message": "Runner job not found", "error": "Not Found"})
        );
    }
    assert_eq!(
        mine.post(&format!("/runner-jobs/{id}/cancel"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        mine.get("/runner-jobs").await.1,
        json!({"data": [], "total": 0})
    );
    assert_eq!(theirs.get("/runner-jobs").await.1["total"], 1);
}

#[tokio::test]
async fn unknown_jobs_and_routes_are_404() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let ghost = "00000000-0000-4000-8000-000000000999";
    for path in [
        format!("/runner-jobs/{ghost}"),
        format!("/runner-jobs/{ghost}/events"),
        format!("/runner-jobs/{ghost}/events/stream"),
    ] {
        let (status, body) = client.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["message"], "Runner job not found");
    }
    for path in [
        format!("/runner-jobs/{ghost}/cancel"),
        format!("/runner-jobs/{ghost}/retry"),
    ] {
        assert_eq!(
            client.post(&path, None).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (status, body) = client.get("/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Cannot GET /nothing-here");
    let (status, _) = client.post(&format!("/runner-jobs/{ghost}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_create_bodies_are_400_with_a_message_list() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let (status, body) = client
        .post("/runner-jobs", Some(json!({"type": "review", "issue": {"owner": "", "repo": "web", "number": -1, "url": "nope"}})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["statusCode"], 400);
    assert_eq!(body["error"], "Bad Request");
    assert_eq!(
        body["message"],
        json!([
            "type must be one of the following values: fix",
            "issue.owner must be a non-empty string",
            "issue.number must be a positive integer",
            "issue.url must be a URL address",
        ])
    );
    let (status, body) = client.post("/runner-jobs", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        json!([
            "type must be one of the following values: fix",
            "issue must be an object"
        ])
    );
    let (status, body) = client.post_raw("/runner-jobs", "{\"type\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].is_string());
    // None of these created a job.
    assert_eq!(client.get("/runner-jobs").await.1["total"], 0);
}

#[tokio::test]
async fn invalid_list_queries_and_cancel_reasons_are_400() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let (status, body) = client.get("/runner-jobs?issue=abc&limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        json!([
            "issue must be a positive integer",
            "limit must be an integer between 1 and 100"
        ])
    );
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = client
        .post(
            &format!("/runner-jobs/{id}/cancel"),
            Some(json!({"reason": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], json!(["reason must be a string"]));
    assert_ne!(sim.job(&id).unwrap()["status"], "CANCELLED");
}

#[tokio::test]
async fn every_request_is_recorded_with_its_headers_and_body() {
    let sim = start(|_| {}).await;
    let client = Client::new(&sim);
    let id = client.create("acme", "web", 42).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = client.stream(&id, Some("e-0002")).await;
    drop(response);
    Client::with(&sim, Some("wrong"), None)
        .get("/runner-jobs?limit=1")
        .await;
    let requests = sim.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/runner-jobs");
    assert_eq!(requests[0].workspace.as_deref(), Some(sim.workspace()));
    assert_eq!(requests[0].body, Some(fix_body("acme", "web", 42)));
    assert_eq!(requests[1].path, format!("/runner-jobs/{id}/events/stream"));
    assert_eq!(requests[1].last_event_id.as_deref(), Some("e-0002"));
    assert_eq!(requests[1].body, None);
    assert_eq!(requests[2].path, "/runner-jobs?limit=1");
    assert_eq!(requests[2].workspace, None);
}
