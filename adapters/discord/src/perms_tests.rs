//! The documentation's cases (topics/permissions), each through the state
//! the gateway's events build.

use serenity::all::{
    ChannelId, GuildId, PermissionOverwrite, PermissionOverwriteType, Timestamp, UserId,
};

use super::*;

const GUILD: u64 = 1;
const CHANNEL: u64 = 10;
const BOT: u64 = 100;
const OWNER: u64 = 101;
const BOT_ROLE: u64 = 20;
const NOW: i64 = 1_800_000_000;

fn role(id: u64, bits: Permissions) -> Role {
    let mut role = Role::default();
    role.id = RoleId::new(id);
    role.guild_id = GuildId::new(GUILD);
    role.permissions = bits;
    role
}

fn member(user: u64, roles: &[u64]) -> Member {
    let mut member = Member::default();
    member.user.id = UserId::new(user);
    member.guild_id = GuildId::new(GUILD);
    member.roles = roles.iter().map(|&r| RoleId::new(r)).collect();
    member
}

fn role_overwrite(role: u64, allow: Permissions, deny: Permissions) -> PermissionOverwrite {
    PermissionOverwrite {
        allow,
        deny,
        kind: PermissionOverwriteType::Role(RoleId::new(role)),
    }
}

fn channel(id: u64, kind: ChannelType, overwrites: Vec<PermissionOverwrite>) -> GuildChannel {
    let mut channel = GuildChannel::default();
    channel.id = ChannelId::new(id);
    channel.guild_id = GuildId::new(GUILD);
    channel.kind = kind;
    channel.permission_overwrites = overwrites;
    channel
}

/// A guild whose @everyone may view and talk, the bot's role `bot_role`,
/// and one text channel with `overwrites`.
fn guilds(bot_role: Permissions, overwrites: Vec<PermissionOverwrite>) -> Guilds {
    let mut guild = Guild::default();
    guild.id = GuildId::new(GUILD);
    guild.owner_id = UserId::new(OWNER);
    let everyone = Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES;
    for role in [role(GUILD, everyone), role(BOT_ROLE, bot_role)] {
        guild.roles.insert(role.id, role);
    }
    for m in [member(BOT, &[BOT_ROLE]), member(OWNER, &[])] {
        guild.members.insert(m.user.id, m);
    }
    let text = channel(CHANNEL, ChannelType::Text, overwrites);
    guild.channels.insert(text.id, text);
    let mut guilds = Guilds::default();
    guilds.learn_guild(&guild);
    guilds
}

fn bits_of(guilds: &Guilds, user: u64) -> Permissions {
    guilds.here(user, CHANNEL, NOW).expect("known").bits
}

fn everyone_denies(p: Permissions) -> PermissionOverwrite {
    role_overwrite(GUILD, Permissions::empty(), p)
}

#[test]
fn administrator_has_every_permission_whatever_the_overwrites() {
    let g = guilds(
        Permissions::ADMINISTRATOR,
        vec![everyone_denies(
            Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES,
        )],
    );
    assert_eq!(bits_of(&g, BOT), Permissions::all());
}

#[test]
fn the_guild_owner_has_every_permission() {
    let g = guilds(
        Permissions::empty(),
        vec![everyone_denies(Permissions::VIEW_CHANNEL)],
    );
    assert_eq!(bits_of(&g, OWNER), Permissions::all());
    assert_eq!(
        bits_of(&g, BOT),
        Permissions::empty(),
        "the bot is no owner"
    );
}

#[test]
fn a_role_allow_beats_an_everyone_deny() {
    let threads = Permissions::CREATE_PUBLIC_THREADS;
    let g = guilds(
        Permissions::empty(),
        vec![
            everyone_denies(Permissions::SEND_MESSAGES | threads),
            role_overwrite(BOT_ROLE, threads, Permissions::empty()),
        ],
    );
    let here = g.here(BOT, CHANNEL, NOW).expect("known");
    assert!(here.allows(Permission::CreatePublicThreads));
    assert!(!here.allows(Permission::SendMessages));
}

#[test]
fn roles_deny_together_then_allow_together() {
    // One role denies what another allows: allows win ("Permission
    // Hierarchy": role positions do not matter).
    let mut g = guilds(Permissions::empty(), Vec::new());
    g.learn_role(&role(21, Permissions::empty()));
    g.learn_member(
        GUILD,
        &member(BOT, &[]).user,
        &[RoleId::new(BOT_ROLE), RoleId::new(21)],
        None,
    );
    let mut text = channel(
        CHANNEL,
        ChannelType::Text,
        vec![
            role_overwrite(BOT_ROLE, Permissions::empty(), Permissions::SEND_MESSAGES),
            role_overwrite(21, Permissions::SEND_MESSAGES, Permissions::empty()),
        ],
    );
    g.learn_channel(&text);
    assert!(bits_of(&g, BOT).send_messages());
    text.permission_overwrites.pop();
    g.learn_channel(&text);
    assert!(!bits_of(&g, BOT).send_messages());
}

#[test]
fn the_members_own_overwrite_comes_last() {
    let bot = PermissionOverwriteType::Member(UserId::new(BOT));
    let denied = PermissionOverwrite {
        allow: Permissions::empty(),
        deny: Permissions::READ_MESSAGE_HISTORY,
        kind: bot,
    };
    let g = guilds(
        Permissions::empty(),
        vec![
            role_overwrite(
                BOT_ROLE,
                Permissions::READ_MESSAGE_HISTORY,
                Permissions::empty(),
            ),
            denied,
        ],
    );
    let here = g.here(BOT, CHANNEL, NOW).expect("known");
    assert!(!here.allows(Permission::ReadMessageHistory));
    assert!(here.allows(Permission::SendMessages));
}

#[test]
fn a_thread_takes_its_parents_permissions_but_send_messages_in_threads() {
    // An announcement-like channel: nobody posts at its top, everyone in
    // its threads.
    let in_threads = Permissions::SEND_MESSAGES_IN_THREADS;
    let mut g = guilds(
        Permissions::empty(),
        vec![role_overwrite(
            GUILD,
            in_threads,
            Permissions::SEND_MESSAGES,
        )],
    );
    let mut thread = channel(77, ChannelType::PublicThread, Vec::new());
    thread.parent_id = Some(ChannelId::new(CHANNEL));
    g.learn_channel(&thread);
    let top = g.here(BOT, CHANNEL, NOW).expect("the channel");
    let inside = g.here(BOT, 77, NOW).expect("the thread");
    assert!(!top.allows(Permission::SendMessages));
    assert!(inside.allows(Permission::SendMessages));
    assert_eq!(inside.bits, top.bits, "the parent's overwrites");

    // And the other way round: Send Messages alone does not post in threads.
    let g = guilds(Permissions::empty(), Vec::new());
    let inside = g.in_thread_of(BOT, CHANNEL, NOW).expect("a thread");
    assert!(!inside.allows(Permission::SendMessages));
}

#[test]
fn a_timed_out_member_keeps_only_view_and_history_unless_administrator() {
    let mut g = guilds(
        Permissions::READ_MESSAGE_HISTORY | Permissions::ADD_REACTIONS,
        Vec::new(),
    );
    let until = Timestamp::from_unix_timestamp(NOW + 60).ok();
    let bot = member(BOT, &[]).user;
    g.learn_member(GUILD, &bot, &[RoleId::new(BOT_ROLE)], until);
    assert_eq!(
        bits_of(&g, BOT),
        Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY
    );
    // Once the timeout has passed, everything is back.
    assert!(
        g.here(BOT, CHANNEL, NOW + 61)
            .expect("known")
            .bits
            .send_messages()
    );
    g.learn_role(&role(BOT_ROLE, Permissions::ADMINISTRATOR));
    assert_eq!(
        bits_of(&g, BOT),
        Permissions::all(),
        "administrators are exempt"
    );
}

#[test]
fn without_view_channel_nothing_else_counts() {
    let g = guilds(
        Permissions::SEND_MESSAGES | Permissions::ADD_REACTIONS,
        vec![everyone_denies(Permissions::VIEW_CHANNEL)],
    );
    assert_eq!(bits_of(&g, BOT), Permissions::empty());
}

#[test]
fn role_and_channel_events_change_the_answer_and_unknown_places_have_none() {
    let mut g = guilds(Permissions::CREATE_PUBLIC_THREADS, Vec::new());
    assert!(
        g.here(BOT, CHANNEL, NOW)
            .expect("known")
            .allows(Permission::CreatePublicThreads)
    );
    g.learn_role(&role(BOT_ROLE, Permissions::empty()));
    assert!(
        !g.here(BOT, CHANNEL, NOW)
            .expect("known")
            .allows(Permission::CreatePublicThreads)
    );
    g.forget_role(GUILD, RoleId::new(GUILD));
    assert_eq!(
        bits_of(&g, BOT),
        Permissions::empty(),
        "no @everyone: nothing"
    );
    g.forget_channel(&channel(CHANNEL, ChannelType::Text, Vec::new()));
    assert_eq!(g.here(BOT, CHANNEL, NOW), None);
    assert_eq!(g.here(BOT, 999, NOW), None, "a channel never told");
    assert_eq!(g.here(555, CHANNEL, NOW), None, "a member never told");
}
