//! The progress card's edits, beside the relay's loop. An edit can wait a long time: for the
//! platform's edit budget (Slack counts `chat.update` per workspace), or retrying a refused
//! one with backoff. Awaited in the loop, that wait held back the posts of every event behind
//! it; here the loop's edits run as a task of their own, and the loop goes on posting. One
//! edit of a card is on the wire at a time, and any other write of the card (the final edit,
//! wind-down) waits for it first, so two edits never race and the last one written wins.

use mosaic_chat::Button;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::send::SendError;
use super::task::Relay;

/// What an edit task ends with: its answer, and what it wrote.
pub(crate) type Edited = (Result<(), SendError>, String, Vec<Button>);

/// An edit on the wire, aborted if dropped unanswered: a relay that stops for a lost lease
/// (another replica may be editing the card already) or is aborted leaves no edit behind.
pub(crate) struct Editing(JoinHandle<Edited>);

impl Drop for Editing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Relay {
    /// The card's text and buttons as they should show now, unless the card already shows
    /// them (an edit that changes nothing is not sent: each counts against the platform's
    /// limit).
    pub(crate) fn card_change(&self) -> Option<(String, Vec<Button>)> {
        let (pages, buttons) = self.card_now();
        let text = pages.into_iter().next().unwrap_or_default();
        let unchanged = self
            .card_text
            .as_ref()
            .is_some_and(|(t, b)| *t == text && *b == buttons);
        (!unchanged).then_some((text, buttons))
    }

    /// Starts writing the card's current state, in a task of its own (the loop calls it once
    /// the card's edit interval has passed); when `interruptible`, a stop interrupts its waits
    /// between attempts. With nothing to write, it records the position at once.
    pub(crate) fn start_edit(&mut self, interruptible: bool) {
        self.card_dirty = false;
        let (Some(id), false) = (self.job.card_message_id.clone(), self.card_broken) else {
            self.record();
            return;
        };
        let Some((text, buttons)) = self.card_change() else {
            self.record();
            return;
        };
        let out = self.out.clone();
        let stop = self.stop.clone();
        self.editing = Some(Editing(tokio::spawn(
            async move {
                let stop = interruptible.then_some(&stop);
                let answer = out.edit(&id, &text, &buttons, stop).await;
                (answer, text, buttons)
            }
            .in_current_span(),
        )));
    }

    /// Waits for the edit on the wire, if any, and takes in its answer.
    pub(crate) async fn finish_edit(&mut self) {
        if let Some(mut editing) = self.editing.take() {
            let done = (&mut editing.0).await;
            self.edit_done(done);
        }
    }

    /// Takes in the answer of an edit: what the card shows now, or that it can no longer be
    /// edited; the next edit waits the platform's interval from now.
    pub(crate) fn edit_done(&mut self, done: Result<Edited, tokio::task::JoinError>) {
        match done {
            Ok((Ok(()), text, buttons)) => self.card_text = Some((text, buttons)),
            // Cut short by a stop: the wind-down writes the card again.
            Ok((Err(SendError::Interrupted), ..)) => self.card_dirty = true,
            Ok((Err(SendError::Refused(error)), ..)) => self.card_refused(&error),
            Err(error) => {
                tracing::error!(%error, "a card edit's task failed; editing again");
                self.card_dirty = true;
            }
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
pub(crate) async fn edited(
    editing: &mut Option<Editing>,
) -> Result<Edited, tokio::task::JoinError> {
    match editing {
        Some(handle) => {
            let done = (&mut handle.0).await;
            *editing = None;
            done
        }
        None => std::future::pending().await,
    }
}
