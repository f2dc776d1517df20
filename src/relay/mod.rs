//! The relay: one task per followed job that shows the job's events in its chat thread until
//! the job ends — one progress card edited in place, milestone (or every) event as thread
//! messages, the outcome — exactly once across reconnects and restarts, within each
//! platform's rate limits, pinging no one.
//!
//! - this file: [`RelayHub`], which starts, tracks and stops the relays;
//! - `running.rs`: the relays running here, by job and by thread;
//! - `task.rs`: one relay's loop (stream in, posts and edits out, store records);
//! - `card_edit.rs`: the card's edits, run beside the loop;
//! - `end.rs`: how a relay ends (outcome, final card, reaction, store);
//! - `card.rs`: [`ProgressCard`], the pure card;
//! - `buttons.rs`: the buttons of a card, from its job's state;
//! - `render.rs`: [`render_event`], the pure choice and wording of thread messages;
//! - `pace.rs`: per-channel post slots and batching;
//! - `send.rs`: posts, edits and reactions with retries;
//! - `positions.rs`: relay positions written in group commits by one task, at most once a
//!   second per job under load;
//! - `resume.rs`: what a resumed relay's predecessor posted without recording it;
//! - `fault.rs`: the test build's switch that crashes between a post and its record;
//! - `lease.rs`: this replica's leases: taken for new jobs, handed back, lost;
//! - `keeper.rs`: the task that renews, claims and sheds leases.

mod buttons;
mod card;
mod card_edit;
mod end;
mod fault;
mod keeper;
mod lease;
mod pace;
mod positions;
mod posting;
mod render;
mod resume;
mod running;
mod send;
mod task;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use mosaic_chat::{ChatPlatform, Platform, ThreadRef};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use buttons::{
    CANCEL, QUIET, RETRY, VERBOSE, button_action, button_label, card_buttons, stored_buttons,
};
pub use card::{CardState, ProgressCard};
pub use end::{DELETED, UNAUTHORIZED, deleted_message, gave_up_message, unauthorized_message};
pub use lease::{LeaseError, Replica};
pub use pace::{Batch, ChannelPacer, FlushDecision};
pub use render::{
    MAX_OUTPUT_LINE_CHARS, MAX_OUTPUT_LINES, OutcomeContext, clean_output, format_elapsed,
    is_shown, render_event,
};

use crate::backend::{Backends, JobStatus, RunnerJob};
use crate::store::{FollowedJob, Store, StoreError, Verbosity};
use running::{Relays, Running};
use send::Outbox;
use task::Relay;

/// The chat platforms the relays post to, by platform.
pub type Platforms = HashMap<Platform, Arc<dyn ChatPlatform>>;

/// Why a relay stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// The job became final and its outcome was shown.
    Finished(JobStatus),
    /// The backend no longer knows the job (404).
    JobDeleted,
    /// The backend refused the bot's credentials.
    Unauthorized,
    /// The backend stayed unreachable; the job stays unfinished for a restart to resume.
    GaveUp,
    /// The hub shut down, or handed the job to another replica; the job stays unfinished for
    /// a restart (or the other replica) to resume.
    Shutdown,
    /// This replica could not renew the job's lease in time: it stopped at once, posting
    /// nothing more, for the replica that takes the lease over to resume.
    LeaseLost,
}

/// Starts, tracks and stops the relays of every followed job. Cheap to clone.
#[derive(Clone)]
pub struct RelayHub {
    hub: Arc<Hub>,
}

/// What every relay shares.
pub(crate) struct Hub {
    pub(crate) store: Store,
    /// Each job is followed with the client of its workspace.
    backends: Backends,
    platforms: Platforms,
    pub(crate) bot_name: String,
    pub(crate) shutdown: CancellationToken,
    /// Shared so that relays in one channel share its post interval.
    pacer: Arc<ChannelPacer>,
    relays: Mutex<Relays>,
    /// How many relays run; `idle` waits for 0.
    running: watch::Sender<usize>,
    generations: AtomicU64,
    /// Where relayed events, lag and platform errors are counted, once attached.
    pub(crate) metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
    /// Writes every relay's positions in group commits; started with the first relay (it
    /// needs the runtime).
    positions: std::sync::OnceLock<positions::PositionWriter>,
    /// Who this replica is: the holder of its leases.
    pub(crate) replica: Replica,
    /// Jobs whose lease this replica holds without relaying them (the backend stayed
    /// unreachable, or the job's workspace is not configured) until it stops.
    pub(crate) parked: Mutex<std::collections::HashSet<String>>,
    /// How many leases the last renewal found held.
    pub(crate) leases_held: std::sync::atomic::AtomicUsize,
    /// Renewals have failed for so long that every relay was stopped.
    pub(crate) leases_failing: std::sync::atomic::AtomicBool,
}

impl Hub {
    /// The writer of relay positions, started on first use.
    pub(crate) fn positions(&self) -> &positions::PositionWriter {
        self.positions
            .get_or_init(|| positions::PositionWriter::start(self.store.clone()))
    }
}

impl RelayHub {
    /// A hub with no relay running. `shutdown` stops every relay when cancelled. Its leases
    /// are held as replica `mosaic-PID` with the default lease.
    pub fn new(
        store: Store,
        backends: Backends,
        platforms: Platforms,
        bot_name: String,
        shutdown: CancellationToken,
    ) -> RelayHub {
        let replica = Replica::new(
            &format!("mosaic-{}", std::process::id()),
            Duration::from_secs(crate::config::DEFAULT_LEASE_SECS),
        );
        RelayHub::for_replica(store, backends, platforms, bot_name, shutdown, replica)
    }

    /// As [`new`](RelayHub::new), holding leases as `replica`.
    pub fn for_replica(
        store: Store,
        backends: Backends,
        platforms: Platforms,
        bot_name: String,
        shutdown: CancellationToken,
        replica: Replica,
    ) -> RelayHub {
        RelayHub {
            hub: Arc::new(Hub {
                store,
                backends,
                platforms,
                bot_name,
                shutdown,
                pacer: Arc::new(ChannelPacer::default()),
                relays: Mutex::new(Relays::default()),
                running: watch::Sender::new(0),
                generations: AtomicU64::new(0),
                metrics: std::sync::OnceLock::new(),
                positions: std::sync::OnceLock::new(),
                replica,
                parked: Mutex::new(std::collections::HashSet::new()),
                leases_held: std::sync::atomic::AtomicUsize::new(0),
                leases_failing: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Starts relaying a job already inserted in the store (`Store::insert_job`) whose lease
    /// this replica holds ([`insert_leased`](RelayHub::insert_leased)); no-op if its relay already
    /// runs, or after shutdown began. Spawns a task: call it inside a Tokio
    /// runtime. A job whose platform or workspace is not configured is logged and not
    /// followed.
    pub fn follow(&self, job: FollowedJob) {
        self.start(job, None);
    }

    /// [`follow`](RelayHub::follow) for a job the backend just created: its answer, `created`,
    /// is what the card shows before any event, instead of the job read again.
    pub fn follow_created(&self, job: FollowedJob, created: RunnerJob) {
        self.start(job, Some(Box::new(created)));
    }

    fn start(&self, job: FollowedJob, created: Option<Box<RunnerJob>>) {
        let hub = &self.hub;
        if hub.shutdown.is_cancelled() {
            tracing::info!(job = %job.job_id, "shutting down; not starting a relay");
            return;
        }
        let Some(chat) = hub.platforms.get(&job.thread.platform).cloned() else {
            tracing::error!(
                job = %job.job_id,
                platform = %job.thread.platform,
                "no such platform configured; cannot relay this job"
            );
            return;
        };
        let Some(backend) = hub.backends.get(&job.workspace).cloned() else {
            // New jobs come with their workspace's client; only a resumed one can lack it,
            // and the lease keeper reports that in the thread (`lease.rs`).
            tracing::error!(job = %job.job_id, workspace = %job.workspace, "the job's backend workspace is not configured; cannot relay this job");
            return;
        };
        let mut relays = hub.relays.lock().unwrap_or_else(PoisonError::into_inner);
        if relays.contains_key(&job.job_id) {
            return;
        }
        let generation = hub.generations.fetch_add(1, Ordering::Relaxed);
        let (verbosity, verbosity_rx) = watch::channel(job.verbosity);
        let span = tracing::info_span!(
            "relay",
            platform = %job.thread.platform,
            channel = %job.thread.channel,
            thread = %job.thread.thread,
            job = %job.job_id,
        );
        let job_id = job.job_id.clone();
        let thread = job.thread.clone();
        let out = Outbox {
            limits: chat.limits(),
            chat,
            thread: thread.clone(),
            pacer: Arc::clone(&hub.pacer),
            metrics: hub.metrics.get().cloned(),
        };
        let card = Arc::new(buttons::CardShared::new());
        let stop = hub.shutdown.child_token();
        let lost = CancellationToken::new();
        let relay = Box::new(Relay::new(
            Arc::clone(hub),
            job,
            backend,
            out,
            verbosity_rx,
            Arc::clone(&card),
            (stop.clone(), lost.clone()),
        ));
        let leave = Leave {
            hub: Arc::clone(hub),
            job_id: job_id.clone(),
            generation,
        };
        // Spawned under the lock: the task's `Leave` cannot remove the entry before it exists.
        // A combinator, not an `async` block: a block would keep the `Relay` it captured
        // beside the `run` future that `Relay` moves into (an async block's captures never
        // share space with its locals), ~1 KB more per followed job. `leave` is dropped with
        // the future, so also when the task is aborted.
        let task = tokio::spawn(
            relay
                .run(created)
                .map(move |end| {
                    lease::relay_ended(&leave.hub, &leave.job_id, &end);
                    drop(leave);
                })
                .instrument(span),
        );
        relays.insert(
            job_id,
            Running {
                generation,
                thread,
                verbosity,
                card,
                task: Some(task),
                stop,
                lost,
                started: tokio::time::Instant::now(),
                verbosity_set: tokio::time::Instant::now(),
            },
        );
        hub.running.send_replace(relays.len());
    }

    /// Resumes every unfinished job of the store, leases aside; returns how many relays it
    /// started. For a hub used alone (tests); the daemon's leases decide instead
    /// ([`start_leases`](RelayHub::start_leases)).
    pub async fn resume_all(&self) -> Result<usize, StoreError> {
        let jobs = self.hub.store.unfinished().await?;
        let mut started = 0;
        for job in jobs {
            if self.hub.backends.get(&job.workspace).is_none() {
                if let Some(chat) = self.hub.platforms.get(&job.thread.platform) {
                    lease::unknown_workspace(chat.as_ref(), &job).await;
                }
                continue;
            }
            let known = self.hub.platforms.contains_key(&job.thread.platform);
            self.follow(job);
            started += usize::from(known && !self.hub.shutdown.is_cancelled());
        }
        Ok(started)
    }

    /// The thread's verbosity changed (already stored by the caller): its running relays apply
    /// it from their next event.
    pub fn verbosity_changed(&self, thread: &ThreadRef, verbosity: Verbosity) {
        let mut relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        relays.for_each_in_thread(thread, |running| {
            running.verbosity.send_replace(verbosity);
            running.verbosity_set = tokio::time::Instant::now();
        });
    }

    /// Whether a relay of a job in `thread` runs in this process: then the thread has a
    /// followed job, without asking the store.
    pub fn runs_in_thread(&self, thread: &ThreadRef) -> bool {
        self.hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_thread(thread)
    }

    /// The buttons the card of `job_id` carries now, if a relay runs for it (`None`: ask
    /// the store, [`stored_buttons`]).
    pub fn card_buttons(&self, job_id: &str) -> Option<Vec<mosaic_chat::Button>> {
        let relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let running = relays.get(job_id)?;
        Some(running.card.buttons(*running.verbosity.borrow()))
    }

    /// The backend took a cancel of `job_id`: its card drops Cancel now, rather than when the
    /// job's end arrives, so a second press cannot cancel twice.
    pub fn cancel_requested(&self, job_id: &str) {
        let relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = relays.get(job_id) {
            running.card.cancelling.send_replace(true);
        }
    }

    /// Counts relayed events, relay lag and platform errors in `metrics` from
    /// now on (the first call wins; clones share it).
    pub fn attach_metrics(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.hub.metrics.set(metrics);
    }

    /// How many relays run now.
    pub fn running(&self) -> usize {
        *self.hub.running.borrow()
    }

    /// Resolves when no relay runs (the console exits then).
    pub async fn idle(&self) {
        let mut running = self.hub.running.subscribe();
        // The sender lives in the hub, which `self` keeps alive: this cannot fail.
        let _ = running.wait_for(|n| *n == 0).await;
    }

    /// Cancels every relay and waits up to `deadline` for them to persist and stop; relays
    /// still running then are aborted (a restart resumes them from their last record). Then
    /// every position handed to the writer is committed, so the store can close.
    pub async fn shutdown(&self, deadline: Duration) {
        self.hub.shutdown.cancel();
        let tasks: Vec<JoinHandle<()>> = {
            let mut relays = self
                .hub
                .relays
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            relays.values_mut().filter_map(|r| r.task.take()).collect()
        };
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!(
                ?deadline,
                "relays still running at the deadline; aborting them"
            );
            for abort in &aborts {
                abort.abort();
            }
        }
        self.idle().await;
        if let Some(writer) = self.hub.positions.get()
            && let Err(error) = writer.flush().committed().await
        {
            tracing::error!(%error, "could not record the relays' last positions");
        }
    }
}

/// Removes a relay from the hub when its task ends, however it ends (even aborted).
struct Leave {
    hub: Arc<Hub>,
    job_id: String,
    generation: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let mut relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if relays
            .get(&self.job_id)
            .is_some_and(|r| r.generation == self.generation)
        {
            relays.remove(&self.job_id);
        }
        self.hub.running.send_replace(relays.len());
    }
}
