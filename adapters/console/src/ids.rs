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

use std::collections::HashSet;

/// Every id used so far in this run, and which of them the console minted.
#[derive(Debug, Default)]
pub(crate) struct IdRegistry {
    used: HashSet<String>,
    minted: HashSet<String>,
    next_message: u64,
    next_bot: u64,
}

/// An explicit id that the console had already given to another message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdTaken(pub String);

impl IdRegistry {
    /// Records an id given by the input, unless the console minted it.
    pub(crate) fn claim(&mut self, id: &str) -> Result<(), IdTaken> {
        if self.minted.contains(id) {
            return Err(IdTaken(id.to_owned()));
        }
        self.used.insert(id.to_owned());
        Ok(())
    }

    /// The next free `m{n}`, for an input message without an id.
    pub(crate) fn mint_message(&mut self) -> String {
        let mut next = self.next_message;
        let id = self.mint("m", &mut next);
        self.next_message = next;
        id
    }

    /// The next free `b{n}`, for a message the bot posts.
    pub(crate) fn mint_bot(&mut self) -> String {
        let mut next = self.next_bot;
        let id = self.mint("b", &mut next);
        self.next_bot = next;
        id
    }

    /// Whether any message of this run, the user's or the bot's, has `id`.
    pub(crate) fn is_known(&self, id: &str) -> bool {
        self.used.contains(id)
    }

    fn mint(&mut self, prefix: &str, counter: &mut u64) -> String {
        loop {
            *counter += 1;
            let id = format!("{prefix}{counter}");
            if !self.used.contains(&id) {
                self.used.insert(id.clone());
                self.minted.insert(id.clone());
                return id;
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
    fn an_explicit_id_may_come_again_as_a_redelivery() {
        let mut ids = IdRegistry::default();
        assert_eq!(ids.claim("x"), Ok(()));
        assert_eq!(ids.claim("x"), Ok(()));
        assert!(ids.is_known("x"));
        assert!(!ids.is_known("y"));
    }
}
