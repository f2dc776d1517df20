//! The workspace's budget of `chat.update` calls. Slack rates `chat.update`
//! Tier 3, about 50 a minute per workspace and app
//! (<https://api.slack.com/methods/chat.update>,
//! <https://api.slack.com/apis/rate-limits#tiers>): every job's progress
//! card draws on the same budget. Each edit reserves the next slot of a
//! sliding window (never more than `count` calls in any `per`), first come
//! first served, and waits for it; so many parallel jobs each get fewer card
//! edits instead of a storm of 429s. The port's `edit` is answered when the
//! edit is made, so while a card's edit waits, its relay waits with it (its
//! next posts and edits come after; the next edit shows the latest state).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How many calls may be made in any window of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Calls allowed in one window.
    pub count: usize,
    /// The window's length.
    pub per: Duration,
}

impl Budget {
    /// Tier 3: 50 a minute.
    pub const TIER_3: Budget = Budget {
        count: 50,
        per: Duration::from_secs(60),
    };
}

/// A sliding-window limiter: the instants of the last `count` calls.
pub(crate) struct Window {
    budget: Budget,
    slots: Mutex<VecDeque<Instant>>,
}

impl Window {
    pub(crate) fn new(budget: Budget) -> Window {
        Window {
            budget: Budget {
                count: budget.count.max(1),
                per: budget.per,
            },
            slots: Mutex::default(),
        }
    }

    /// Reserves the next free slot at or after `now`.
    fn reserve(&self, now: Instant) -> Instant {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = if slots.len() < self.budget.count {
            now.max(slots.back().copied().unwrap_or(now))
        } else {
            // The call `count` places back leaves the window `per` after it.
            let oldest = slots[slots.len() - self.budget.count];
            now.max(oldest + self.budget.per)
        };
        slots.push_back(slot);
        while slots.len() > self.budget.count {
            slots.pop_front();
        }
        slot
    }

    /// Waits for this call's turn.
    pub(crate) async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_count_calls_in_any_window() {
        let window = Window::new(Budget {
            count: 3,
            per: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..7).map(|_| window.reserve(t0) - t0).collect();
        let s = Duration::from_secs;
        assert_eq!(slots, [s(0), s(0), s(0), s(10), s(10), s(10), s(20)]);
        // Idle time frees the window again.
        assert_eq!(window.reserve(t0 + s(100)) - t0, s(100));
    }
}
