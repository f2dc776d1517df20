//! Which deferred interactions have been answered, and which `fix`
//! invocations still wait for the thread they start. The core answers a
//! slash `fix` by starting a thread, not privately: the adapter then fills
//! the deferred response itself with a link to that thread, or Discord would
//! show "the application did not respond".

use std::collections::{HashMap, HashSet, VecDeque};

/// How many tokens are kept before the oldest are forgotten (a token lives
/// 15 minutes on Discord; this is far more than a bot sees in that time).
const REMEMBERED: usize = 10_000;

/// An interaction's reply handle: `"{application id}:{token}"`.
pub type Handle = String;

/// The bookkeeping; pure, behind the adapter's lock.
#[derive(Debug, Default)]
pub struct Interactions {
    answered: HashSet<Handle>,
    /// Channel → `fix` invocations deferred there, oldest first.
    awaiting_thread: HashMap<String, VecDeque<Handle>>,
}

impl Interactions {
    /// A deferred `fix` in `channel` that will start a thread.
    pub fn expect_thread(&mut self, channel: &str, handle: Handle) {
        if self.awaiting_thread.len() >= REMEMBERED {
            self.awaiting_thread.clear();
        }
        self.awaiting_thread
            .entry(channel.to_owned())
            .or_default()
            .push_back(handle);
    }

    /// Records an answer to `handle`; true when it is the first, which
    /// fills the deferred response (later ones are followups).
    pub fn answer(&mut self, handle: &str) -> bool {
        if self.answered.len() >= REMEMBERED {
            self.answered.clear();
        }
        self.answered.insert(handle.to_owned())
    }

    /// The oldest `fix` in `channel` not answered yet, now answered by the
    /// thread just started there.
    pub fn thread_started(&mut self, channel: &str) -> Option<Handle> {
        let queue = self.awaiting_thread.get_mut(channel)?;
        while let Some(handle) = queue.pop_front() {
            if self.answered.insert(handle.clone()) {
                return Some(handle);
            }
        }
        None
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
    }

    #[test]
    fn a_started_thread_answers_the_oldest_waiting_fix_of_its_channel() {
        let mut i = Interactions::default();
        i.expect_thread("c1", "1:a".into());
        i.expect_thread("c1", "1:b".into());
        i.expect_thread("c2", "1:c".into());
        // `a` was answered privately (an error): it waits no more.
        assert!(i.answer("1:a"));
        assert_eq!(i.thread_started("c1").as_deref(), Some("1:b"));
        assert_eq!(i.thread_started("c1"), None);
        assert!(!i.answer("1:b"), "the thread's link was the first answer");
        assert_eq!(i.thread_started("c2").as_deref(), Some("1:c"));
    }
}
