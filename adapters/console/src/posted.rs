//! Where each bot message was posted: the channel and thread an edit of it must name.
//!
//! Every post is remembered for the whole run (any message may be edited later), and a run of
//! thousands of jobs posts hundreds of thousands of messages: a map entry with a copy of the
//! id, the channel and the thread each was ~150 bytes and four allocations a post, several KB
//! of every job's memory. Here a place (channel and thread) is kept once, and a message the
//! console numbered (`b{n}`) costs four bytes: its place's index, in a list by number
//! (numbers are minted in order, so the list is dense). Messages with other ids (an earlier
//! run's, edited after a restart) keep a map entry.

use std::collections::HashMap;
use std::sync::Arc;

/// No message was posted under this number (numbering skipped it, or its post failed).
const NONE: u32 = u32::MAX;

/// Numbers up to this far past the last one continue its run (the gap is filled with
/// [`NONE`]); farther, a new run begins (a restored numbering's jump).
const MAX_GAP: u64 = 64;

/// Where each bot message of this run was posted.
#[derive(Debug, Default)]
pub(crate) struct PostedPlaces {
    /// Each place once, as its key (see [`encode`]); a message refers to it by index.
    places: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
    /// The key being looked up, reused so that a lookup allocates nothing.
    scratch: String,
    /// Numbered messages: runs of consecutive numbers, the first number and each one's place.
    numbered: Vec<(u64, Vec<u32>)>,
    /// Messages with any other id.
    others: HashMap<String, u32>,
}

impl PostedPlaces {
    /// Remembers that the message numbered `number` (`b{number}`) was posted in `channel`,
    /// `thread` (`None`: at the channel's top level).
    pub(crate) fn insert_numbered(&mut self, number: u64, channel: &str, thread: Option<&str>) {
        let place = self.place(channel, thread);
        if let Some((first, places)) = self.numbered.last_mut()
            && let Some(offset) = number.checked_sub(*first)
            && offset <= places.len() as u64 + MAX_GAP
        {
            // Within the run: a gap is filled; a number already there is set again.
            let offset = usize::try_from(offset).unwrap_or(usize::MAX);
            if offset >= places.len() {
                places.resize(offset + 1, NONE);
            }
            places[offset] = place;
            return;
        }
        self.numbered.push((number, vec![place]));
    }

    /// Remembers that the message `id` (not one the console numbered) is in `channel`,
    /// `thread`.
    pub(crate) fn insert_other(&mut self, id: &str, channel: &str, thread: Option<&str>) {
        let place = self.place(channel, thread);
        self.others.insert(id.to_owned(), place);
    }

    /// Where message `id` was posted: its channel and thread; `None` if it is not known.
    pub(crate) fn get(&self, id: &str) -> Option<(&str, Option<&str>)> {
        let place = self
            .numbered_place(id)
            .or_else(|| self.others.get(id).copied())?;
        self.places
            .get(usize::try_from(place).ok()?)
            .map(|key| decode(key))
    }

    /// The place of numbered message `id` (`b{n}`, in the form numbering writes).
    fn numbered_place(&self, id: &str) -> Option<u32> {
        let digits = id.strip_prefix('b')?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u64 = digits.parse().ok()?;
        let (first, places) = self
            .numbered
            .iter()
            .rev()
            .find(|(first, places)| (*first..*first + places.len() as u64).contains(&number))?;
        let place = *places.get(usize::try_from(number - first).ok()?)?;
        (place != NONE).then_some(place)
    }

    /// The index of the place `channel`, `thread`, added if new.
    fn place(&mut self, channel: &str, thread: Option<&str>) -> u32 {
        encode(&mut self.scratch, channel, thread);
        if let Some(&place) = self.index.get(self.scratch.as_str()) {
            return place;
        }
        let place = u32::try_from(self.places.len()).unwrap_or(NONE);
        let key: Arc<str> = Arc::from(self.scratch.as_str());
        self.places.push(Arc::clone(&key));
        self.index.insert(key, place);
        place
    }
}

/// A place as one string, unambiguous whatever the channel and thread hold: the channel's
/// length in bytes, `:`, the channel, then `\u{1}` and the thread, or `\u{0}` for none.
fn encode(key: &mut String, channel: &str, thread: Option<&str>) {
    use std::fmt::Write as _;
    key.clear();
    // Writing to a `String` cannot fail.
    let _ = write!(key, "{}:{channel}", channel.len());
    match thread {
        Some(thread) => {
            key.push('\u{1}');
            key.push_str(thread);
        }
        None => key.push('\u{0}'),
    }
}

/// The channel and thread of a key written by [`encode`].
fn decode(key: &str) -> (&str, Option<&str>) {
    let (len, rest) = key.split_once(':').unwrap_or(("0", key));
    let len = len.parse::<usize>().unwrap_or(0);
    let (channel, rest) = rest.split_at_checked(len).unwrap_or((rest, ""));
    match rest.strip_prefix('\u{1}') {
        Some(thread) => (channel, Some(thread)),
        None => (channel, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_and_other_messages_are_found_in_their_place() {
        let mut posted = PostedPlaces::default();
        posted.insert_numbered(1, "c1", None);
        posted.insert_numbered(2, "c1", Some("b1"));
        posted.insert_numbered(3, "c1", Some("b1"));
        posted.insert_other("x9", "c2", Some("m4"));
        assert_eq!(posted.get("b1"), Some(("c1", None)));
        assert_eq!(posted.get("b2"), Some(("c1", Some("b1"))));
        assert_eq!(posted.get("b3"), Some(("c1", Some("b1"))));
        assert_eq!(posted.get("x9"), Some(("c2", Some("m4"))));
        // One place for the two messages of one thread.
        assert_eq!(posted.places.len(), 3);
        for unknown in [
            "b4",
            "b0",
            "b01",
            "b+2",
            "b",
            "m1",
            "",
            "b18446744073709551616",
        ] {
            assert_eq!(posted.get(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn skipped_numbers_and_jumps_name_no_message() {
        let mut posted = PostedPlaces::default();
        posted.insert_numbered(5, "c1", Some("m1"));
        // A few numbers skipped (ids the input gave): the run goes on.
        posted.insert_numbered(9, "c1", Some("m1"));
        // A restored numbering far ahead: a run of its own.
        posted.insert_numbered(2001, "c2", Some("m2"));
        posted.insert_numbered(2002, "c2", Some("m2"));
        assert_eq!(posted.numbered.len(), 2);
        assert_eq!(posted.numbered[0].1.len(), 5);
        for skipped in ["b4", "b6", "b7", "b8", "b10", "b2000", "b2003"] {
            assert_eq!(posted.get(skipped), None, "{skipped}");
        }
        assert_eq!(posted.get("b5"), Some(("c1", Some("m1"))));
        assert_eq!(posted.get("b9"), Some(("c1", Some("m1"))));
        assert_eq!(posted.get("b2001"), Some(("c2", Some("m2"))));
        assert_eq!(posted.get("b2002"), Some(("c2", Some("m2"))));
    }

    #[test]
    fn places_with_separators_in_their_names_stay_apart() {
        let mut posted = PostedPlaces::default();
        posted.insert_other("a", "c:1\u{1}x", None);
        posted.insert_other("b", "c:1", Some("x"));
        posted.insert_other("c", "", Some(""));
        posted.insert_other("d", "", None);
        assert_eq!(posted.get("a"), Some(("c:1\u{1}x", None)));
        assert_eq!(posted.get("b"), Some(("c:1", Some("x"))));
        assert_eq!(posted.get("c"), Some(("", Some(""))));
        assert_eq!(posted.get("d"), Some(("", None)));
        assert_eq!(posted.places.len(), 4);
    }
}
