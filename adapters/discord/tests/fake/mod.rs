//! A fake Discord on 127.0.0.1 for tests, doing what Discord does (each
//! behaviour beside its documentation page): the REST routes the adapter
//! uses, recorded call by call (`rest.rs`), and a gateway WebSocket
//! (`gateway.rs`); messages and threads as Discord keeps them; the guild's
//! roles, channel overwrites and the bot's permissions (`guild.rs`); buttons
//! (`components.rs`), presses and interaction answers (`interactions.rs`);
//! messages posted (nonces included) and listed (`messages.rs`);
//! the operations Discord's OpenAPI description allows
//! (`openapi.rs`).
//! Shared by the adapter's tests and the root `tests/discord.rs` (through
//! `#[path]`), so it uses no serenity type.
// Each test binary uses a part of the fake.
#![allow(dead_code, unused_imports)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

mod components;
mod gateway;
mod guild;
mod interactions;
mod messages;
pub mod openapi;
mod payloads;
mod rest;
mod shards;

pub use components::custom_ids;
pub use guild::Overwrite;
pub use interactions::ANSWER_WITHIN;
pub use payloads::{guild_payload, interaction_payload, message_payload, timestamp_of};
use shards::{Gateway, Session};
pub use shards::{ShardConnection, shard_of};

/// The bot's user id, application id, guild and channel in the fake.
pub const BOT_ID: u64 = 100;
pub const APP_ID: u64 = 200;
pub const GUILD_ID: u64 = 300;
pub const CHANNEL: u64 = 400;
/// A second text channel of the guild.
pub const OTHER_CHANNEL: u64 = 401;
/// A forum channel of the guild (type 15): its posts are threads with no
/// message in the forum to start them from.
pub const FORUM: u64 = 402;
/// The bot's managed role in the guild (`tags.bot_id` is the bot).
pub const MANAGED_ROLE: u64 = 777;
/// A person who talks to the bot.
pub const ALICE: u64 = 501;
/// The heartbeat interval the fake asks for: short, so that every test
/// sees heartbeats sent and acknowledged.
pub const HEARTBEAT_MS: u64 = 300;
/// How long a test waits for anything.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One REST call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    pub body: Value,
}

/// Permission bits (topics/permissions, "Bitwise Permission Flags").
pub mod perm {
    pub const ADD_REACTIONS: u64 = 1 << 6;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    /// What the README's invite link grants.
    pub const INVITED: u64 = 309_237_712_960;
}

/// Discord's epoch, the first second of 2015 (reference, "Snowflakes").
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The snowflake of an instant: milliseconds since Discord's epoch in the
/// top 42 bits (reference, "Snowflakes").
pub fn snowflake_at(at: SystemTime) -> u64 {
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ms.saturating_sub(DISCORD_EPOCH_MS) << 22
}

enum Outgoing {
    Frame(Value),
    Reconnect,
}

struct Inner {
    addr: SocketAddr,
    calls: Mutex<Vec<Call>>,
    calls_seen: watch::Sender<usize>,
    /// (identifies, resumes) so far.
    sessions: watch::Sender<(usize, usize)>,
    /// Heartbeats acknowledged so far.
    heartbeats: watch::Sender<usize>,
    /// The last snowflake given out.
    last_id: AtomicU64,
    /// Thread → its parent channel.
    threads: Mutex<HashMap<u64, u64>>,
    /// Every message, by id, as Discord stores it (its payload).
    messages: Mutex<BTreeMap<u64, Value>>,
    /// Roles, the bot's member, channels and their overwrites.
    guild: Mutex<guild::Guild>,
    /// The bot's other guilds (`add_guild`).
    more_guilds: Mutex<Vec<guild::Guild>>,
    gateway: Mutex<Gateway>,
    /// Interactions dispatched and how they were answered; buttons shown.
    interactions: Mutex<interactions::Interactions>,
    /// Failures to answer once: (method, path fragment, status).
    failures: Mutex<Vec<(String, String, u16)>>,
    /// Calls to carry out whose answer is then lost: (method, path
    /// fragment, a field the body must hold, if any).
    lost_answers: Mutex<Vec<(String, String, Option<String>)>>,
    /// Messages made with a nonce: (author, nonce) → (message, when made).
    nonces: Mutex<HashMap<(u64, String), (u64, Instant)>>,
    /// While set, gateway connections are refused (503); and how many were.
    refuse_gateway: AtomicBool,
    /// When set, the next resume is refused: the session is gone.
    expire_session: AtomicBool,
    refused: watch::Sender<usize>,
}

/// The fake; dropped with the test's runtime.
#[derive(Clone)]
pub struct FakeDiscord {
    inner: Arc<Inner>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        let inner = Arc::new(Inner {
            addr,
            calls: Mutex::new(Vec::new()),
            calls_seen: watch::channel(0).0,
            sessions: watch::channel((0, 0)).0,
            heartbeats: watch::channel(0).0,
            last_id: AtomicU64::new(0),
            threads: Mutex::new(HashMap::new()),
            messages: Mutex::new(BTreeMap::new()),
            guild: Mutex::new(guild::Guild::new(MANAGED_ROLE)),
            more_guilds: Mutex::new(Vec::new()),
            gateway: Mutex::new(Gateway::default()),
            interactions: Mutex::new(interactions::Interactions::default()),
            failures: Mutex::new(Vec::new()),
            lost_answers: Mutex::new(Vec::new()),
            nonces: Mutex::new(HashMap::new()),
            refuse_gateway: AtomicBool::new(false),
            expire_session: AtomicBool::new(false),
            refused: watch::channel(0).0,
        });
        let app = Router::new()
            .route("/gateway", get(gateway::gateway))
            .fallback(rest::rest)
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeDiscord { inner }
    }

    /// The base URL to give the adapter as `api_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().expect("calls").clone()
    }

    /// Waits until the bot has identified `identifies` times and resumed `resumes` times.
    pub async fn wait_sessions(&self, identifies: usize, resumes: usize) {
        let mut rx = self.inner.sessions.subscribe();
        let waited = tokio::time::timeout(
            PATIENCE,
            rx.wait_for(|s| s.0 >= identifies && s.1 >= resumes),
        )
        .await
        .map(|r| r.is_ok());
        assert_eq!(
            waited,
            Ok(true),
            "no session {identifies}/{resumes}: {:?}",
            *rx.borrow()
        );
    }

    /// Waits until the bot has read the history of each of the guild's text
    /// channels `n` times (a catch-up after each new session).
    pub async fn wait_caught_up(&self, n: usize) {
        for channel in [CHANNEL, OTHER_CHANNEL] {
            let path = format!("/channels/{channel}/messages");
            let mut rx = self.inner.calls_seen.subscribe();
            let read = |calls: &[Call]| {
                calls
                    .iter()
                    .filter(|c| c.method == "GET" && c.path == path)
                    .count()
            };
            let waited = tokio::time::timeout(PATIENCE, async {
                while read(&self.calls()) < n {
                    rx.changed().await.expect("the fake runs");
                }
            })
            .await;
            assert!(
                waited.is_ok(),
                "channel {channel} read fewer than {n} times"
            );
        }
    }

    /// (identifies, resumes) so far.
    pub fn sessions(&self) -> (usize, usize) {
        *self.inner.sessions.borrow()
    }

    /// The bot's session expires: its next resume is refused, so it starts
    /// a new session, and what was dispatched meanwhile is not replayed.
    pub fn expire_session(&self) {
        self.inner.expire_session.store(true, Ordering::SeqCst);
    }

    /// While set, gateway connections are refused with 503, as during an outage.
    pub fn refuse_gateway(&self, refuse: bool) {
        self.inner.refuse_gateway.store(refuse, Ordering::SeqCst);
    }

    /// Waits until `n` gateway connections have been refused in all.
    pub async fn wait_refused(&self, n: usize) {
        let mut rx = self.inner.refused.subscribe();
        let waited = tokio::time::timeout(PATIENCE, rx.wait_for(|r| *r >= n))
            .await
            .map(|r| r.is_ok());
        assert_eq!(
            waited,
            Ok(true),
            "fewer than {n} gateway connections refused"
        );
    }

    /// Waits until the bot has had `n` heartbeats acknowledged.
    pub async fn wait_heartbeats(&self, n: usize) {
        let mut rx = self.inner.heartbeats.subscribe();
        let waited = tokio::time::timeout(PATIENCE, rx.wait_for(|h| *h >= n))
            .await
            .map(|r| r.is_ok());
        assert_eq!(waited, Ok(true), "fewer than {n} heartbeats");
    }

    /// Waits for a call that `matches`, at position `from` or later; returns it and its position.
    pub async fn expect(
        &self,
        what: &str,
        from: usize,
        matches: impl Fn(&Call) -> bool,
    ) -> (usize, Call) {
        let mut rx = self.inner.calls_seen.subscribe();
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                let hit = self
                    .calls()
                    .into_iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, c)| matches(c));
                if let Some(hit) = hit {
                    return hit;
                }
                rx.changed().await.expect("the fake runs");
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for {what}; calls: {:#?}", self.calls()))
    }

    /// Answers the next call of `method` whose path contains `fragment` with `status`.
    pub fn fail_next(&self, method: &str, fragment: &str, status: u16) {
        self.inner.failures.lock().expect("failures").push((
            method.into(),
            fragment.into(),
            status,
        ));
    }

    /// Carries out the next call of `method` whose path contains `fragment`,
    /// then answers it with 502 instead of its answer: the call took effect,
    /// but the bot cannot know it (a gateway of Discord's failing on the way
    /// back: "502 GATEWAY UNAVAILABLE … Wait a bit and retry",
    /// topics/opcodes-and-status-codes, "HTTP Response Codes").
    pub fn lose_next_answer(&self, method: &str, fragment: &str) {
        self.inner.lost_answers.lock().expect("lost answers").push((
            method.into(),
            fragment.into(),
            None,
        ));
    }

    /// As [`FakeDiscord::lose_next_answer`], for the next such call whose
    /// body holds `field` (`nonce`: a relay post, not the card).
    pub fn lose_next_answer_carrying(&self, method: &str, fragment: &str, field: &str) {
        self.inner.lost_answers.lock().expect("lost answers").push((
            method.into(),
            fragment.into(),
            Some(field.into()),
        ));
    }

    fn id(&self) -> u64 {
        self.inner.snowflake()
    }

    /// The `ws://` address of the fake's gateway, for `gateway_url`: the
    /// fake's `GET /gateway` answers Discord's own address, as Discord does.
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.inner.addr)
    }

    /// A thread made in `parent` without a message there ("Create Thread",
    /// or a forum post): its id is a new snowflake, not a message's
    /// (resources/channel, "Start Thread without Message").
    pub fn thread_without_message(&self, parent: u64) -> u64 {
        let id = self.id();
        self.inner
            .threads
            .lock()
            .expect("threads")
            .insert(id, parent);
        id
    }

    /// The thread started from `message` on its parent, as a person would
    /// (the same id: resources/channel, "Start Thread from Message").
    pub fn thread_on(&self, parent: u64, message: u64) -> u64 {
        self.inner
            .threads
            .lock()
            .expect("threads")
            .insert(message, parent);
        message
    }

    /// A message stored as if typed at `at` (its snowflake says so), but
    /// never dispatched: typed while the bot was not connected.
    pub fn typed_offline(&self, channel: u64, text: &str, at: SystemTime) -> u64 {
        let id = snowflake_at(at) | (self.id() & 0x3f_ffff);
        let payload = message_payload(id, channel, ALICE, false, text, Some(&[]));
        self.inner
            .messages
            .lock()
            .expect("messages")
            .insert(id, payload);
        id
    }

    /// Dispatches a gateway event (kept for replay on resume).
    pub fn dispatch(&self, kind: &str, data: Value) {
        self.inner.dispatch(kind, data);
    }

    /// Alice edits message `id` to `text`: stored, and MESSAGE_UPDATE with
    /// the whole message and its new `edited_timestamp` (events/
    /// gateway-events, "Message Update"). Returns that timestamp.
    pub fn edit(&self, id: u64, text: &str) -> String {
        let edited = timestamp_of(self.id());
        let payload = {
            let mut messages = self.inner.messages.lock().expect("messages");
            let message = messages.get_mut(&id).expect("a message to edit");
            message["content"] = json!(text);
            message["edited_timestamp"] = json!(edited);
            message.clone()
        };
        self.dispatch("MESSAGE_UPDATE", payload);
        edited
    }

    /// A message from `author` in `channel` of the guild, by a member with
    /// no roles; returns its id.
    pub fn message_from(&self, channel: u64, author: u64, bot: bool, text: &str) -> u64 {
        self.message_with_roles(channel, author, bot, text, Some(&[]))
    }

    /// A message from `author` in `channel`: `roles` as in [`message_payload`]
    /// (`None`: a DM). Returns its id.
    pub fn message_with_roles(
        &self,
        channel: u64,
        author: u64,
        bot: bool,
        text: &str,
        roles: Option<&[u64]>,
    ) -> u64 {
        let id = self.id();
        let mut payload = message_payload(id, channel, author, bot, text, roles);
        if let (Some(_), Some(guild)) = (roles, self.inner.guild_of(channel)) {
            payload["guild_id"] = json!(guild.to_string());
        }
        self.inner
            .messages
            .lock()
            .expect("messages")
            .insert(id, payload.clone());
        self.dispatch("MESSAGE_CREATE", payload);
        id
    }

    /// A message from alice in `channel`; returns its id.
    pub fn say(&self, channel: u64, text: &str) -> u64 {
        self.message_from(channel, ALICE, false, text)
    }

    /// `/mosaic {sub}` with option `option` = `value`, by alice in the
    /// guild with no roles; returns the interaction id.
    pub fn slash(&self, channel: u64, sub: &str, option: Option<(&str, &str)>) -> u64 {
        self.slash_with_roles(channel, sub, option, Some(&[]))
    }

    /// `/mosaic {sub}` by alice: `roles` as in [`interaction_payload`]
    /// (`None`: in a DM). Returns the interaction id.
    pub fn slash_with_roles(
        &self,
        channel: u64,
        sub: &str,
        option: Option<(&str, &str)>,
        roles: Option<&[u64]>,
    ) -> u64 {
        let id = self.id();
        let mut payload = interaction_payload(id, channel, sub, option, roles);
        if roles.is_some() {
            // The partial channel names a thread's parent, and
            // `app_permissions` are the bot's there (interactions/
            // receiving-and-responding, "Interaction Object").
            let parent = self
                .inner
                .threads
                .lock()
                .expect("threads")
                .get(&channel)
                .copied();
            if let Some(parent) = parent {
                payload["channel"] = json!({ "id": channel.to_string(), "type": 11, "parent_id": parent.to_string() });
            }
            let bits = self.inner.bot_permissions(channel);
            payload["app_permissions"] = json!(bits.to_string());
        }
        self.inner.issue(id, &payload);
        self.dispatch("INTERACTION_CREATE", payload);
        id
    }

    /// Tells the bot to reconnect (op 7) and closes its connections.
    pub fn reconnect(&self) {
        let mut gw = self.inner.gateway.lock().expect("gateway");
        for session in gw.sessions.values_mut() {
            if let Some((_, tx)) = session.conn.take() {
                let _ = tx.send(Outgoing::Reconnect);
            }
        }
    }
}

impl Inner {
    /// Sends a dispatch to every session of the shard its guild belongs to (events/gateway,
    /// "Sharding": each session gets the events its `[shard_id, num_shards]` routes to it),
    /// on its connection if one is attached, and keeps it there for replay.
    fn dispatch(&self, kind: &str, data: Value) {
        let guild = match kind {
            "GUILD_CREATE" | "GUILD_UPDATE" => data["id"].as_str(),
            _ => data["guild_id"].as_str(),
        }
        .and_then(|g| g.parse().ok());
        let mut gw = self.gateway.lock().expect("gateway");
        gw.dispatched.push((kind.to_owned(), data.clone()));
        for session in gw.sessions.values_mut() {
            let (shard, num_shards) = session.shard;
            if shard_of(guild, num_shards) != shard {
                continue;
            }
            session.seq += 1;
            let frame = json!({ "op": 0, "t": kind, "s": session.seq, "d": data });
            session.sent.push((session.seq, frame.clone()));
            if let Some((_, tx)) = &session.conn {
                let _ = tx.send(Outgoing::Frame(frame));
            }
        }
    }

    /// A new snowflake: now's, and above every one given before.
    fn snowflake(&self) -> u64 {
        let now = snowflake_at(SystemTime::now());
        let mut last = self.last_id.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self
                .last_id
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The channel (or thread) message `id` stands in.
    fn channel_of(&self, id: u64) -> Option<u64> {
        let messages = self.messages.lock().expect("messages");
        messages.get(&id)?["channel_id"].as_str()?.parse().ok()
    }
}
