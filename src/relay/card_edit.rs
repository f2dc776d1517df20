//! The progress card's edits, beside the relay's loop. An edit can wait a long time: for the
//! platform's edit budget (Slack counts `chat.update` per workspace), or retrying a refused
//! one with backoff. Awaited in the loop, that wait held back the posts of every event behind
//! it; here the edit is a future the relay owns and polls beside its other waits — in the
//! loop's `select!`, and beside a batch's posts in [`Relay::flush`] — so the loop goes on
//! posting and the edit goes on meanwhile. One edit of a card is on the wire at a time, and
//! any other write of the card (the final edit, wind-down) waits for it first, so two edits
//! never race and the last one written wins.
//!
//! Not a task of its own: with the console's zero edit interval nearly every event edits the
//! card, and a spawned task per edit cost a task allocation, a hop to the scheduler (often a
//! wake-up of the other worker) and a wake-up of the relay by its join handle, for an edit
//! that on most platforms is one queued write. Dropped unanswered (a relay that stops for a
//! lost lease, or is aborted), the future is gone with the relay: no edit is left behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mosaic_chat::Button;
use sync_wrapper::SyncWrapper;
use tokio::time::Instant;

use super::send::SendError;
use super::task::Relay;

/// What an edit ends with: its answer, and what it wrote.
pub(crate) type Edited = (Result<(), SendError>, String, Arc<[Button]>);

/// An edit on the wire, polled by the relay that owns it; dropping it cancels the edit.
/// (`SyncWrapper`: the relay is shared by reference across awaits, so it must be `Sync`; the
/// edit is only ever polled through `&mut`.)
pub(crate) struct Editing(SyncWrapper<Pin<Box<dyn Future<Output = Edited> + Send>>>);

impl Relay {
    /// The card's text and buttons as they should show now, unless the card already shows
    /// them (an edit that changes nothing is not sent: each counts against the platform's
    /// limit).
    pub(crate) fn card_change(&mut self) -> Option<(String, Arc<[Button]>)> {
        let (pages, buttons) = self.card_now();
        let text = pages.into_iter().next().unwrap_or_default();
        let unchanged = self
            .card_text
            .as_ref()
            .is_some_and(|(t, b)| *t == text && (Arc::ptr_eq(b, &buttons) || *b == buttons));
        (!unchanged).then_some((text, buttons))
    }

    /// Starts writing the card's current state, beside the loop (the loop calls it once
    /// the card's edit interval has passed); when `interruptible`, a stop interrupts its waits
    /// between attempts. With nothing to write, it records the position at once.
    pub(crate) fn start_edit(&mut self, interruptible: bool) {
        self.card_dirty = false;
        let (Some(id), false) = (self.card_id(), self.card_broken) else {
            self.record();
            return;
        };
        let Some((text, buttons)) = self.card_change() else {
            self.record();
            return;
        };
        let out = Arc::clone(&self.out);
        let stop = self.stop.clone();
        self.editing = Some(Editing(SyncWrapper::new(Box::pin(async move {
            let stop = interruptible.then_some(&stop);
            let answer = out.edit(&id, &text, &buttons, stop).await;
            (answer, text, buttons)
        }))));
    }

    /// The card's message id, if it has one, shared rather than copied for each edit.
    fn card_id(&mut self) -> Option<Arc<str>> {
        let id = self.job.card_message_id.as_deref()?;
        match &self.card_id {
            Some(shared) if **shared == *id => {}
            _ => self.card_id = Some(Arc::from(id)),
        }
        self.card_id.clone()
    }

    /// The loop's flush: posts the batch while the edit on the wire, if any, goes on beside
    /// it; the edit's answer, if it came meanwhile, is taken in once the posts are done (as
    /// the loop would have).
    pub(crate) async fn flush(&mut self) {
        let stop = self.stop.clone();
        // An edit due now starts with the posts rather than after them: it is queued right
        // behind them, not after the loop's next turn.
        if self.editing.is_none()
            && self.card_dirty
            && !self.card_broken
            && self.next_card_edit <= Instant::now()
        {
            self.start_edit(true);
        }
        let Some(mut editing) = self.editing.take() else {
            return self.post_batch(Some(&stop)).await;
        };
        let mut answer = None;
        {
            let post = self.post_batch(Some(&stop));
            tokio::pin!(post);
            loop {
                tokio::select! {
                    // The posts first: the edit is written after them, as the loop would.
                    biased;
                    () = &mut post => break,
                    done = editing.0.get_mut().as_mut(), if answer.is_none() => answer = Some(done),
                }
            }
        }
        match answer {
            Some(done) => self.edit_done(done),
            None => self.editing = Some(editing),
        }
    }

    /// Waits for the edit on the wire, if any, and takes in its answer.
    pub(crate) async fn finish_edit(&mut self) {
        if let Some(mut editing) = self.editing.take() {
            let done = editing.0.get_mut().as_mut().await;
            self.edit_done(done);
        }
    }

    /// Takes in the answer of an edit: what the card shows now, or that it can no longer be
    /// edited; the next edit waits the platform's interval from now.
    pub(crate) fn edit_done(&mut self, done: Edited) {
        match done {
            (Ok(()), text, buttons) => self.card_text = Some((text, buttons)),
            // Cut short by a stop: the wind-down writes the card again.
            (Err(SendError::Interrupted), ..) => self.card_dirty = true,
            (Err(SendError::Refused(error)), ..) => self.card_refused(&error),
        }
        self.next_card_edit = Instant::now() + self.out.limits.edit_interval;
        self.record();
    }

    /// The card's message refused an edit for good: it is no longer edited (a second card is
    /// never posted).
    pub(crate) fn card_refused(&mut self, error: &mosaic_chat::ChatError) {
        tracing::error!(
            %error,
            platform = %self.out.thread.platform,
            channel = %self.out.thread.channel,
            "the progress card refused an edit; no longer editing it"
        );
        self.card_broken = true;
    }
}

/// Resolves with the answer of the edit on the wire; never while there is none.
pub(crate) async fn edited(editing: &mut Option<Editing>) -> Edited {
    match editing {
        Some(edit) => {
            let done = edit.0.get_mut().as_mut().await;
            *editing = None;
            done
        }
        None => std::future::pending().await,
    }
}
