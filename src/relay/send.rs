//! Talking to the chat platform on behalf of one relay: posts paced per channel, edits and
//! reactions, each retried with capped backoff while the platform says "later" (rate limited,
//! unavailable), honouring its `retry_after`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::ExponentialBuilder;
use mosaic_chat::{
    Button, ChatError, ChatFuture, ChatPlatform, Limits, Markup, PostMark, Reaction, ThreadRef,
};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pace::ChannelPacer;

/// Why a send did not happen.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The platform refused for good (forbidden, not found, …).
    Refused(ChatError),
    /// Shutdown began while waiting for a slot or between retries. An attempt already on
    /// the wire is let finish (its answer decides); one that failed then ends the send.
    Interrupted,
}

/// Where one relay sends, and how.
#[derive(Clone)]
pub(crate) struct Outbox {
    pub(crate) chat: Arc<dyn ChatPlatform>,
    pub(crate) thread: ThreadRef,
    pub(crate) limits: Limits,
    pub(crate) pacer: Arc<ChannelPacer>,
    pub(crate) metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Retries forever while the error is transient: a relay keeps its place rather than
/// dropping a message; a shutdown is what ends the wait.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
}

impl Outbox {
    /// Reserves the next post slot of the thread's channel.
    pub(crate) fn reserve_slot(&self) -> Instant {
        self.pacer.reserve(
            self.thread.platform,
            &self.thread.channel,
            self.limits.post_interval,
            Instant::now(),
        )
    }

    /// Renders `markup` into pages that fit the platform.
    pub(crate) fn pages(&self, markup: &Markup) -> Vec<String> {
        mosaic_chat::markup::render(markup, self.chat.dialect(), self.limits.max_message_chars)
    }

    /// Posts `text`, a page of a batch of events marked `mark`, at `slot` (waiting for it);
    /// returns the message id.
    pub(crate) async fn post_marked_at(
        &self,
        slot: Instant,
        text: &str,
        mark: &PostMark,
        stop: Option<&CancellationToken>,
    ) -> Result<String, SendError> {
        wait_for(slot, stop).await?;
        self.retrying("post", stop, || {
            self.chat.post_marked(&self.thread, text, mark)
        })
        .await
    }

    /// Posts the progress card, `text` with `buttons`, at `slot`; returns its id.
    pub(crate) async fn post_card_at(
        &self,
        slot: Instant,
        text: &str,
        buttons: &[Button],
        stop: Option<&CancellationToken>,
    ) -> Result<String, SendError> {
        wait_for(slot, stop).await?;
        self.retrying("post", stop, || {
            self.chat.post_with_buttons(&self.thread, text, buttons)
        })
        .await
    }

    /// Replaces the text and the buttons of message `id` (the card).
    pub(crate) async fn edit(
        &self,
        id: &str,
        text: &str,
        buttons: &[Button],
        stop: Option<&CancellationToken>,
    ) -> Result<(), SendError> {
        self.retrying("edit", stop, || {
            self.chat.edit_with_buttons(&self.thread, id, text, buttons)
        })
        .await
    }

    /// Puts `reaction` on message `id` of the thread's channel.
    pub(crate) async fn react(
        &self,
        id: &str,
        reaction: Reaction,
        stop: Option<&CancellationToken>,
    ) -> Result<(), SendError> {
        self.retrying("react", stop, || {
            self.chat.react(&self.thread.channel, id, reaction)
        })
        .await
    }

    /// Runs `op` until it succeeds or fails for good. `stop` interrupts the waits between
    /// attempts, never an attempt on the wire: a post cut off there may have arrived, and its
    /// batch would be shown again after a restart; its answer settles it.
    async fn retrying<'a, T: 'a>(
        &'a self,
        what: &'static str,
        stop: Option<&CancellationToken>,
        mut op: impl FnMut() -> ChatFuture<'a, T>,
    ) -> Result<T, SendError> {
        let Some(stop) = stop else {
            return self.retry_later(what, op, || {}).await;
        };
        // Whether an attempt is on the wire: set as one is sent, cleared as its error comes
        // back (before the wait for the next); a success ends the whole send. Kept in this
        // future and borrowed, not shared through an `Arc` and a wrapper future per attempt
        // (every post and edit passes here).
        let in_flight = AtomicBool::new(false);
        let settled = Notify::new();
        let attempt = || {
            in_flight.store(true, Ordering::SeqCst);
            op()
        };
        let failed = || {
            in_flight.store(false, Ordering::SeqCst);
            settled.notify_one();
        };
        let work = self.retry_later(what, attempt, failed);
        tokio::pin!(work);
        tokio::select! {
            biased;
            () = stop.cancelled() => {}
            result = &mut work => return result,
        }
        // Stopping: let an attempt already sent get its answer, then give up.
        loop {
            if !in_flight.load(Ordering::SeqCst) {
                return Err(SendError::Interrupted);
            }
            tokio::select! {
                result = &mut work => return result,
                () = settled.notified() => {}
            }
        }
    }

    /// `failed` is called as an attempt's error comes back (any error, retried or final).
    async fn retry_later<'a, T>(
        &'a self,
        what: &'static str,
        op: impl FnMut() -> ChatFuture<'a, T>,
        failed: impl Fn(),
    ) -> Result<T, SendError> {
        crate::chat_retry::retry_later(what, backoff(), op, |error| {
            failed();
            if let Some(metrics) = &self.metrics {
                metrics.platform_error(self.thread.platform.name(), error.kind());
            }
            if let ChatError::RateLimited { retry_after } = error {
                // Other relays in this channel wait too, instead of meeting the same 429.
                self.pacer.hold(
                    self.thread.platform,
                    &self.thread.channel,
                    Instant::now() + *retry_after,
                );
            }
        })
        .await
        .map_err(SendError::Refused)
    }
}

/// Waits until `instant`; not at all once it has passed. Tokio's timers tick in whole
/// milliseconds and round a deadline up to the next tick, so a sleep until "now" still
/// waited up to a millisecond, and a post waited twice (its batch's wake-up, its slot):
/// about 2 ms of the relay bench's median event → line latency, at any load.
pub(crate) async fn sleep_until(instant: Instant) {
    if instant > Instant::now() {
        tokio::time::sleep_until(instant).await;
    }
}

/// Waits for a post slot, giving up with `Interrupted` when `stop` is cancelled first.
async fn wait_for(slot: Instant, stop: Option<&CancellationToken>) -> Result<(), SendError> {
    interruptible(stop, async {
        sleep_until(slot).await;
        Ok(())
    })
    .await
}

/// Runs `work`, giving up with `Interrupted` when `stop` is cancelled first.
async fn interruptible<T>(
    stop: Option<&CancellationToken>,
    work: impl Future<Output = Result<T, SendError>>,
) -> Result<T, SendError> {
    match stop {
        Some(stop) => tokio::select! {
            biased;
            () = stop.cancelled() => Err(SendError::Interrupted),
            result = work => result,
        },
        None => work.await,
    }
}
