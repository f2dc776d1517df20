//! A relay's batches: messages queued into the batch, the batch posted page by page in its
//! slots, and the position recorded only once every page is posted (the exactly-once half of
//! the relay's loop in `task.rs`; the reading back after a crash is `resume.rs`).

use std::time::SystemTime;

use tokio::time::Instant;

use super::pace::FlushDecision;
use super::send::SendError;
use super::task::Relay;

impl Relay {
    /// Adds a message to the batch, reserving a post slot for a new batch.
    pub(crate) fn queue(&mut self, message: mosaic_chat::Markup) {
        if self.muted {
            return;
        }
        if self.batch.push(message) {
            // The event being taken in (`take` moves the position after queueing); an end
            // message queued after the last event names that one.
            self.batch_first = self.seq() + 1;
            let slot = self.out.reserve_slot();
            self.batch.set_slot(slot);
        }
    }

    /// Posts the batch (each page in a slot of its own), then records what it covered.
    pub(crate) async fn post_batch(&mut self, stop: Option<&tokio_util::sync::CancellationToken>) {
        if self.batch.decide(Instant::now()) == FlushDecision::Idle {
            self.record();
            return;
        }
        // The slot reserved when the batch began (it may still lie ahead during wind-down).
        let first_slot = self.batch.wake_at().unwrap_or_else(Instant::now);
        let markup = self.batch.take();
        let shown = std::mem::take(&mut self.pending_since);
        let pages = self.out.pages(&markup);
        let last_seq = self.seq();
        let mut mark = mosaic_chat::PostMark {
            job_id: self.job.job_id.clone(),
            first_seq: self.batch_first.min(last_seq),
            last_seq,
            page: 0,
            pages: u32::try_from(pages.len()).unwrap_or(u32::MAX),
        };
        for (i, page) in pages.iter().enumerate() {
            let slot = if i == 0 {
                first_slot
            } else {
                self.out.reserve_slot()
            };
            mark.page = u32::try_from(i).unwrap_or(u32::MAX);
            match self.out.post_marked_at(slot, page, &mark, stop).await {
                Ok(id) => {
                    self.last_post = Some(id);
                    super::fault::relay_posted();
                }
                Err(SendError::Interrupted) => {
                    self.frozen = true;
                    return;
                }
                Err(SendError::Refused(error)) => {
                    self.mute(&error);
                    break;
                }
            }
        }
        if let (Some(metrics), false) = (self.hub.metrics.get(), self.muted) {
            let now = SystemTime::now();
            for at in shown {
                let lag = now.duration_since(at).unwrap_or_default();
                metrics.relay_lag(self.out.thread.platform.name(), lag);
            }
        }
        self.record();
    }

    /// Records the position, when no message of an event up to it still waits.
    pub(crate) fn record(&mut self) {
        if let Some(position) = self.next_position(false) {
            // Grouped with other relays' records into one commit (`positions.rs`); awaited
            // only by `settle`, so a slow commit does not hold back the next event.
            self.recording = Some(self.hub.positions().submit(position));
        }
    }

    /// The position to record now, if any: none while a post's fate is unknown, a message
    /// still waits, or nothing new was taken in. Taken: it counts as recorded.
    pub(crate) fn next_position(&mut self, settled: bool) -> Option<crate::store::Position> {
        let (_, seq) = self.position.as_ref()?;
        if *seq <= self.recorded_seq {
            return None;
        }
        self.position_now(settled)
    }

    /// The position now, handed to the writer already or not (a relay's end writes it with
    /// the job's status rather than wait for the writer; a stopping relay records it as
    /// settled): the last event taken in, or the stored one if none was. None while a post's
    /// fate is unknown or a message still waits, or when the job has no position at all.
    pub(crate) fn position_now(&mut self, settled: bool) -> Option<crate::store::Position> {
        if self.frozen || !self.batch.is_empty() {
            return None;
        }
        let (event_id, seq) = match &self.position {
            Some((id, seq)) => (id.as_str().to_owned(), *seq),
            None => (self.job.last_event_id.clone()?, self.job.last_event_seq),
        };
        self.recorded_seq = seq;
        Some(crate::store::Position {
            job_id: self.job.job_id.clone(),
            event_id,
            seq,
            post_id: self.last_post.take(),
            settled,
        })
    }

    /// Waits until the last position handed over is in the store: before the relay stops.
    pub(crate) async fn settle(&mut self) {
        if let Some(recording) = self.recording.take()
            && let Err(error) = recording.committed().await
        {
            tracing::error!(%error, "could not record the relayed position");
        }
    }
}
