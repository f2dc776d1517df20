//! The Mattermost adapter against a fake Mattermost on 127.0.0.1: mentions
//! over the WebSocket, the slash command and its token, a dropped socket and
//! the posts missed meanwhile, 429s and a refused token. Each test ends by
//! proving nothing else arrived or was sent.

mod fake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fake::{ALICE, BOT_TOKEN, CHANNEL, DM_CHANNEL, FakeMattermost, Lookups, PATIENCE, Sent, TEAM};
use mosaic_chat::{ChatError, ChatPlatform, Connection, Inbound, RunContext, Secret, ThreadRef};
use mosaic_mattermost::{Mattermost, MattermostOptions, SLASH_PATH, SlashOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SLASH_TOKEN: &str = "slash-token-1";

struct Running {
    mm: Arc<Mattermost>,
    /// The fake's record of the adapter's requests, checked when it stops.
    requests: Option<fake::Recorder>,
    inbox: mpsc::Receiver<Inbound>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ChatError>>,
}

fn options(fake: &FakeMattermost) -> MattermostOptions {
    let mut options = MattermostOptions::new(&fake.url(), Secret::new(BOT_TOKEN), "mosaic");
    options.slash = Some(SlashOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tokens: vec![Secret::new(SLASH_TOKEN)],
    });
    options.reconnect_min = Duration::from_millis(20);
    options.reconnect_max = Duration::from_millis(200);
    options
}

fn start(fake: &FakeMattermost) -> Running {
    Running {
        requests: Some(fake.recorder()),
        ..start_with(options(fake))
    }
}

fn start_with(options: MattermostOptions) -> Running {
    let mm = Arc::new(Mattermost::new(options).expect("the adapter builds"));
    let (tx, inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&mm).run(RunContext::new(tx, stop.clone())));
    Running {
        mm,
        requests: None,
        inbox,
        stop,
        task,
    }
}

impl Running {
    async fn next(&mut self, what: &str) -> Inbound {
        tokio::time::timeout(PATIENCE, self.inbox.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("the inbox closed before {what}"))
    }

    /// Stops the adapter and proves the inbox holds nothing more.
    async fn stop(mut self) {
        self.stop.cancel();
        let ended = tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("stops in time");
        assert_eq!(ended.expect("no panic"), Ok(()));
        assert!(self.inbox.recv().await.is_none(), "nothing more arrived");
        if let Some(requests) = &self.requests {
            requests.assert_conforms();
        }
    }
}

#[tokio::test]
async fn a_mention_arrives_rewritten_and_the_bots_own_posts_are_ignored() {
    let fake = FakeMattermost::start().await;
    let mut bot = start(&fake);
    fake.wait_authenticated(1).await;
    fake.user_post(CHANNEL, None, "just chatting");
    let id = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let inbound = bot.next("the mention").await;
    assert_eq!(inbound.text, "@mosaic fix acme/web#42");
    assert_eq!(
        (inbound.message_id.as_str(), inbound.thread.as_deref()),
        (id.as_str(), None)
    );
    assert_eq!(inbound.dedupe_key, format!("mattermost:{id}"));
    assert_eq!(
        (inbound.user.id.as_str(), inbound.user.name.as_str()),
        (ALICE, "alice")
    );
    assert!(!inbound.slash);

    // The bot's reply mentions itself: it is not taken as a command.
    let thread = inbound.reply_thread();
    let reply = bot
        .mm
        .post(&thread, "@mosaic-bot was asked")
        .await
        .expect("posted");
    let in_thread = fake.user_post(CHANNEL, Some(&id), "@mosaic-bot status");
    let status = bot.next("the status").await;
    assert_eq!(
        (status.message_id, status.thread),
        (in_thread, Some(id.clone()))
    );
    assert_eq!(
        fake.sent(),
        [Sent::Post {
            id: reply,
            channel: CHANNEL.into(),
            root_id: id,
            message: "@mosaic-bot was asked".into()
        }]
    );
    bot.stop().await;
}

#[tokio::test]
async fn posts_missed_while_disconnected_are_handled_exactly_once() {
    let fake = FakeMattermost::start().await;
    let mut bot = start(&fake);
    fake.wait_authenticated(1).await;
    let before = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#1");
    assert_eq!(bot.next("the first mention").await.message_id, before);

    fake.refuse_sockets(true);
    fake.drop_sockets();
    let gap = fake.user_post(CHANNEL, Some(&before), "@mosaic-bot status");
    fake.user_post(CHANNEL, None, "not for the bot");
    fake.refuse_sockets(false);
    fake.wait_authenticated(2).await;
    let missed = bot.next("the post made during the gap").await;
    assert_eq!(
        (missed.message_id.as_str(), missed.text.as_str()),
        (gap.as_str(), "@mosaic status")
    );

    // A post after the reconnect arrives once too, and is the next thing.
    let after = fake.user_post(CHANNEL, None, "@mosaic-bot help");
    assert_eq!(bot.next("the post after").await.message_id, after);
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
    bot.stop().await;
}

#[tokio::test]
async fn a_silent_socket_is_found_dead_and_replaced() {
    let fake = FakeMattermost::start().await;
    let mut options = options(&fake);
    options.ping_interval = Duration::from_millis(50);
    options.dead_after = Duration::from_millis(300);
    let mut bot = start_with(options);
    fake.wait_authenticated(1).await;
    fake.stall_sockets();
    let missed = fake.user_post(CHANNEL, None, "@mosaic-bot status acme/web#1");
    fake.wait_authenticated(2).await;
    let fetched = bot.next("the post missed while silent").await;
    assert_eq!(fetched.message_id, missed);
    // A post fetched over REST names no team: its channel's was asked for.
    assert_eq!(fetched.roles, ["system_user", "team_user"]);
    assert_eq!(fake.lookups().channels, 1);
    let after = fake.user_post(CHANNEL, None, "@mosaic-bot help");
    assert_eq!(bot.next("a post on the new socket").await.message_id, after);
    assert!(fake.sent().is_empty());
    bot.stop().await;
}

/// Waits until `mm` reports `want`; the adapter's state has no
/// notification, so it is looked at every few milliseconds.
async fn until_connection(mm: &Mattermost, want: Connection) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while mm.connection() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {:?}, never {want:?}",
            mm.connection()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_websocket_is_connected_while_authenticated_and_reconnecting_once_lost() {
    let fake = FakeMattermost::start().await;
    let mut options = options(&fake);
    options.ping_interval = Duration::from_millis(50);
    options.dead_after = Duration::from_millis(300);
    fake.refuse_sockets(true);
    let bot = start_with(options);
    fake.wait_refused(1).await;
    assert_eq!(bot.mm.connection(), Connection::Connecting);
    fake.refuse_sockets(false);
    fake.wait_authenticated(1).await;
    until_connection(&bot.mm, Connection::Connected).await;

    // Dropped, then refused: reconnecting until a socket authenticates again.
    fake.refuse_sockets(true);
    let refused = fake.refused();
    fake.drop_sockets();
    until_connection(&bot.mm, Connection::Reconnecting).await;
    fake.wait_refused(refused + 1).await;
    assert_eq!(bot.mm.connection(), Connection::Reconnecting);
    fake.refuse_sockets(false);
    fake.wait_authenticated(2).await;
    until_connection(&bot.mm, Connection::Connected).await;

    // Silent: found dead after `dead_after`, though the socket stays open.
    fake.refuse_sockets(true);
    let refused = fake.refused();
    fake.stall_sockets();
    until_connection(&bot.mm, Connection::Reconnecting).await;
    fake.wait_refused(refused + 1).await;
    fake.refuse_sockets(false);
    fake.wait_authenticated(3).await;
    until_connection(&bot.mm, Connection::Connected).await;
    assert_eq!(fake.authenticated(), 3);
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
    bot.stop().await;
}

#[tokio::test]
async fn a_server_that_fails_at_start_is_retried_not_given_up() {
    // A server that hangs up on every request, counting them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, mut tries) = mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
            let _ = tx.send(());
        }
    });
    let mut options = MattermostOptions::new(&url, Secret::new(BOT_TOKEN), "mosaic");
    options.reconnect_min = Duration::from_millis(10);
    options.reconnect_max = Duration::from_millis(40);
    let bot = start_with(options);
    for _ in 0..3 {
        tokio::time::timeout(PATIENCE, tries.recv())
            .await
            .expect("asked again")
            .expect("server runs");
    }
    assert!(
        !bot.task.is_finished(),
        "a failing server is no reason to stop"
    );
    bot.stop().await;
    server.abort();
}

#[tokio::test]
async fn a_slash_command_needs_the_right_token() {
    let fake = FakeMattermost::start().await;
    let mut bot = start(&fake);
    let addr = bot
        .mm
        .slash_addr()
        .await
        .expect("the slash endpoint listens");
    let url = format!("http://{addr}{SLASH_PATH}");
    let http = reqwest::Client::new();
    let form = |token: &str| {
        vec![
            ("token", token.to_owned()),
            ("channel_id", CHANNEL.to_owned()),
            ("user_id", ALICE.to_owned()),
            ("user_name", "alice".to_owned()),
            ("command", "/mosaic".to_owned()),
            ("text", "fix acme/web#42".to_owned()),
            ("response_url", fake.response_url()),
            ("trigger_id", "trig1".to_owned()),
        ]
    };
    let refused = http
        .post(&url)
        .form(&form("wrong"))
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 401);
    let taken = http
        .post(&url)
        .form(&form(SLASH_TOKEN))
        .send()
        .await
        .expect("answered");
    assert_eq!(taken.status(), 200);
    let inbound = bot.next("the slash command").await;
    assert!(inbound.slash);
    assert_eq!(
        (inbound.channel.as_str(), inbound.text.as_str()),
        (CHANNEL, "fix acme/web#42")
    );

    bot.mm
        .reply_private(&inbound, "no such repository")
        .await
        .expect("answered");
    let thread: ThreadRef = bot.mm.start_thread(CHANNEL, "card").await.expect("started");
    let sent = fake.sent();
    assert_eq!(
        sent[0],
        Sent::Ephemeral {
            text: "no such repository".into()
        }
    );
    assert!(
        matches!(&sent[1], Sent::Post { id, root_id, .. } if *id == thread.thread && root_id.is_empty())
    );
    assert_eq!(sent.len(), 2, "{sent:#?}");
    bot.stop().await;
}

#[tokio::test]
async fn a_refused_token_stops_the_adapter_with_a_clear_error() {
    let fake = FakeMattermost::start().await;
    fake.refuse_token(true);
    let bot = start(&fake);
    let ended = tokio::time::timeout(PATIENCE, bot.task)
        .await
        .expect("stops by itself");
    match ended.expect("no panic") {
        Err(ChatError::Unauthorized(why)) => {
            assert!(why.contains("MOSAIC__MATTERMOST__TOKEN"), "{why}")
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(fake.authenticated(), 0);
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn a_429_says_how_long_to_wait() {
    let fake = FakeMattermost::start().await;
    let mm = Mattermost::new(options(&fake)).expect("builds");
    let thread = ThreadRef {
        platform: mosaic_mattermost::PLATFORM,
        channel: CHANNEL.into(),
        thread: "root1".into(),
    };
    fake.rate_limit_next(1);
    let err = mm.post(&thread, "hi").await.expect_err("rate limited");
    assert_eq!(
        err,
        ChatError::RateLimited {
            retry_after: Duration::from_secs(1)
        }
    );
    assert!(err.is_retryable());
    mm.post(&thread, "hi").await.expect("then accepted");
    assert_eq!(fake.rate_limited(), 1);
    assert_eq!(fake.sent().len(), 1);
}

/// Alice's roles in the tests that look at them.
const ALICE_SYSTEM: &str = "system_user system_admin";
const ALICE_TEAM: &str = "team_user team_admin";
const ALICE_ROLES: [&str; 4] = ["system_user", "system_admin", "team_user", "team_admin"];

/// Posts a `/mosaic` command by alice in `team` to the slash endpoint; its status.
async fn slash_command(bot: &Running, fake: &FakeMattermost, team: &str, trigger: &str) -> u16 {
    let addr = bot
        .mm
        .slash_addr()
        .await
        .expect("the slash endpoint listens");
    let form = [
        ("token", SLASH_TOKEN.to_owned()),
        ("team_id", team.to_owned()),
        ("channel_id", CHANNEL.to_owned()),
        ("user_id", ALICE.to_owned()),
        ("user_name", "alice".to_owned()),
        ("command", "/mosaic".to_owned()),
        ("text", "status acme/web#42".to_owned()),
        ("response_url", fake.response_url()),
        ("trigger_id", trigger.to_owned()),
    ];
    reqwest::Client::new()
        .post(format!("http://{addr}{SLASH_PATH}"))
        .form(&form)
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_posts_author_comes_with_system_and_team_roles_looked_up_once() {
    let fake = FakeMattermost::start().await;
    fake.set_roles(ALICE, ALICE_SYSTEM, ALICE_TEAM);
    let mut bot = start(&fake);
    fake.wait_authenticated(1).await;
    // The catch-up on start is over (one query per channel): the posts
    // below arrive over the socket alone, with their team and sender.
    fake.wait_caught_up(2).await;

    let first = fake.user_post(CHANNEL, None, "@mosaic-bot status acme/web#1");
    let inbound = bot.next("the first mention").await;
    assert_eq!(inbound.message_id, first);
    assert_eq!(inbound.roles, ALICE_ROLES);
    let second = fake.user_post(CHANNEL, Some(&first), "@mosaic-bot status");
    let inbound = bot.next("the second mention").await;
    assert_eq!(inbound.message_id, second);
    assert_eq!(inbound.roles, ALICE_ROLES);
    // The team came with the event; the roles from the cache the second time.
    assert_eq!(
        fake.lookups(),
        Lookups {
            users: 1,
            team_members: 1,
            channels: 0
        }
    );

    // A direct message is in no team: system roles only, no team asked.
    let direct = fake.user_post(DM_CHANNEL, None, "@mosaic-bot help");
    let inbound = bot.next("the direct message").await;
    assert_eq!(inbound.message_id, direct);
    assert_eq!(inbound.roles, ["system_user", "system_admin"]);
    assert_eq!(
        fake.lookups(),
        Lookups {
            users: 2,
            team_members: 1,
            channels: 0
        }
    );
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
    bot.stop().await;
}

#[tokio::test]
async fn a_slash_command_comes_with_its_authors_roles_in_its_team() {
    let fake = FakeMattermost::start().await;
    fake.set_roles(ALICE, ALICE_SYSTEM, ALICE_TEAM);
    let mut bot = start(&fake);
    assert_eq!(slash_command(&bot, &fake, TEAM, "trig1").await, 200);
    let inbound = bot.next("the slash command").await;
    assert!(inbound.slash);
    assert_eq!(inbound.user.id, ALICE);
    assert_eq!(inbound.roles, ALICE_ROLES);
    assert_eq!(
        fake.lookups(),
        Lookups {
            users: 1,
            team_members: 1,
            channels: 0
        }
    );
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
    bot.stop().await;
}

#[tokio::test]
async fn a_failing_lookup_still_hands_the_message_on_with_the_roles_found() {
    let fake = FakeMattermost::start().await;
    fake.set_roles(ALICE, ALICE_SYSTEM, ALICE_TEAM);
    let mut bot = start(&fake);
    fake.wait_authenticated(1).await;
    // The catch-up on start is over (one query per channel): the posts
    // below arrive over the socket alone, with their team and sender.
    fake.wait_caught_up(2).await;

    fake.fail_team_member_lookups(true);
    let post = fake.user_post(CHANNEL, None, "@mosaic-bot status acme/web#1");
    let inbound = bot.next("the mention without team roles").await;
    assert_eq!(inbound.message_id, post);
    assert_eq!(inbound.roles, ["system_user", "system_admin"]);

    fake.fail_user_lookups(true);
    let post = fake.user_post(CHANNEL, None, "@mosaic-bot status acme/web#2");
    let inbound = bot.next("the mention without any roles").await;
    assert_eq!(inbound.message_id, post);
    assert!(inbound.roles.is_empty(), "{:?}", inbound.roles);
    assert_eq!(slash_command(&bot, &fake, TEAM, "trig1").await, 200);
    let inbound = bot.next("the slash command without roles").await;
    assert!(inbound.slash && inbound.roles.is_empty(), "{inbound:?}");

    // Nothing failed was kept: the next message asks again, and gets all.
    fake.fail_user_lookups(false);
    fake.fail_team_member_lookups(false);
    let post = fake.user_post(CHANNEL, None, "@mosaic-bot status acme/web#3");
    let inbound = bot.next("the mention with its roles again").await;
    assert_eq!(inbound.message_id, post);
    assert_eq!(inbound.roles, ALICE_ROLES);
    assert_eq!(
        fake.lookups(),
        Lookups {
            users: 4,
            team_members: 4,
            channels: 0
        }
    );
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
    bot.stop().await;
}
