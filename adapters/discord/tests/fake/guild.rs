//! The fake's guild as Discord keeps it: roles with their permissions, the
//! bot's member with its roles, the owner, channels with their permission
//! overwrites; the bot's permissions in each channel computed from them as
//! Discord does (topics/permissions, written here from that page alone, so
//! it checks the adapter's computation rather than repeating it); the
//! GUILD_CREATE payload built from them, and the update event each change
//! sends (events/gateway-events, "Guild Role Update", "Channel Update").

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::payloads::user;
use super::{
    ALICE, BOT_ID, CHANNEL, FORUM, FakeDiscord, GUILD_ID, MANAGED_ROLE, OTHER_CHANNEL, perm,
};

/// ADMINISTRATOR (topics/permissions, "Bitwise Permission Flags").
const ADMINISTRATOR: u64 = 1 << 3;
/// Every permission the page lists (up to BYPASS_SLOWMODE, 1 << 52).
const ALL: u64 = (1 << 53) - 1;

/// One permission overwrite (resources/channel, "Overwrite Object"):
/// `kind` 0 for a role, 1 for a member.
#[derive(Debug, Clone, Copy)]
pub struct Overwrite {
    pub id: u64,
    pub kind: u8,
    pub allow: u64,
    pub deny: u64,
}

#[derive(Debug, Clone)]
struct Channel {
    kind: u64,
    name: &'static str,
    overwrites: Vec<Overwrite>,
}

/// The guild's state.
#[derive(Debug, Clone)]
pub struct Guild {
    /// The guild's id, also its @everyone role's.
    pub id: u64,
    owner: u64,
    /// Role → its permissions; the @everyone role's id is the guild's.
    roles: BTreeMap<u64, u64>,
    /// The bot's managed role (`tags.bot_id`).
    managed_role: u64,
    bot_roles: Vec<u64>,
    /// Until when the bot is timed out (RFC 3339), if it is.
    bot_timed_out_until: Option<String>,
    channels: BTreeMap<u64, Channel>,
}

impl Guild {
    /// The guild a test starts with: @everyone may view channels and
    /// nothing more, the bot's managed role `managed_role` holds what the
    /// README's invite link grants, and alice owns the guild.
    pub fn new(managed_role: u64) -> Guild {
        let channel = |kind, name| Channel {
            kind,
            name,
            overwrites: Vec::new(),
        };
        Guild {
            id: GUILD_ID,
            owner: ALICE,
            roles: BTreeMap::from([
                (GUILD_ID, perm::VIEW_CHANNEL),
                (managed_role, perm::INVITED),
            ]),
            managed_role,
            bot_roles: vec![managed_role],
            bot_timed_out_until: None,
            channels: BTreeMap::from([
                (CHANNEL, channel(0, "general")),
                (OTHER_CHANNEL, channel(0, "other")),
                (FORUM, channel(15, "forum")),
            ]),
        }
    }

    /// Another guild of the bot, `id`, with one text channel `channel`, its roles and
    /// permissions as in the first guild (the managed role's id is `id + 1`).
    pub fn another(id: u64, channel: u64) -> Guild {
        let mut guild = Guild::new(id + 1);
        guild.id = id;
        guild.roles = BTreeMap::from([(id, perm::VIEW_CHANNEL), (id + 1, perm::INVITED)]);
        guild.channels = BTreeMap::from([(
            channel,
            Channel {
                kind: 0,
                name: "general",
                overwrites: Vec::new(),
            },
        )]);
        guild
    }

    /// The type of guild channel `id` (not a thread), if it is one.
    pub fn kind(&self, id: u64) -> Option<u64> {
        self.channels.get(&id).map(|c| c.kind)
    }

    /// The bot's permissions in guild channel `channel`, per the page's
    /// "Permission Overwrites" pseudo-code, "Implicit Permissions" (nothing
    /// without VIEW_CHANNEL). A thread is asked with its parent's id
    /// ("Inherited Permissions (Threads)"), and the caller asks
    /// SEND_MESSAGES_IN_THREADS there instead of SEND_MESSAGES.
    pub fn bot_permissions(&self, channel: u64) -> u64 {
        if self.owner == BOT_ID {
            return ALL;
        }
        // compute_base_permissions: @everyone, then each of the member's roles.
        let mut bits = self.roles.get(&self.id).copied().unwrap_or(0);
        for role in &self.bot_roles {
            bits |= self.roles.get(role).copied().unwrap_or(0);
        }
        if bits & ADMINISTRATOR != 0 {
            return ALL;
        }
        // "Permissions For Timed Out Members": all but VIEW_CHANNEL and
        // READ_MESSAGE_HISTORY are lost (owners and administrators exempt,
        // above). The fake's timeouts are all in the future when set.
        if self.bot_timed_out_until.is_some() {
            bits &= perm::VIEW_CHANNEL | perm::READ_MESSAGE_HISTORY;
        }
        // compute_overwrites: @everyone's, the roles' together, the member's.
        let overwrites = self
            .channels
            .get(&channel)
            .map_or(&[][..], |c| &c.overwrites[..]);
        let find = |id: u64, kind: u8| overwrites.iter().find(|o| o.id == id && o.kind == kind);
        if let Some(everyone) = find(self.id, 0) {
            bits &= !everyone.deny;
            bits |= everyone.allow;
        }
        let (mut allow, mut deny) = (0, 0);
        for role in &self.bot_roles {
            if let Some(o) = find(*role, 0) {
                allow |= o.allow;
                deny |= o.deny;
            }
        }
        bits &= !deny;
        bits |= allow;
        if let Some(member) = find(BOT_ID, 1) {
            bits &= !member.deny;
            bits |= member.allow;
        }
        if bits & perm::VIEW_CHANNEL == 0 {
            return 0;
        }
        bits
    }

    fn role_payload(&self, id: u64) -> Value {
        let tags = if id == self.managed_role {
            json!({ "bot_id": BOT_ID.to_string() })
        } else {
            json!({})
        };
        json!({
            "id": id.to_string(), "name": "r", "color": 0,
            "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
            "hoist": false, "icon": null, "unicode_emoji": null, "position": 1,
            "permissions": self.roles.get(&id).copied().unwrap_or(0).to_string(),
            "managed": id != self.id, "mentionable": false, "flags": 0, "tags": tags })
    }

    /// A guild channel as GUILD_CREATE lists it and CHANNEL_UPDATE sends it
    /// (resources/channel, "Channel Object", "Overwrite Object").
    fn channel_payload(&self, id: u64) -> Value {
        let c = &self.channels[&id];
        let overwrites: Vec<Value> = c
            .overwrites
            .iter()
            .map(|o| {
                json!({ "id": o.id.to_string(), "type": o.kind,
                             "allow": o.allow.to_string(), "deny": o.deny.to_string() })
            })
            .collect();
        json!({ "id": id.to_string(), "type": c.kind, "guild_id": self.id.to_string(),
                "name": c.name, "position": 0, "permission_overwrites": overwrites, "nsfw": false,
                "parent_id": null, "last_message_id": null, "rate_limit_per_user": 0,
                "topic": null })
    }

    /// The GUILD_CREATE payload: roles with their permissions, the bot's
    /// member (without GUILD_PRESENCES, members hold only the bot and
    /// people in voice: events/gateway-events, "Guild Create"), channels
    /// with their overwrites, the owner.
    pub fn payload(&self) -> Value {
        let roles: Vec<Value> = self.roles.keys().map(|&r| self.role_payload(r)).collect();
        let channels: Vec<Value> = self
            .channels
            .keys()
            .map(|&c| self.channel_payload(c))
            .collect();
        let bot = self.bot_member();
        json!({
            "id": self.id.to_string(), "name": "guild", "icon": null, "splash": null, "discovery_splash": null,
            "owner_id": self.owner.to_string(), "afk_channel_id": null, "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": roles, "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
            "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
            "max_members": 500000, "vanity_url_code": null, "description": null, "banner": null,
            "premium_tier": 0, "premium_subscription_count": 0, "preferred_locale": "en-US",
            "public_updates_channel_id": null, "nsfw_level": 0, "stickers": [],
            "premium_progress_bar_enabled": false, "joined_at": "2026-01-01T00:00:00.000000+00:00",
            "large": false, "unavailable": false, "member_count": 2, "voice_states": [],
            "members": [bot], "channels": channels, "threads": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": []
        })
    }

    fn role_strings(&self) -> Vec<String> {
        self.bot_roles.iter().map(u64::to_string).collect()
    }

    /// The bot's guild member, as GUILD_CREATE lists it and
    /// GUILD_MEMBER_UPDATE sends it (resources/guild, "Guild Member Object").
    fn bot_member(&self) -> Value {
        json!({ "user": user(BOT_ID, true), "roles": self.role_strings(),
            "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false,
            "flags": 0, "nick": null, "avatar": null, "banner": null, "premium_since": null,
            "pending": false, "communication_disabled_until": self.bot_timed_out_until })
    }
}

impl FakeDiscord {
    /// An admin gives `channel` an overwrite for `kind`/`id` (replacing
    /// that target's): CHANNEL_UPDATE follows with the whole channel.
    pub fn overwrite(&self, channel: u64, overwrite: Overwrite) {
        let payload = {
            let mut guild = self.inner.guild.lock().expect("guild");
            let c = guild.channels.get_mut(&channel).expect("a guild channel");
            c.overwrites
                .retain(|o| (o.id, o.kind) != (overwrite.id, overwrite.kind));
            c.overwrites.push(overwrite);
            guild.channel_payload(channel)
        };
        self.dispatch("CHANNEL_UPDATE", payload);
    }

    /// An overwrite in `channel` denying the bot `permissions` (`perm::*`)
    /// as a member, added to what it denied before; threads of the channel
    /// inherit it.
    pub fn deny(&self, channel: u64, permissions: u64) {
        let before = {
            let guild = self.inner.guild.lock().expect("guild");
            let c = guild.channels.get(&channel).expect("a guild channel");
            c.overwrites
                .iter()
                .find(|o| (o.id, o.kind) == (BOT_ID, 1))
                .copied()
        };
        let mut denied = before.unwrap_or(Overwrite {
            id: BOT_ID,
            kind: 1,
            allow: 0,
            deny: 0,
        });
        denied.deny |= permissions;
        denied.allow &= !permissions;
        self.overwrite(channel, denied);
    }

    /// An admin sets role `role`'s permissions: GUILD_ROLE_UPDATE follows.
    pub fn set_role_permissions(&self, role: u64, permissions: u64) {
        let payload = {
            let mut guild = self.inner.guild.lock().expect("guild");
            guild.roles.insert(role, permissions);
            guild.role_payload(role)
        };
        self.dispatch(
            "GUILD_ROLE_UPDATE",
            json!({ "guild_id": GUILD_ID.to_string(), "role": payload }),
        );
    }

    /// A moderator times the bot out until `until` (`None`: lifts it):
    /// GUILD_MEMBER_UPDATE follows, which Discord sends for the bot's own
    /// member without the GUILD_MEMBERS intent (events/gateway, "Caveats").
    pub fn time_out_bot(&self, until: Option<std::time::SystemTime>) {
        let payload = {
            let mut guild = self.inner.guild.lock().expect("guild");
            guild.bot_timed_out_until =
                until.map(|at| humantime::format_rfc3339_millis(at).to_string());
            let mut member = guild.bot_member();
            member["guild_id"] = json!(GUILD_ID.to_string());
            member
        };
        self.dispatch("GUILD_MEMBER_UPDATE", payload);
    }

    /// The guild comes back from an outage: GUILD_CREATE again, as it
    /// stands now (events/gateway-events, "Guild Create": "when a guild
    /// becomes available again to the client").
    pub fn guild_available_again(&self) {
        let payload = self.inner.guild.lock().expect("guild").payload();
        self.dispatch("GUILD_CREATE", payload);
    }

    /// The bot's permissions in `channel` now (a thread: its parent's).
    pub fn bot_permissions(&self, channel: u64) -> u64 {
        self.inner.bot_permissions(channel)
    }
}

impl super::Inner {
    /// The bot's permissions in `channel`, a thread's being its parent's.
    pub(super) fn bot_permissions(&self, channel: u64) -> u64 {
        let place = self
            .threads
            .lock()
            .expect("threads")
            .get(&channel)
            .copied()
            .unwrap_or(channel);
        let guild = self.guild.lock().expect("guild");
        if guild.kind(place).is_some() {
            return guild.bot_permissions(place);
        }
        let more = self.more_guilds.lock().expect("guilds");
        more.iter()
            .find(|g| g.kind(place).is_some())
            .map_or(0, |g| g.bot_permissions(place))
    }

    /// The type of guild channel `channel` (not a thread) in any guild, if it is one.
    pub(super) fn channel_kind(&self, channel: u64) -> Option<u64> {
        let kind = self.guild.lock().expect("guild").kind(channel);
        kind.or_else(|| {
            let more = self.more_guilds.lock().expect("guilds");
            more.iter().find_map(|g| g.kind(channel))
        })
    }

    /// The guild of `channel` (a thread: its parent's), if it is a guild's.
    pub(super) fn guild_of(&self, channel: u64) -> Option<u64> {
        let place = self
            .threads
            .lock()
            .expect("threads")
            .get(&channel)
            .copied()
            .unwrap_or(channel);
        if self.guild.lock().expect("guild").kind(place).is_some() {
            return Some(GUILD_ID);
        }
        let more = self.more_guilds.lock().expect("guilds");
        more.iter().find(|g| g.kind(place).is_some()).map(|g| g.id)
    }

    /// Every guild's id and GUILD_CREATE payload.
    pub(super) fn guild_payloads(&self) -> Vec<(u64, Value)> {
        let first = self.guild.lock().expect("guild").payload();
        let more = self.more_guilds.lock().expect("guilds");
        std::iter::once((GUILD_ID, first))
            .chain(more.iter().map(|g| (g.id, g.payload())))
            .collect()
    }

    /// Whether the bot lacks any of `permissions` in `channel` (a thread:
    /// as its parent).
    pub(super) fn lacks(&self, channel: u64, permissions: u64) -> bool {
        self.bot_permissions(channel) & permissions != permissions
    }
}
