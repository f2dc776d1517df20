//! [`Handled`]: the dedupe keys of messages already sent to the inbox, so
//! that a post Slack delivers twice (an `app_mention` and a `message` event,
//! or a retried delivery) is handled once.

use std::collections::{HashSet, VecDeque};

/// How many keys are remembered: far more than Slack retries within its
/// retry window (about an hour), bounded so memory stays flat.
const REMEMBERED_POSTS: usize = 10_000;

/// Keys already handled, oldest forgotten first.
#[derive(Default)]
pub(crate) struct Handled {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Handled {
    /// Records `id`; false when it was handled before.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > REMEMBERED_POSTS
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_handled_once() {
        let mut handled = Handled::default();
        assert!(handled.insert("p1"));
        assert!(!handled.insert("p1"));
        for i in 0..REMEMBERED_POSTS {
            handled.insert(&i.to_string());
        }
        assert!(handled.ids.len() <= REMEMBERED_POSTS);
    }
}
