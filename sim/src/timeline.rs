//! Runs a job's planned events, one per tick, on a tokio task of its own, so
//! a job advances whether or not anyone watches its stream. Cancel and delete
//! stop it twice over: they abort the task, and a job that is over refuses
//! any further event (the check is under the state lock, so no event can slip
//! in after `job.cancelled`).

use std::sync::Arc;

use tokio::task::AbortHandle;

use crate::app::App;
use crate::plan::Planned;

/// Starts playing `plan` for job `job_id`.
pub(crate) fn spawn(app: &Arc<App>, job_id: String, plan: Vec<Planned>) -> AbortHandle {
    let app = Arc::clone(app);
    let task = app.runtime.spawn({
        let app = Arc::clone(&app);
        async move {
            for event in plan {
                tokio::time::sleep(app.cfg.tick).await;
                let mut state = app.lock();
                let Some(job) = state.jobs.get_mut(&job_id) else {
                    return;
                };
                if !job.play(event, app.cfg.precise_timestamps) {
                    return;
                }
            }
        }
    });
    task.abort_handle()
}
