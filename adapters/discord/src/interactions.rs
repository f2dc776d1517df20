//! Which deferred interactions have been answered. Every `/mosaic` is
//! deferred at once (Discord wants an answer within 3 seconds); the first
//! answer the core sends fills the deferred response, later ones are
//! followups. A button press is deferred as an update of the card: its
//! "original response" is the card itself, so every answer to a press is
//! a followup (interactions/receiving-and-responding, "Interaction Callback
//! Type": DEFERRED_UPDATE_MESSAGE edits the original message later).

use std::collections::HashSet;

/// How many tokens are kept before the oldest are forgotten (a token lives
/// 15 minutes on Discord; this is far more than a bot sees in that time).
const REMEMBERED: usize = 10_000;

/// An interaction's reply handle: `"{application id}:{token}"`, and
/// [`PRESS`] after it for a button press.
pub type Handle = String;

/// The mark of a press's handle: answered by followups only.
const PRESS: &str = ":press";

/// The reply handle of a press of interaction `token`.
pub fn press_handle(application: u64, token: &str) -> Handle {
    format!("{application}:{token}{PRESS}")
}

/// The bookkeeping; pure, behind the adapter's lock.
#[derive(Debug, Default)]
pub struct Interactions {
    answered: HashSet<Handle>,
}

impl Interactions {
    /// Records an answer to `handle`; true when it is the first, which
    /// fills the deferred response (later ones are followups).
    pub fn answer(&mut self, handle: &str) -> bool {
        if self.answered.len() >= REMEMBERED {
            self.answered.clear();
        }
        self.answered.insert(handle.to_owned())
    }

    /// Where an answer to `handle` goes: its application, its token, and
    /// whether it fills the deferred response (else it is a followup).
    /// `None` when `handle` is no interaction's.
    pub fn route<'h>(&mut self, handle: &'h str) -> Option<(&'h str, &'h str, bool)> {
        if let Some(press) = handle.strip_suffix(PRESS) {
            let (application, token) = press.split_once(':')?;
            return Some((application, token, false));
        }
        let (application, token) = handle.split_once(':')?;
        Some((application, token, self.answer(handle)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_answer_fills_the_response_and_later_ones_follow_up() {
        let mut i = Interactions::default();
        assert!(i.answer("1:a"));
        assert!(!i.answer("1:a"));
        assert!(i.answer("1:b"));
    }

    #[test]
    fn a_press_is_answered_by_followups_only() {
        let mut i = Interactions::default();
        let press = press_handle(1, "t");
        assert_eq!(i.route(&press), Some(("1", "t", false)));
        assert_eq!(i.route(&press), Some(("1", "t", false)));
        assert_eq!(i.route("1:s"), Some(("1", "s", true)));
        assert_eq!(i.route("1:s"), Some(("1", "s", false)));
        assert_eq!(i.route("none"), None);
    }
}
