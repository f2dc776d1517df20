//! Retrying a chat operation while the platform says "later" (rate limited,
//! unavailable), never sooner than its `retry_after`. The relay retries
//! without end (a job's thread must not lose a message); the dispatcher's
//! replies give up after a few tries and log it.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use mosaic_chat::{ChatError, ChatFuture};

/// Runs `op` until it succeeds, fails for good, or `backoff` runs out.
/// `on_rate_limited` learns each `retry_after`, so other senders can wait too.
pub(crate) async fn retry_later<'a, T>(
    what: &'static str,
    backoff: ExponentialBuilder,
    op: impl FnMut() -> ChatFuture<'a, T>,
    on_rate_limited: impl Fn(Duration),
) -> Result<T, ChatError> {
    op.retry(backoff)
        .when(ChatError::is_retryable)
        .adjust(|error, delay| match error {
            // The platform knows best how long to wait; never less than it says.
            ChatError::RateLimited { retry_after } => {
                Some(delay.unwrap_or_default().max(*retry_after))
            }
            _ => delay,
        })
        .notify(|error, delay| {
            if let ChatError::RateLimited { retry_after } = error {
                on_rate_limited(*retry_after);
            }
            tracing::warn!(%error, ?delay, what, "chat platform said later; retrying");
        })
        .await
}
