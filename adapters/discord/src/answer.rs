//! Where a thread's messages go. A job's thread is made on its command
//! message the first time something is posted to it; when Discord refuses
//! (an overwrite denying Create Public Threads, a channel type without
//! threads), the job answers in the channel instead, each message a reply to
//! the command, and the channel is told which permission is missing. Every
//! refusal for a missing permission is told in the channel once per channel
//! and permission.

use mosaic_chat::{ChatError, ThreadRef};
use serde_json::Value;

use crate::permission::{Permission, notice};
use crate::rest::Extras;
use crate::{Discord, PLATFORM, lock, parse_id, thread_name};

/// Where one message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    /// The channel or thread channel it is posted in.
    pub channel: u64,
    /// The top-level channel, where a refusal is told.
    pub parent: u64,
    /// The message it replies to, when answering in the channel.
    pub reply_to: Option<u64>,
}

impl Target {
    fn in_thread(&self) -> bool {
        self.channel != self.parent
    }
}

impl Discord {
    /// Where messages of `thread` go, making the thread on its root message
    /// the first time (its name from `first_text`).
    pub(crate) async fn target(
        &self,
        thread: &ThreadRef,
        first_text: &str,
    ) -> Result<Target, ChatError> {
        let channel = parse_id("channel", &thread.channel)?;
        let root = parse_id("message", &thread.thread)?;
        let in_channel = Target {
            channel,
            parent: channel,
            reply_to: Some(root),
        };
        let in_thread = Target {
            channel: root,
            parent: channel,
            reply_to: None,
        };
        if self.answers_in_channel(root).await {
            return Ok(in_channel);
        }
        if self.known_thread(root).await.is_some() {
            return Ok(in_thread);
        }
        // Known before asking: a thread it may not make, or not post in.
        for needed in [
            Permission::CreatePublicThreads,
            Permission::SendMessagesInThreads,
        ] {
            if self.lacks(channel, needed).await {
                self.tell_missing(channel, needed).await;
                self.answer_in_channel(root).await;
                return Ok(in_channel);
            }
        }
        let name = thread_name(first_text, &self.options.bot_name);
        match self.rest.start_thread(channel, root, &name).await {
            Ok(created) => {
                self.learn_thread(created, channel).await;
                Ok(Target {
                    channel: created,
                    ..in_thread
                })
            }
            Err(ChatError::Forbidden(reason)) => {
                tracing::warn!(channel, root, %reason, "discord: thread refused; answering in the channel");
                self.tell_missing(channel, Permission::CreatePublicThreads)
                    .await;
                self.answer_in_channel(root).await;
                Ok(in_channel)
            }
            // 50024: this channel's type has no threads made from messages.
            Err(ChatError::Rejected { code, message }) if code == "50024" => {
                tracing::info!(channel, %message, "discord: no threads here; answering in the channel");
                self.answer_in_channel(root).await;
                Ok(in_channel)
            }
            // The root is no message of the channel: a thread made without
            // one (a forum post, "Create Thread") that the bot answers in.
            Err(ChatError::NotFound(what)) => match self.rest.thread_parent(root).await {
                Ok(Some(parent)) if parent == channel => {
                    self.learn_thread(root, channel).await;
                    Ok(in_thread)
                }
                _ => Err(ChatError::NotFound(what)),
            },
            Err(e) => Err(e),
        }
    }

    /// Posts `text` in `thread`, making the thread on its root message the
    /// first time; with `nonce`, a post Discord made already with it (an
    /// answer lost on the way back, then retried) is returned, not repeated.
    pub(crate) async fn post_in(
        &self,
        thread: &ThreadRef,
        text: &str,
        nonce: Option<&str>,
    ) -> Result<String, ChatError> {
        self.check_length(text)?;
        let target = self.target(thread, text).await?;
        let extras = Extras {
            nonce,
            ..Extras::default()
        };
        self.send_with(&target, text, extras).await
    }

    /// Posts `text` at `target`; a refusal is told in the channel.
    pub(crate) async fn send(&self, target: &Target, text: &str) -> Result<String, ChatError> {
        self.send_with(target, text, Extras::default()).await
    }

    /// As [`Discord::send`], the message carrying `extras`.
    pub(crate) async fn send_with(
        &self,
        target: &Target,
        text: &str,
        extras: Extras<'_>,
    ) -> Result<String, ChatError> {
        let missing = if target.in_thread() {
            Permission::SendMessagesInThreads
        } else {
            Permission::SendMessages
        };
        // Known to be refused: not asked.
        self.ensure(target.parent, target.parent, &[missing])
            .await?;
        // A reply needs Read Message History (resources/message, "Create
        // Message"); without it the answer stands unlinked.
        let reply_to = match target.reply_to {
            Some(_)
                if self
                    .lacks(target.parent, Permission::ReadMessageHistory)
                    .await =>
            {
                None
            }
            reply_to => reply_to,
        };
        let sent = self
            .rest
            .send_with(target.channel, text, reply_to, extras)
            .await;
        match sent {
            Err(e @ ChatError::Forbidden(_)) => {
                self.tell_missing(target.parent, missing).await;
                Err(e)
            }
            sent => sent,
        }
    }

    /// Replaces the text of message `message_id` of `thread`, and its
    /// `components` when given.
    pub(crate) async fn edit_in(
        &self,
        thread: &ThreadRef,
        message_id: &str,
        text: &str,
        components: Option<&Value>,
    ) -> Result<(), ChatError> {
        self.check_length(text)?;
        let message = parse_id("message", message_id)?;
        let root = parse_id("message", &thread.thread)?;
        // The root message stands in the channel, and so does every
        // message of a job answered there; the rest stand in the
        // thread, whose channel id is the root's id.
        let channel = if message == root || self.answers_in_channel(root).await {
            parse_id("channel", &thread.channel)?
        } else {
            root
        };
        self.rest.edit(channel, message, text, components).await
    }

    /// A new message at the top of `channel`, and the thread for its job.
    pub(crate) async fn send_top_level(
        &self,
        channel: &str,
        text: &str,
    ) -> Result<ThreadRef, ChatError> {
        self.check_length(text)?;
        let channel_id = parse_id("channel", channel)?;
        let top = Target {
            channel: channel_id,
            parent: channel_id,
            reply_to: None,
        };
        let id = self.send(&top, text).await?;
        let thread = ThreadRef {
            platform: PLATFORM,
            channel: channel.to_owned(),
            thread: id,
        };
        self.target(&thread, text).await?;
        Ok(thread)
    }

    /// Says once in `channel` that `permission` is missing there (once
    /// across restarts too, until it is granted again); logged when even
    /// that cannot be posted.
    pub(crate) async fn tell_missing(&self, channel: u64, permission: Permission) {
        if !lock(&self.permissions).first_refusal(channel, permission) {
            return;
        }
        let label = permission.label();
        // A notice the channel would refuse is not sent: the log says it.
        if permission == Permission::SendMessages
            || self.lacks(channel, Permission::SendMessages).await
        {
            tracing::error!(
                channel,
                permission = label,
                "discord: missing a permission in this channel, and may not post there to tell it"
            );
            return;
        }
        if self.told_before(channel, permission).await {
            tracing::warn!(
                channel,
                permission = label,
                "discord: missing a permission in this channel (told there before a restart)"
            );
            return;
        }
        tracing::error!(
            channel,
            permission = label,
            "discord: missing a permission in this channel; telling it there"
        );
        match self.rest.send(channel, &notice(permission), None).await {
            Ok(_) => self.keep_told(channel, permission).await,
            Err(e) => {
                tracing::error!(channel, error = %e, "discord: cannot tell the channel what is missing");
            }
        }
    }

    /// The parent of `thread` when it is a thread the bot knows, in this
    /// process or from before a restart.
    pub(crate) async fn known_thread(&self, thread: u64) -> Option<u64> {
        if let Some(parent) = lock(&self.places).thread_parent(thread) {
            return Some(parent);
        }
        let parent = self.recall_id(&format!("thread:{thread}")).await?;
        lock(&self.places).learn_thread(thread, parent);
        Some(parent)
    }

    /// Notes that `thread` is a thread of `parent`, across restarts too.
    pub(crate) async fn learn_thread(&self, thread: u64, parent: u64) {
        let new = lock(&self.places).thread_parent(thread) != Some(parent);
        if new {
            lock(&self.places).learn_thread(thread, parent);
            self.keep(&format!("thread:{thread}"), &parent.to_string())
                .await;
        }
    }

    /// Whether the job of `root` answers in its channel (no thread could be made).
    pub(crate) async fn answers_in_channel(&self, root: u64) -> bool {
        if lock(&self.places).answers_in_channel(root) {
            return true;
        }
        let kept = self.recall(&format!("in_channel:{root}")).await.is_some();
        if kept {
            lock(&self.places).answer_in_channel(root);
        }
        kept
    }

    async fn answer_in_channel(&self, root: u64) {
        lock(&self.places).answer_in_channel(root);
        self.keep(&format!("in_channel:{root}"), "1").await;
    }

    /// The thread message `message` stands in, when it is not where its
    /// thread reference says (a command typed inside a thread).
    pub(crate) async fn location(&self, message: u64) -> Option<u64> {
        if let Some(thread) = lock(&self.places).location(message) {
            return Some(thread);
        }
        self.recall_id(&format!("at:{message}")).await
    }

    /// Notes that `message` stands in `thread`, across restarts too.
    pub(crate) async fn learn_location(&self, message: u64, thread: u64) {
        lock(&self.places).learn_location(message, thread);
        self.keep(&format!("at:{message}"), &thread.to_string())
            .await;
    }
}
