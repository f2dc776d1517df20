//! A fake Slack on 127.0.0.1: the Web API methods the adapter calls
//! (`auth.test`, `apps.connections.open`, `chat.postMessage`, `chat.update`,
//! `reactions.add`, `usergroups.list`, `conversations.replies`), slash
//! commands' and button presses' `response_url`s, and a Socket Mode WebSocket (`hello`, envelopes, acks,
//! `disconnect`, re-sent envelopes). It keeps the bot's messages as Slack
//! does (blocks checked, refused with `invalid_blocks`, kept by an update
//! without blocks; `metadata` checked and kept), keeps users' messages in
//! its threads, records everything the bot sends and every ack; a test
//! posts as a user, presses a message's buttons (over Socket Mode or as a
//! form for the HTTP endpoint), drops, refreshes or refuses sockets, holds
//! back their `hello`, and turns on 429s or `ok:false` answers. Shared with the root test through
//! `#[path = "../adapters/slack/tests/fake/mod.rs"]`.
#![allow(dead_code)]

mod block_kit;
pub mod conformance;
mod events;
mod interactions;
mod metadata;
mod replies;
mod socket;
mod users;
mod web;

#[allow(unused_imports)]
pub use events::{event_callback, message_event};

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// The bot token, the app-level token and the bot's user id.
pub const BOT_TOKEN: &str = "xoxb-fake-bot";
pub const APP_TOKEN: &str = "xapp-fake-app";
pub const BOT_USER: &str = "UBOT0001";
/// The bot's bot id (`auth.test`'s `bot_id`), on each of its messages.
pub const BOT_ID: &str = "B1";
/// The user tests post as, and the channel they post in.
pub const ALICE: &str = "UALICE01";
/// Another user, who did not start the tests' jobs.
pub const BOB: &str = "UBOB0001";
pub const CHANNEL: &str = "C0CHANNEL";
/// Where the fake's `chat.getPermalink` links point.
pub const PERMALINK_BASE: &str = "https://fake.slack.com/archives";

/// How long a test waits for the bot to do something.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One thing the bot did on the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Post {
        ts: String,
        channel: String,
        thread_ts: Option<String>,
        text: String,
    },
    Update {
        channel: String,
        ts: String,
        text: String,
    },
    Reaction {
        channel: String,
        ts: String,
        name: String,
    },
    Ephemeral {
        text: String,
    },
}

/// One Web API call the bot made, as the conformance test reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `chat.postMessage`, …; `response_url` for a slash command's answer.
    pub method: String,
    /// `GET` or `POST`.
    pub verb: String,
    /// The JSON body, or the query parameters.
    pub args: Value,
    /// The bearer token, if any.
    pub token: Option<String>,
}

/// A message in the fake workspace (the bot's, or a user's it was told
/// about), as Slack keeps it.
#[derive(Debug, Clone)]
struct Stored {
    channel: String,
    ts: String,
    /// Who wrote it, and the bot id of an app's message.
    user: String,
    bot_id: Option<String>,
    /// The thread it replies in.
    thread_ts: Option<String>,
    /// Its message `metadata`, as kept.
    metadata: Option<Value>,
    text: Value,
    /// Its blocks now, each with a `block_id` (Slack makes one where the
    /// app gave none).
    blocks: Value,
    /// Every button element it ever showed: a client that has not drawn
    /// the latest version yet can still press an older one.
    shown: Vec<Value>,
}

#[derive(Default)]
struct World {
    /// The channel's messages, in the order posted.
    messages: Vec<Stored>,
    /// The most messages a `conversations.replies` page holds, whatever
    /// `limit` asks (`None`: Slack's 1,000).
    replies_page_max: Option<usize>,
    /// The next reads (`conversations.replies`) answer 429 while above 0.
    rate_limit_reads: usize,
    next_block: u64,
    /// Presses sent: their `response_url`s' uses, by URL id.
    response_uses: std::collections::HashMap<String, usize>,
    next_press: u64,
    /// What was answered through each press's `response_url` (URL id, body).
    answers: Vec<(String, Value)>,
    /// Every Web API call, in order.
    calls: Vec<Call>,
    /// Channels the bot is not a member of.
    outside: Vec<String>,
    /// `chat.update`'s tier when enforced (calls per window), the instants
    /// of the calls in the current window, and the 429s it answered.
    update_tier: Option<(usize, Duration)>,
    update_times: VecDeque<tokio::time::Instant>,
    tier_refusals: usize,
    /// While set, `usergroups.list` answers only once cleared.
    hold_user_groups: bool,
    next_ts: u64,
    next_envelope: u64,
    sockets: Vec<mpsc::UnboundedSender<Option<String>>>,
    /// Sockets opened, and those of them that got `hello`.
    opened: usize,
    connected: usize,
    refuse_sockets: bool,
    /// `apps.connections.open` calls refused while `refuse_sockets` was set.
    refused: usize,
    /// While set, a new socket is held open without its `hello`.
    hold_hello: bool,
    /// Envelopes sent and not acked yet (id, frame): re-sent on every new
    /// connection, as Slack does; and the ids of those acked.
    unacked: Vec<(String, String)>,
    /// Every envelope sent (id, frame), for re-sending.
    sent_envelopes: Vec<(String, String)>,
    acked: Vec<String>,
    rate_limit_next: usize,
    rate_limited: usize,
    /// `ok:false` codes the next writes answer with, in order.
    fail_next: Vec<String>,
    sent: Vec<Sent>,
    /// `usergroups.list`: the groups with their members' ids, the
    /// `ok:false` code it answers with while one is set, and how often it
    /// was asked.
    user_groups: Vec<(String, Vec<String>)>,
    user_groups_refusal: Option<String>,
    user_groups_calls: usize,
}

impl World {
    /// With a tier enforced: `Some(wait)` when this `chat.update` is one too
    /// many in the window (not counted), else `None` (counted).
    fn over_update_tier(&mut self) -> Option<Duration> {
        let (count, per) = self.update_tier?;
        let now = tokio::time::Instant::now();
        while self.update_times.front().is_some_and(|t| now - *t >= per) {
            self.update_times.pop_front();
        }
        if self.update_times.len() >= count {
            return self.update_times.front().map(|t| per - (now - *t));
        }
        self.update_times.push_back(now);
        None
    }
}

#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    changed: Arc<Notify>,
    addr: SocketAddr,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// A new message timestamp of now, never the same twice.
    fn next_ts(&self) -> String {
        let mut world = self.world();
        world.next_ts += 1;
        events::now_ts(world.next_ts)
    }
}

/// The fake server; it stops when dropped.
pub struct FakeSlack {
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let shared = Shared {
            world: Arc::default(),
            changed: Arc::default(),
            addr,
        };
        let app = Router::new()
            .route("/api/auth.test", get(web::auth_test).post(web::auth_test))
            .route("/api/apps.connections.open", post(web::connections_open))
            .route("/api/chat.postMessage", post(web::post_message))
            .route("/api/chat.update", post(web::update))
            .route("/api/reactions.add", post(web::reactions_add))
            .route("/api/usergroups.list", get(web::usergroups_list))
            .route("/api/chat.getPermalink", get(web::permalink))
            .route("/api/conversations.replies", get(replies::replies))
            .route("/response/{id}", post(web::respond))
            .route("/actions/{id}", post(web::respond_to_press))
            .route("/socket", get(socket::websocket))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeSlack { shared, server }
    }

    /// The Web API's base URL: `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.shared.addr)
    }

    /// A slash command's `response_url` on this fake.
    pub fn response_url(&self) -> String {
        format!("http://{}/response/r1", self.shared.addr)
    }

    /// Sends an envelope of `kind` with `payload` to every socket; returns its id.
    pub fn envelope(&self, kind: &str, payload: Value) -> String {
        let mut world = self.shared.world();
        world.next_envelope += 1;
        let id = format!("env-{}", world.next_envelope);
        let frame = json!({"envelope_id": id, "type": kind, "payload": payload, "accepts_response_payload": false}).to_string();
        world.unacked.push((id.clone(), frame.clone()));
        world.sent_envelopes.push((id.clone(), frame.clone()));
        world
            .sockets
            .retain(|tx| tx.send(Some(frame.clone())).is_ok());
        id
    }

    /// From now on the bot is not a member of `channel`: writes there answer
    /// `not_in_channel`.
    pub fn bot_not_in(&self, channel: &str) {
        self.shared.world().outside.push(channel.to_owned());
    }

    /// Enforces `chat.update`'s tier: at most `count` calls in any `per`,
    /// more answered 429 with `Retry-After`.
    pub fn enforce_update_tier(&self, count: usize, per: Duration) {
        self.shared.world().update_tier = Some((count, per));
    }

    /// How many `chat.update`s the tier refused.
    pub fn tier_refusals(&self) -> usize {
        self.shared.world().tier_refusals
    }

    /// While set, `usergroups.list` is answered only once it is cleared.
    pub fn hold_user_groups(&self, hold: bool) {
        self.shared.world().hold_user_groups = hold;
        self.shared.notify();
    }

    /// Every Web API call the bot made, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.world().calls.clone()
    }

    /// Asks every socket to reconnect, as Slack does every few hours.
    pub fn refresh_sockets(&self) {
        let frame = json!({"type": "disconnect", "reason": "refresh_requested"}).to_string();
        self.shared
            .world()
            .sockets
            .retain(|tx| tx.send(Some(frame.clone())).is_ok());
    }

    /// Closes every socket at once, without a close frame, as a network cut would.
    pub fn drop_sockets(&self) {
        let sockets = std::mem::take(&mut self.shared.world().sockets);
        for tx in sockets {
            let _ = tx.send(None);
        }
    }

    /// While set, `apps.connections.open` answers 503.
    pub fn refuse_sockets(&self, refuse: bool) {
        self.shared.world().refuse_sockets = refuse;
    }

    /// How many `apps.connections.open` calls were refused.
    pub fn refused(&self) -> usize {
        self.shared.world().refused
    }

    /// While set, new sockets open but get no `hello` until it is cleared,
    /// as a Slack slow to greet.
    pub fn hold_hello(&self, hold: bool) {
        self.shared.world().hold_hello = hold;
        self.shared.notify();
    }

    /// How many sockets were opened, greeted or not.
    pub fn opened(&self) -> usize {
        self.shared.world().opened
    }

    /// The next `n` writes answer HTTP 429 with `Retry-After: 1`.
    pub fn rate_limit_next(&self, n: usize) {
        self.shared.world().rate_limit_next = n;
    }

    /// How many 429s were answered.
    pub fn rate_limited(&self) -> usize {
        self.shared.world().rate_limited
    }

    /// The next writes answer `{"ok": false, "error": code}`, one code each.
    pub fn fail_next(&self, codes: &[&str]) {
        self.shared.world().fail_next = codes.iter().map(|c| (*c).to_owned()).collect();
    }

    /// What `usergroups.list` answers: each group's id and its members' ids.
    pub fn set_user_groups(&self, groups: &[(&str, &[&str])]) {
        self.shared.world().user_groups = groups
            .iter()
            .map(|(id, users)| {
                (
                    (*id).to_owned(),
                    users.iter().map(|u| (*u).to_owned()).collect(),
                )
            })
            .collect();
    }

    /// While `Some(code)`, `usergroups.list` answers `{"ok": false, "error":
    /// code}` (Slack answers `missing_scope` to an app without
    /// `usergroups:read`).
    pub fn refuse_user_groups(&self, code: Option<&str>) {
        self.shared.world().user_groups_refusal = code.map(str::to_owned);
    }

    /// How many times `usergroups.list` was asked, answered or refused.
    pub fn user_groups_calls(&self) -> usize {
        self.shared.world().user_groups_calls
    }

    /// Everything the bot sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.world().sent.clone()
    }

    /// How many sockets got `hello` so far.
    pub fn connected(&self) -> usize {
        self.shared.world().connected
    }

    /// Envelopes sent and never acked.
    pub fn unacked(&self) -> Vec<String> {
        self.shared
            .world()
            .unacked
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Waits until `ready` holds of the fake's state, checked after every change.
    pub async fn until<T>(&self, what: &str, ready: impl Fn(&FakeSlack) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let changed = self.shared.changed.notified();
            if let Some(value) = ready(self) {
                return value;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("timed out waiting for {what}; sent: {:#?}", self.sent());
            }
        }
    }

    /// Waits until `n` sockets have been greeted in all.
    pub async fn wait_connected(&self, n: usize) {
        self.until(&format!("{n} Socket Mode connections"), |f| {
            (f.connected() >= n).then_some(())
        })
        .await;
    }

    /// How many acks the bot sent in all.
    pub fn acks(&self) -> usize {
        self.shared.world().acked.len()
    }

    /// Waits until every envelope sent has been acked.
    pub async fn wait_all_acked(&self) {
        self.until("every envelope acked", |f| {
            f.unacked().is_empty().then_some(())
        })
        .await;
    }

    /// Waits for the first thing sent that `matches`, and returns it.
    pub async fn expect(&self, what: &str, matches: impl Fn(&Sent) -> bool) -> Sent {
        self.until(what, |f| f.sent().into_iter().find(|s| matches(s)))
            .await
    }
}
