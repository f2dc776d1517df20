//! The adapter against the fake Discord, without the bot's core: what the
//! gateway delivers becomes `Inbound`s, and what the core asks for becomes
//! the right REST calls.

mod fake;

use std::sync::Arc;
use std::time::Duration;

use fake::*;
use mosaic_chat::{
    ChatError, ChatPlatform, Connection, Inbound, Limits, Reaction, RunContext, Secret,
};
use mosaic_discord::{Discord, DiscordOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

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
    serde_json::from_value::<serenity::all::Guild>(guild_payload(9)).expect("a guild");
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

struct Connected {
    fake: FakeDiscord,
    discord: Arc<Discord>,
    inbox: mpsc::Receiver<Inbound>,
    stop: CancellationToken,
}

async fn connect() -> Connected {
    let c = start(FakeDiscord::start().await);
    c.fake.wait_sessions(1, 0).await;
    c
}

/// Runs the adapter against `fake`, without waiting for it to connect.
fn start(fake: FakeDiscord) -> Connected {
    let mut options = DiscordOptions::new(Secret::new("tok"), APP_ID, "mosaic");
    options.api_base = Some(fake.url());
    options.guild_id = Some(GUILD_ID);
    options.limits = Limits {
        post_interval: Duration::ZERO,
        edit_interval: Duration::ZERO,
        ..options.limits
    };
    let discord = Arc::new(Discord::new(options));
    let (tx, inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    tokio::spawn(Arc::clone(&discord).run(RunContext::new(tx, stop.clone())));
    Connected {
        fake,
        discord,
        inbox,
        stop,
    }
}

impl Connected {
    /// Stops the adapter; proves it delivered nothing more, and returns every REST call.
    async fn finish(mut self) -> Vec<Call> {
        self.stop.cancel();
        let rest = tokio::time::timeout(PATIENCE, self.inbox.recv()).await;
        assert_eq!(rest, Ok(None), "nothing more was delivered");
        self.fake.calls()
    }
}

async fn next(inbox: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(PATIENCE, inbox.recv())
        .await
        .expect("in time")
        .expect("a message")
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
        .map(|c| (c.method, c.path))
        .collect();
    let expected = [
        (
            "PUT",
            format!("/applications/{APP_ID}/guilds/{GUILD_ID}/commands"),
        ),
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
    let calls = c.finish().await;
    let tail: Vec<(&str, String)> = calls[2..]
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
    assert_eq!(calls[2].body["type"], 5);
    assert_eq!(calls[2].body["data"]["flags"], 64);
    assert_eq!(calls[3].body["flags"], 64);
    assert_eq!(
        calls[3].body["allowed_mentions"],
        serde_json::json!({"parse": []})
    );
}

#[tokio::test]
async fn refusals_become_chat_errors() {
    let c = connect().await;
    c.fake.fail_next("POST", "/threads", 403);
    let thread = mosaic_chat::ThreadRef {
        platform: mosaic_discord::PLATFORM,
        channel: CHANNEL.to_string(),
        thread: "77".into(),
    };
    let forbidden = c.discord.post(&thread, "x").await;
    assert!(
        matches!(forbidden, Err(ChatError::Forbidden(ref m)) if m.contains("400")),
        "{forbidden:?}"
    );
    c.fake.fail_next("POST", "/channels/77/messages", 429);
    let limited = c.discord.post(&thread, "x").await;
    assert!(
        matches!(limited, Err(ChatError::RateLimited { .. })),
        "{limited:?}"
    );
    assert!(matches!(
        c.discord.post(&thread, &"x".repeat(2001)).await,
        Err(ChatError::TooLong)
    ));
    // A refused or too long post sends nothing more than the refused call.
    let calls = c.finish().await;
    let posts: Vec<&str> = calls.iter().skip(2).map(|c| c.path.as_str()).collect();
    assert_eq!(
        posts,
        [
            format!("/channels/{CHANNEL}/messages/77/threads"),
            format!("/channels/{CHANNEL}/messages/77/threads"),
            "/channels/77/messages".to_owned(),
        ]
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
    let calls = c.finish().await;
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
    let paths: Vec<String> = c.fake.calls().into_iter().map(|call| call.path).collect();
    assert_eq!(
        paths,
        [
            format!("/applications/{APP_ID}/guilds/{GUILD_ID}/commands"),
            "/gateway".to_owned(),
            format!("/channels/{CHANNEL}"),
        ]
    );
}
