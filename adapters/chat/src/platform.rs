//! The [`ChatPlatform`] trait: what the core asks of every adapter, and what
//! an adapter tells the core about itself (its limits, its errors).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::buttons::{Button, Press};
use crate::connection::Connection;
use crate::marks::{OwnPost, PostMark};
use crate::markup::Dialect;
use crate::memory::{InMemory, Memory};
use crate::shards::ShardLeases;
use crate::{Inbound, Platform, ThreadRef};

/// The future an adapter's operation returns. Boxed so that the core can
/// hold every platform as `Arc<dyn ChatPlatform>` side by side.
pub type ChatFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChatError>> + Send + 'a>>;

/// What a platform allows; the relay stays inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest message, in characters (Discord 2,000; Slack about 40,000
    /// but 4,000 reads well; Mattermost 16,383).
    pub max_message_chars: usize,
    /// The shortest time between two posts in one channel (Discord: 5 per
    /// 5 s; Slack: about 1 per second).
    pub post_interval: Duration,
    /// The shortest time between two edits of one message.
    pub edit_interval: Duration,
}

/// A reaction the bot puts on a user's command message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reaction {
    /// 👀: the command was received.
    Seen,
    /// ✅: the job completed.
    Succeeded,
    /// ❌: the job failed or was cancelled.
    Failed,
}

impl Reaction {
    /// The emoji's common short name (`eyes`), as Slack and Mattermost name it.
    pub fn short_name(self) -> &'static str {
        match self {
            Reaction::Seen => "eyes",
            Reaction::Succeeded => "white_check_mark",
            Reaction::Failed => "x",
        }
    }

    /// The emoji itself, as Discord takes it.
    pub fn unicode(self) -> &'static str {
        match self {
            Reaction::Seen => "👀",
            Reaction::Succeeded => "✅",
            Reaction::Failed => "❌",
        }
    }
}

/// Why a platform operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// Too many requests: wait `retry_after`, then try again.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The message was longer than the platform takes.
    #[error("message too long")]
    TooLong,
    /// The channel, thread or message does not exist (or is not visible).
    #[error("not found: {0}")]
    NotFound(String),
    /// The bot lacks a permission; says which.
    #[error("missing permission: {0}")]
    Forbidden(String),
    /// The bot's credentials were refused: retrying cannot help.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The platform could not be reached, or failed (5xx): worth retrying.
    #[error("platform unavailable: {0}")]
    Unavailable(String),
    /// Any other refusal, with the platform's own code.
    #[error("platform refused: {code}: {message}")]
    Rejected { code: String, message: String },
}

impl ChatError {
    /// A short stable name of the kind of error, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ChatError::RateLimited { .. } => "rate_limited",
            ChatError::TooLong => "too_long",
            ChatError::NotFound(_) => "not_found",
            ChatError::Forbidden(_) => "forbidden",
            ChatError::Unauthorized(_) => "unauthorized",
            ChatError::Unavailable(_) => "unavailable",
            ChatError::Rejected { .. } => "rejected",
        }
    }

    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ChatError::RateLimited { .. } | ChatError::Unavailable(_)
        )
    }
}

/// What a platform's [`ChatPlatform::run`] is handed by the core.
pub struct RunContext {
    /// Where every message addressed to the bot goes.
    pub inbox: mpsc::Sender<Inbound>,
    /// Cancelled when the bot shuts down.
    pub shutdown: CancellationToken,
    /// What the adapter keeps across restarts (the newest message it saw in
    /// a channel, where a thread lives).
    pub memory: Arc<dyn Memory>,
    /// How long after it was written a message may still be acted on: on
    /// start and after every gap in its connection an adapter looks back
    /// this far for messages it missed (the core drops older ones anyway).
    pub catch_up: Duration,
    /// The gateway shards this process may connect, for a platform whose gateway is sharded
    /// (Discord); `None`: every shard, shared with nobody.
    pub shards: Option<Arc<dyn ShardLeases>>,
}

impl RunContext {
    /// The catch-up window unless the configuration sets another
    /// (`bot.catch_up_secs`): ten minutes covers a restart or a deploy.
    pub const DEFAULT_CATCH_UP: Duration = Duration::from_secs(600);

    /// A context with a memory that lives as long as the process and the
    /// default window: for tests and for platforms with nothing to keep.
    pub fn new(inbox: mpsc::Sender<Inbound>, shutdown: CancellationToken) -> RunContext {
        RunContext {
            inbox,
            shutdown,
            memory: Arc::new(InMemory::default()),
            catch_up: RunContext::DEFAULT_CATCH_UP,
            shards: None,
        }
    }

    /// The same context, connecting only the gateway shards `shards` holds.
    pub fn with_shards(mut self, shards: Arc<dyn ShardLeases>) -> RunContext {
        self.shards = Some(shards);
        self
    }

    /// The same context, with what the adapter keeps across restarts in `memory`.
    pub fn with_memory(mut self, memory: Arc<dyn Memory>) -> RunContext {
        self.memory = memory;
        self
    }

    /// The same context, looking back `catch_up` for missed messages.
    pub fn with_catch_up(mut self, catch_up: Duration) -> RunContext {
        self.catch_up = catch_up;
        self
    }
}

/// One chat platform, as the core sees it.
///
/// Messages are posted already rendered (through [`ChatPlatform::dialect`])
/// and already within [`Limits::max_message_chars`].
pub trait ChatPlatform: Send + Sync + 'static {
    /// Which platform this is.
    fn platform(&self) -> Platform;

    /// What the platform allows.
    fn limits(&self) -> Limits;

    /// How the platform writes rich text and escapes untrusted text.
    fn dialect(&self) -> &dyn Dialect;

    /// Where presses of the buttons this platform renders go: the core calls
    /// it once, before [`run`](ChatPlatform::run). An adapter that renders
    /// buttons keeps `presses` (dropping it when `run` ends) and sends each
    /// verified press there; the default drops it, which suits a platform
    /// that renders none.
    fn accept_presses(&self, presses: mpsc::Sender<Press>) {
        drop(presses);
    }

    /// Whether this platform shows the buttons of
    /// [`post_with_buttons`](ChatPlatform::post_with_buttons) and
    /// [`edit_with_buttons`](ChatPlatform::edit_with_buttons). The core
    /// skips an edit that would change only the buttons of a platform that
    /// shows none: each edit counts against the platform's rate limit.
    fn renders_buttons(&self) -> bool {
        false
    }

    /// Receives messages addressed to the bot and sends each to
    /// `ctx.inbox`, until `ctx.shutdown` is cancelled or the platform fails
    /// for good; catches up on what was written while it was not listening.
    fn run(self: Arc<Self>, ctx: RunContext) -> ChatFuture<'static, ()>;

    /// Posts `text` in `thread`; returns the new message's id. A thread named
    /// by a top-level message's id is created on that message if needed.
    fn post<'a>(&'a self, thread: &'a ThreadRef, text: &'a str) -> ChatFuture<'a, String>;

    /// Posts `text` in `thread` like [`post`](ChatPlatform::post), carrying `mark` where
    /// the platform keeps data beside a message's text (Slack's message `metadata`,
    /// Mattermost's post `props`), so that [`own_posts_after`](ChatPlatform::own_posts_after)
    /// can tell after a restart which events the post showed. Where the platform offers
    /// idempotent posting (Discord's `nonce` with `enforce_nonce`), the mark also makes a
    /// retried post land once. The default posts the text alone.
    fn post_marked<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        mark: &'a PostMark,
    ) -> ChatFuture<'a, String> {
        let _ = mark;
        self.post(thread, text)
    }

    /// The bot's own posts in `thread` written after message `after` (a post of the bot's in
    /// that thread, or the thread's first message), oldest first, at most
    /// [`MAX_OWN_POSTS`](crate::marks::MAX_OWN_POSTS) of them, each with its mark where the
    /// platform keeps one. Where the platform cannot order posts of one instant (Mattermost:
    /// milliseconds and random ids), those of `after`'s instant come whether written before or
    /// after it: a post after it is never left out. A relay resuming a job asks it to learn
    /// what it posted without recording it. `None` where the platform cannot read its posts back (the default;
    /// the console): the resumed relay then shows those events again.
    fn own_posts_after<'a>(
        &'a self,
        thread: &'a ThreadRef,
        after: &'a str,
    ) -> ChatFuture<'a, Option<Vec<OwnPost>>> {
        let _ = (thread, after);
        Box::pin(async { Ok(None) })
    }

    /// Posts `text` at the top level of `channel` and returns the thread
    /// rooted at it (for slash commands, which have no message of their own).
    fn start_thread<'a>(&'a self, channel: &'a str, text: &'a str) -> ChatFuture<'a, ThreadRef>;

    /// Replaces the whole text of an earlier post. Whether buttons it
    /// carries stay is the platform's way (the console's drop); the core
    /// edits a message with buttons through
    /// [`edit_with_buttons`](ChatPlatform::edit_with_buttons) only.
    fn edit<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
    ) -> ChatFuture<'a, ()>;

    /// Posts `text` in `thread` with `buttons` under it; returns the new
    /// message's id. A platform that renders no buttons posts the text
    /// alone (the default), and the commands stay typeable.
    fn post_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, String> {
        let _ = buttons;
        self.post(thread, text)
    }

    /// Replaces the whole text of an earlier post and its buttons with
    /// `buttons` (none: the message keeps no button). A platform that renders
    /// no buttons edits the text alone (the default).
    fn edit_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, ()> {
        let _ = buttons;
        self.edit(thread, message_id, text)
    }

    /// Puts a reaction on a message.
    fn react<'a>(
        &'a self,
        channel: &'a str,
        message_id: &'a str,
        reaction: Reaction,
    ) -> ChatFuture<'a, ()>;

    /// Whether the bot may answer in `thread` of `channel` (`None`: at the
    /// channel's top level, where the job's thread is made), as far as the
    /// platform can tell before anything is posted: the core asks before it
    /// starts a job. [`ChatError::Forbidden`] names the missing permission.
    /// A thread the bot may not make is no refusal: the adapter answers in
    /// the channel then. A platform that cannot tell says yes (the default),
    /// and a refusal is reported where it happens.
    fn can_answer<'a>(&'a self, channel: &'a str, thread: Option<&'a str>) -> ChatFuture<'a, ()> {
        let _ = (channel, thread);
        Box::pin(async { Ok(()) })
    }

    /// Answers `to` so that only its author sees it where the platform can
    /// (slash commands); elsewhere, in the message's thread.
    fn reply_private<'a>(&'a self, to: &'a Inbound, text: &'a str) -> ChatFuture<'a, ()>;

    /// How the connection to the platform stands now (`/readyz`). An adapter
    /// with no lasting connection (the console) is always connected.
    fn connection(&self) -> Connection {
        Connection::Connected
    }

    /// A URL that opens `thread`, for replies that point to it; `None` where
    /// the platform has none (the console) or it cannot be had now. Never an
    /// error: a reply without the link still says where to look.
    fn thread_link<'a>(&'a self, thread: &'a ThreadRef) -> ChatFuture<'a, Option<String>> {
        let _ = thread;
        Box::pin(async { Ok(None) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_have_names_and_emoji() {
        assert_eq!(Reaction::Seen.short_name(), "eyes");
        assert_eq!(Reaction::Failed.unicode(), "❌");
    }

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(
            ChatError::RateLimited {
                retry_after: Duration::from_secs(1)
            }
            .is_retryable()
        );
        assert!(ChatError::Unavailable("503".into()).is_retryable());
        assert!(!ChatError::Forbidden("send messages".into()).is_retryable());
        assert!(!ChatError::TooLong.is_retryable());
    }
}
