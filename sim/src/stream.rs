//! `GET /runner-jobs/:id/events/stream`: the job's events as Server-Sent
//! Events, written by hand as raw bytes so the faults can write what a
//! well-behaved SSE library never would (garbage lines, cut-off bodies).
//!
//! One `Session` per connection: stored events after `Last-Event-ID`, then
//! live ones as the job's `watch` announces them, `: keep-alive` after
//! `keepalive` of silence, and `stream.complete` once the job is final.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use tokio::sync::watch;

use crate::app::App;
use crate::faults::{ConnectionFaults, Replay, error_frame};
use crate::model::{ApiError, JobEvent, event_seq};
use crate::net::ConnHandle;
use crate::routes::Workspace;

/// Opens a stream: 404 for a job this workspace cannot see, 503 while the
/// job's `unavailable_connects` last, else `text/event-stream`.
pub(crate) async fn open(
    State(app): State<Arc<App>>,
    Extension(Workspace(workspace)): Extension<Workspace>,
    Path(id): Path<String>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
) -> Response {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(event_seq);
    let session = {
        let mut state = app.lock();
        let Some(job) = state.visible_mut(&id, &workspace) else {
            return ApiError::job_not_found().into_response();
        };
        let attempt = job.stream_attempts;
        job.stream_attempts += 1;
        if job.faults.unavailable(attempt) {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                .into_response();
        }
        let faults = job.faults.for_connection(attempt);
        let cursor = match faults.replay {
            // An unknown or foreign id replays everything, as a server that
            // cannot place it would.
            Replay::Honour => last_event_id
                .filter(|&n| n <= job.events.len())
                .unwrap_or(0),
            Replay::FromStart => 0,
            Replay::LiveOnly => job.events.len(),
        };
        Session {
            app: Arc::clone(&app),
            job_id: id,
            updates: job.updates.subscribe(),
            faults,
            cursor,
            sent: 0,
            conn,
            queue: VecDeque::new(),
            ended: false,
        }
    };
    let body = futures_util::stream::unfold(session, |mut session| async move {
        let chunk = session.next_chunk().await?;
        Some((chunk, session))
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies between a person's bot and this simulator must not buffer.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One stream connection.
struct Session {
    app: Arc<App>,
    job_id: String,
    updates: watch::Receiver<()>,
    faults: ConnectionFaults,
    /// Index of the next stored event to send.
    cursor: usize,
    /// `JobEvent` frames sent on this connection.
    sent: usize,
    conn: ConnHandle,
    queue: VecDeque<Bytes>,
    /// Nothing follows what is queued.
    ended: bool,
}

/// What the job has for a session, looked at under the lock.
enum Next {
    Event(Box<JobEvent>),
    Complete(&'static str),
    Wait,
    Gone,
}

impl Session {
    /// The next body chunk; `None` ends the response cleanly, an error cuts
    /// the connection.
    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            if let Some(chunk) = self.queue.pop_front() {
                return Some(Ok(chunk));
            }
            if self.ended {
                return None;
            }
            if self.conn.is_killed() {
                return Some(Err(killed()));
            }
            if self.faults.drop_after.is_some_and(|k| self.sent >= k) {
                if self.faults.reset_on_drop {
                    // Pending once, so hyper writes out the K-th event before
                    // the reset throws away whatever is still unsent.
                    tokio::task::yield_now().await;
                    self.conn.reset();
                    return Some(Err(killed()));
                }
                return None;
            }
            if self.faults.stall_after.is_some_and(|k| self.sent >= k) {
                return self.stall().await;
            }
            if self.faults.error_after.is_some_and(|k| self.sent >= k) {
                self.queue.push_back(error_frame());
                self.ended = true;
                continue;
            }
            // Seen before looking, so a change after the look wakes us.
            self.updates.borrow_and_update();
            match self.look(true) {
                Next::Event(event) => {
                    self.cursor += 1;
                    self.sent += 1;
                    self.queue.push_back(frame(&event, self.faults.write_ids));
                    self.queue.extend(self.faults.garbage_after(self.sent));
                }
                Next::Complete(status) => {
                    let data = json!({"jobId": self.job_id, "status": status});
                    self.queue.push_back(Bytes::from(format!(
                        "event: stream.complete\ndata: {data}\n\n"
                    )));
                    self.ended = true;
                }
                Next::Gone => return None,
                Next::Wait => {
                    tokio::select! {
                        changed = self.updates.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                        }
                        () = tokio::time::sleep(self.app.cfg.keepalive) => {
                            self.queue.push_back(Bytes::from_static(b": keep-alive\n\n"));
                        }
                        () = self.conn.killed() => return Some(Err(killed())),
                    }
                }
            }
        }
    }

    /// What the job has next for this session; with `sending`, the event found is about to
    /// be sent, and its first sending is stamped.
    fn look(&self, sending: bool) -> Next {
        let mut state = self.app.lock();
        let Some(job) = state.jobs.get_mut(&self.job_id).filter(|job| !job.deleted) else {
            return Next::Gone;
        };
        if let Some(event) = job.events.get(self.cursor) {
            if sending && let Some(first) = job.first_sent.get_mut(self.cursor) {
                first.get_or_insert_with(SystemTime::now);
            }
            Next::Event(Box::new(event.clone()))
        } else if job.status.is_final() {
            Next::Complete(job.status.as_str())
        } else {
            Next::Wait
        }
    }

    /// Mode 3: silence, connection open, until the client leaves, the
    /// connection is killed, or the job is deleted (deleted jobs' streams
    /// close, stalled or not).
    async fn stall(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            tokio::select! {
                changed = self.updates.changed() => {
                    if changed.is_err() || matches!(self.look(false), Next::Gone) {
                        return None;
                    }
                }
                () = self.conn.killed() => return Some(Err(killed())),
            }
        }
    }
}

/// `id:` (unless mode 8), `event:` and one-line JSON `data:`.
fn frame(event: &JobEvent, write_id: bool) -> Bytes {
    // serde_json escapes newlines inside strings: the data is one line.
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    let id = if write_id {
        format!("id: {}\n", event.id)
    } else {
        String::new()
    };
    Bytes::from(format!("{id}event: {}\ndata: {data}\n\n", event.kind))
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "stream cut by the simulator",
    )
}
