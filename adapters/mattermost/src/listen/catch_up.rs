//! The catch-up: on start and after each reconnect, the posts written or
//! changed while the bot was not listening, fetched over REST from the
//! newest instant seen (kept in the core's memory across restarts) but
//! never further back than the catch-up window; and the keeping of that
//! instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mosaic_chat::ChatError;
use tokio::time::Instant;

use super::{Listener, SessionEnd};
use crate::PLATFORM;
use crate::events::Post;

/// Slack, in milliseconds, taken off the catch-up's `since`: posts stamped a
/// little earlier than the last one seen (clock skew between nodes) are still
/// fetched; those already handled are skipped.
const RESYNC_SLACK_MS: i64 = 2_000;

/// Where the newest instant seen (server time, ms) is kept in the memory.
const SEEN_KEY: &str = "seen_until_ms";

/// How often at most the newest instant seen is written to the memory while
/// posts stream in (always after a catch-up and at shutdown): losing the
/// last second of it costs only a slightly longer catch-up.
const REMEMBER_EVERY: Duration = Duration::from_secs(1);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Listener {
    /// Reads the newest instant an earlier run saw.
    pub(super) async fn recall(&mut self) {
        match self.memory.recall(PLATFORM, SEEN_KEY).await {
            Ok(seen) => {
                self.watermark = seen.and_then(|v| v.parse().ok());
                self.remembered = self.watermark;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read where the last run stopped; catching up on the whole window")
            }
        }
    }

    /// Keeps the newest instant seen, when it moved and `force` or
    /// [`REMEMBER_EVERY`] has passed since the last write.
    pub(super) async fn remember(&mut self, force: bool) {
        let Some(seen) = self.watermark else { return };
        if self.remembered == Some(seen)
            || !(force || self.remembered_at.elapsed() >= REMEMBER_EVERY)
        {
            return;
        }
        self.remembered_at = Instant::now();
        match self
            .memory
            .remember(PLATFORM, SEEN_KEY, &seen.to_string())
            .await
        {
            Ok(()) => self.remembered = Some(seen),
            Err(e) => {
                tracing::warn!(error = %e, "cannot keep where the bot stopped reading; a restart will catch up on the whole window")
            }
        }
    }

    /// Moves the newest instant seen forward to `post`'s.
    pub(super) async fn saw(&mut self, post: &Post) {
        let at = post.update_at.max(post.create_at);
        self.watermark = Some(self.watermark.map_or(at, |w| w.max(at)));
        self.remember(false).await;
    }

    /// Fetches the posts written or changed since the newest instant seen
    /// (at most the catch-up window back), in every channel the bot is in
    /// or has seen, and handles those not handled yet.
    pub(super) async fn resync(&mut self) -> Option<SessionEnd> {
        // The server's own clock when a post was seen; this machine's for
        // the window, as nothing older is acted on anyway.
        let window = i64::try_from(self.catch_up.as_millis()).unwrap_or(i64::MAX);
        let oldest = now_ms().saturating_sub(window);
        let since = self.watermark.map_or(oldest, |w| w.max(oldest)) - RESYNC_SLACK_MS;
        let mut channels = self.channels.clone();
        match self.mm.rest.my_channels().await {
            Ok(mine) => channels.extend(mine),
            Err(ChatError::Unauthorized(why)) => return Some(SessionEnd::Unauthorized(why)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the bot's channels; resyncing those seen")
            }
        }
        let mut channels: Vec<String> = channels.into_iter().collect();
        channels.sort();
        for channel in channels {
            let posts = match self.mm.rest.posts_since(&channel, since).await {
                Ok(posts) => posts,
                Err(ChatError::Unauthorized(why)) => return Some(SessionEnd::Unauthorized(why)),
                Err(e) => {
                    tracing::warn!(%channel, error = %e, "cannot fetch the posts missed while disconnected");
                    continue;
                }
            };
            for post in posts {
                if let Some(end) = self.handle(post, &[], None).await {
                    return Some(end);
                }
            }
        }
        self.remember(true).await;
        None
    }
}
