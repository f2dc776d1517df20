//! The buttons of a progress card: what can be done with its job now. Pure: from the card's
//! state, whether a cancel was asked, and the thread's verbosity, to the buttons, so that a
//! running relay, a resumed one and a press checked against a finished job all agree.
//!
//! - **Cancel** while the job is queued or runs, until someone asked to cancel it;
//! - **Retry** once it failed or was cancelled (it retries this job, once);
//! - **Verbose** / **Quiet**, whichever is not the thread's mode, while the job runs (after
//!   the end there is nothing left to show more or less of);
//! - nothing once it completed, or the backend no longer has it.

use std::sync::{Arc, Mutex, PoisonError};

use mosaic_chat::{Button, ButtonStyle};
use tokio::sync::watch;

use super::card::CardState;
use crate::backend::JobStatus;
use crate::command::Action;
use crate::store::{FollowedJob, Verbosity};

/// The button ids, as presses name them.
pub const CANCEL: &str = "cancel";
pub const RETRY: &str = "retry";
pub const VERBOSE: &str = "verbose";
pub const QUIET: &str = "quiet";

/// The command a button stands for; `None` for an id no card ever carries.
pub fn button_action(id: &str) -> Option<Action> {
    match id {
        CANCEL => Some(Action::Cancel),
        RETRY => Some(Action::Retry),
        VERBOSE => Some(Action::Verbose),
        QUIET => Some(Action::Quiet),
        _ => None,
    }
}

/// What a button of `action` says.
pub fn button_label(action: Action) -> &'static str {
    match action {
        Action::Cancel => "Cancel",
        Action::Retry => "Retry",
        Action::Verbose => "Verbose",
        Action::Quiet => "Quiet",
        Action::Fix => "Fix",
        Action::Status => "Status",
        Action::Help => "Help",
    }
}

/// The buttons of a card in `state`.
pub fn card_buttons(state: CardState, cancelling: bool, verbosity: Verbosity) -> Vec<Button> {
    let button = |id: &str, action, style| Button::new(id, button_label(action), style);
    let mut buttons = Vec::new();
    match state {
        CardState::Queued | CardState::Running => {
            if !cancelling {
                buttons.push(button(CANCEL, Action::Cancel, ButtonStyle::Danger));
            }
            if verbosity != Verbosity::Verbose {
                buttons.push(button(VERBOSE, Action::Verbose, ButtonStyle::Default));
            }
            if verbosity != Verbosity::Quiet {
                buttons.push(button(QUIET, Action::Quiet, ButtonStyle::Default));
            }
        }
        CardState::Failed | CardState::Cancelled => {
            buttons.push(button(RETRY, Action::Retry, ButtonStyle::Primary));
        }
        CardState::Completed | CardState::Deleted => {}
    }
    buttons
}

/// The buttons the card of a job with no running relay carries, from the store alone: an
/// unfinished job's (its relay gave up, or has not resumed yet) as when it runs; a finished
/// one's by its final status.
pub fn stored_buttons(job: &FollowedJob) -> Vec<Button> {
    let state = if job.ended {
        CardState::from_status(&JobStatus::parse(&job.status)).unwrap_or(CardState::Deleted)
    } else {
        CardState::Running
    };
    card_buttons(state, false, job.verbosity)
}

/// A relay's card buttons as last derived, shared by every edit while what they depend on
/// stays the same: with the console's zero edit interval nearly every event edits the card,
/// and deriving them anew cost five allocations an edit for the same two or three buttons.
#[derive(Default)]
pub(crate) struct ButtonsCache(Option<(ButtonsKey, Arc<[Button]>)>);

/// What a card's buttons depend on: its state, whether a cancel was asked, the verbosity.
type ButtonsKey = (CardState, bool, Verbosity);

impl ButtonsCache {
    /// The buttons of a card in `state` ([`card_buttons`]); none at all when `no_buttons`.
    pub(crate) fn get(
        &mut self,
        state: CardState,
        cancelling: bool,
        verbosity: Verbosity,
        no_buttons: bool,
    ) -> Arc<[Button]> {
        // Without buttons the state does not matter: one key for all.
        let key = if no_buttons {
            (CardState::Deleted, false, Verbosity::default())
        } else {
            (state, cancelling, verbosity)
        };
        match &self.0 {
            Some((cached, buttons)) if *cached == key => Arc::clone(buttons),
            _ => {
                let buttons: Arc<[Button]> = if no_buttons {
                    Arc::new([])
                } else {
                    card_buttons(state, cancelling, verbosity).into()
                };
                self.0 = Some((key, Arc::clone(&buttons)));
                buttons
            }
        }
    }
}

/// What a running relay's card carries, shared between the relay (which writes the state it
/// takes in) and the hub (which answers presses from it, and passes on a cancel asked for).
pub(crate) struct CardShared {
    state: Mutex<CardState>,
    /// Someone asked to cancel the job: the card drops Cancel at once.
    pub(crate) cancelling: watch::Sender<bool>,
}

impl CardShared {
    pub(crate) fn new() -> CardShared {
        CardShared {
            state: Mutex::new(CardState::Queued),
            cancelling: watch::Sender::new(false),
        }
    }

    /// The card's job is now in `state`.
    pub(crate) fn show(&self, state: CardState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// The buttons the card carries in a thread at `verbosity`.
    pub(crate) fn buttons(&self, verbosity: Verbosity) -> Vec<Button> {
        let state = *self.state.lock().unwrap_or_else(PoisonError::into_inner);
        card_buttons(state, *self.cancelling.borrow(), verbosity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(buttons: &[Button]) -> Vec<&str> {
        buttons.iter().map(|b| b.id.as_str()).collect()
    }

    #[test]
    fn a_running_job_offers_cancel_and_the_modes_the_thread_is_not_in() {
        let running = |v| ids(&card_buttons(CardState::Running, false, v)).join(",");
        assert_eq!(running(Verbosity::Milestones), "cancel,verbose,quiet");
        assert_eq!(running(Verbosity::Verbose), "cancel,quiet");
        assert_eq!(running(Verbosity::Quiet), "cancel,verbose");
        let queued = card_buttons(CardState::Queued, true, Verbosity::Quiet);
        assert_eq!(ids(&queued), ["verbose"], "no cancel once asked");
    }

    #[test]
    fn retry_replaces_everything_once_the_job_failed_or_was_cancelled() {
        for state in [CardState::Failed, CardState::Cancelled] {
            let buttons = card_buttons(state, false, Verbosity::Milestones);
            assert_eq!(ids(&buttons), ["retry"]);
            assert_eq!(buttons[0].label, "Retry");
        }
        for state in [CardState::Completed, CardState::Deleted] {
            assert!(card_buttons(state, false, Verbosity::Verbose).is_empty());
        }
    }

    #[test]
    fn cached_buttons_are_shared_until_what_they_depend_on_changes() {
        let mut cache = ButtonsCache::default();
        let first = cache.get(CardState::Running, false, Verbosity::Verbose, false);
        assert_eq!(ids(&first), ["cancel", "quiet"]);
        let again = cache.get(CardState::Running, false, Verbosity::Verbose, false);
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same buttons are not derived again"
        );
        // Each of state, cancelling and verbosity changes them.
        let quiet = cache.get(CardState::Running, false, Verbosity::Quiet, false);
        assert_eq!(ids(&quiet), ["cancel", "verbose"]);
        let cancelling = cache.get(CardState::Running, true, Verbosity::Quiet, false);
        assert_eq!(ids(&cancelling), ["verbose"]);
        let failed = cache.get(CardState::Failed, true, Verbosity::Quiet, false);
        assert_eq!(ids(&failed), ["retry"]);
        let back = cache.get(CardState::Running, false, Verbosity::Verbose, false);
        assert_eq!(*back, *first);
        assert!(!Arc::ptr_eq(&back, &first), "derived again after a change");
        // A platform without buttons gets none, whatever the state.
        assert!(
            cache
                .get(CardState::Running, false, Verbosity::Quiet, true)
                .is_empty()
        );
        assert!(
            cache
                .get(CardState::Failed, false, Verbosity::Quiet, true)
                .is_empty()
        );
    }

    #[test]
    fn every_button_stands_for_its_command() {
        for state in [CardState::Running, CardState::Failed] {
            for b in card_buttons(state, false, Verbosity::Milestones) {
                let action = button_action(&b.id);
                assert_eq!(action.map(|a| a.word()), Some(b.id.as_str()));
                assert_eq!(action.map(button_label), Some(b.label.as_str()));
            }
        }
        assert_eq!(button_action("fix"), None);
    }
}
