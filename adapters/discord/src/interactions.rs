//! Which deferred interactions have been answered. Every `/mosaic` is
//! deferred at once (Discord wants an answer within 3 seconds); the first
//! answer the core sends fills the deferred response, later ones are
//! followups.

use std::collections::HashSet;

/// How many tokens are kept before the oldest are forgotten (a token lives
/// 15 minutes on Discord; this is far more than a bot sees in that time).
const REMEMBERED: usize = 10_000;

/// An interaction's reply handle: `"{application id}:{token}"`.
pub type Handle = String;

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
}
