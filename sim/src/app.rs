//! The shared heart of a running simulator: its configuration, its state and
//! the runtime its timelines run on, with the one way jobs are created (REST
//! create and retry, and `Sim::create_job`, all go through `App::create_job`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use crate::config::SimConfig;
use crate::faults::Faults;
use crate::model::Issue;
use crate::plan::plan;
use crate::script::Script;
use crate::store::State;
use crate::timeline;

/// Shared by the HTTP handlers, the timelines and the `Sim` handle.
pub(crate) struct App {
    pub(crate) cfg: SimConfig,
    state: Mutex<State>,
    /// Where timelines run: `Sim::create_job` is synchronous and may be
    /// called outside a task.
    pub(crate) runtime: tokio::runtime::Handle,
}

/// A job just created: its id and its `RunnerJob` JSON at creation.
pub(crate) struct CreatedJob {
    pub(crate) id: String,
    pub(crate) json: Vec<u8>,
}

/// A job to create.
pub(crate) struct NewJob {
    pub(crate) workspace: String,
    pub(crate) issue: Issue,
    pub(crate) origin: Value,
    pub(crate) retry_of: Option<String>,
    /// Script and faults; `None` takes the next queued for the issue, else
    /// the defaults.
    pub(crate) script: Option<(Script, Faults)>,
}

impl App {
    pub(crate) fn new(cfg: SimConfig, runtime: tokio::runtime::Handle) -> Self {
        let state = Mutex::new(State::new(cfg.faults.clone()));
        Self {
            cfg,
            state,
            runtime,
        }
    }

    /// The state. A panic elsewhere while it was held leaves it usable: the
    /// simulator keeps answering so the test that broke it can report.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates a job, emits `job.created`, starts its timeline.
    pub(crate) fn create_job(self: &Arc<Self>, new: NewJob) -> CreatedJob {
        let precise = self.cfg.precise_timestamps;
        let (id, created, planned) = {
            let mut state = self.lock();
            let (script, faults) = match new.script {
                Some(given) => given,
                None => state.take_script(&new.issue, &self.cfg.default_script),
            };
            let planned = plan(&script, &new.issue, faults.weird_payloads);
            let job = state.insert_job(
                &new.workspace,
                new.issue,
                new.origin,
                new.retry_of,
                faults,
                precise,
            );
            // Rendered now: the answer shows the job as created (`PENDING`),
            // however fast its timeline starts.
            let json = serde_json::to_vec(&job.view()).unwrap_or_default();
            (job.id.clone(), json, planned)
        };
        let handle = timeline::spawn(self, id.clone(), planned);
        if let Some(job) = self.lock().jobs.get_mut(&id) {
            // A job cancelled before its timeline was recorded needs no handle.
            if job.is_over() {
                handle.abort();
            } else {
                job.timeline = Some(handle);
            }
        }
        CreatedJob { id, json: created }
    }
}
