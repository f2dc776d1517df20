//! A fault switch for tests, in debug builds only: with `MOSAIC_FAULT_ABORT_AFTER_RELAY_POSTS=N`
//! in its environment, the process exits at once (no shutdown, no flush of the store's
//! waiting records: as a `kill -9` would leave it) right after its N-th relay post succeeded
//! and before that post is recorded. It is how the tests put a crash in the window that the
//! resumed relay's read-back (`resume.rs`) closes. A release build has no switch.

/// The environment variable that sets the switch.
#[cfg(debug_assertions)]
pub(crate) const SWITCH: &str = "MOSAIC_FAULT_ABORT_AFTER_RELAY_POSTS";

/// Called after each relay post that succeeded, before it is recorded.
#[cfg(debug_assertions)]
pub(crate) fn relay_posted() {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static LEFT: OnceLock<Option<AtomicU64>> = OnceLock::new();
    let left = LEFT.get_or_init(|| {
        std::env::var(SWITCH)
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .map(AtomicU64::new)
    });
    if let Some(left) = left
        && left.fetch_sub(1, Ordering::SeqCst) == 1
    {
        eprintln!("{SWITCH}: exiting after a relay post, before its record");
        // 137: what a shell reports for a process killed by SIGKILL.
        std::process::exit(137);
    }
}

/// Called after each relay post that succeeded, before it is recorded: nothing in a release
/// build.
#[cfg(not(debug_assertions))]
pub(crate) fn relay_posted() {}
