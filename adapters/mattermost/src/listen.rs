//! Listening: the WebSocket session (authentication challenge, pings, a
//! silence timeout for a dead socket), reconnects with capped, jittered
//! backoff, and on start and after each reconnect a catch-up over REST on
//! what was written or edited meanwhile (`catch_up.rs`). Deleted posts and
//! pre-edit copies are dropped; each post
//! and each edit of it is handed on at most once, with the instant the
//! server says it was written, whichever way it arrived: the core decides
//! what is recent enough to act on.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::{SinkExt, StreamExt};
use mosaic_chat::{ChatError, Connection, Inbound, Memory, RunContext};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::events::{self, BotIdentity, Post, SocketEvent};
use crate::{Mattermost, PLATFORM, slash};
use mosaic_chat::handled::Handled;

mod catch_up;

/// The longest a post's author's roles (or its channel's team) are waited
/// for: the listener reads no other frame meanwhile.
const LOOKUP_WAIT: Duration = Duration::from_secs(5);

/// How many channels' teams are kept before they are forgotten.
const REMEMBERED_CHANNELS: usize = 10_000;

/// How a WebSocket session ended.
enum SessionEnd {
    Shutdown,
    InboxClosed,
    Unauthorized(String),
    /// The connection failed or died; `authed` says whether it got as far as
    /// authentication (then the backoff starts over).
    Lost {
        authed: bool,
        reason: String,
    },
}

/// The listening side of one adapter.
struct Listener {
    mm: Arc<Mattermost>,
    bot: BotIdentity,
    inbox: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
    handled: Handled,
    /// Channels a post was seen in: resynced even if membership cannot be listed.
    channels: HashSet<String>,
    /// The newest `create_at` or `update_at` seen (server time, ms), this
    /// run's or remembered from an earlier one: where a catch-up starts.
    watermark: Option<i64>,
    /// What is kept across restarts, and the value last written there.
    memory: Arc<dyn Memory>,
    remembered: Option<i64>,
    remembered_at: Instant,
    /// How far back a catch-up may look at most.
    catch_up: Duration,
    /// Usernames by user id.
    names: HashMap<String, String>,
    /// Channel id → its team's id (empty for direct messages): a post
    /// fetched over REST does not say it.
    teams: HashMap<String, String>,
}

/// The adapter's `run`: who the bot is, the slash endpoint, then WebSocket
/// sessions until shutdown or a refused token.
pub(crate) async fn run(mm: Arc<Mattermost>, ctx: RunContext) -> Result<(), ChatError> {
    let RunContext {
        inbox,
        shutdown,
        memory,
        catch_up,
        ..
    } = ctx;
    // Before anything can post a card: its buttons need the key.
    let presses = crate::press::route(&mm, memory.as_ref()).await;
    let _presses_guard = crate::press::PressesGuard(Arc::clone(&mm));
    let Some(me) = whoami(&mm, &shutdown).await? else {
        return Ok(());
    };
    tracing::info!(username = %me.username, "connected to Mattermost");
    // The endpoint holds a sender of the inbox: it stops when listening
    // ends for any reason, so the core sees this platform stop.
    let slash_stop = shutdown.child_token();
    let _slash_guard = slash_stop.clone().drop_guard();
    if let Some(options) = &mm.options.slash {
        let addr = slash::serve(
            options.listen,
            options.tokens.clone(),
            inbox.clone(),
            Arc::clone(&mm.roles),
            presses,
            slash_stop,
        )
        .await?;
        mm.slash_addr.send_replace(Some(addr));
    }
    let mut listener = Listener {
        bot: BotIdentity {
            user_id: me.id,
            username: me.username,
            bot_name: mm.options.bot_name.clone(),
        },
        mm,
        inbox,
        shutdown,
        handled: Handled::default(),
        channels: HashSet::new(),
        watermark: None,
        remembered: None,
        remembered_at: Instant::now(),
        memory,
        catch_up,
        names: HashMap::new(),
        teams: HashMap::new(),
    };
    listener.recall().await;
    let ended = listener.listen().await;
    listener.remember(true).await;
    ended
}

impl Listener {
    /// WebSocket sessions until shutdown or a refused token.
    async fn listen(&mut self) -> Result<(), ChatError> {
        let mut delays = backoff(&self.mm.options);
        loop {
            match self.session().await {
                SessionEnd::Shutdown | SessionEnd::InboxClosed => return Ok(()),
                SessionEnd::Unauthorized(why) => return Err(ChatError::Unauthorized(why)),
                SessionEnd::Lost { authed, reason } => {
                    self.mm.connection.lost();
                    if authed {
                        delays = backoff(&self.mm.options);
                    }
                    let wait = delays.next().unwrap_or(self.mm.options.reconnect_max);
                    tracing::warn!(%reason, ?wait, "the Mattermost WebSocket was lost; reconnecting");
                    tokio::select! {
                        () = self.shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

/// The bot's own account, asked until the server answers (it may be down
/// when the bot starts); `None` on shutdown. A refused token ends the wait.
async fn whoami(
    mm: &Mattermost,
    shutdown: &CancellationToken,
) -> Result<Option<crate::rest::User>, ChatError> {
    let mut delays = backoff(&mm.options);
    loop {
        let answer = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            me = mm.me() => me.cloned(),
        };
        match answer {
            Ok(me) => return Ok(Some(me)),
            Err(e) if e.is_retryable() => {
                let wait = delays.next().unwrap_or(mm.options.reconnect_max);
                tracing::warn!(error = %e, ?wait, "cannot reach Mattermost; trying again");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reconnect delays: exponential from `reconnect_min` to `reconnect_max`,
/// jittered so that many bots do not reconnect in step.
fn backoff(
    options: &crate::MattermostOptions,
) -> impl Iterator<Item = std::time::Duration> + use<> {
    ExponentialBuilder::default()
        .with_min_delay(options.reconnect_min)
        .with_max_delay(options.reconnect_max)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The WebSocket URL of a server URL (`https://` → `wss://`).
fn websocket_url(server_url: &str) -> String {
    let url = if let Some(rest) = server_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = server_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        server_url.to_owned()
    };
    format!("{url}/api/v4/websocket")
}

impl Listener {
    /// One connection, from the handshake until it ends.
    async fn session(&mut self) -> SessionEnd {
        let options = &self.mm.options;
        let (ping_interval, dead_after) = (options.ping_interval, options.dead_after);
        let url = websocket_url(&options.server_url);
        let connect = tokio::select! {
            () = self.shutdown.cancelled() => return SessionEnd::Shutdown,
            c = tokio::time::timeout(dead_after, tokio_tungstenite::connect_async(url.as_str())) => c,
        };
        let socket = match connect {
            Ok(Ok((socket, _))) => socket,
            Ok(Err(tungstenite::Error::Http(response))) if response.status() == 401 => {
                return SessionEnd::Unauthorized(
                    "Mattermost refused the bot token on the WebSocket".into(),
                );
            }
            Ok(Err(e)) => return lost(false, format!("cannot connect to {url}: {e}")),
            Err(_) => return lost(false, format!("no answer from {url}")),
        };
        let (mut sink, mut stream) = socket.split();
        let challenge = json!({
            "seq": 1,
            "action": "authentication_challenge",
            "data": { "token": options.token.expose() },
        });
        if let Err(e) = sink.send(Message::text(challenge.to_string())).await {
            return lost(false, format!("cannot authenticate: {e}"));
        }
        let mut authed = false;
        let mut last_heard = Instant::now();
        let mut next_ping = Instant::now() + ping_interval;
        loop {
            let frame = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    let _ = sink.close().await;
                    return SessionEnd::Shutdown;
                }
                () = sleep_until(last_heard + dead_after) => {
                    return lost(authed, format!("nothing heard for {dead_after:?}"));
                }
                () = sleep_until(next_ping) => {
                    next_ping = Instant::now() + ping_interval;
                    if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                        return lost(authed, format!("cannot ping: {e}"));
                    }
                    continue;
                }
                frame = stream.next() => frame,
            };
            last_heard = Instant::now();
            let text = match frame {
                None => return lost(authed, "the server closed the connection".into()),
                Some(Err(e)) => return lost(authed, e.to_string()),
                Some(Ok(Message::Close(_))) => {
                    return lost(authed, "the server closed the connection".into());
                }
                Some(Ok(Message::Text(text))) => text,
                // Pings are answered by the library; pongs only prove life.
                Some(Ok(_)) => continue,
            };
            match events::parse_event(&text) {
                Some(SocketEvent::AuthReply { ok: false, error }) => {
                    return SessionEnd::Unauthorized(format!(
                        "Mattermost refused the bot token on the WebSocket: {error}"
                    ));
                }
                Some(SocketEvent::AuthReply { ok: true, .. } | SocketEvent::Hello) if !authed => {
                    authed = true;
                    // Before the catch-up: posts arrive on the socket from
                    // now on, and the catch-up covers the gap before.
                    self.mm.connection.set(Connection::Connected);
                    if let Some(end) = self.resync().await {
                        return end;
                    }
                }
                Some(SocketEvent::Posted {
                    post,
                    mentions,
                    sender_name,
                    team_id,
                }) => {
                    if let Some(team) = team_id {
                        self.remember_team(&post.channel_id, team);
                    }
                    if let Some(end) = self.handle(post, &mentions, sender_name).await {
                        return end;
                    }
                }
                Some(SocketEvent::Edited { post }) => {
                    if let Some(end) = self.handle(post, &[], None).await {
                        return end;
                    }
                }
                Some(_) => {}
                None => tracing::debug!("an unreadable WebSocket frame was skipped"),
            }
        }
    }

    /// Handles each revision of a post once: an [`Inbound`] to the inbox
    /// when it addresses the bot. Deleted posts and pre-edit copies (which a
    /// catch-up returns too) are no message anyone wrote now.
    async fn handle(
        &mut self,
        post: Post,
        mentions: &[String],
        sender_name: Option<String>,
    ) -> Option<SessionEnd> {
        self.channels.insert(post.channel_id.clone());
        self.saw(&post).await;
        if post.is_history() {
            return None;
        }
        let revision = match post.revision() {
            Some(edit_at) => format!("{}@{edit_at}", post.id),
            None => post.id.clone(),
        };
        if !self.handled.insert(&revision) {
            return None;
        }
        if !events::addresses_bot(&post, mentions, &self.bot) {
            return None;
        }
        let author = self.author(&post.user_id, sender_name).await;
        let shutdown = self.shutdown.clone();
        let roles = tokio::select! {
            () = shutdown.cancelled() => return Some(SessionEnd::Shutdown),
            roles = self.roles_of(&post) => roles,
        };
        let inbound = events::inbound(PLATFORM, &post, author, roles, &self.bot);
        tokio::select! {
            () = self.shutdown.cancelled() => Some(SessionEnd::Shutdown),
            sent = self.inbox.send(inbound) => sent.is_err().then_some(SessionEnd::InboxClosed),
        }
    }

    /// The roles of `post`'s author in the team of its channel.
    async fn roles_of(&mut self, post: &Post) -> Vec<String> {
        let team = self.team_of(&post.channel_id).await;
        self.mm.roles.of(&team, &post.user_id, LOOKUP_WAIT).await
    }

    fn remember_team(&mut self, channel: &str, team: String) {
        if self.teams.len() >= REMEMBERED_CHANNELS && !self.teams.contains_key(channel) {
            self.teams.clear();
        }
        self.teams.insert(channel.to_owned(), team);
    }

    /// The team of `channel`: as a `posted` event told it, else asked once
    /// and kept. Unknown (empty, as a direct message's) when the server does
    /// not answer: the author's system roles still count.
    async fn team_of(&mut self, channel: &str) -> String {
        if let Some(team) = self.teams.get(channel) {
            return team.clone();
        }
        match tokio::time::timeout(LOOKUP_WAIT, self.mm.rest.channel(channel)).await {
            Ok(Ok(found)) => {
                self.remember_team(channel, found.team_id.clone());
                found.team_id
            }
            Ok(Err(e)) => {
                tracing::warn!(%channel, error = %e, "cannot look up a channel's team; its team roles will not count");
                String::new()
            }
            Err(_) => {
                tracing::warn!(%channel, "Mattermost did not tell a channel's team in time; its team roles will not count");
                String::new()
            }
        }
    }

    /// A post author's username: from the event, else asked once and kept.
    async fn author(&mut self, user_id: &str, sender_name: Option<String>) -> String {
        if let Some(name) = sender_name {
            return name;
        }
        if let Some(name) = self.names.get(user_id) {
            return name.clone();
        }
        match self.mm.rest.user(user_id).await {
            Ok(user) => {
                self.names.insert(user_id.to_owned(), user.username.clone());
                user.username
            }
            Err(e) => {
                tracing::warn!(user = user_id, error = %e, "cannot look up a post's author");
                user_id.to_owned()
            }
        }
    }
}

fn lost(authed: bool, reason: String) -> SessionEnd {
    SessionEnd::Lost { authed, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_follows_the_servers_scheme() {
        assert_eq!(
            websocket_url("https://chat.x"),
            "wss://chat.x/api/v4/websocket"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:1"),
            "ws://127.0.0.1:1/api/v4/websocket"
        );
    }
}
