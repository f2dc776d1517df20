//! Discord's ids are snowflakes: the top 42 bits count milliseconds since
//! Discord's epoch, the first second of 2015 (the documentation's
//! reference, "Snowflakes"). A message's id is when it was written; an
//! interaction's is when the command was invoked.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Discord's epoch, in milliseconds since the Unix epoch.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// When the thing with id `id` was made.
pub fn created_at(id: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis((id >> 22) + DISCORD_EPOCH_MS)
}

/// The smallest snowflake made at `at` or later: `after=` this id lists
/// what was written since `at`.
pub fn at(at: SystemTime) -> u64 {
    let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX >> 22)
    });
    ms.saturating_sub(DISCORD_EPOCH_MS) << 22
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentations_example_reads_as_its_instant() {
        // reference, "Snowflake ID Format Structure": the timestamp is
        // `(snowflake >> 22) + 1420070400000`; 175928847299117063 was made
        // at 2016-04-30 11:18:25.796 UTC.
        let at_ms = created_at(175_928_847_299_117_063)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .ok();
        assert_eq!(at_ms, Some(1_462_015_105_796));
        let instant = UNIX_EPOCH + Duration::from_millis(1_462_015_105_796);
        assert_eq!(created_at(at(instant)), instant);
        assert!(at(instant) <= 175_928_847_299_117_063);
    }
}
