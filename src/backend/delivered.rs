//! `DeliveredIds`: which events of one job have been handed to the relay already.
//!
//! A followed job is seen through several paths (the live stream, replays after reconnects,
//! REST backfills), each of which may repeat events; this set is what makes every event come
//! out exactly once. It keeps a 64-bit hash per id instead of the id itself: one process
//! follows thousands of jobs, and eight bytes per event is what that affords. A collision
//! between two ids of the same job is a 1-in-2^64 event per pair.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::model::EventId;

/// The ids of the events already delivered for one job.
#[derive(Default)]
pub(crate) struct DeliveredIds {
    seen: HashSet<u64, BuildHasherDefault<PrehashedKey>>,
}

impl DeliveredIds {
    /// Records `id`; `true` if it was not delivered before.
    pub(crate) fn insert(&mut self, id: &EventId) -> bool {
        self.seen.insert(digest(id))
    }

    /// How many distinct ids were recorded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

/// SipHash with fixed keys: stable for the life of the process, which is all the set needs.
fn digest(id: &EventId) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.as_str().hash(&mut hasher);
    hasher.finish()
}

/// The set's keys are hashes already; hashing them again would only cost time.
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; fold anything else in, to stay correct.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once() {
        let mut ids = DeliveredIds::default();
        assert!(ids.insert(&EventId::new("e-0001")));
        assert!(ids.insert(&EventId::new("e-0002")));
        assert!(!ids.insert(&EventId::new("e-0001")));
        assert_eq!(ids.len(), 2);
    }
}
