//! The Slack adapter against the fake Slack: Socket Mode (acks, dedupe,
//! refresh, reconnect), the signed HTTP endpoint (events, retries, forged
//! and stale requests, the slash command), and the Web API's errors. Each
//! test ends by proving nothing unexpected reached the inbox or Slack.

mod fake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fake::{ALICE, APP_TOKEN, BOT_TOKEN, CHANNEL, FakeSlack, PATIENCE, Sent};
use mosaic_chat::{
    ChatError, ChatPlatform, Connection, Inbound, Reaction, RunContext, Secret, ThreadRef,
};
use mosaic_slack::{COMMANDS_PATH, EVENTS_PATH, HttpOptions, PLATFORM, Slack, SlackOptions, sign};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SIGNING_SECRET: &str = "signing-secret-1";

struct Running {
    slack: Arc<Slack>,
    inbox: mpsc::Receiver<Inbound>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ChatError>>,
}

fn options(fake: &FakeSlack, socket: bool, http: bool) -> SlackOptions {
    let mut options = SlackOptions::new(Secret::new(BOT_TOKEN), "mosaic");
    options.api_url = fake.api_url();
    options.app_token = socket.then(|| Secret::new(APP_TOKEN));
    options.http = http.then(|| HttpOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        signing_secret: Secret::new(SIGNING_SECRET),
    });
    options.reconnect_min = Duration::from_millis(20);
    options.reconnect_max = Duration::from_millis(200);
    options
}

fn start(options: SlackOptions) -> Running {
    run(Arc::new(Slack::new(options).expect("the adapter builds")))
}

fn run(slack: Arc<Slack>) -> Running {
    let (tx, inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&slack).run(RunContext::new(tx, stop.clone())));
    Running {
        slack,
        inbox,
        stop,
        task,
    }
}

impl Running {
    async fn next(&mut self) -> Inbound {
        tokio::time::timeout(PATIENCE, self.inbox.recv())
            .await
            .expect("a message in time")
            .expect("the inbox is open")
    }

    /// Stops the adapter and proves nothing else reached the inbox.
    async fn stop(mut self) {
        self.stop.cancel();
        let ended = tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("stops in time");
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
        assert!(
            self.inbox.recv().await.is_none(),
            "nothing more in the inbox"
        );
    }
}

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

/// Waits until `slack` reports `want`; the adapter's state has no
/// notification, so it is looked at every few milliseconds.
async fn until_connection(slack: &Slack, want: Connection) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while slack.connection() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {:?}, never {want:?}",
            slack.connection()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
        "command": "/mosaic", "text": "status &lt;x&gt;", "channel_id": CHANNEL, "user_id": "UALICE01",
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

/// Posts `body` to the endpoint, signed at `age_secs` ago with `secret`.
async fn signed(
    addr: SocketAddr,
    path: &str,
    body: &str,
    secret: &str,
    age_secs: i64,
    retry: bool,
) -> (u16, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let ts = (now - age_secs).to_string();
    let signature = sign(&Secret::new(secret), &ts, body.as_bytes());
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("X-Slack-Request-Timestamp", ts)
        .header("X-Slack-Signature", signature)
        .body(body.to_owned());
    if retry {
        request = request
            .header("X-Slack-Retry-Num", "1")
            .header("X-Slack-Retry-Reason", "http_timeout");
    }
    let response = request.send().await.expect("the endpoint answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
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

fn serde_urlencoded_form(fields: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params("http://x/", fields)
        .expect("a url")
        .query()
        .unwrap_or("")
        .to_owned()
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

/// Bob, a second user, and the user groups the tests give the workspace.
const BOB: &str = "UBOB0001";
const GROUPS: [(&str, &[&str]); 3] = [
    ("S0MAINT", &[ALICE, BOB]),
    ("S0OPS", &[BOB]),
    ("S0TRIAGE", &[ALICE]),
];

/// A `/mosaic` slash command's fields by `user`.
fn slash_fields(fake: &FakeSlack, user: &str, trigger: &str) -> Vec<(&'static str, String)> {
    vec![
        ("command", "/mosaic".into()),
        ("text", "status #1".into()),
        ("channel_id", CHANNEL.into()),
        ("user_id", user.into()),
        ("trigger_id", trigger.into()),
        ("response_url", fake.response_url()),
    ]
}

#[tokio::test]
async fn mentions_and_slash_commands_carry_their_authors_user_groups_read_once() {
    let fake = FakeSlack::start().await;
    fake.set_user_groups(&GROUPS);
    let mut bot = start(options(&fake, true, true));
    let addr = bot.slack.http_addr().await.expect("the endpoint listens");
    fake.wait_connected(1).await;

    let ts = fake.mention(None, "<@UBOT0001> status #1");
    let mention = bot.next().await;
    assert_eq!(mention.message_id, ts);
    assert_eq!(mention.roles, ["S0MAINT", "S0TRIAGE"]);

    let over_socket: serde_json::Map<String, serde_json::Value> =
        slash_fields(&fake, ALICE, "trig-a")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
    fake.envelope("slash_commands", over_socket.into());
    let slash = bot.next().await;
    assert!(slash.slash);
    assert_eq!(
        (slash.user.id.as_str(), slash.roles.clone()),
        (ALICE, vec!["S0MAINT".to_owned(), "S0TRIAGE".to_owned()])
    );

    let fields = slash_fields(&fake, BOB, "trig-b");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let form = serde_urlencoded_form(&fields);
    assert_eq!(
        signed(addr, COMMANDS_PATH, &form, SIGNING_SECRET, 0, false)
            .await
            .0,
        200
    );
    let over_http = bot.next().await;
    assert_eq!(
        (over_http.user.id.as_str(), over_http.roles.clone()),
        (BOB, vec!["S0MAINT".to_owned(), "S0OPS".to_owned()])
    );

    // Three messages within five minutes: one `usergroups.list`.
    assert_eq!(fake.user_groups_calls(), 1);
    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}

#[tokio::test]
async fn without_usergroups_read_roles_stay_empty_and_messages_still_arrive() {
    // No scope, a user token of the wrong type, a plan without user groups.
    for code in [
        "missing_scope",
        "not_allowed_token_type",
        "paid_teams_only",
        "plan_upgrade_required",
    ] {
        let fake = FakeSlack::start().await;
        fake.set_user_groups(&GROUPS);
        fake.refuse_user_groups(Some(code));
        let mut options = options(&fake, true, false);
        // Stale at once: only the refusal keeps the bot from asking again.
        options.user_groups_max_age = Duration::ZERO;
        let mut bot = start(options);
        fake.wait_connected(1).await;
        for text in ["<@UBOT0001> status #1", "<@UBOT0001> status #2"] {
            let ts = fake.mention(None, text);
            let inbound = bot.next().await;
            assert_eq!(inbound.message_id, ts, "{code}");
            assert!(inbound.roles.is_empty(), "{code}: {:?}", inbound.roles);
        }
        assert_eq!(
            fake.user_groups_calls(),
            1,
            "{code}: refused for good, asked once"
        );
        fake.wait_all_acked().await;
        bot.stop().await;
        assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
    }
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_groups_known_until_one_succeeds() {
    let fake = FakeSlack::start().await;
    fake.set_user_groups(&GROUPS);
    let mut options = options(&fake, true, false);
    options.user_groups_max_age = Duration::ZERO;
    let mut bot = start(options);
    fake.wait_connected(1).await;

    fake.mention(None, "<@UBOT0001> status #1");
    assert_eq!(bot.next().await.roles, ["S0MAINT", "S0TRIAGE"]);

    fake.refuse_user_groups(Some("internal_error"));
    fake.mention(None, "<@UBOT0001> status #2");
    assert_eq!(bot.next().await.roles, ["S0MAINT", "S0TRIAGE"]);

    fake.refuse_user_groups(None);
    fake.set_user_groups(&[("S0OPS", &[ALICE])]);
    fake.mention(None, "<@UBOT0001> status #3");
    assert_eq!(bot.next().await.roles, ["S0OPS"]);

    assert_eq!(fake.user_groups_calls(), 3);
    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}
