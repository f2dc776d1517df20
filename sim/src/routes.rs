//! The REST surface of backend-api.md: the router, the request log, the
//! AuthGuard/WorkspaceGuard (401/403), and the runner-jobs handlers with
//! their validation (400), visibility (404) and state rules (409).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, http};
use serde::Serialize;
use serde_json::{Value, json};

use crate::RecordedRequest;
use crate::app::{App, CreatedJob, NewJob};
use crate::model::{ApiError, Issue, RunnerJob, Status, event_seq};
use crate::store::{JobRecord, ListFilter};
use crate::stream;

/// The workspace a request was let in for, set by the guard.
#[derive(Clone, Debug)]
pub(crate) struct Workspace(pub(crate) String);

/// Bodies larger than this are refused; nothing legitimate comes close.
const BODY_LIMIT: usize = 1024 * 1024;

/// The whole HTTP surface.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/runner-jobs", post(create).get(list))
        .route("/runner-jobs/{id}", get(get_job))
        .route("/runner-jobs/{id}/cancel", post(cancel))
        .route("/runner-jobs/{id}/retry", post(retry))
        .route("/runner-jobs/{id}/events", get(events))
        .route("/runner-jobs/{id}/events/stream", get(stream::open))
        // Not the backend's: for benches, when each event first left for a stream.
        .route("/_sim/runner-jobs/{id}/first-sent", get(first_sent))
        // Guards run on matched routes only: NestJS answers unknown routes
        // 404 whoever asks.
        .route_layer(from_fn_with_state(Arc::clone(&app), guard))
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(from_fn_with_state(Arc::clone(&app), record))
        .with_state(app)
}

/// Logs every request (for `Sim::requests`) and counts stream connects (for
/// `Sim::stream_connections`) before anything can refuse it.
async fn record(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request entity too large")
            .into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    {
        let mut state = app.lock();
        if let Some(job_id) = stream_job_id(parts.uri.path()) {
            *state
                .stream_connections
                .entry(job_id.to_owned())
                .or_default() += 1;
        }
        state.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path,
            workspace: header("x-workspace-id"),
            last_event_id: header("last-event-id"),
            body: serde_json::from_slice(&bytes).ok(),
        });
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The job id of a stream path, `/runner-jobs/{id}/events/stream`.
fn stream_job_id(path: &str) -> Option<&str> {
    let id = path
        .strip_prefix("/runner-jobs/")?
        .strip_suffix("/events/stream")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The service's AuthGuard (401) then WorkspaceGuard (403).
async fn guard(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token.filter(|t| app.cfg.knows_token(t)) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "Invalid or missing API token")
            .into_response();
    };
    let workspace = headers.get("x-workspace-id").and_then(|v| v.to_str().ok());
    let Some(workspace) = workspace.filter(|w| app.cfg.token_of(w) == Some(token)) else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "You are not a member of this workspace",
        )
        .into_response();
    };
    let workspace = Workspace(workspace.to_owned());
    request.extensions_mut().insert(workspace);
    next.run(request).await
}

/// NestJS's answer to a route it does not have.
async fn no_route(method: http::Method, uri: http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("Cannot {method} {}", uri.path()),
    )
}

/// `POST /runner-jobs`: validates like class-validator, then creates.
async fn create(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let (issue, origin) = validate_create(&body).map_err(ApiError::validation)?;
    let job = app.create_job(NewJob {
        workspace,
        issue,
        origin,
        retry_of: None,
        script: None,
    });
    Ok(created(job))
}

/// 201 with the job as created.
fn created(job: CreatedJob) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    (StatusCode::CREATED, json, job.json).into_response()
}

fn validate_create(body: &Value) -> Result<(Issue, Value), Vec<String>> {
    let mut errors = Vec::new();
    if body.get("type").and_then(Value::as_str) != Some("fix") {
        errors.push("type must be one of the following values: fix".to_owned());
    }
    let issue = body.get("issue").filter(|v| v.is_object());
    if issue.is_none() {
        errors.push("issue must be an object".to_owned());
    }
    let field = |name: &str| issue.and_then(|i| i.get(name));
    let text = |name: &str, errors: &mut Vec<String>| {
        let value = field(name)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        if value.is_none() && issue.is_some() {
            errors.push(format!("issue.{name} must be a non-empty string"));
        }
        value.unwrap_or_default().to_owned()
    };
    let owner = text("owner", &mut errors);
    let repo = text("repo", &mut errors);
    let number = field("number").and_then(Value::as_u64).filter(|&n| n > 0);
    if number.is_none() && issue.is_some() {
        errors.push("issue.number must be a positive integer".to_owned());
    }
    let url = field("url").and_then(Value::as_str).unwrap_or_default();
    if issue.is_some() && !(url.starts_with("https://") || url.starts_with("http://")) {
        errors.push("issue.url must be a URL address".to_owned());
    }
    let origin = body.get("origin").cloned().unwrap_or(Value::Null);
    if !(origin.is_object() || origin.is_null()) {
        errors.push("origin must be an object".to_owned());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let number = number.unwrap_or_default();
    let url = url.to_owned();
    Ok((
        Issue {
            owner,
            repo,
            number,
            url,
        },
        origin,
    ))
}

/// A JSON body; an empty one is `{}` (NestJS sees no body as no fields).
fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Unexpected token in JSON: {e}"),
        )
    })
}

/// `GET /runner-jobs/:id`.
async fn get_job(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    visible_json(&app, &workspace, &id, |job| {
        Json(job.view()).into_response()
    })
}

/// `view`'s answer for job `id` as `workspace` sees it, or 404: under the state lock.
fn visible_json(
    app: &App,
    workspace: &str,
    id: &str,
    view: impl FnOnce(&crate::store::JobRecord) -> Response,
) -> Result<Response, ApiError> {
    let state = app.lock();
    let job = state
        .visible(id, workspace)
        .ok_or_else(ApiError::job_not_found)?;
    Ok(view(job))
}

/// `GET /runner-jobs?owner=&repo=&issue=&limit=`: newest first.
async fn list(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::validation(vec![e.body_text()]))?;
    let mut errors = Vec::new();
    let issue = query
        .get("issue")
        .map(|v| v.parse::<u64>().ok().filter(|&n| n > 0));
    if let Some(None) = issue {
        errors.push("issue must be a positive integer".to_owned());
    }
    let limit = query
        .get("limit")
        .map(|v| v.parse::<usize>().ok().filter(|n| (1..=100).contains(n)));
    if let Some(None) = limit {
        errors.push("limit must be an integer between 1 and 100".to_owned());
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let filter = ListFilter {
        owner: query.get("owner").cloned(),
        repo: query.get("repo").cloned(),
        issue: issue.flatten(),
    };
    let state = app.lock();
    let (jobs, total) = state.list(&workspace, &filter, limit.flatten().unwrap_or(20));
    let data: Vec<RunnerJob<'_>> = jobs.into_iter().map(JobRecord::view).collect();
    Ok(Json(JobPage { data, total }).into_response())
}

/// The answer of a list call.
#[derive(Serialize)]
struct JobPage<'a> {
    data: Vec<RunnerJob<'a>>,
    total: usize,
}

/// `POST /runner-jobs/:id/cancel` with an optional `{"reason"}`; 409 when
/// the job is already final.
async fn cancel(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&body)?;
    let reason = match body.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(reason)) => Some(reason.clone()),
        Some(_) => {
            return Err(ApiError::validation(vec![
                "reason must be a string".to_owned(),
            ]));
        }
    };
    let mut state = app.lock();
    let job = state
        .visible_mut(&id, &workspace)
        .ok_or_else(ApiError::job_not_found)?;
    job.cancel(reason, app.cfg.precise_timestamps)
        .map_err(|status| conflict(format!("Runner job is already {}", status.as_str())))?;
    Ok(Json(job.view()).into_response())
}

/// `POST /runner-jobs/:id/retry`: a new job for the same issue with
/// `retryOf`; 409 unless the job `FAILED` or was `CANCELLED`.
async fn retry(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (issue, origin) = {
        let state = app.lock();
        let job = state
            .visible(&id, &workspace)
            .ok_or_else(ApiError::job_not_found)?;
        if !matches!(job.status, Status::Failed | Status::Cancelled) {
            let status = job.status.as_str();
            return Err(conflict(format!(
                "Runner job cannot be retried while {status}"
            )));
        }
        (job.issue.clone(), job.origin.clone())
    };
    let job = app.create_job(NewJob {
        workspace,
        issue,
        origin,
        retry_of: Some(id),
        script: None,
    });
    Ok(created(job))
}

/// `GET /runner-jobs/:id/events?after=<event id>`: oldest first.
async fn events(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::validation(vec![e.body_text()]))?;
    let after = match query.get("after").filter(|a| !a.is_empty()) {
        None => 0,
        Some(after) => event_seq(after).ok_or_else(|| {
            ApiError::validation(vec!["after must be an event id (e-0001)".to_owned()])
        })?,
    };
    visible_json(&app, &workspace, &id, |job| {
        Json(job.events.get(after..).unwrap_or_default()).into_response()
    })
}

/// `GET /_sim/runner-jobs/:id/first-sent`: the simulator's own, not the backend's. For each
/// event, oldest first, when it was first handed to a stream connection (RFC 3339 with
/// microseconds), or `null` if never: with the event's timestamp it splits an event's trip
/// into the simulator's delay and the client's.
async fn first_sent(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    visible_json(&app, &workspace, &id, |job| {
        let sent: Vec<Option<String>> = job
            .first_sent
            .iter()
            .map(|at| at.map(|at| crate::model::iso8601(at, true)))
            .collect();
        Json(sent).into_response()
    })
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message)
}
