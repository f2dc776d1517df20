//! What the bot may do where, asked before it acts: the permissions
//! computed from the gateway's word on each guild (`perms.rs`), or, for a
//! channel of a guild not told yet, what the last interaction there said
//! (`app_permissions`). Serenity's events that change the computed ones are
//! heard by [`GuildWatch`], a second event handler beside the gateway's.

use std::sync::Arc;
use std::time::SystemTime;

use mosaic_chat::ChatError;
use serenity::all::{
    Context, EventHandler, GuildChannel, GuildId, GuildMemberUpdateEvent, Member, Message, Role,
    RoleId,
};
use serenity::async_trait;

use crate::permission::Permission;
use crate::perms::Here;
use crate::{Discord, lock, parse_id};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Discord {
    /// What the bot may do in `channel` (a thread: in its parent, as a
    /// thread), as computed; `None` while it is not known.
    pub(crate) async fn computed(&self, channel: u64) -> Option<Here> {
        let bot = (*self.bot_user.borrow())?;
        let now = unix_now();
        if let Some(here) = lock(&self.guilds).here(bot, channel, now) {
            return Some(here);
        }
        let parent = self.known_thread(channel).await?;
        lock(&self.guilds).in_thread_of(bot, parent, now)
    }

    /// The permission the bot is known to lack for `permission` in
    /// `channel`: itself, or Send Messages in Threads for Send Messages in
    /// a thread. Unknown is not lacking: Discord's answer then tells.
    pub(crate) async fn missing(&self, channel: u64, permission: Permission) -> Option<Permission> {
        match self.computed(channel).await {
            Some(here) => (!here.allows(permission)).then(|| here.needed(permission)),
            None => lock(&self.permissions)
                .lacks(channel, permission)
                .then_some(permission),
        }
    }

    /// Whether the bot is known to lack `permission` in `channel`.
    pub(crate) async fn lacks(&self, channel: u64, permission: Permission) -> bool {
        self.missing(channel, permission).await.is_some()
    }

    /// Refuses, without asking Discord, what `needed` in `place` would be
    /// refused for; the first refusal of each is told in `channel`.
    pub(crate) async fn ensure(
        &self,
        place: u64,
        channel: u64,
        needed: &[Permission],
    ) -> Result<(), ChatError> {
        for &permission in needed {
            if let Some(missing) = self.missing(place, permission).await {
                self.tell_missing(channel, missing).await;
                return Err(ChatError::Forbidden(format!(
                    "discord: missing the {} permission in channel {channel}",
                    missing.label()
                )));
            }
        }
        Ok(())
    }

    /// The port's question before a job starts: may the bot post in
    /// `thread` of `channel`, or answer a command at the channel's top
    /// level: in the channel, or in a thread it makes on the command?
    pub(crate) async fn can_answer_in(
        &self,
        channel: &str,
        thread: Option<&str>,
    ) -> Result<(), ChatError> {
        let channel = parse_id("channel", channel)?;
        let answer = match thread {
            Some(thread) => {
                let needed = [Permission::ViewChannel, Permission::SendMessages];
                let thread = parse_id("channel", thread)?;
                self.ensure(thread, channel, &needed).await
            }
            None => self.can_answer_at_top(channel).await,
        };
        if let Err(e) = &answer {
            tracing::warn!(channel, ?thread, error = %e, "discord: cannot answer here; no job starts");
        }
        answer
    }

    /// In the channel (Send Messages), or in a thread made on the command
    /// (Create Public Threads and Send Messages in Threads).
    async fn can_answer_at_top(&self, channel: u64) -> Result<(), ChatError> {
        self.ensure(channel, channel, &[Permission::ViewChannel])
            .await?;
        if !self.lacks(channel, Permission::SendMessages).await {
            return Ok(());
        }
        for in_thread in [
            Permission::CreatePublicThreads,
            Permission::SendMessagesInThreads,
        ] {
            if let Some(missing) = self.missing(channel, in_thread).await {
                self.tell_missing(channel, Permission::SendMessages).await;
                return Err(ChatError::Forbidden(format!(
                    "discord: missing the {} permission in channel {channel}, and {} for a thread",
                    Permission::SendMessages.label(),
                    missing.label()
                )));
            }
        }
        Ok(())
    }

    /// Whether reading the history of `channel` (a thread: with its
    /// parent's permissions) is known to be refused; the missing permission
    /// is told in `told_in`, once.
    pub(crate) async fn history_refused(&self, channel: u64, told_in: u64) -> bool {
        let needed = [Permission::ViewChannel, Permission::ReadMessageHistory];
        match self.ensure(channel, told_in, &needed).await {
            Ok(()) => false,
            Err(e) => {
                tracing::warn!(channel, error = %e, "discord: cannot catch up on this channel");
                true
            }
        }
    }
}

/// Serenity's events that change what the bot may do: roles, channels and
/// their overwrites, threads, and the bot's own member (its roles, its
/// timeout). GUILD_CREATE is heard by the gateway's handler, which learns
/// the guild before it catches up on its channels.
pub struct GuildWatch {
    pub discord: Arc<Discord>,
}

#[async_trait]
impl EventHandler for GuildWatch {
    async fn guild_role_create(&self, _ctx: Context, new: Role) {
        lock(&self.discord.guilds).learn_role(&new);
    }

    async fn guild_role_update(&self, _ctx: Context, _old: Option<Role>, new: Role) {
        lock(&self.discord.guilds).learn_role(&new);
    }

    async fn guild_role_delete(
        &self,
        _ctx: Context,
        guild: GuildId,
        role: RoleId,
        _old: Option<Role>,
    ) {
        lock(&self.discord.guilds).forget_role(guild.get(), role);
    }

    async fn channel_create(&self, _ctx: Context, channel: GuildChannel) {
        lock(&self.discord.guilds).learn_channel(&channel);
    }

    async fn channel_update(&self, _ctx: Context, _old: Option<GuildChannel>, new: GuildChannel) {
        lock(&self.discord.guilds).learn_channel(&new);
    }

    async fn channel_delete(
        &self,
        _ctx: Context,
        channel: GuildChannel,
        _messages: Option<Vec<Message>>,
    ) {
        lock(&self.discord.guilds).forget_channel(&channel);
    }

    async fn thread_create(&self, _ctx: Context, thread: GuildChannel) {
        lock(&self.discord.guilds).learn_channel(&thread);
    }

    async fn thread_update(&self, _ctx: Context, _old: Option<GuildChannel>, new: GuildChannel) {
        lock(&self.discord.guilds).learn_channel(&new);
    }

    /// Without the GUILD_MEMBERS intent only the bot's own updates come.
    async fn guild_member_update(
        &self,
        _ctx: Context,
        _old: Option<Member>,
        _new: Option<Member>,
        event: GuildMemberUpdateEvent,
    ) {
        lock(&self.discord.guilds).learn_member(
            event.guild_id.get(),
            &event.user,
            &event.roles,
            event.communication_disabled_until,
        );
    }
}
