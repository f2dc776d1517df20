//! The Slack adapter against the fake Slack: Socket Mode (acks, dedupe,
//! refresh, reconnect), the signed HTTP endpoint (events, retries, forged
//! and stale requests, the slash command), and the Web API's errors. Each
//! test ends by proving nothing unexpected reached the inbox or Slack.

mod fake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fake::{APP_TOKEN, BOT_TOKEN, CHANNEL, FakeSlack, PATIENCE, Sent};
use mosaic_chat::{ChatError, ChatPlatform, Inbound, Reaction, Secret, ThreadRef};
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
    let slack = Arc::new(Slack::new(options).expect("the adapter builds"));
    let (tx, inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&slack).run(tx, stop.clone()));
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
