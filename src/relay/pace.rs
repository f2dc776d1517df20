//! Pacing: posts in one channel stay `Limits::post_interval` apart, whichever relay makes
//! them, and a relay that must wait gathers what it has to say into one message.
//!
//! [`ChannelPacer`] is a table of the next free post slot per (platform, channel), shared by
//! the hub's relays. It is hand-written rather than `governor`: the relay needs to *reserve*
//! a slot in the future and know its instant up front, so that it can keep batching until
//! then; governor answers "allowed now or not until T" without reserving, and would add a
//! dependency for twenty lines. [`Batch`] is the pure half: what is waiting, and when to send.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use mosaic_chat::{Markup, Platform};
use tokio::time::Instant;

/// The next free post slot of every channel the relays post in.
#[derive(Debug, Default)]
pub struct ChannelPacer {
    /// Keyed by platform, then channel: a reservation in a known channel looks it up by
    /// `&str`, without copying its name (a tuple key would need an owned `String` per event).
    next_free: Mutex<HashMap<Platform, HashMap<String, Instant>>>,
}

/// Above this many channels, slots already in the past are forgotten (they constrain nothing).
const PRUNE_ABOVE: usize = 1024;

impl ChannelPacer {
    /// Reserves the first free slot in `channel` at or after `now`, and holds the channel
    /// for `interval` after it. Returns the instant the post may go.
    pub fn reserve(
        &self,
        platform: Platform,
        channel: &str,
        interval: Duration,
        now: Instant,
    ) -> Instant {
        let mut table = self
            .next_free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let channels = table.entry(platform).or_default();
        if channels.len() > PRUNE_ABOVE {
            channels.retain(|_, next| *next > now);
        }
        // Looked up by `&str`: a known channel's name is not copied per reservation.
        match channels.get_mut(channel) {
            Some(next) => {
                let slot = (*next).max(now);
                *next = slot + interval;
                slot
            }
            // Without an interval a free channel is not held after the post (the console's
            // every post): nothing to remember, no copy of its name a post.
            None if interval.is_zero() => now,
            None => {
                channels.insert(channel.to_owned(), now + interval);
                now
            }
        }
    }

    /// Pushes the channel's next free slot to at least `until` (the platform said to wait).
    pub fn hold(&self, platform: Platform, channel: &str, until: Instant) {
        let mut table = self
            .next_free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let channels = table.entry(platform).or_default();
        match channels.get_mut(channel) {
            Some(next) => *next = (*next).max(until),
            None => {
                channels.insert(channel.to_owned(), until);
            }
        }
    }
}

/// Messages waiting for their post slot, and the last event they cover.
#[derive(Debug, Default)]
pub struct Batch {
    messages: Vec<Markup>,
    /// The slot reserved for the batch's post, once it holds a message.
    slot: Option<Instant>,
}

/// What to do with a batch now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushDecision {
    /// Nothing is waiting.
    Idle,
    /// Keep gathering until the slot.
    WaitUntil(Instant),
    /// Post it.
    PostNow,
}

impl Batch {
    /// Adds a message; returns true when the batch was empty, so a slot must be reserved.
    pub fn push(&mut self, message: Markup) -> bool {
        self.messages.push(message);
        self.messages.len() == 1 && self.slot.is_none()
    }

    /// Sets the slot reserved for this batch.
    pub fn set_slot(&mut self, slot: Instant) {
        self.slot = Some(slot);
    }

    /// Whether any message waits.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Decides, at `now`, whether to post (pure).
    pub fn decide(&self, now: Instant) -> FlushDecision {
        match (self.messages.is_empty(), self.slot) {
            (true, _) => FlushDecision::Idle,
            (false, Some(slot)) if slot > now => FlushDecision::WaitUntil(slot),
            (false, _) => FlushDecision::PostNow,
        }
    }

    /// The instant to wake up for this batch, if any.
    pub fn wake_at(&self) -> Option<Instant> {
        match self.decide(Instant::now()) {
            FlushDecision::Idle => None,
            FlushDecision::WaitUntil(at) => Some(at),
            FlushDecision::PostNow => Some(Instant::now()),
        }
    }

    /// Takes every waiting message as one, clearing the batch and its slot.
    pub fn take(&mut self) -> Markup {
        self.slot = None;
        std::mem::take(&mut self.messages)
            .into_iter()
            .fold(Markup::new(), Markup::append)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: Platform = Platform::new("console");

    #[test]
    fn posts_in_one_channel_are_spaced_by_the_interval() {
        let pacer = ChannelPacer::default();
        let now = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(pacer.reserve(CONSOLE, "c1", second, now), now);
        assert_eq!(pacer.reserve(CONSOLE, "c1", second, now), now + second);
        assert_eq!(pacer.reserve(CONSOLE, "c1", second, now), now + 2 * second);
        // Another channel, or the same name on another platform, is not held back.
        assert_eq!(pacer.reserve(CONSOLE, "c2", second, now), now);
        assert_eq!(
            pacer.reserve(Platform::new("slack"), "c1", second, now),
            now
        );
    }

    #[test]
    fn a_quiet_channel_posts_at_once_again() {
        let pacer = ChannelPacer::default();
        let now = Instant::now();
        let second = Duration::from_secs(1);
        pacer.reserve(CONSOLE, "c1", second, now);
        let later = now + Duration::from_secs(10);
        assert_eq!(pacer.reserve(CONSOLE, "c1", second, later), later);
    }

    #[test]
    fn a_hold_pushes_the_next_slot() {
        let pacer = ChannelPacer::default();
        let now = Instant::now();
        pacer.hold(CONSOLE, "c1", now + Duration::from_secs(5));
        assert_eq!(
            pacer.reserve(CONSOLE, "c1", Duration::from_secs(1), now),
            now + Duration::from_secs(5)
        );
    }

    #[test]
    fn without_an_interval_posts_go_at_once_and_only_holds_are_kept() {
        let pacer = ChannelPacer::default();
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(pacer.reserve(CONSOLE, "c1", Duration::ZERO, now), now);
        }
        let channels = |pacer: &ChannelPacer| {
            let table = pacer
                .next_free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            table.get(&CONSOLE).map_or(0, HashMap::len)
        };
        assert_eq!(channels(&pacer), 0, "nothing remembered for a free channel");
        // A hold still holds the channel back, then lets it go.
        let held = now + Duration::from_secs(5);
        pacer.hold(CONSOLE, "c1", held);
        assert_eq!(pacer.reserve(CONSOLE, "c1", Duration::ZERO, now), held);
        let later = now + Duration::from_secs(10);
        assert_eq!(pacer.reserve(CONSOLE, "c1", Duration::ZERO, later), later);
        assert_eq!(pacer.reserve(CONSOLE, "c2", Duration::ZERO, now), now);
        assert_eq!(channels(&pacer), 1, "only the held channel");
    }

    #[test]
    fn a_batch_gathers_until_its_slot_then_posts_as_one_message() {
        let now = Instant::now();
        let mut batch = Batch::default();
        assert_eq!(batch.decide(now), FlushDecision::Idle);
        assert!(batch.push(Markup::new().line([mosaic_chat::Span::text("a")])));
        batch.set_slot(now + Duration::from_secs(1));
        assert!(!batch.push(Markup::new().line([mosaic_chat::Span::text("b")])));
        assert_eq!(
            batch.decide(now),
            FlushDecision::WaitUntil(now + Duration::from_secs(1))
        );
        assert_eq!(
            batch.decide(now + Duration::from_secs(1)),
            FlushDecision::PostNow
        );
        let message = batch.take();
        assert_eq!(message.blocks.len(), 2);
        assert!(batch.is_empty());
        assert_eq!(batch.decide(now), FlushDecision::Idle);
    }
}
