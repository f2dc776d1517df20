//! [`Handled`]: the ids of messages an adapter already turned into an
//! `Inbound`, so a message a platform delivers twice (a WebSocket event and a
//! resync after a reconnect, an `app_mention` and a `message` event, a retried
//! delivery) is handed to the core once. The core dedupes again by
//! `Inbound::dedupe_key`, durably; this is the cheap first line, in memory.

use std::collections::{HashSet, VecDeque};

/// How many ids are remembered: far more than a reconnect's resync brings
/// back, bounded so memory stays flat in a bot that runs for months.
const REMEMBERED: usize = 10_000;

/// Message ids already handled, the oldest forgotten first.
#[derive(Debug, Default)]
pub struct Handled {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Handled {
    /// Records `id`; false when it was handled before.
    pub fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > REMEMBERED
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
    fn a_message_is_handled_once_and_memory_stays_bounded() {
        let mut handled = Handled::default();
        assert!(handled.insert("p1"));
        assert!(!handled.insert("p1"));
        for i in 0..REMEMBERED {
            handled.insert(&i.to_string());
        }
        assert!(handled.ids.len() <= REMEMBERED);
        assert!(handled.insert("p1"), "the oldest id was forgotten");
    }
}
