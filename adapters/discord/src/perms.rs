//! The bot's permissions in each channel, computed as Discord does, from
//! what the gateway tells: GUILD_CREATE (roles, channels with their
//! `permission_overwrites`, threads, the bot's member, `owner_id`), kept up
//! to date by GUILD_ROLE_*, CHANNEL_*, THREAD_* and the bot's own
//! GUILD_MEMBER_UPDATE (the documentation's events/gateway, "Caveats": sent
//! for the current user without the GUILD_MEMBERS intent).
//!
//! The overwrite arithmetic is serenity's `Guild::user_permissions_in`,
//! which needs no cache (its `model` feature): owner → all, ADMINISTRATOR →
//! all, then @everyone's overwrite, the member's roles' overwrites combined,
//! the member's own (topics/permissions, "Permission Overwrites"). What it
//! leaves out is added here, from the same page: threads take their
//! parent's permissions, where Send Messages does not apply and Send
//! Messages in Threads does ("Inherited Permissions (Threads)"); a timed-out
//! member keeps only View Channel and Read Message History, unless owner or
//! administrator ("Permissions For Timed Out Members"); without View Channel
//! nothing else in the channel counts ("Implicit Permissions").
//! Pure bookkeeping and arithmetic: no I/O, tested on the page's cases.

use std::collections::HashMap;

use serenity::all::{ChannelType, Guild, GuildChannel, Member, Permissions, Role, RoleId, User};

use crate::permission::Permission;

/// What the bot may do in one channel or thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Here {
    /// The channel's permissions (a thread's parent's, for a thread).
    pub bits: Permissions,
    /// Whether the place is a thread of that channel.
    pub thread: bool,
}

impl Here {
    /// Whether `permission` is granted here. Posting in a thread takes
    /// Send Messages in Threads, never Send Messages.
    pub fn allows(&self, permission: Permission) -> bool {
        let needed = self.needed(permission).bit();
        self.bits.bits() & needed == needed
    }

    /// The permission that `permission` takes here.
    pub fn needed(&self, permission: Permission) -> Permission {
        match permission {
            Permission::SendMessages if self.thread => Permission::SendMessagesInThreads,
            other => other,
        }
    }
}

/// The guilds as the gateway told them, trimmed to what permissions need.
#[derive(Debug, Default)]
pub struct Guilds {
    guilds: HashMap<u64, Guild>,
    /// Channel (not thread) → its guild.
    channels: HashMap<u64, u64>,
    /// Thread → its parent channel.
    threads: HashMap<u64, u64>,
}

impl Guilds {
    /// A guild as GUILD_CREATE sends it: every earlier word on it is replaced.
    pub fn learn_guild(&mut self, guild: &Guild) {
        let id = guild.id.get();
        for thread in &guild.threads {
            if let Some(parent) = thread.parent_id {
                self.threads.insert(thread.id.get(), parent.get());
            }
        }
        for channel in guild.channels.keys() {
            self.channels.insert(channel.get(), id);
        }
        let mut kept = Guild::default();
        kept.id = guild.id;
        kept.owner_id = guild.owner_id;
        kept.roles.clone_from(&guild.roles);
        kept.channels.clone_from(&guild.channels);
        // Without GUILD_PRESENCES, the bot and people in voice channels only
        // (events/gateway-events, "Guild Create").
        kept.members.clone_from(&guild.members);
        self.guilds.insert(id, kept);
    }

    /// GUILD_ROLE_CREATE and GUILD_ROLE_UPDATE.
    pub fn learn_role(&mut self, role: &Role) {
        if let Some(guild) = self.guilds.get_mut(&role.guild_id.get()) {
            guild.roles.insert(role.id, role.clone());
        }
    }

    /// GUILD_ROLE_DELETE: the role is gone from every member too.
    pub fn forget_role(&mut self, guild: u64, role: RoleId) {
        if let Some(guild) = self.guilds.get_mut(&guild) {
            guild.roles.remove(&role);
            for member in guild.members.values_mut() {
                member.roles.retain(|r| *r != role);
            }
        }
    }

    /// CHANNEL_CREATE, CHANNEL_UPDATE, THREAD_CREATE and THREAD_UPDATE.
    pub fn learn_channel(&mut self, channel: &GuildChannel) {
        let is_thread = matches!(
            channel.kind,
            ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
        );
        if is_thread {
            if let Some(parent) = channel.parent_id {
                self.threads.insert(channel.id.get(), parent.get());
            }
            return;
        }
        if let Some(guild) = self.guilds.get_mut(&channel.guild_id.get()) {
            self.channels.insert(channel.id.get(), guild.id.get());
            guild.channels.insert(channel.id, channel.clone());
        }
    }

    /// CHANNEL_DELETE.
    pub fn forget_channel(&mut self, channel: &GuildChannel) {
        self.channels.remove(&channel.id.get());
        if let Some(guild) = self.guilds.get_mut(&channel.guild_id.get()) {
            guild.channels.remove(&channel.id);
        }
    }

    /// GUILD_MEMBER_UPDATE: the member's roles and timeout now.
    pub fn learn_member(
        &mut self,
        guild: u64,
        user: &User,
        roles: &[RoleId],
        timed_out_until: Option<serenity::all::Timestamp>,
    ) {
        let Some(guild) = self.guilds.get_mut(&guild) else {
            return;
        };
        let guild_id = guild.id;
        let member = guild.members.entry(user.id).or_insert_with(|| {
            let mut member = Member::default();
            member.user = user.clone();
            member.guild_id = guild_id;
            member
        });
        member.roles = roles.to_vec();
        member.communication_disabled_until = timed_out_until;
    }

    /// What member `user` may do in `channel` (a channel or a thread this
    /// knows) at `now` (Unix seconds); `None` while the channel, its guild
    /// or the member is not known.
    pub fn here(&self, user: u64, channel: u64, now: i64) -> Option<Here> {
        match self.threads.get(&channel) {
            Some(&parent) => self.in_thread_of(user, parent, now),
            None => self.at(user, channel, now, false),
        }
    }

    /// What member `user` may do in a thread of `parent`.
    pub fn in_thread_of(&self, user: u64, parent: u64, now: i64) -> Option<Here> {
        self.at(user, parent, now, true)
    }

    fn at(&self, user: u64, channel: u64, now: i64, thread: bool) -> Option<Here> {
        let guild = self.guilds.get(self.channels.get(&channel)?)?;
        let place = guild.channels.iter().find(|(id, _)| id.get() == channel)?.1;
        let member = guild.members.iter().find(|(id, _)| id.get() == user)?.1;
        Some(Here {
            bits: compute(guild, place, member, now),
            thread,
        })
    }
}

/// `member`'s permissions in `channel` of `guild` at `now` (Unix seconds),
/// as topics/permissions computes them.
pub fn compute(guild: &Guild, channel: &GuildChannel, member: &Member, now: i64) -> Permissions {
    let mut bits = guild.user_permissions_in(channel, member);
    let exempt =
        guild.owner_id == member.user.id || guild.member_permissions(member).administrator();
    let timed_out = member
        .communication_disabled_until
        .is_some_and(|until| until.unix_timestamp() > now);
    if timed_out && !exempt {
        bits &= Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY;
    }
    if !bits.view_channel() {
        return Permissions::empty();
    }
    bits
}

#[cfg(test)]
#[path = "perms_tests.rs"]
mod tests;
