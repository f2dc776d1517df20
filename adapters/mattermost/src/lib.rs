//! The Mattermost platform of mosaic-bot: mentions arrive over the WebSocket
//! API, `/mosaic` arrives as a custom slash command over HTTP, and the bot
//! answers through REST v4 (posts in threads by `root_id`, edits by
//! `PATCH`, reactions).
//!
//! - this file: [`Mattermost`], its options, and the [`ChatPlatform`] it is;
//! - `listen.rs`: the WebSocket session, reconnects, and the REST catch-up
//!   on start and after each reconnect, each post and edit handled once;
//! - `events.rs`: WebSocket frames and posts read into [`Inbound`]s (pure);
//! - `rest.rs`: the REST v4 calls and their errors (429, 401, …);
//! - `own_posts.rs`: a relayed post's mark in its props, and the bot's own
//!   posts in a thread read back with their marks;
//! - `roles.rs`: the author's system and team roles, looked up and cached,
//!   which fill [`Inbound::roles`];
//! - `slash.rs`: the HTTP listener: the slash command endpoint (token
//!   checked in constant time) and the action route of `press.rs`;
//! - `actions.rs`: the card's buttons as interactive message actions, each
//!   with a token the bot issued; `press.rs`: a click verified and handed to
//!   the core as a [`Press`], its private answer in the click's response;
//! - `dialect.rs`: [`MattermostDialect`], Markdown that pings nobody.

mod actions;
mod dialect;
mod events;
mod listen;
mod own_posts;
mod press;
mod rest;
mod roles;
mod slash;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mosaic_chat::{
    Button, ChatError, ChatFuture, ChatPlatform, Connection, ConnectionState, Dialect, Inbound,
    Limits, OwnPost, Platform, PostMark, Press, Reaction, RunContext, Secret, ThreadRef,
};
use serde_json::Value;
use tokio::sync::{OnceCell, mpsc, watch};

pub use dialect::{MattermostDialect, neutralize_mentions};
pub use own_posts::MARK_PROP;
pub use press::ACTION_PATH;
pub use slash::SLASH_PATH;

use actions::ActionKey;
use press::Pending;

use rest::{Rest, User};
use roles::Roles;

/// Mattermost's platform name, in thread references and dedupe keys.
pub const PLATFORM: Platform = Platform::new("mattermost");

/// The longest post Mattermost takes (its `MaxPostSize`, in characters).
pub const MAX_POST_CHARS: usize = 16_383;

/// Where the slash command is served, and the tokens Mattermost sends with it.
#[derive(Debug, Clone)]
pub struct SlashOptions {
    /// Address to listen on, e.g. `0.0.0.0:8081`.
    pub listen: SocketAddr,
    /// The token Mattermost shows when the slash command is created, one per
    /// team: a custom slash command belongs to one team, and each has its
    /// own. A request with any of them is taken.
    pub tokens: Vec<Secret>,
}

/// The card's buttons: where Mattermost sends their clicks, and what the
/// tokens in them are made with.
#[derive(Debug, Clone)]
pub struct ActionOptions {
    /// The URL Mattermost POSTs a click to: the slash listener's
    /// [`ACTION_PATH`] as the Mattermost server reaches it, e.g.
    /// `https://bot.example.com/mattermost/action`.
    pub url: String,
    /// The secret the tokens are made with; `None`: one generated once and
    /// kept in the core's memory.
    pub secret: Option<Secret>,
}

/// How the adapter reaches its server and behaves.
#[derive(Debug, Clone)]
pub struct MattermostOptions {
    /// The server's URL, e.g. `https://chat.example.com`.
    pub server_url: String,
    /// The bot account's access token.
    pub token: Secret,
    /// The name the command parser expects (`mosaic`): the bot account's own
    /// `@username` in a post is rewritten to it.
    pub bot_name: String,
    /// The slash command endpoint, if one is configured: the HTTP listener
    /// the button clicks arrive on too.
    pub slash: Option<SlashOptions>,
    /// The card's buttons; `None` (or no listener): cards carry none, and
    /// the commands stay typeable.
    pub actions: Option<ActionOptions>,
    /// How long a click's request waits for the core's private answer,
    /// which then comes back as its `ephemeral_text` (well inside
    /// Mattermost's `OutgoingIntegrationRequestsTimeout`, 30 s by default).
    pub press_answer_wait: Duration,
    /// What the relay must stay within.
    pub limits: Limits,
    /// How often the bot pings the server over the WebSocket.
    pub ping_interval: Duration,
    /// Silence (not even a pong) after which the WebSocket counts as dead.
    pub dead_after: Duration,
    /// The first and the longest wait before reconnecting (jittered).
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long an author's roles are used before they are looked up again.
    pub roles_max_age: Duration,
}

impl MattermostOptions {
    /// Options with the defaults: Mattermost's post size, no post pacing
    /// (rate limiting is off unless the server turns it on, and then 429s
    /// say how long to wait), card edits at most one a second.
    pub fn new(server_url: &str, token: Secret, bot_name: &str) -> MattermostOptions {
        MattermostOptions {
            server_url: server_url.trim_end_matches('/').to_owned(),
            token,
            bot_name: bot_name.to_owned(),
            slash: None,
            actions: None,
            press_answer_wait: Duration::from_secs(2),
            limits: Limits {
                max_message_chars: MAX_POST_CHARS,
                post_interval: Duration::ZERO,
                edit_interval: Duration::from_secs(1),
            },
            ping_interval: Duration::from_secs(20),
            dead_after: Duration::from_secs(60),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(60),
            roles_max_age: Duration::from_secs(5 * 60),
        }
    }
}

/// Mattermost as a chat platform.
pub struct Mattermost {
    options: MattermostOptions,
    rest: Rest,
    /// The bot's own account, asked for once (reactions name it).
    me: OnceCell<User>,
    /// Authors' roles, shared by the listener and the slash endpoint.
    roles: Arc<Roles>,
    /// The slash endpoint's bound address, once it listens.
    slash_addr: watch::Sender<Option<SocketAddr>>,
    /// The WebSocket's: connected while authenticated.
    connection: ConnectionState,
    /// The key of the buttons' tokens, once `run` has it.
    key: watch::Sender<Option<ActionKey>>,
    /// Where verified presses go, from `accept_presses` until `run` ends.
    presses: Mutex<Option<mpsc::Sender<Press>>>,
    /// Presses waiting for the core's private answer.
    pending: Pending,
}

impl Mattermost {
    /// A Mattermost platform; nothing is contacted until it runs or sends.
    pub fn new(options: MattermostOptions) -> Result<Mattermost, ChatError> {
        let rest = Rest::new(&options.server_url, options.token.clone())?;
        Ok(Mattermost {
            roles: Arc::new(Roles::new(rest.clone(), options.roles_max_age)),
            options,
            rest,
            me: OnceCell::new(),
            slash_addr: watch::channel(None).0,
            connection: ConnectionState::new(),
            key: watch::channel(None).0,
            presses: Mutex::new(None),
            pending: Pending::default(),
        })
    }

    fn press_sender(&self) -> Option<mpsc::Sender<Press>> {
        self.presses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether cards carry buttons: actions configured, and a listener
    /// for their clicks.
    pub(crate) fn buttons_on(&self) -> bool {
        self.options.actions.is_some() && self.options.slash.is_some()
    }

    /// The options this platform was built with.
    pub fn options(&self) -> &MattermostOptions {
        &self.options
    }

    /// The address the slash command endpoint listens on, once it does
    /// (`None` at once when none is configured): for tests that bind port 0.
    pub async fn slash_addr(&self) -> Option<SocketAddr> {
        self.options.slash.as_ref()?;
        let mut addr = self.slash_addr.subscribe();
        addr.wait_for(Option::is_some).await.ok().and_then(|a| *a)
    }

    async fn me(&self) -> Result<&User, ChatError> {
        self.me.get_or_try_init(|| self.rest.me()).await
    }

    /// Posts `text` in `thread` with `props`. A top-level post's thread is
    /// named by its own id: `root_id` is that id either way.
    async fn reply(
        &self,
        thread: &ThreadRef,
        text: &str,
        props: Option<&Value>,
    ) -> Result<String, ChatError> {
        self.check_length(text)?;
        self.rest
            .create_post(&thread.channel, Some(&thread.thread), text, props)
            .await
    }

    fn check_length(&self, text: &str) -> Result<(), ChatError> {
        // The relay pages to the limit; a longer post would be refused by the
        // server with a less clear error.
        if text.chars().count() > self.options.limits.max_message_chars {
            return Err(ChatError::TooLong);
        }
        Ok(())
    }
}

impl ChatPlatform for Mattermost {
    fn platform(&self) -> Platform {
        PLATFORM
    }

    fn limits(&self) -> Limits {
        self.options.limits
    }

    fn dialect(&self) -> &dyn Dialect {
        &MattermostDialect
    }

    fn accept_presses(&self, presses: mpsc::Sender<Press>) {
        *self.presses.lock().unwrap_or_else(|e| e.into_inner()) = Some(presses);
    }

    /// With `actions` and the listener configured: interactive message
    /// buttons under the card.
    fn renders_buttons(&self) -> bool {
        self.buttons_on()
    }

    /// Connected from the WebSocket's authentication until it drops, goes
    /// silent or cannot be reopened. The slash endpoint does not count:
    /// mentions arrive only over the WebSocket.
    fn connection(&self) -> Connection {
        self.connection.get()
    }

    /// Listens on the WebSocket (and the slash endpoint) until shutdown,
    /// catching up over REST on start and after every reconnect; returns
    /// [`ChatError::Unauthorized`] when the token is refused.
    fn run(self: Arc<Self>, ctx: RunContext) -> ChatFuture<'static, ()> {
        Box::pin(listen::run(self, ctx))
    }

    fn post<'a>(&'a self, thread: &'a ThreadRef, text: &'a str) -> ChatFuture<'a, String> {
        Box::pin(self.reply(thread, text, None))
    }

    /// The mark goes in the post's props, under [`MARK_PROP`].
    fn post_marked<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        mark: &'a PostMark,
    ) -> ChatFuture<'a, String> {
        Box::pin(async move {
            let props = own_posts::mark_props(mark);
            self.reply(thread, text, Some(&props)).await
        })
    }

    /// Read with the thread endpoint, paged down from `after`; a deleted
    /// `after` is [`ChatError::NotFound`].
    fn own_posts_after<'a>(
        &'a self,
        thread: &'a ThreadRef,
        after: &'a str,
    ) -> ChatFuture<'a, Option<Vec<OwnPost>>> {
        Box::pin(async move {
            let me = self.me().await?;
            let posts =
                own_posts::own_posts_after(&self.rest, &me.id, &thread.thread, after).await?;
            tracing::debug!(channel = %thread.channel, thread = %thread.thread, after, posts = posts.len(), "read back the bot's own posts");
            Ok(Some(posts))
        })
    }

    fn post_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, String> {
        Box::pin(async move {
            // Before the buttons, which may wait for their key.
            self.check_length(text)?;
            let props = match buttons {
                [] => None,
                _ => self.button_props(thread, buttons).await,
            };
            self.reply(thread, text, props.as_ref()).await
        })
    }

    /// The text, and the buttons all replaced: none leaves the card without.
    fn edit_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            let props = self.button_props(thread, buttons).await;
            self.rest.patch_post(message_id, text, props.as_ref()).await
        })
    }

    fn start_thread<'a>(&'a self, channel: &'a str, text: &'a str) -> ChatFuture<'a, ThreadRef> {
        Box::pin(async move {
            self.check_length(text)?;
            let id = self.rest.create_post(channel, None, text, None).await?;
            Ok(ThreadRef {
                platform: PLATFORM,
                channel: channel.to_owned(),
                thread: id,
            })
        })
    }

    fn edit<'a>(
        &'a self,
        _thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            self.rest.patch_post(message_id, text, None).await
        })
    }

    fn react<'a>(
        &'a self,
        _channel: &'a str,
        message_id: &'a str,
        reaction: Reaction,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            let me = self.me().await?;
            self.rest
                .react(&me.id, message_id, reaction.short_name())
                .await
        })
    }

    /// A slash command is answered through its `response_url`, seen by its
    /// author alone; a press in its click's response while the click waits,
    /// later as an ephemeral post; a mention in its thread.
    fn reply_private<'a>(&'a self, to: &'a Inbound, text: &'a str) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            match &to.reply_handle {
                Some(handle) if press::is_press_handle(handle) => {
                    if self.pending.deliver(handle, text) {
                        return Ok(());
                    }
                    self.answer_press_late(to, text).await
                }
                Some(url) => self.rest.respond_ephemeral(url, text).await,
                None => self.reply(&to.reply_thread(), text, None).await.map(drop),
            }
        })
    }

    /// Mattermost's permalink of the thread's root post; `_redirect` finds
    /// the team, which the bot does not need to know.
    fn thread_link<'a>(&'a self, thread: &'a ThreadRef) -> ChatFuture<'a, Option<String>> {
        let link = format!("{}/_redirect/pl/{}", self.options.server_url, thread.thread);
        Box::pin(async move { Ok(Some(link)) })
    }
}
