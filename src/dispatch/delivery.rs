//! Which deliveries of a message are acted on: a message is a command once,
//! when it is written, and only while it is recent.
//!
//! Platforms hand the bot old messages in many ways: Mattermost's
//! `posts?since=` returns every post *modified* since (an old command someone
//! reacted to), Slack re-sends an edited mention as a new event, a catch-up
//! after a restart reads back history. The rule, one for every platform and
//! path, lives here:
//! - a message written longer ago than the catch-up window is never acted on
//!   (its age comes from the platform's own timestamp, never from when the
//!   bot saw it);
//! - a message is acted on once, whatever the number of its deliveries (the
//!   store's dedupe, which remembers a message far longer than the window);
//! - an edit never runs a message again once a command of it ran; an edit of
//!   a message that only got an error reply (a typo) is read again, once per
//!   edit, as the person who fixed the typo expects.

use std::time::{Duration, SystemTime};

use mosaic_chat::Inbound;

use super::{DEDUPE_TTL, Dispatcher};

// The dedupe must outlive every message the window lets in, or a late
// re-delivery would be read again.
const _: () = assert!(crate::config::MAX_CATCH_UP.as_secs() < DEDUPE_TTL.as_secs());

/// What the dispatcher does with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    /// Read it: its first delivery, or an edit worth reading.
    Read {
        /// Whether an earlier delivery of the message was read already (and
        /// so got its 👀).
        seen_before: bool,
        /// Whether the message is recorded as acted on already (with its
        /// first sight).
        acted: bool,
    },
    /// Leave it alone.
    Skip,
}

/// How long ago the message was written, when that is longer than `window`.
pub(super) fn too_old(written: SystemTime, now: SystemTime, window: Duration) -> Option<Duration> {
    // A message from the future (clocks disagree) is as recent as can be.
    let age = now.duration_since(written).unwrap_or(Duration::ZERO);
    (age > window).then_some(age)
}

impl Dispatcher {
    /// Decides whether `inbound` is read, and records that it was seen; `acting`: a command
    /// of it will run if it is read, so a first delivery is recorded as acted on at once.
    pub(super) async fn delivery(&self, inbound: &Inbound, acting: bool) -> Delivery {
        let window = self.inner.config.catch_up;
        if let Some(age) = too_old(inbound.created_at, SystemTime::now(), window) {
            tracing::debug!(
                age_secs = age.as_secs(),
                window_secs = window.as_secs(),
                "a message written before the catch-up window is not a command"
            );
            return Delivery::Skip;
        }
        let store = &self.inner.store;
        let key = &inbound.dedupe_key;
        // An edit is decided on the message's record as it was: its acted mark comes after.
        let record_acted = acting && inbound.edit.is_none();
        let sighting = if record_acted {
            store.first_sight_acted(key, DEDUPE_TTL).await
        } else {
            store.first_sight(key, DEDUPE_TTL).await
        };
        let (first, acted) = match sighting {
            Ok(first) => (first, record_acted),
            // Better to risk handling a redelivery twice than to drop a
            // command: the job guard still stops a second job.
            Err(e) => {
                tracing::error!(error = %e, "cannot check the message against earlier deliveries");
                (true, false)
            }
        };
        let Some(mark) = &inbound.edit else {
            if !first {
                tracing::debug!(%key, "delivered again; handled once already");
                return Delivery::Skip;
            }
            return Delivery::Read {
                seen_before: false,
                acted,
            };
        };
        if !first {
            match store.acted(key).await {
                Ok(false) => {}
                Ok(true) => {
                    tracing::debug!(%key, "an edit of a message that was acted on is not run again");
                    return Delivery::Skip;
                }
                // An edit is not worth the risk of a second job.
                Err(e) => {
                    tracing::error!(error = %e, "cannot tell whether the edited message was acted on; the edit is not read");
                    return Delivery::Skip;
                }
            }
        }
        match store
            .first_sight(&format!("{key}#edit:{mark}"), DEDUPE_TTL)
            .await
        {
            Ok(true) => Delivery::Read {
                seen_before: !first,
                acted: false,
            },
            Ok(false) => {
                tracing::debug!(%key, edit = %mark, "this edit was read already");
                Delivery::Skip
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot check the edit against earlier deliveries; it is not read");
                Delivery::Skip
            }
        }
    }

    /// Records that a command of `inbound`'s message ran, so no edit of it
    /// runs it again.
    pub(super) async fn acted_on(&self, inbound: &Inbound) {
        if let Err(e) = self.inner.store.mark_acted(&inbound.dedupe_key).await {
            // The window still bounds the harm: an edit within it could run
            // the message again.
            tracing::error!(error = %e, "cannot record that the message was acted on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_is_measured_from_the_platforms_instant() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let window = Duration::from_secs(600);
        assert_eq!(too_old(now - Duration::from_secs(600), now, window), None);
        assert_eq!(
            too_old(now - Duration::from_secs(601), now, window),
            Some(Duration::from_secs(601))
        );
        assert_eq!(too_old(now + Duration::from_secs(30), now, window), None);
    }
}
