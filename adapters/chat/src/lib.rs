//! The chat port of mosaic-bot: the platform-neutral types every adapter
//! (Discord, Slack, Mattermost, console) turns its messages into, and that the
//! bot's core works on. No platform's own types ever cross this line.
//!
//! - this file: inbound messages, threads, users, platform names;
//! - [`markup`]: neutral rich text, and its paging into messages that fit a
//!   platform's length limit, rendered by each platform's [`Dialect`];
//! - [`platform`]: the [`ChatPlatform`] trait every adapter implements, its
//!   limits, reactions and errors;
//! - [`buttons`]: buttons under a message, and the presses of them;
//! - [`handled`]: the ids of messages an adapter already handed on;
//! - [`connection`]: how a platform's connection stands, for readiness;
//! - [`memory`]: what an adapter keeps across restarts, in the bot's store;
//! - [`shards`]: which gateway shards an adapter may connect (held by lease in the store);
//! - [`secret`]: tokens and signing secrets, which never print (adapters and
//!   the core both hold them).

use std::fmt;
use std::time::SystemTime;

pub mod buttons;
pub mod connection;
pub mod handled;
pub mod marks;
pub mod markup;
pub mod memory;
pub mod platform;
pub mod secret;
pub mod shards;

pub use buttons::{Button, ButtonStyle, Press};
pub use connection::{Connection, ConnectionState};
pub use marks::{OwnPost, PostMark};
pub use markup::{Block, Dialect, Markup, Span};
pub use memory::{InMemory, Memory};
pub use platform::{ChatError, ChatFuture, ChatPlatform, Limits, Reaction, RunContext};
pub use secret::Secret;
pub use shards::{HeldShards, IdentifyTurns, ShardLeases, ShardSet};

/// Which platform a message came from (`discord`, `slack`, `mattermost`,
/// `console`). A name rather than an enum, so adding a platform is one new
/// adapter crate and no change here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform(&'static str);

impl Platform {
    /// The platforms this build knows, by name: what a stored name is read
    /// back as. An adapter adds its name here.
    pub const KNOWN: [Platform; 4] = [
        Platform("console"),
        Platform("discord"),
        Platform("mattermost"),
        Platform("slack"),
    ];

    /// The known platform with this name.
    pub fn known(name: &str) -> Option<Platform> {
        Platform::KNOWN.into_iter().find(|p| p.0 == name)
    }

    /// A platform by its lower-case name.
    pub const fn new(name: &'static str) -> Platform {
        Platform(name)
    }

    /// The platform's name, as used in configuration and logs.
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A thread on a platform: the channel it is in, and the platform's id of
/// the thread (Slack's `thread_ts`, Mattermost's `root_id`, Discord's thread
/// channel id, the console's message id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThreadRef {
    pub platform: Platform,
    pub channel: String,
    pub thread: String,
}

impl fmt::Display for ThreadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.platform, self.channel, self.thread)
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserRef {
    /// The platform's stable user id.
    pub id: String,
    /// A display name, for messages and job origins.
    pub name: String,
}

/// A message addressed to the bot, normalized by its adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub platform: Platform,
    pub channel: String,
    /// The platform's id of this message.
    pub message_id: String,
    /// The thread the message was posted in; `None` at a channel's top level.
    pub thread: Option<String>,
    pub user: UserRef,
    /// The platform's ids of the author's roles or groups where this message
    /// was written, as far as the adapter knows them: Discord role ids, Slack
    /// user-group ids, Mattermost team and system role names. Permissions
    /// match on them; empty when the platform tells none.
    pub roles: Vec<String>,
    /// The text, with the bot's own platform mention rewritten to `@name`.
    pub text: String,
    /// Whether `text` came from a slash command (no mention needed).
    pub slash: bool,
    /// What the adapter needs to answer this message privately (Slack's
    /// `response_url`, Discord's interaction token); opaque to the core.
    pub reply_handle: Option<String>,
    /// A key unique to this message (the same for its edits), so a message
    /// the platform delivers twice is handled once.
    pub dedupe_key: String,
    /// When the platform says the message was written (Mattermost
    /// `create_at`, Slack `ts`, Discord's snowflake; a slash command's
    /// invocation), never when the bot received it: the core acts only on
    /// messages written within its catch-up window, so a re-delivery or a
    /// catch-up query can never revive an old command.
    pub created_at: SystemTime,
    /// `None` for a message as it was written; for an edit of it, a mark
    /// unique to that revision (Slack `edited.ts`, Mattermost `edit_at`,
    /// Discord `edited_timestamp`), so each edit is read at most once.
    pub edit: Option<String>,
}

impl Inbound {
    /// The thread the bot answers in: the message's thread, or a new thread
    /// on the message itself when it stands at the channel's top level.
    pub fn reply_thread(&self) -> ThreadRef {
        ThreadRef {
            platform: self.platform,
            channel: self.channel.clone(),
            thread: self
                .thread
                .clone()
                .unwrap_or_else(|| self.message_id.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(thread: Option<&str>) -> Inbound {
        Inbound {
            platform: Platform::new("console"),
            channel: "c1".into(),
            message_id: "m7".into(),
            thread: thread.map(str::to_owned),
            user: UserRef {
                id: "u1".into(),
                name: "alice".into(),
            },
            roles: Vec::new(),
            text: "@mosaic fix #1".into(),
            slash: false,
            reply_handle: None,
            dedupe_key: "console:m7".into(),
            created_at: SystemTime::UNIX_EPOCH,
            edit: None,
        }
    }

    #[test]
    fn top_level_messages_are_answered_in_their_own_thread() {
        assert_eq!(inbound(None).reply_thread().thread, "m7");
    }

    #[test]
    fn messages_in_a_thread_are_answered_there() {
        let thread = inbound(Some("m1")).reply_thread();
        assert_eq!(thread.to_string(), "console:c1/m1");
    }
}
