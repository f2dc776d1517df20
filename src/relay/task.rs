//! One relay: the task that follows one job's events and shows them in its thread.
//!
//! Decisions are made by the pure parts (`ProgressCard`, `render_event`, `Batch`); this file
//! does the I/O around them: the stream, the posts and edits, the store. The loop waits on
//! four things at once — shutdown, the batch's post slot, the card's next edit, the next
//! event — so a burst of events never outruns the platform's limits and nothing waits on a
//! quiet stream.
//!
//! Exactly once: a batch's events are recorded (`posting.rs`; in a group commit with other
//! relays' records, `positions.rs`) only after every page of the batch was posted; an event
//! shown nowhere is recorded with the next batch or card edit, never ahead of a message still
//! waiting. A crash (or an abort at the shutdown deadline) after a post and before its record
//! leaves posts the store does not know of (up to a second of them under load: the writer's
//! pace); they carry marks, and a resumed relay reads them back instead of posting them again
//! (`resume.rs`).

use std::sync::Arc;
use std::time::SystemTime;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::buttons::{ButtonsCache, CardShared};
use super::card::ProgressCard;
use super::pace::Batch;
use super::render::{OutcomeContext, render_event};
use super::send::{Outbox, SendError};
use super::{Hub, RelayEnd};
use crate::backend::{
    BackendClient, EventId, EventKind, Followed, JobEvent, JobId, RunnerJob, StreamEnd,
};
use crate::store::{FollowedJob, Verbosity};

/// The state of one running relay.
pub(crate) struct Relay {
    pub(crate) hub: Arc<Hub>,
    pub(crate) job: FollowedJob,
    /// The client of the job's workspace.
    pub(crate) backend: BackendClient,
    /// Shared with the card's edit on the wire (`card_edit.rs`).
    pub(crate) out: Arc<Outbox>,
    pub(crate) verbosity: watch::Receiver<Verbosity>,
    pub(crate) card: ProgressCard,
    /// The card needs an edit.
    pub(crate) card_dirty: bool,
    /// The card's message refused an edit for good: stop editing it (never post a second).
    pub(crate) card_broken: bool,
    pub(crate) next_card_edit: Instant,
    /// The card's text and buttons as last written: an edit that would not change them is
    /// skipped, since every edit counts against the platform's rate limit.
    pub(crate) card_text: Option<(String, Arc<[mosaic_chat::Button]>)>,
    /// The card's buttons as last derived (shared by the edits while they stay the same).
    pub(crate) buttons: ButtonsCache,
    /// The card's message id, shared with each edit on the wire (`card_edit.rs`).
    pub(crate) card_id: Option<Arc<str>>,
    /// The card's edit on the wire, run beside the loop (`card_edit.rs`).
    pub(crate) editing: Option<super::card_edit::Editing>,
    /// What the card carries, as the hub answers presses from it.
    pub(crate) shared: Arc<CardShared>,
    /// Whether someone asked to cancel the job (the card drops Cancel).
    pub(crate) cancelling: watch::Receiver<bool>,
    /// The card keeps no button whatever its state: the platform shows none, or the
    /// backend refused the bot.
    pub(crate) no_buttons: bool,
    pub(crate) batch: Batch,
    /// The last event taken in, with its sequence number.
    pub(crate) position: Option<(EventId, u64)>,
    /// The sequence number last handed to the store's writer.
    pub(crate) recorded_seq: u64,
    /// The last position handed to the writer, until it is known committed.
    pub(crate) recording: Option<super::positions::Recording>,
    /// The id of the last page posted, until a record carries it.
    pub(crate) last_post: Option<String>,
    /// The sequence number of the first event of the batch (for its posts' marks).
    pub(crate) batch_first: u64,
    /// A resumed relay: what was posted before and not recorded (`resume.rs`).
    pub(crate) shown: Option<super::resume::Shown>,
    /// A post refused for good: nothing more is posted for this job (logged once).
    pub(crate) muted: bool,
    /// A post was interrupted by shutdown: whether it arrived is unknown, so nothing after
    /// the last record may be recorded (a restart shows it again rather than losing it).
    pub(crate) frozen: bool,
    /// A `job.completed`/`failed`/`cancelled` event was taken in.
    pub(crate) outcome_seen: bool,
    /// When each event shown in the pending batch happened, for the lag metric.
    pub(crate) pending_since: Vec<SystemTime>,
    /// Stops this relay: the hub's shutdown, a hand-back to another replica, a lost lease.
    pub(crate) stop: tokio_util::sync::CancellationToken,
    /// Cancelled (with `stop`) when the lease is lost: stop without posting anything more.
    pub(crate) lost: tokio_util::sync::CancellationToken,
}

impl Relay {
    /// A relay for `job`, not yet started.
    pub(crate) fn new(
        hub: Arc<Hub>,
        job: FollowedJob,
        backend: BackendClient,
        out: Outbox,
        verbosity: watch::Receiver<Verbosity>,
        shared: Arc<CardShared>,
        (stop, lost): (
            tokio_util::sync::CancellationToken,
            tokio_util::sync::CancellationToken,
        ),
    ) -> Relay {
        Relay {
            stop,
            lost,
            cancelling: shared.cancelling.subscribe(),
            shared,
            no_buttons: !out.chat.renders_buttons(),
            backend,
            card: ProgressCard::new(&job.issue),
            recorded_seq: job.last_event_seq,
            recording: None,
            last_post: None,
            batch_first: 0,
            shown: None,
            position: None,
            hub,
            job,
            out: Arc::new(out),
            verbosity,
            card_dirty: false,
            card_broken: false,
            next_card_edit: Instant::now(),
            card_text: None,
            buttons: ButtonsCache::default(),
            card_id: None,
            editing: None,
            batch: Batch::default(),
            muted: false,
            frozen: false,
            outcome_seen: false,
            pending_since: Vec::new(),
        }
    }

    pub(crate) fn seq(&self) -> u64 {
        self.position
            .as_ref()
            .map_or(self.job.last_event_seq, |(_, seq)| *seq)
    }

    pub(crate) fn job_id(&self) -> JobId {
        JobId::new(self.job.job_id.clone())
    }

    /// The card as it should show now: its text and its buttons. Also tells the hub the
    /// state, for the presses it checks.
    pub(crate) fn card_now(&mut self) -> (Vec<String>, Arc<[mosaic_chat::Button]>) {
        self.shared.show(self.card.state());
        let buttons = self.buttons.get(
            self.card.state(),
            *self.cancelling.borrow(),
            *self.verbosity.borrow(),
            self.no_buttons,
        );
        (
            self.out.pages(&self.card.render(SystemTime::now())),
            buttons,
        )
    }

    /// Resolves when the thread's verbosity or the cancelling flag changes (both change the
    /// card's buttons); never once their senders are gone.
    async fn settings_changed(
        verbosity: &mut watch::Receiver<Verbosity>,
        cancelling: &mut watch::Receiver<bool>,
    ) {
        let changed = tokio::select! {
            changed = verbosity.changed() => changed,
            changed = cancelling.changed() => changed,
        };
        if changed.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Follows the job to its end, or until shutdown; `created`: the backend's answer to the
    /// job's creation, if it was just created here.
    ///
    /// `self` is boxed: an async fn keeps its arguments twice (as passed, and moved into the
    /// body's variable), so a `Relay` by value would cost every followed job ~1 KB more.
    pub(crate) async fn run(mut self: Box<Self>, created: Option<Box<RunnerJob>>) -> RelayEnd {
        let shutdown = self.stop.clone();
        let job_id = self.job_id();
        let resumed = self.job.card_message_id.is_some();
        // Every step below that waits on the platform, the store or the backend is boxed: a
        // relay spends its life waiting for the next event, and unboxed, its task kept room
        // for the largest of those steps all along (~7 KB a followed job, massif).
        // Fetched once for what the card shows before any event: status, times, issue link
        // (a job just created comes with them, boxed: the relay's task keeps room for its
        // arguments all its life). A failure is not fatal: the stream says what became of
        // the job.
        match created {
            Some(job) => self.card.apply_job(&job),
            None => tokio::select! {
                () = shutdown.cancelled() => return RelayEnd::Shutdown,
                fetched = Box::pin(self.backend.job(&job_id)) => match fetched {
                    Ok(job) => self.card.apply_job(&job),
                    Err(error) => tracing::warn!(%error, "could not fetch the job for its card"),
                },
            },
        }
        if !Box::pin(self.ensure_card()).await {
            return RelayEnd::Shutdown;
        }
        if resumed && !Box::pin(self.prepare_resume()).await {
            return RelayEnd::Shutdown;
        }
        let resume = self.job.last_event_id.clone().map(EventId::new);
        let mut stream = self.backend.follow(self.job_id(), resume);
        loop {
            let flush_at = self.batch.wake_at();
            let edit_at = (self.card_dirty && !self.card_broken && self.editing.is_none())
                .then_some(self.next_card_edit);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    if self.lost.is_cancelled() {
                        // Another replica may resume the job any moment: post nothing more.
                        return RelayEnd::LeaseLost;
                    }
                    Box::pin(self.wind_down()).await;
                    // Everything posted is recorded: a successor need not read it back.
                    self.record_settled();
                    Box::pin(self.settle()).await;
                    return RelayEnd::Shutdown;
                }
                () = at(flush_at) => Box::pin(self.flush()).await,
                () = at(edit_at) => self.start_edit(true),
                done = super::card_edit::edited(&mut self.editing) => self.edit_done(done),
                () = Self::settings_changed(&mut self.verbosity, &mut self.cancelling) => {
                    self.card_dirty = true;
                }
                item = stream.next() => match item {
                    Some(Followed::Event(event)) => self.take(event),
                    Some(Followed::End(end)) => return Box::pin(self.end(end)).await,
                    None => {
                        let end = StreamEnd::GaveUp {
                            attempts: 0,
                            last_error: "the event stream ended without saying why".into(),
                        };
                        return Box::pin(self.end(end)).await;
                    }
                },
            }
            if self.frozen {
                // Shutdown interrupted a post; nothing more can be recorded safely.
                Box::pin(self.settle()).await;
                return RelayEnd::Shutdown;
            }
        }
    }

    /// Posts the card if the job has none yet (a resumed relay edits its stored card).
    /// Returns false if shutdown interrupted it.
    async fn ensure_card(&mut self) -> bool {
        self.shared.show(self.card.state());
        if self.job.card_message_id.is_some() {
            // Its buttons are re-derived from the job as fetched, and written with the edit.
            self.card_dirty = true;
            return true;
        }
        let (pages, buttons) = self.card_now();
        let Some(text) = pages.first() else {
            return true;
        };
        let slot = self.out.reserve_slot();
        let stop = Some(&self.stop);
        match self.out.post_card_at(slot, text, &buttons, stop).await {
            Ok(id) => {
                if let Err(error) = self.hub.store.set_card(&self.job.job_id, &id).await {
                    tracing::error!(%error, "could not store the progress card's id");
                }
                self.job.card_message_id = Some(id);
                self.card_text = Some((text.clone(), buttons));
                self.next_card_edit = Instant::now() + self.out.limits.edit_interval;
                true
            }
            Err(SendError::Interrupted) => false,
            Err(SendError::Refused(error)) => {
                self.mute(&error);
                // No card exists to edit; without this every event would try.
                self.card_broken = true;
                true
            }
        }
    }

    /// Takes in one event: card, message, position.
    fn take(&mut self, event: JobEvent) {
        let seq = self.seq() + 1;
        if self.card.apply(&event) {
            self.card_dirty = true;
            self.shared.show(self.card.state());
        }
        let outcome = matches!(
            event.kind,
            EventKind::JobCompleted(_) | EventKind::JobFailed(_) | EventKind::JobCancelled(_)
        );
        self.outcome_seen |= outcome;
        let verbosity = *self.verbosity.borrow();
        // Only an outcome's message reads the context; the others need no copy of the name.
        let ctx = if outcome {
            self.outcome_context(event.timestamp)
        } else {
            OutcomeContext::default()
        };
        if let Some(metrics) = self.hub.metrics.get() {
            metrics.event_relayed(self.out.thread.platform.name());
        }
        if let Some(message) = render_event(&event, verbosity, &ctx)
            && !self.was_shown(seq, &message)
        {
            self.queue(message);
            if let Some(at) = event.timestamp {
                self.pending_since.push(at);
            }
        }
        self.position = Some((event.id, seq));
    }

    /// Whether a resumed relay finds event `seq`'s message among the posts its predecessor
    /// made without recording them (`resume.rs`).
    fn was_shown(&mut self, seq: u64, message: &mosaic_chat::Markup) -> bool {
        let Some(shown) = &mut self.shown else {
            return false;
        };
        let out = &self.out;
        let was = shown.was_shown(seq, || out.pages(message).join("\n"));
        if shown.is_spent(seq + 1) {
            self.shown = None;
        }
        was
    }

    pub(crate) fn outcome_context(&self, at: Option<SystemTime>) -> OutcomeContext {
        OutcomeContext {
            bot_name: self.hub.bot_name.clone(),
            duration: self.card.elapsed(at.unwrap_or_else(SystemTime::now)),
        }
    }

    /// Writes the card's current state (waiting for its edit interval), then records the
    /// position if nothing waits to be posted.
    pub(crate) async fn edit_card(&mut self, interruptible: bool) {
        // An edit still on the wire lands first: two edits of one card never race.
        self.finish_edit().await;
        if self.job.card_message_id.is_some() && !self.card_broken {
            super::send::sleep_until(self.next_card_edit).await;
        }
        // The loop's own edit, awaited here (`card_edit.rs`): its answer records the position.
        self.start_edit(interruptible);
        self.finish_edit().await;
    }

    /// Shutdown: post what waits (not interruptible: the hub's deadline bounds it), write the
    /// card, record; the job stays unfinished in the store, so a restart resumes it.
    async fn wind_down(&mut self) {
        if self.frozen {
            return;
        }
        self.finish_edit().await;
        self.post_batch(None).await;
        if self.card_dirty && !self.frozen {
            self.edit_card(false).await;
        }
    }

    /// Stops posting for this job after a refusal; the relay still follows and records.
    pub(crate) fn mute(&mut self, error: &mosaic_chat::ChatError) {
        tracing::error!(
            %error,
            platform = %self.out.thread.platform,
            channel = %self.out.thread.channel,
            "the platform refused a post; no longer posting for this job"
        );
        self.muted = true;
        // What waits is dropped with the error above; its events are still recorded, since
        // nothing will ever be posted for them.
        let _ = self.batch.take();
    }
}

/// Sleeps until `instant`, or for ever when there is none.
async fn at(instant: Option<Instant>) {
    match instant {
        Some(instant) => super::send::sleep_until(instant).await,
        None => std::future::pending().await,
    }
}
