//! Message ids of one console run: the ids scripts give their messages, the
//! ids the console numbers for them (`m1`, `m2`, …) and the ids of the bot's
//! own messages (`b1`, `b2`, …), all in one namespace, as on a real platform
//! where a thread is named by the id of its first message.
//!
//! A numbered id must never name two messages. The console cannot see the
//! future, so it keeps both directions apart with one rule each:
//! - numbering skips every id already used (explicitly or numbered);
//! - an explicit id equal to one the console numbered earlier is refused
//!   (the line is skipped with a warning), since renaming it would break the
//!   script's own references to it.
//!
//! An explicit id given twice is allowed: it is the same message delivered
//! twice, which is exactly how a script tests the core's inbound dedupe.
//!
//! Numbers also never repeat across runs on one store: a restarted console
//! that posted `b1` again would have its new post taken for the old one, and
//! a numbered `m1` would be dropped as a message already handled. Each run
//! takes numbers in blocks whose end the bot's store records
//! ([`IdRegistry::reservation_needed`]) before any number of a block is used;
//! the next run starts after the last block recorded.

use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How many numbers of a kind a run takes at a time at first: one store write per
/// block, and at most a block and a half of numbers skipped by a restart
/// (bot blocks are recorded when the one before is half used).
pub(crate) const ID_BLOCK: u64 = 1000;

/// A bot block used up within this time makes the next one twice as large, and one that
/// lasted more than [`SLOW_BLOCK`] half as large (never under [`ID_BLOCK`]). At the relay
/// bench's peak (5,000 jobs, ~20,000 posts a second) a block of 1,000 lasted 50 ms, so its
/// successor, due at half of it, had 25 ms to be recorded: a store write queued behind a
/// commit of a few thousand rows took longer, and every post of every relay waited for the
/// block (up to 160 ms, measured). Grown to last seconds, a block is recorded well ahead.
const FAST_BLOCK: Duration = Duration::from_secs(10);
const SLOW_BLOCK: Duration = Duration::from_secs(60);

/// The largest bot block: at most a million and a half numbers skipped by a restart.
const MAX_BOT_BLOCK: u64 = 1 << 20;

/// The end of the block of `block` numbers after the one ending at `until`, `next` being the
/// last number used: the same for a block recorded ahead of need and for one
/// recorded when the last ran out, so the two never record different ends.
fn next_end(next: u64, until: u64, block: u64) -> u64 {
    until.max(next + 1) + block - 1
}

/// The two numbered kinds of id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbered {
    /// `m{n}`: an input message without an id.
    Message,
    /// `b{n}`: a message the bot posts.
    Bot,
}

impl Numbered {
    /// The store key under which the end of this kind's block is kept.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Numbered::Message => "ids:message",
            Numbered::Bot => "ids:bot",
        }
    }
}

/// The numbers of one kind minted in this run, as runs of consecutive numbers: numbering
/// only moves up, and jumps only where an earlier run's block is restored, so a run of
/// thousands of posts is one or two runs here instead of one map entry per id.
#[derive(Debug, Default)]
struct Minted(Vec<(u64, u64)>);

impl Minted {
    /// Records `number`, minted after `from` (the counter when numbering began); the
    /// numbers in between were skipped for ids given by the input (which `given` keeps).
    fn add(&mut self, from: u64, number: u64) {
        match self.0.last_mut() {
            Some((_, last)) if *last == from => *last = number,
            _ => self.0.push((number, number)),
        }
    }

    fn contains(&self, number: u64) -> bool {
        self.0
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&number))
    }
}

/// Every id used so far in this run: the ids the input gave, and the numbers the console
/// minted (a numbered id is in `minted` unless the input gave it first, when it is in `given`
/// and numbering skipped it).
#[derive(Debug, Default)]
pub(crate) struct IdRegistry {
    /// Ids given by the input (a script's explicit ids, an earlier run's messages edited).
    /// Minted ids are not kept here: every bot post mints one, and a run of thousands of
    /// jobs posts hundreds of thousands of them (a map entry and a copy of the id each).
    given: HashSet<String>,
    minted_message: Minted,
    minted_bot: Minted,
    next_message: u64,
    next_bot: u64,
    /// The end of each kind's recorded block; `None` while nothing is
    /// recorded (a console with no store numbers freely).
    reserved_message: Option<u64>,
    reserved_bot: Option<u64>,
    /// Bot ids: the end of a block being recorded ahead of need
    /// ([`IdRegistry::reservation_due`]), until it is reserved.
    reserving_bot: Option<u64>,
    /// The size of the next bot block beyond [`ID_BLOCK`] (0: [`ID_BLOCK`]), and when the last
    /// one was due: blocks follow the rate of posts.
    bot_block: u64,
    bot_block_due: Option<Instant>,
}

/// An explicit id that the console had already given to another message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdTaken(pub String);

impl IdRegistry {
    /// Records an id given by the input, unless the console minted it.
    pub(crate) fn claim(&mut self, id: &str) -> Result<(), IdTaken> {
        if self.given.contains(id) {
            return Ok(());
        }
        if self.was_minted(id) {
            return Err(IdTaken(id.to_owned()));
        }
        self.given.insert(id.to_owned());
        Ok(())
    }

    /// The next free `m{n}`, for an input message without an id.
    pub(crate) fn mint_message(&mut self) -> String {
        let from = self.next_message;
        let (id, number) = self.mint("m", from);
        self.next_message = number;
        self.minted_message.add(from, number);
        id
    }

    /// The next free `b{n}`, for a message the bot posts.
    #[cfg(test)]
    pub(crate) fn mint_bot(&mut self) -> String {
        self.mint_bot_numbered().0
    }

    /// The next free `b{n}`, for a message the bot posts, and its number `n`.
    pub(crate) fn mint_bot_numbered(&mut self) -> (String, u64) {
        let from = self.next_bot;
        let (id, number) = self.mint("b", from);
        self.next_bot = number;
        self.minted_bot.add(from, number);
        (id, number)
    }

    /// Numbering of `kind` continues after `from`, the end of the last
    /// block an earlier run recorded, within a block ending at `until`.
    pub(crate) fn restore(&mut self, kind: Numbered, from: u64, until: u64) {
        let (next, reserved) = self.kind(kind);
        *next = (*next).max(from);
        *reserved = Some(until);
    }

    /// The end of the next block, when the next number of `kind` would
    /// leave the recorded one: record it, then [`IdRegistry::reserve`] it.
    pub(crate) fn reservation_needed(&mut self, kind: Numbered) -> Option<u64> {
        let in_flight = self.reserving_bot.filter(|_| kind == Numbered::Bot);
        let block = match kind {
            Numbered::Message => ID_BLOCK,
            Numbered::Bot => self.bot_block(),
        };
        let (next, reserved) = self.kind(kind);
        let until = (*reserved)?;
        // Numbering may skip a few ids given explicitly; a block's margin
        // covers them.
        (*next + 1 >= until).then(|| in_flight.unwrap_or_else(|| next_end(*next, until, block)))
    }

    fn bot_block(&self) -> u64 {
        self.bot_block.max(ID_BLOCK)
    }

    /// Bot ids only: the end of the next block once half of the recorded
    /// one is used, and no other is being recorded. The caller records it
    /// without holding up other posts, then [`IdRegistry::reserve`]s it:
    /// posts come from every relay at once, and waiting for a store write at
    /// the end of each block held all of them up.
    ///
    /// `now` sizes the block: see [`FAST_BLOCK`].
    pub(crate) fn reservation_due(&mut self, now: Instant) -> Option<u64> {
        let until = self.reserved_bot?;
        if self.reserving_bot.is_some() || self.next_bot + self.bot_block() / 2 < until {
            return None;
        }
        let lasted = self
            .bot_block_due
            .map(|due| now.saturating_duration_since(due));
        self.bot_block = match lasted {
            Some(lasted) if lasted < FAST_BLOCK => (self.bot_block() * 2).min(MAX_BOT_BLOCK),
            Some(lasted) if lasted > SLOW_BLOCK => (self.bot_block() / 2).max(ID_BLOCK),
            _ => self.bot_block(),
        };
        self.bot_block_due = Some(now);
        let end = next_end(self.next_bot, until, self.bot_block);
        self.reserving_bot = Some(end);
        Some(end)
    }

    /// Numbers of `kind` up to `until` may now be used.
    pub(crate) fn reserve(&mut self, kind: Numbered, until: u64) {
        if kind == Numbered::Bot && self.reserving_bot == Some(until) {
            self.reserving_bot = None;
        }
        let (_, reserved) = self.kind(kind);
        *reserved = Some(reserved.map_or(until, |r| r.max(until)));
    }

    fn kind(&mut self, kind: Numbered) -> (&mut u64, &mut Option<u64>) {
        match kind {
            Numbered::Message => (&mut self.next_message, &mut self.reserved_message),
            Numbered::Bot => (&mut self.next_bot, &mut self.reserved_bot),
        }
    }

    /// Whether any message of this run, the user's or the bot's, has `id`.
    pub(crate) fn is_known(&self, id: &str) -> bool {
        self.given.contains(id) || self.was_minted(id)
    }

    /// Whether the console numbered `id` in this run.
    fn was_minted(&self, id: &str) -> bool {
        let (minted, digits) = match id.split_at_checked(1) {
            Some(("m", digits)) => (&self.minted_message, digits),
            Some(("b", digits)) => (&self.minted_bot, digits),
            _ => return false,
        };
        // Only the form numbering writes: digits, no sign, no leading zero.
        let canonical = !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit());
        canonical
            && digits.parse().is_ok_and(|number| minted.contains(number))
            && !self.given.contains(id)
    }

    /// The first number after `from` whose id the input has not given, and that id.
    fn mint(&self, prefix: &str, from: u64) -> (String, u64) {
        let mut number = from;
        loop {
            number += 1;
            let id = format!("{prefix}{number}");
            // Most runs are given no id at all: no need to hash each one minted.
            if self.given.is_empty() || !self.given.contains(&id) {
                return (id, number);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_bot_posts_are_numbered_separately_from_one() {
        let mut ids = IdRegistry::default();
        assert_eq!(ids.mint_message(), "m1");
        assert_eq!(ids.mint_bot(), "b1");
        assert_eq!(ids.mint_message(), "m2");
        assert_eq!(ids.mint_bot(), "b2");
    }

    #[test]
    fn a_restored_run_numbers_after_the_recorded_block_and_asks_for_the_next() {
        let mut ids = IdRegistry::default();
        assert_eq!(
            ids.reservation_needed(Numbered::Bot),
            None,
            "nothing recorded"
        );
        ids.restore(Numbered::Bot, 1000, 2000);
        assert_eq!(ids.mint_bot(), "b1001");
        assert_eq!(ids.mint_message(), "m1", "each kind is restored alone");
        assert_eq!(ids.reservation_needed(Numbered::Bot), None);
        while ids.next_bot < 1999 {
            ids.mint_bot();
        }
        assert_eq!(ids.reservation_needed(Numbered::Bot), Some(2999));
        ids.reserve(Numbered::Bot, 2999);
        assert_eq!(ids.reservation_needed(Numbered::Bot), None);
        assert_eq!(ids.mint_bot(), "b2000");
    }

    #[test]
    fn the_next_bot_block_is_due_at_half_the_block_once() {
        let mut ids = IdRegistry::default();
        let now = Instant::now();
        assert_eq!(ids.reservation_due(now), None, "nothing recorded");
        ids.restore(Numbered::Bot, 1000, 2000);
        while ids.next_bot < 1499 {
            ids.mint_bot();
            assert_eq!(ids.reservation_due(now), None);
        }
        ids.mint_bot();
        assert_eq!(ids.reservation_due(now), Some(2999));
        assert_eq!(ids.reservation_due(now), None, "one under way is enough");
        // A block that runs out while it is recorded asks for the same end.
        while ids.next_bot < 1999 {
            ids.mint_bot();
        }
        assert_eq!(ids.reservation_needed(Numbered::Bot), Some(2999));
        ids.reserve(Numbered::Bot, 2999);
        assert_eq!(ids.reservation_needed(Numbered::Bot), None);
        ids.reserve(Numbered::Bot, 2500);
        assert_eq!(
            ids.reserved_bot,
            Some(2999),
            "a late, smaller end is kept out"
        );
        assert_eq!(ids.mint_bot(), "b2000");
    }

    /// Mints bot ids until the next block is due at `at`, and reserves it; returns its size.
    fn use_half_a_block(ids: &mut IdRegistry, at: Instant) -> u64 {
        let until = ids.reserved_bot.expect("a block");
        // Up to a few numbers short of half the block at once: a million mints are slow.
        ids.next_bot = ids.next_bot.max(until - ids.bot_block() / 2 - 3);
        loop {
            if let Some(end) = ids.reservation_due(at) {
                ids.reserve(Numbered::Bot, end);
                return end - until + 1;
            }
            ids.mint_bot();
        }
    }

    #[test]
    fn bot_blocks_grow_while_they_are_used_up_fast_and_shrink_when_slow() {
        let mut ids = IdRegistry::default();
        ids.restore(Numbered::Bot, 0, ID_BLOCK);
        let start = Instant::now();
        assert_eq!(use_half_a_block(&mut ids, start), ID_BLOCK, "the first");
        let mut at = start;
        let mut sizes = Vec::new();
        for _ in 0..12 {
            at += Duration::from_secs(1);
            sizes.push(use_half_a_block(&mut ids, at));
        }
        assert_eq!(
            &sizes[..4],
            [2 * ID_BLOCK, 4 * ID_BLOCK, 8 * ID_BLOCK, 16 * ID_BLOCK],
            "a block used within seconds doubles the next"
        );
        assert_eq!(sizes.last(), Some(&MAX_BOT_BLOCK), "up to a cap");
        at += FAST_BLOCK;
        assert_eq!(
            use_half_a_block(&mut ids, at),
            MAX_BOT_BLOCK,
            "a steady rate keeps the size"
        );
        at += SLOW_BLOCK + Duration::from_secs(1);
        assert_eq!(use_half_a_block(&mut ids, at), MAX_BOT_BLOCK / 2);
        // The first half of a block is used before the next is due: a block ahead of need is
        // recorded before a single post has to wait.
        let until = ids.reserved_bot.expect("a block");
        assert!(ids.next_bot + MAX_BOT_BLOCK / 4 <= until);
        assert_eq!(ids.reservation_needed(Numbered::Bot), None);
    }

    #[test]
    fn a_bot_block_that_runs_out_while_recorded_asks_for_the_same_grown_end() {
        let mut ids = IdRegistry::default();
        ids.restore(Numbered::Bot, 0, ID_BLOCK);
        let at = Instant::now();
        use_half_a_block(&mut ids, at);
        let until = ids.reserved_bot.expect("a block");
        while ids.reservation_due(at).is_none() {
            ids.mint_bot();
        }
        let due = ids.reserving_bot.expect("under way");
        assert_eq!(due - until + 1, 2 * ID_BLOCK, "grown");
        while ids.next_bot + 1 < until {
            ids.mint_bot();
        }
        assert_eq!(ids.reservation_needed(Numbered::Bot), Some(due));
    }

    #[test]
    fn numbering_skips_ids_given_earlier() {
        let mut ids = IdRegistry::default();
        assert_eq!(ids.claim("m1"), Ok(()));
        assert_eq!(ids.claim("b1"), Ok(()));
        assert_eq!(ids.mint_message(), "m2");
        assert_eq!(ids.mint_bot(), "b2");
    }

    #[test]
    fn an_id_given_later_cannot_take_a_numbered_one() {
        let mut ids = IdRegistry::default();
        let numbered = ids.mint_message();
        let bot = ids.mint_bot();
        assert_eq!(ids.claim(&numbered), Err(IdTaken("m1".into())));
        assert_eq!(ids.claim(&bot), Err(IdTaken("b1".into())));
    }

    #[test]
    fn only_the_numbers_minted_in_this_run_are_taken() {
        let mut ids = IdRegistry::default();
        assert_eq!(ids.claim("b2"), Ok(()));
        assert_eq!(ids.mint_bot(), "b1");
        assert_eq!(ids.mint_bot(), "b3", "b2 was given");
        // An earlier run's block restored late: numbering jumps over numbers never minted.
        ids.restore(Numbered::Bot, 1000, 2000);
        assert_eq!(ids.mint_bot(), "b1001");
        assert_eq!(ids.mint_bot(), "b1002");
        for taken in ["b1", "b3", "b1001", "b1002"] {
            assert!(ids.is_known(taken), "{taken}");
            assert_eq!(ids.claim(taken), Err(IdTaken(taken.into())));
        }
        assert_eq!(ids.claim("b2"), Ok(()), "given, not minted");
        for free in [
            "b4", "b500", "b1000", "b1003", "b01", "b+1", "b", "m1", "x1",
        ] {
            assert!(!ids.is_known(free), "{free}");
            assert_eq!(ids.claim(free), Ok(()), "{free}");
            assert!(ids.is_known(free), "{free} is given now");
        }
        assert_eq!(ids.mint_bot(), "b1004", "b1003 was given");
        assert_eq!(ids.mint_message(), "m2", "m1 was given");
    }

    #[test]
    fn an_explicit_id_may_come_again_as_a_redelivery() {
        let mut ids = IdRegistry::default();
        assert_eq!(ids.claim("x"), Ok(()));
        assert_eq!(ids.claim("x"), Ok(()));
        assert!(ids.is_known("x"));
        assert!(!ids.is_known("y"));
    }
}
