//! The Slack adapter against the fake Slack: Socket Mode (acks, dedupe,
//! refresh, reconnect), the signed HTTP endpoint (events, retries, forged
//! and stale requests, the slash command), and the Web API's errors. Each
//! test ends by proving nothing unexpected reached the inbox or Slack.

mod fake;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake::{CHANNEL, FakeSlack, PATIENCE, Sent};
use mosaic_chat::{ChatError, ChatPlatform, Connection, Reaction, Secret, ThreadRef};
use mosaic_slack::{COMMANDS_PATH, EVENTS_PATH, PLATFORM, Slack};
use serde_json::json;
use support::*;

#[tokio::test]
async fn a_mention_over_socket_mode_is_acked_and_delivered_once() {
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, true, false));
    fake.wait_connected(1).await;
    let ts = fake.mention(
        None,
        "<@UBOT0001> fix &lt;acme/web#42&gt; &amp; <https://x/1|x>",
    );
    // Slack re-sends an envelope it thinks was lost: still one message.
    fake.envelope(
        "events_api",
        fake::event_callback("app_mention", &ts, None, "<@UBOT0001> fix"),
    );
    let inbound = bot.next().await;
    assert_eq!(inbound.platform, PLATFORM);
    assert_eq!(inbound.text, "@mosaic fix <acme/web#42> & <https://x/1|x>");
    assert_eq!(
        inbound.reply_thread(),
        ThreadRef {
            platform: PLATFORM,
            channel: CHANNEL.into(),
            thread: ts.clone()
        }
    );
    assert_eq!(inbound.dedupe_key, format!("slack:{CHANNEL}:{ts}"));
    fake.wait_all_acked().await;

    let reply = fake.mention(Some(&ts), "<@UBOT0001> status");
    let inbound = bot.next().await;
    assert_eq!(
        (inbound.thread.as_deref(), inbound.message_id.as_str()),
        (Some(ts.as_str()), reply.as_str())
    );
    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}

#[tokio::test]
async fn socket_mode_reconnects_after_a_refresh_and_after_a_drop() {
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, true, false));
    fake.wait_connected(1).await;
    fake.refresh_sockets();
    fake.wait_connected(2).await;
    fake.refuse_sockets(true);
    fake.drop_sockets();
    fake.refuse_sockets(false);
    fake.wait_connected(3).await;
    let ts = fake.mention(None, "<@UBOT0001> help");
    assert_eq!(bot.next().await.message_id, ts);
    fake.wait_all_acked().await;
    bot.stop().await;
}

#[tokio::test]
async fn socket_mode_is_connected_from_a_hello_until_the_socket_is_lost() {
    let fake = FakeSlack::start().await;
    fake.refuse_sockets(true);
    let bot = start(options(&fake, true, false));
    fake.until("a refused connection", |f| (f.refused() >= 1).then_some(()))
        .await;
    assert_eq!(bot.slack.connection(), Connection::Connecting);

    fake.hold_hello(true);
    fake.refuse_sockets(false);
    fake.until("a socket", |f| (f.opened() >= 1).then_some(()))
        .await;
    assert_eq!(
        bot.slack.connection(),
        Connection::Connecting,
        "no hello yet"
    );
    fake.hold_hello(false);
    until_connection(&bot.slack, Connection::Connected).await;

    // A refreshed connection counts again only from the new socket's hello.
    fake.hold_hello(true);
    fake.refresh_sockets();
    fake.until("the new socket", |f| (f.opened() >= 2).then_some(()))
        .await;
    until_connection(&bot.slack, Connection::Reconnecting).await;
    fake.hold_hello(false);
    until_connection(&bot.slack, Connection::Connected).await;

    fake.refuse_sockets(true);
    let refused = fake.refused();
    fake.drop_sockets();
    until_connection(&bot.slack, Connection::Reconnecting).await;
    fake.until("a refused reconnect", |f| {
        (f.refused() > refused).then_some(())
    })
    .await;
    assert_eq!(bot.slack.connection(), Connection::Reconnecting);
    fake.refuse_sockets(false);
    until_connection(&bot.slack, Connection::Connected).await;
    assert_eq!((fake.opened(), fake.connected()), (3, 3));
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}

#[tokio::test]
async fn the_http_endpoint_alone_is_connected_once_it_listens() {
    let fake = FakeSlack::start().await;
    let slack = Arc::new(Slack::new(options(&fake, false, true)).expect("the adapter builds"));
    assert_eq!(slack.connection(), Connection::Connecting);
    let bot = run(slack);
    bot.slack.http_addr().await.expect("the endpoint listens");
    until_connection(&bot.slack, Connection::Connected).await;
    bot.stop().await;
    assert_eq!(fake.opened(), 0, "no Socket Mode without an app token");
}

#[tokio::test]
async fn with_socket_mode_and_the_http_endpoint_socket_mode_decides() {
    let fake = FakeSlack::start().await;
    fake.refuse_sockets(true);
    let bot = start(options(&fake, true, true));
    bot.slack.http_addr().await.expect("the endpoint listens");
    fake.until("a refused connection", |f| (f.refused() >= 1).then_some(()))
        .await;
    assert_eq!(bot.slack.connection(), Connection::Connecting);
    fake.refuse_sockets(false);
    until_connection(&bot.slack, Connection::Connected).await;
    fake.refuse_sockets(true);
    fake.drop_sockets();
    until_connection(&bot.slack, Connection::Reconnecting).await;
    bot.stop().await;
}

#[tokio::test]
async fn a_slash_command_over_socket_mode_is_acked_and_delivered() {
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, true, false));
    fake.wait_connected(1).await;
    let payload = json!({
        "team_id": "T1", "command": "/mosaic", "text": "status &lt;x&gt;", "channel_id": CHANNEL, "user_id": "UALICE01",
        "user_name": "alice", "trigger_id": "trig9", "response_url": fake.response_url(),
    });
    fake.envelope("slash_commands", payload.clone());
    fake.envelope("slash_commands", payload);
    let inbound = bot.next().await;
    assert!(inbound.slash);
    assert_eq!(inbound.text, "status <x>");
    assert_eq!(inbound.reply_handle, Some(fake.response_url()));
    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn signed_events_are_taken_once_and_forged_or_stale_ones_refused() {
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, false, true));
    let addr = bot.slack.http_addr().await.expect("the endpoint listens");

    let challenge =
        json!({"type": "url_verification", "challenge": "ch4ll3nge", "token": "x"}).to_string();
    assert_eq!(
        signed(addr, EVENTS_PATH, &challenge, SIGNING_SECRET, 0, false).await,
        (200, "ch4ll3nge".into())
    );

    let event =
        fake::event_callback("app_mention", "1.000001", None, "<@UBOT0001> fix #42").to_string();
    assert_eq!(
        signed(addr, EVENTS_PATH, &event, "forged", 0, false)
            .await
            .0,
        401
    );
    assert_eq!(
        signed(addr, EVENTS_PATH, &event, SIGNING_SECRET, 6 * 60, false)
            .await
            .0,
        401
    );
    let unsigned = reqwest::Client::new()
        .post(format!("http://{addr}{EVENTS_PATH}"))
        .body(event.clone())
        .send()
        .await
        .expect("answers");
    assert_eq!(unsigned.status().as_u16(), 401);

    assert_eq!(
        signed(addr, EVENTS_PATH, &event, SIGNING_SECRET, 0, false)
            .await
            .0,
        200
    );
    assert_eq!(
        signed(addr, EVENTS_PATH, &event, SIGNING_SECRET, 0, true)
            .await
            .0,
        200
    );
    let message =
        fake::event_callback("message", "1.000001", None, "<@UBOT0001> fix #42").to_string();
    assert_eq!(
        signed(addr, EVENTS_PATH, &message, SIGNING_SECRET, 0, false)
            .await
            .0,
        200
    );
    let inbound = bot.next().await;
    assert_eq!(
        (inbound.text.as_str(), inbound.message_id.as_str()),
        ("@mosaic fix #42", "1.000001")
    );
    bot.stop().await;
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn a_slash_command_is_acked_empty_and_answered_privately() {
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, false, true));
    let addr = bot.slack.http_addr().await.expect("the endpoint listens");
    let form = serde_urlencoded_form(&[
        ("command", "/mosaic"),
        ("text", "fix #42"),
        ("team_id", "T1"),
        ("channel_id", CHANNEL),
        ("user_id", "UALICE01"),
        ("user_name", "alice"),
        ("trigger_id", "trig1"),
        ("response_url", &fake.response_url()),
    ]);
    assert_eq!(
        signed(addr, COMMANDS_PATH, &form, "forged", 0, false)
            .await
            .0,
        401
    );
    let started = tokio::time::Instant::now();
    assert_eq!(
        signed(addr, COMMANDS_PATH, &form, SIGNING_SECRET, 0, false).await,
        (200, String::new())
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "acked within Slack's 3 s"
    );
    let inbound = bot.next().await;
    assert!(inbound.slash && inbound.thread.is_none());
    assert_eq!(inbound.text, "fix #42");
    bot.slack
        .reply_private(&inbound, "no such issue &lt;x&gt;")
        .await
        .expect("answered");
    let thread = bot
        .slack
        .start_thread(CHANNEL, "Starting a fix")
        .await
        .expect("a thread");
    bot.stop().await;
    let root = match &fake.sent()[1] {
        Sent::Post {
            ts,
            thread_ts: None,
            ..
        } => ts.clone(),
        other => panic!("a top-level post: {other:?}"),
    };
    assert_eq!(thread.thread, root);
    assert_eq!(
        fake.sent()[0],
        Sent::Ephemeral {
            text: "no such issue &lt;x&gt;".into()
        }
    );
    assert_eq!(fake.sent().len(), 2);
}

#[tokio::test]
async fn web_api_errors_become_chat_errors_and_never_a_crash() {
    let fake = FakeSlack::start().await;
    let slack = Slack::new(options(&fake, false, false)).expect("builds");
    let thread = ThreadRef {
        platform: PLATFORM,
        channel: CHANNEL.into(),
        thread: "1.1".into(),
    };
    fake.rate_limit_next(1);
    assert_eq!(
        slack.post(&thread, "hi").await,
        Err(ChatError::RateLimited {
            retry_after: Duration::from_secs(1)
        })
    );
    fake.fail_next(&[
        "ratelimited",
        "msg_too_long",
        "channel_not_found",
        "not_in_channel",
        "missing_scope",
        "invalid_auth",
        "token_revoked",
    ]);
    assert!(matches!(
        slack.post(&thread, "a").await,
        Err(ChatError::RateLimited { .. })
    ));
    assert_eq!(slack.post(&thread, "b").await, Err(ChatError::TooLong));
    assert!(matches!(
        slack.post(&thread, "c").await,
        Err(ChatError::NotFound(_))
    ));
    assert!(matches!(
        slack.edit(&thread, "2.2", "d").await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        slack.react(CHANNEL, "1.1", Reaction::Seen).await,
        Err(ChatError::Forbidden(_))
    ));
    assert!(matches!(
        slack.post(&thread, "e").await,
        Err(ChatError::Unauthorized(_))
    ));
    assert!(matches!(
        slack.post(&thread, "f").await,
        Err(ChatError::Unauthorized(_))
    ));
    assert_eq!(
        slack.post(&thread, &"x".repeat(4_001)).await,
        Err(ChatError::TooLong)
    );
    // Then it works again, in the thread.
    let ts = slack.post(&thread, "ok").await.expect("posted");
    slack.edit(&thread, &ts, "edited").await.expect("edited");
    slack
        .react(CHANNEL, "1.1", Reaction::Succeeded)
        .await
        .expect("reacted");
    assert_eq!(fake.rate_limited(), 1);
    assert_eq!(
        fake.sent(),
        vec![
            Sent::Post {
                ts: ts.clone(),
                channel: CHANNEL.into(),
                thread_ts: Some("1.1".into()),
                text: "ok".into()
            },
            Sent::Update {
                channel: CHANNEL.into(),
                ts,
                text: "edited".into()
            },
            Sent::Reaction {
                channel: CHANNEL.into(),
                ts: "1.1".into(),
                name: "white_check_mark".into()
            },
        ]
    );
}

#[tokio::test]
async fn a_refused_app_token_stops_the_adapter_with_unauthorized() {
    let fake = FakeSlack::start().await;
    let mut options = options(&fake, true, false);
    options.app_token = Some(Secret::new("xapp-wrong"));
    let bot = start(options);
    let ended = tokio::time::timeout(PATIENCE, bot.task)
        .await
        .expect("ends in time");
    assert!(
        matches!(ended, Ok(Err(ChatError::Unauthorized(_)))),
        "{ended:?}"
    );
    assert_eq!(fake.connected(), 0);
}
