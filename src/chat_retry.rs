//! Retrying a chat operation while the platform says "later" (rate limited,
//! unavailable), never sooner than its `retry_after`. The relay retries
//! without end (a job's thread must not lose a message); the dispatcher's
//! replies give up after a few tries and log it.

use backon::{ExponentialBuilder, Retryable};
use mosaic_chat::{ChatError, ChatFuture};

/// Runs `op` until it succeeds, fails for good, or `backoff` runs out.
/// `on_error` sees every error, retried or final (for metrics, and so that
/// other senders can wait out a `retry_after` too).
pub(crate) async fn retry_later<'a, T>(
    what: &'static str,
    backoff: ExponentialBuilder,
    op: impl FnMut() -> ChatFuture<'a, T>,
    on_error: impl Fn(&ChatError),
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
            on_error(error);
            tracing::warn!(%error, ?delay, what, "chat platform said later; retrying");
        })
        .await
        .inspect_err(|error| on_error(error))
}
