//! Catching up on messages written while the bot was not listening: stopped,
//! or between two gateway sessions. A RESUME replays what the session missed
//! (the documentation's events/gateway, "Resuming"), so only a new session
//! (READY, then GUILD_CREATE for each guild) leaves a gap: then each text
//! channel and active thread of the guild is read from the newest message
//! seen there (kept across restarts) with `GET /channels/{id}/messages?after=`
//! (resources/message, "Get Channel Messages"), never from further back than
//! the catch-up window, and every mention of the bot goes on as if it had
//! just arrived. The core decides what is acted on (the window, once per
//! message); this only reports what Discord holds, with its instants. A
//! channel whose history the bot may not read (Discord would answer an
//! empty list) is not read, and the missing permission is told there once.

use std::sync::Arc;
use std::time::SystemTime;

use mosaic_chat::{ChatError, Inbound, RunContext};
use serenity::all::Message;
use tokio::sync::mpsc;

use crate::rest::PAGE;
use crate::{Discord, lock, snowflake};

/// Reads what `channels` received since the bot last looked and before
/// message id `until` (later ones come through the gateway), and hands the
/// mentions of the bot on to `inbox`.
pub(crate) async fn catch_up(
    discord: Arc<Discord>,
    inbox: mpsc::Sender<Inbound>,
    channels: Vec<u64>,
    until: u64,
) {
    let window = discord
        .catch_up
        .get()
        .copied()
        .unwrap_or(RunContext::DEFAULT_CATCH_UP);
    let floor = snowflake::at(SystemTime::now() - window);
    // What the bot may read is its own: its id comes with READY, whose
    // handler serenity may run after this guild's.
    let _ = discord.bot_user.subscribe().wait_for(Option::is_some).await;
    for channel in channels {
        // Discord answers a read without Read Message History with no
        // messages, not an error: known, it is told instead of read.
        let told_in = discord.known_thread(channel).await.unwrap_or(channel);
        discord.forget_granted(channel).await;
        if discord.history_refused(channel, told_in).await {
            continue;
        }
        let newest = discord.newest_seen(channel).await.unwrap_or(0);
        let after = newest.max(floor);
        match discord.read_after(channel, after, until, &inbox).await {
            Ok(read) if read > 0 => {
                tracing::info!(
                    channel,
                    read,
                    "discord: caught up on messages written meanwhile"
                );
                discord.keep_newest(channel).await;
            }
            Ok(_) => {}
            // A channel the bot may not see (no View Channel) is not its to read.
            Err(ChatError::Forbidden(_) | ChatError::NotFound(_)) => {
                tracing::debug!(channel, "discord: not allowed to read this channel");
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "discord: cannot catch up on this channel");
            }
        }
    }
}

impl Discord {
    /// Hands on the messages of `channel` after `after` and before `until`,
    /// page by page; returns how many were read.
    async fn read_after(
        &self,
        channel: u64,
        mut after: u64,
        until: u64,
        inbox: &mpsc::Sender<Inbound>,
    ) -> Result<usize, ChatError> {
        let mut read = 0;
        loop {
            let page = self.rest.messages_after(channel, after).await?;
            let full = page.len() >= PAGE;
            for value in page {
                let message = match serde_json::from_value::<Message>(value) {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(channel, error = %e, "discord: a message that cannot be read");
                        continue;
                    }
                };
                let id = message.id.get();
                if id >= until {
                    return Ok(read);
                }
                after = after.max(id);
                read += 1;
                let ticket = self.order.take(channel, id);
                // Edited before the bot read it: its revision, as a live
                // MESSAGE_UPDATE would have told it.
                let edit = message.edited_timestamp.map(|t| t.to_string());
                let inbound = self.message_inbound(&message, edit).await;
                self.order.deliver(ticket, inbound, inbox).await;
            }
            if !full {
                return Ok(read);
            }
        }
    }

    /// Notes that message `id` of `channel` was seen (in this process).
    pub(crate) fn saw(&self, channel: u64, id: u64) {
        lock(&self.places).saw(channel, id);
    }

    /// The newest message seen in `channel`, in this process or before.
    async fn newest_seen(&self, channel: u64) -> Option<u64> {
        let here = lock(&self.places).newest(channel);
        let kept = self.recall_id(&format!("newest:{channel}")).await;
        here.max(kept)
    }

    /// Keeps the newest message seen in `channel` across restarts.
    pub(crate) async fn keep_newest(&self, channel: u64) {
        let newest = lock(&self.places).newest(channel);
        if let Some(id) = newest {
            self.keep(&format!("newest:{channel}"), &id.to_string())
                .await;
        }
    }
}
