//! `mosaic-sim`: a simulator of the Mosaic Stack `runner-jobs` API, the job
//! backend the bot drives. It is the contract of `backend-api.md`
//! implemented a second time, independently of the bot (it shares no code or
//! types with `mosaic-bot` or `mosaic-chat`), for tests, benches and demos.
//!
//! # What it simulates
//!
//! An HTTP/1.1 server on 127.0.0.1 with every endpoint of the contract:
//! create, get, list, cancel and retry jobs, list a job's events, and stream
//! them as Server-Sent Events (with `Last-Event-ID`, `: keep-alive` and
//! `stream.complete`). Calls need `Authorization: Bearer <token>` (else 401)
//! and an accepted `X-Workspace-Id` (else 403); a job is visible only in the
//! workspace that created it (else 404). Errors have NestJS bodies.
//!
//! Each job plays a [`Script`] on its own task, one event per
//! [`SimConfig::tick`]: `job.created`, `job.queued`, `job.started`, then per
//! step `step.started`, `step.progress`…, `step.output`…, `ai.tool_called`…,
//! `ai.tokens_used`, `step.completed`; then per gate `gate.started` and
//! `gate.passed`/`gate.failed`; `ai.artifact_created`; `job.completed`. A
//! failing script ends its last step with `step.failed` and `job.failed`.
//! Step `index` is 1-based. Jobs advance whether or not anyone listens;
//! streams replay what is stored.
//!
//! # Failure modes ([`Faults`])
//!
//! Numbers are those of "What the bot must survive" in backend-api.md.
//!
//! | field | mode | on the wire |
//! | --- | --- | --- |
//! | `drop_after` | 1 | every stream connection ends after K events |
//! | `reset_on_drop` | 1 | … with a TCP reset instead of a clean end |
//! | `ignore_last_event_id` | 2 | every connection replays from the first event |
//! | `stall_after`, `stall_connections` | 3 | the first connections fall silent after K events, open |
//! | `unavailable_connects` | 4 | the first N stream connects answer 503, `Retry-After: 0` |
//! | [`Sim::refuse_connections_for`] | 4 | the port refuses connections for a while |
//! | `weird_payloads` | 5 | unknown types, missing fields, 100 KB output, ANSI, `@everyone`… |
//! | `malformed_lines` | 6 | lines without colon, broken JSON in `data:` |
//! | [`Sim::delete_job`] | 7 | the job answers 404; its open streams close |
//! | `error_event_after` | — | the first connection sends `event: error` and closes |
//! | `live_only_no_ids` | 8 | no `id:` lines; a connection gets only newer events |
//!
//! # Where things live
//!
//! `config.rs` [`SimConfig`]; `script.rs` [`Script`] and the canned scripts;
//! `plan.rs` script → events; `timeline.rs` plays them; `store.rs` jobs and
//! events; `routes.rs` REST and guards; `stream.rs` SSE; `faults.rs` the
//! failure modes; `net.rs` sockets (refusal, resets); `model.rs` wire types.

mod app;
mod config;
mod faults;
mod model;
mod net;
mod plan;
mod routes;
mod script;
mod store;
mod stream;
mod timeline;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::SimConfig;
pub use faults::Faults;
pub use script::{Gate, Outcome, OutputStream, Script, Step};

use app::{App, NewJob};
use model::Issue;
use net::{ConnHandle, Net, SimListener};

/// A running simulator. Cheap to clone; every clone drives the same server.
/// The server runs until [`Sim::shutdown`] or until the runtime that started
/// it stops (the end of a `#[tokio::test]`); dropping the clones does not
/// stop it, so a caller may keep only `base_url()`.
#[derive(Clone)]
pub struct Sim {
    app: Arc<App>,
    net: Arc<Net>,
    server: Arc<Mutex<Option<Server>>>,
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// One request as the simulator received it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`…
    pub method: String,
    /// Path and query, e.g. `/runner-jobs?owner=acme&limit=5`.
    pub path: String,
    /// The `X-Workspace-Id` header.
    pub workspace: Option<String>,
    /// The `Last-Event-ID` header.
    pub last_event_id: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<Value>,
}

impl Sim {
    /// Starts a simulator on 127.0.0.1 and a free port.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Sim> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), cfg).await
    }

    /// Starts a simulator on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: SimConfig) -> std::io::Result<Sim> {
        let net = Net::bind(addr).await?;
        let app = Arc::new(App::new(cfg, tokio::runtime::Handle::current()));
        let router = routes::router(Arc::clone(&app));
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = axum::serve(
            SimListener(Arc::clone(&net)),
            router.into_make_service_with_connect_info::<ConnHandle>(),
        )
        .with_graceful_shutdown(async {
            // A dropped sender stops the server as a sent one does.
            let _ = stopped.await;
        });
        let task = tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::error!(%error, "simulator server failed");
            }
        });
        tracing::info!(addr = %net.addr(), "mosaic-sim listening");
        let server = Arc::new(Mutex::new(Some(Server { stop, task })));
        Ok(Sim { app, net, server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.net.addr())
    }

    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.net.addr()
    }

    /// The accepted API token.
    pub fn token(&self) -> &str {
        &self.app.cfg.token
    }

    /// The first accepted workspace.
    pub fn workspace(&self) -> &str {
        self.app.cfg.workspaces.first().map_or("", String::as_str)
    }

    /// The next job created through REST for this issue (create or retry)
    /// follows `script` with `faults`; several calls queue FIFO per issue
    /// (owner and repo without case). Jobs of an issue with nothing queued
    /// take the default script and the server's faults.
    pub fn script_issue(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        script: Script,
        faults: Faults,
    ) {
        self.app
            .lock()
            .script_issue(owner, repo, number, script, faults);
    }

    /// Creates a job directly, as if POSTed in the first workspace (with a
    /// `null` origin); returns its id.
    pub fn create_job(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        script: Script,
        faults: Faults,
    ) -> String {
        let job = self.app.create_job(NewJob {
            workspace: self.workspace().to_owned(),
            issue: Issue::on_github(owner, repo, number),
            origin: Value::Null,
            retry_of: None,
            script: Some((script, faults)),
        });
        job.id
    }

    /// The job's `RunnerJob` JSON; `None` if unknown or deleted.
    pub fn job(&self, id: &str) -> Option<Value> {
        let state = self.app.lock();
        state
            .jobs
            .get(id)
            .filter(|j| !j.deleted)
            .map(store::JobRecord::to_json)
    }

    /// Every event the job emitted so far, in order: the truth a client's
    /// delivery is checked against. Still answers after `delete_job`.
    pub fn events(&self, id: &str) -> Vec<Value> {
        let state = self.app.lock();
        let events = state
            .jobs
            .get(id)
            .map(|j| j.events.as_slice())
            .unwrap_or_default();
        events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect()
    }

    /// When each event was emitted: (event id, instant), in order.
    pub fn emitted_at(&self, id: &str) -> Vec<(String, Instant)> {
        let state = self.app.lock();
        let Some(job) = state.jobs.get(id) else {
            return Vec::new();
        };
        job.events
            .iter()
            .map(|e| e.id.clone())
            .zip(job.emitted_at.iter().copied())
            .collect()
    }

    /// Waits until the job is final (or deleted) and returns its events;
    /// returns at once, empty, for an unknown job.
    pub async fn wait_final(&self, id: &str) -> Vec<Value> {
        let updates = self.app.lock().jobs.get(id).map(|j| j.updates.subscribe());
        if let Some(mut updates) = updates {
            loop {
                updates.borrow_and_update();
                let over = self
                    .app
                    .lock()
                    .jobs
                    .get(id)
                    .is_none_or(store::JobRecord::is_over);
                if over || updates.changed().await.is_err() {
                    break;
                }
            }
        }
        self.events(id)
    }

    /// Deletes the job: later calls about it answer 404, its timeline stops
    /// and its open streams end (cleanly).
    pub fn delete_job(&self, id: &str) {
        if let Some(job) = self.app.lock().jobs.get_mut(id) {
            job.delete();
        }
    }

    /// How many times the job's stream was requested, whatever the answer
    /// (401, 404, 503 and 200 alike).
    pub fn stream_connections(&self, id: &str) -> usize {
        self.app
            .lock()
            .stream_connections
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.app.lock().requests.clone()
    }

    /// Closes the port at once (connects are refused, open connections are
    /// reset, as when a server dies), then listens on the same port again
    /// after `d`. Overlapping calls extend the refusal.
    pub fn refuse_connections_for(&self, d: Duration) {
        self.net.refuse_for(d, &self.app.runtime);
    }

    /// The faults of jobs created from now on without queued faults.
    pub fn set_faults(&self, faults: Faults) {
        self.app.lock().default_faults = faults;
    }

    /// Stops the server: the port closes, open connections are cut, timelines
    /// stop. Other clones answer nothing afterwards.
    pub async fn shutdown(self) {
        self.net.close();
        {
            let mut state = self.app.lock();
            for job in state.jobs.values_mut() {
                if let Some(timeline) = job.timeline.take() {
                    timeline.abort();
                }
            }
        }
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Server { stop, mut task }) = server {
            let _ = stop.send(());
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}
