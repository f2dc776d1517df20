//! The adapter against the fake Discord, without the bot's core: what the
//! gateway delivers becomes `Inbound`s, and what the core asks for becomes
//! the right REST calls.

mod common;
mod fake;

use std::time::Duration;

use common::*;
use fake::*;
use mosaic_chat::{ChatError, ChatPlatform, Connection, Reaction};
use mosaic_discord::Discord;

/// The fake's payloads must be what serenity reads: one it cannot read
/// would be dropped silently as an unknown event.
#[test]
fn the_fakes_payloads_deserialize_in_serenity() {
    for roles in [Some(&[11_u64, 12][..]), None] {
        let message = message_payload(1, CHANNEL, ALICE, false, "hi", roles);
        let read = serde_json::from_value::<serenity::all::Message>(message).expect("a message");
        assert_eq!(read.member.map(|m| m.roles.len()), roles.map(<[u64]>::len));
        let interaction = interaction_payload(2, CHANNEL, "fix", Some(("issue", "#42")), roles);
        let read = serde_json::from_value::<serenity::all::Interaction>(interaction)
            .expect("an interaction");
        let serenity::all::Interaction::Command(command) = read else {
            panic!("a command interaction");
        };
        assert_eq!(command.user.id.get(), ALICE);
        assert_eq!(
            command.member.map(|m| m.roles.len()),
            roles.map(<[u64]>::len)
        );
    }
    let guild = serde_json::from_value::<serenity::all::Guild>(guild_payload(9)).expect("a guild");
    // What the bot's permissions are computed from: its member with its
    // managed role, the roles' permissions, the owner.
    let bot = serenity::all::UserId::new(BOT_ID);
    let roles: Vec<u64> = guild.members[&bot].roles.iter().map(|r| r.get()).collect();
    assert_eq!(roles, [9]);
    let role = &guild.roles[&serenity::all::RoleId::new(9)];
    assert_eq!(role.permissions.bits(), perm::INVITED);
    assert_eq!(guild.owner_id.get(), ALICE);
}

/// The table every test's calls are walked against refuses what Discord's
/// OpenAPI description does not allow.
#[test]
fn the_operations_table_refuses_what_the_description_does_not_allow() {
    use fake::openapi::check;
    let call = |method: &str, path: &str, query: &str, body: serde_json::Value| Call {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        body,
    };
    let thread = "/channels/1/messages/2/threads";
    assert_eq!(
        check(&call(
            "POST",
            thread,
            "",
            serde_json::json!({ "name": "t" })
        )),
        Ok("create_thread_from_message")
    );
    assert!(
        check(&call("POST", thread, "", serde_json::json!({}))).is_err(),
        "name is required"
    );
    assert!(
        check(&call(
            "POST",
            "/channels/1/messages",
            "",
            serde_json::json!({ "contnet": "x" })
        ))
        .is_err()
    );
    assert!(
        check(&call(
            "GET",
            "/channels/1/messages",
            "since=3",
            serde_json::Value::Null
        ))
        .is_err()
    );
    assert!(check(&call("DELETE", "/channels/1", "", serde_json::Value::Null)).is_err());
    let reply =
        serde_json::json!({ "content": "x", "message_reference": { "fail_if_not_exists": false } });
    assert!(
        check(&call("POST", "/channels/1/messages", "", reply)).is_err(),
        "message_id is required"
    );
    let command = serde_json::json!([{ "name": "m", "options": [{ "type": 1, "name": "fix" }] }]);
    assert!(
        check(&call("PUT", "/applications/1/commands", "", command)).is_err(),
        "an option's description"
    );
}

#[tokio::test]
async fn the_bots_managed_role_counts_as_a_mention() {
    let mut c = connect().await;
    c.fake.dispatch("GUILD_CREATE", guild_payload(777));
    // Another role mentioned first: ignored, and proves the guild was read
    // before the role mention (the gateway keeps order).
    c.fake.say(CHANNEL, "<@&778> fix #1");
    c.fake.say(CHANNEL, "<@&777> fix #2");
    assert_eq!(next(&mut c.inbox).await.text, "@mosaic fix #2");
    c.finish().await;
}

#[tokio::test]
async fn a_mention_becomes_an_inbound_and_the_reply_goes_into_a_new_thread() {
    let mut c = connect().await;
    // Heartbeats are acknowledged: the connection stays, no second identify.
    c.fake.wait_heartbeats(2).await;
    c.fake
        .message_from(CHANNEL, BOT_ID, true, &format!("<@{BOT_ID}> fix #1"));
    c.fake.say(CHANNEL, "no mention here");
    let id = c.fake.say(CHANNEL, &format!("<@!{BOT_ID}> fix #42"));
    let inbound = next(&mut c.inbox).await;
    assert_eq!(inbound.text, "@mosaic fix #42");
    assert_eq!(inbound.dedupe_key, format!("discord:{id}"));
    assert_eq!(inbound.user.name, "alice");
    assert_eq!(inbound.thread, None);

    let thread = inbound.reply_thread();
    let reply = c.discord.post(&thread, "Starting").await.expect("posted");
    c.discord.post(&thread, "again").await.expect("posted");
    c.discord
        .edit(&thread, &reply, "Started")
        .await
        .expect("edited");
    c.discord
        .react(&inbound.channel, &inbound.message_id, Reaction::Seen)
        .await
        .expect("reacted");

    // A message in the thread is answered in the same thread.
    let in_thread = c.fake.say(id, &format!("<@{BOT_ID}> status"));
    let second = next(&mut c.inbox).await;
    assert_eq!(second.reply_thread(), thread);
    c.discord
        .react(&second.channel, &second.message_id, Reaction::Succeeded)
        .await
        .expect("reacted");
    let fake = c.fake.clone();
    let calls: Vec<(String, String)> = c
        .finish()
        .await
        .into_iter()
        .filter(|c| !is_catch_up(c))
        .map(|c| (c.method, c.path))
        .collect();
    let expected = [
        (
            "PUT",
            format!("/applications/{APP_ID}/guilds/{GUILD_ID}/commands"),
        ),
        ("GET", "/gateway/bot".to_owned()),
        ("GET", "/gateway".to_owned()),
        ("GET", format!("/channels/{CHANNEL}")),
        ("POST", format!("/channels/{CHANNEL}/messages/{id}/threads")),
        ("POST", format!("/channels/{id}/messages")),
        ("POST", format!("/channels/{id}/messages")),
        ("PATCH", format!("/channels/{id}/messages/{reply}")),
        (
            "PUT",
            format!("/channels/{CHANNEL}/messages/{id}/reactions/%F0%9F%91%80/@me"),
        ),
        (
            "PUT",
            format!("/channels/{id}/messages/{in_thread}/reactions/%E2%9C%85/@me"),
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p))
        .collect();
    assert_eq!(calls, expected);
    for call in fake
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/messages") && c.method != "GET")
    {
        assert_eq!(
            call.body["allowed_mentions"],
            serde_json::json!({"parse": []}),
            "{call:?}"
        );
    }
}

#[tokio::test]
async fn a_slash_command_is_deferred_and_answered_privately() {
    let mut c = connect().await;
    let id = c.fake.slash(CHANNEL, "status", Some(("issue", "#7")));
    let inbound = next(&mut c.inbox).await;
    assert!(inbound.slash);
    assert_eq!(inbound.text, "status #7");
    c.discord
        .reply_private(&inbound, "one")
        .await
        .expect("answered");
    c.discord
        .reply_private(&inbound, "two")
        .await
        .expect("followed up");
    let thread = c
        .discord
        .start_thread(&inbound.channel, "Starting")
        .await
        .expect("a thread");
    let calls = c.finish_but_catch_up().await;
    let tail: Vec<(&str, String)> = calls[3..]
        .iter()
        .map(|c| (c.method.as_str(), c.path.clone()))
        .collect();
    assert_eq!(
        tail,
        [
            ("POST", format!("/interactions/{id}/tok{id}/callback")),
            (
                "PATCH",
                format!("/webhooks/{APP_ID}/tok{id}/messages/@original")
            ),
            ("POST", format!("/webhooks/{APP_ID}/tok{id}")),
            ("POST", format!("/channels/{CHANNEL}/messages")),
            (
                "POST",
                format!("/channels/{CHANNEL}/messages/{}/threads", thread.thread)
            ),
        ]
    );
    assert_eq!(calls[3].body["type"], 5);
    assert_eq!(calls[3].body["data"]["flags"], 64);
    assert_eq!(calls[4].body["flags"], 64);
    assert_eq!(
        calls[4].body["allowed_mentions"],
        serde_json::json!({"parse": []})
    );
}

#[tokio::test]
async fn refusals_become_chat_errors() {
    let c = connect().await;
    let root = c.fake.say(CHANNEL, "a message the bot answers in a thread");
    let thread = mosaic_chat::ThreadRef {
        platform: mosaic_discord::PLATFORM,
        channel: CHANNEL.to_string(),
        thread: root.to_string(),
    };
    c.discord
        .post(&thread, "x")
        .await
        .expect("posted in a new thread");
    c.fake
        .fail_next("POST", &format!("/channels/{root}/messages"), 403);
    let forbidden = c.discord.post(&thread, "x").await;
    assert!(
        matches!(forbidden, Err(ChatError::Forbidden(ref m)) if m.contains(&root.to_string())),
        "{forbidden:?}"
    );
    c.fake
        .fail_next("POST", &format!("/channels/{root}/messages"), 429);
    let limited = c.discord.post(&thread, "x").await;
    assert!(
        matches!(limited, Err(ChatError::RateLimited { .. })),
        "{limited:?}"
    );
    assert!(matches!(
        c.discord.post(&thread, &"x".repeat(2001)).await,
        Err(ChatError::TooLong)
    ));
    let elsewhere = mosaic_chat::ThreadRef {
        thread: "77".into(),
        ..thread
    };
    let unknown = c.discord.post(&elsewhere, "x").await;
    assert!(
        matches!(unknown, Err(ChatError::NotFound(_))),
        "{unknown:?}"
    );
    // A refused or too long post sends nothing more than the refused call,
    // and the refusal is told in the parent channel once.
    let calls = c.finish_but_catch_up().await;
    let posts: Vec<String> = calls
        .iter()
        .skip(3)
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert_eq!(
        posts,
        [
            format!("POST /channels/{CHANNEL}/messages/{root}/threads"),
            format!("POST /channels/{root}/messages"),
            format!("POST /channels/{root}/messages"),
            format!("POST /channels/{CHANNEL}/messages"),
            format!("POST /channels/{root}/messages"),
            format!("POST /channels/{CHANNEL}/messages/77/threads"),
            "GET /channels/77".to_owned(),
        ]
    );
    assert!(
        calls[6].body["content"]
            .as_str()
            .is_some_and(|t| t.contains("Send Messages in Threads")),
        "{:#?}",
        calls[6]
    );
}

/// Role ids the tests give alice: Discord snowflakes, beyond `u32`.
const MAINTAINERS: u64 = 1_234_567_890_123_456_789;
const TRIAGE: u64 = 987_654_321_098_765_432;
/// A DM channel between alice and the bot.
const DM_CHANNEL: u64 = 450;

#[tokio::test]
async fn a_guild_message_carries_its_authors_roles_and_a_dm_none() {
    let mut c = connect().await;
    let mention = format!("<@{BOT_ID}> status #1");
    let in_guild = c.fake.message_with_roles(
        CHANNEL,
        ALICE,
        false,
        &mention,
        Some(&[MAINTAINERS, TRIAGE]),
    );
    let inbound = next(&mut c.inbox).await;
    assert_eq!(inbound.message_id, in_guild.to_string());
    assert_eq!(inbound.roles, [MAINTAINERS.to_string(), TRIAGE.to_string()]);

    let no_roles = c.fake.say(CHANNEL, &mention);
    let inbound = next(&mut c.inbox).await;
    assert_eq!(inbound.message_id, no_roles.to_string());
    assert!(inbound.roles.is_empty(), "{:?}", inbound.roles);

    let in_dm = c
        .fake
        .message_with_roles(DM_CHANNEL, ALICE, false, &mention, None);
    let inbound = next(&mut c.inbox).await;
    assert_eq!(
        (inbound.message_id.as_str(), inbound.channel.as_str()),
        (in_dm.to_string().as_str(), DM_CHANNEL.to_string().as_str())
    );
    assert!(inbound.roles.is_empty(), "{:?}", inbound.roles);
    c.finish().await;
}

#[tokio::test]
async fn a_slash_command_carries_its_members_roles_and_none_in_a_dm() {
    let mut c = connect().await;
    let in_guild =
        c.fake
            .slash_with_roles(CHANNEL, "status", Some(("issue", "#7")), Some(&[TRIAGE]));
    let inbound = next(&mut c.inbox).await;
    assert!(inbound.slash);
    assert_eq!(inbound.message_id, in_guild.to_string());
    assert_eq!(inbound.user.id, ALICE.to_string());
    assert_eq!(inbound.roles, [TRIAGE.to_string()]);

    let in_dm = c.fake.slash_with_roles(DM_CHANNEL, "help", None, None);
    let inbound = next(&mut c.inbox).await;
    assert_eq!(
        (inbound.message_id.as_str(), inbound.user.id.as_str()),
        (in_dm.to_string().as_str(), ALICE.to_string().as_str())
    );
    assert!(inbound.roles.is_empty(), "{:?}", inbound.roles);
    let calls = c.finish_but_catch_up().await;
    let deferred: Vec<&str> = calls
        .iter()
        .filter(|c| c.path.ends_with("/callback"))
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(
        deferred,
        [
            format!("/interactions/{in_guild}/tok{in_guild}/callback"),
            format!("/interactions/{in_dm}/tok{in_dm}/callback"),
        ]
    );
}

/// Waits until `discord` reports `want`; the adapter's state has no
/// notification, so it is looked at every few milliseconds.
async fn until_connection(discord: &Discord, want: Connection) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while discord.connection() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {:?}, never {want:?}",
            discord.connection()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Serenity waits 5 s before it restarts a shard or retries one refused at
/// start: this test takes some 12 s.
#[tokio::test]
async fn the_gateway_is_connected_from_ready_and_reconnecting_while_it_is_out() {
    let fake = FakeDiscord::start().await;
    fake.refuse_gateway(true);
    let mut c = start(fake);
    c.fake.wait_refused(1).await;
    assert_eq!(c.discord.connection(), Connection::Connecting);
    c.fake.refuse_gateway(false);
    c.fake.wait_sessions(1, 0).await;
    until_connection(&c.discord, Connection::Connected).await;

    // Told to reconnect (op 7) with the gateway out: serenity's resume
    // fails, and it restarts the shard once the gateway is back.
    c.fake.refuse_gateway(true);
    c.fake.reconnect();
    until_connection(&c.discord, Connection::Reconnecting).await;
    c.fake.refuse_gateway(false);
    c.fake.wait_sessions(2, 0).await;
    until_connection(&c.discord, Connection::Connected).await;
    let id = c.fake.say(CHANNEL, &format!("<@{BOT_ID}> status #1"));
    assert_eq!(next(&mut c.inbox).await.message_id, id.to_string());

    // Not `finish`: after a shard restart, serenity 0.12.5's `shutdown_all`
    // misses the restarted runner, which keeps the inbox's sender.
    c.stop.cancel();
    assert!(c.inbox.try_recv().is_err(), "nothing more was delivered");
    // The gateway URL asked for once, though the shard was restarted; the
    // channel looked up for the mention.
    let paths: Vec<String> = c
        .fake
        .calls()
        .into_iter()
        .filter(|c| !is_catch_up(c))
        .map(|call| call.path)
        .collect();
    assert_eq!(
        paths,
        [
            format!("/applications/{APP_ID}/guilds/{GUILD_ID}/commands"),
            "/gateway/bot".to_owned(),
            "/gateway".to_owned(),
            format!("/channels/{CHANNEL}"),
        ]
    );
}
