//! The Slack platform of mosaic-bot: mentions (`app_mention`, and `message`
//! events that name the bot) arrive over Socket Mode or the Events API,
//! `/mosaic` arrives as a slash command, and the bot answers through the Web
//! API (`chat.postMessage` in a thread by `thread_ts`, `chat.update` for the
//! progress card, `reactions.add`), in Block Kit with a plain-text fallback.
//! The card's buttons are a Block Kit `actions` block; their presses arrive
//! as `block_actions` interactions (an `interactive` Socket Mode envelope,
//! or a signed form to the interactivity Request URL) and are answered
//! privately through their `response_url`.
//!
//! Built on slack-morphism 2.31 with `default-features = false` and its
//! `signature-verifier` feature: its models (events, slash commands, Web API
//! requests and responses, errors, Block Kit), its Web API client, and its
//! request signature check. Not its Socket Mode listener: it acks an
//! envelope only after the callback returns (`clients_manager_listener.rs`),
//! and the bot acks before any work; its envelope type is not public in
//! 2.31 either, so `socket.rs` reads the frame itself and its payloads with
//! slack-morphism's types.
//!
//! Transport: slack-morphism's client runs over our connector
//! (`connector.rs`: the reqwest already in the tree) and Socket Mode over
//! the tokio-tungstenite already in the tree, rather than its `hyper`
//! feature. Measured on this shared 2-core machine, 2026-11-26:
//!
//! | | ours (reqwest, tokio-tungstenite) | `hyper` feature |
//! |---|---|---|
//! | `cargo tree -p mosaic-slack -e normal \| wc -l` | 410 | 415 |
//! | distinct crates under mosaic-slack | 149 | 152 |
//! | distinct crates under the daemon (mosaic-bot) | 266 | 272 (+h2, fnv, signal-hook, signal-hook-tokio, rustls-native-certs, openssl-probe) |
//! | release binary, stripped, of a minimal program that calls the Web API and opens Socket Mode | 4,360,248 B | 6,834,184 B |
//! | crates compiled for that program (`cargo build --release`, cold) | 141 | 143 |
//! | its cold build, three runs (`-j2`, niced, other agents building: load 5 to 9) | 243 s, 635 s, 341 s | 249 s, 250 s, 392 s |
//!
//! The build times are within this machine's noise (the 635 s ran beside
//! our own test builds): no difference in build time could be measured.
//!
//! The hand-written adapter before it had 338 lines / 128 crates under
//! mosaic-slack and 252 crates under the daemon: slack-morphism's models
//! cost 14 crates (serde_with, rsb_derive, rvstruct, jiff, chrono, …); its
//! `hyper` feature would add 6 more and a second HTTP client stack (HTTP/2,
//! native roots) for 2.5 MB more binary. The daemon's binary itself was not
//! built both ways (too slow here): the figures above are for the transport
//! alone.
//!
//! - this file: [`Slack`], its options, and the [`ChatPlatform`] it is;
//! - `connector.rs`: slack-morphism's client over reqwest;
//! - `web.rs`: the Web API calls and their errors (429, `ok:false`);
//! - `budget.rs`: the workspace's `chat.update` budget (Tier 3), shared by every card;
//! - `blocks.rs`: messages as Block Kit (the card as a section and a context line);
//! - `events.rs`: events and slash commands read into [`Inbound`]s (pure);
//! - `presses.rs`: `block_actions` payloads read into [`Press`]es (pure);
//! - `own_posts.rs`: relay posts' marks as message `metadata`, and the bot's
//!   own posts in a thread read back with them (`conversations.replies`);
//! - `delivery.rs`: messages and presses handed to the core once each, with their roles;
//! - `groups.rs`: the user groups each user is in, read with `usergroups.list`
//!   and cached, which fill [`Inbound::roles`];
//! - `socket.rs`: Socket Mode (hello, acks, `disconnect`, reconnects);
//! - `http.rs`: the Events API, slash command and interactivity endpoint (signed requests);
//! - `signature.rs`: the request signature check (slack-morphism's verifier);
//! - `dialect.rs`: [`MrkdwnDialect`], Slack's mrkdwn that pings nobody.

mod blocks;
mod budget;
mod connector;
mod delivery;
mod dialect;
mod events;
mod groups;
mod http;
mod own_posts;
mod presses;
mod signature;
mod socket;
mod web;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mosaic_chat::{
    Button, ChatError, ChatFuture, ChatPlatform, Connection, ConnectionState, Dialect, Inbound,
    Limits, OwnPost, Platform, PostMark, Press, Reaction, RunContext, Secret, ThreadRef,
};
use tokio::sync::{OnceCell, mpsc, watch};

pub use blocks::{SECTION_MAX_CHARS, blocks_of, blocks_with_buttons};
pub use budget::Budget;
pub use dialect::{MrkdwnDialect, escape};
pub use events::{normalize_text, ts_instant};
pub use http::{COMMANDS_PATH, EVENTS_PATH, INTERACTIVITY_PATH};
pub use signature::{sign, verify};

use groups::UserGroups;
use mosaic_chat::handled::Handled;
use web::WebApi;

/// Slack's platform name, in thread references and dedupe keys.
pub const PLATFORM: Platform = Platform::new("slack");

/// Slack's public Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// The Events API and slash command endpoint: where it listens, and the
/// secret Slack signs its requests with.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Address to listen on, e.g. `0.0.0.0:8082`.
    pub listen: SocketAddr,
    /// The app's signing secret.
    pub signing_secret: Secret,
}

/// How the adapter reaches Slack and behaves.
#[derive(Debug, Clone)]
pub struct SlackOptions {
    /// The Web API's base URL (`https://slack.com/api`; a fake's in tests).
    pub api_url: String,
    /// The bot token (`xoxb-…`).
    pub bot_token: Secret,
    /// The app-level token (`xapp-…`) that opens Socket Mode; `None`: no Socket Mode.
    pub app_token: Option<Secret>,
    /// The signed HTTP endpoint (Events API and `/mosaic`); `None`: not served.
    pub http: Option<HttpOptions>,
    /// The name the command parser expects (`mosaic`): `<@UBOT>` becomes `@mosaic`.
    pub bot_name: String,
    /// What the relay must stay within.
    pub limits: Limits,
    /// The first and the longest wait before reconnecting Socket Mode (jittered).
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long the map of user groups (`usergroups.list`) is used before
    /// it is asked for again, when a message arrives.
    pub user_groups_max_age: Duration,
    /// The workspace's `chat.update` budget, shared by every card
    /// (Tier 3: 50 a minute).
    pub updates: Budget,
}

impl SlackOptions {
    /// Options with the defaults: 3,000 characters a message (a Block Kit
    /// section's limit), about one post and one edit a second per job, as
    /// Slack's per-channel limit asks, within a workspace-wide Tier 3
    /// budget of 50 card edits a minute.
    pub fn new(bot_token: Secret, bot_name: &str) -> SlackOptions {
        SlackOptions {
            api_url: DEFAULT_API_URL.to_owned(),
            bot_token,
            app_token: None,
            http: None,
            bot_name: bot_name.to_owned(),
            limits: Limits {
                max_message_chars: SECTION_MAX_CHARS,
                post_interval: Duration::from_secs(1),
                edit_interval: Duration::from_secs(1),
            },
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(60),
            // Group changes are rare; `usergroups.list` is a Tier 2 method.
            user_groups_max_age: Duration::from_secs(5 * 60),
            updates: Budget::TIER_3,
        }
    }
}

/// Slack as a chat platform.
pub struct Slack {
    options: SlackOptions,
    web: WebApi,
    /// The bot's own user id (`auth.test`), asked once: mentions name it.
    bot_user: OnceCell<String>,
    /// Who is in which user group, for [`Inbound::roles`].
    groups: UserGroups,
    /// Messages already sent to the inbox, by dedupe key, across Socket Mode
    /// sessions and the HTTP endpoint.
    handled: Mutex<Handled>,
    /// Where button presses go, from the core's `accept_presses` until
    /// `run` takes it (so the core's channel closes when `run` ends).
    presses: Mutex<Option<mpsc::Sender<Press>>>,
    /// The HTTP endpoint's bound address, once it listens.
    http_addr: watch::Sender<Option<SocketAddr>>,
    /// Socket Mode's `hello`s and losses when it is on, else the HTTP
    /// endpoint's listening.
    connection: ConnectionState,
}

impl Slack {
    /// A Slack platform; nothing is contacted until it runs or sends.
    pub fn new(options: SlackOptions) -> Result<Slack, ChatError> {
        let web = WebApi::new(&options.api_url, &options.bot_token, options.updates)?;
        Ok(Slack {
            groups: UserGroups::new(options.user_groups_max_age),
            options,
            web,
            bot_user: OnceCell::new(),
            handled: Mutex::default(),
            presses: Mutex::default(),
            http_addr: watch::channel(None).0,
            connection: ConnectionState::new(),
        })
    }

    /// The options this platform was built with.
    pub fn options(&self) -> &SlackOptions {
        &self.options
    }

    /// The address the HTTP endpoint listens on, once it does (`None` at
    /// once when none is configured): for tests that bind port 0.
    pub async fn http_addr(&self) -> Option<SocketAddr> {
        self.options.http.as_ref()?;
        let mut addr = self.http_addr.subscribe();
        addr.wait_for(Option::is_some).await.ok().and_then(|a| *a)
    }

    /// Posts in `thread`: a top-level message's `ts` names its thread, so
    /// replying with it as `thread_ts` starts the thread.
    async fn post_in(
        &self,
        thread: &ThreadRef,
        text: &str,
        buttons: &[Button],
        mark: Option<&PostMark>,
    ) -> Result<String, ChatError> {
        self.check_length(text)?;
        self.web
            .post_message(&thread.channel, Some(&thread.thread), text, buttons, mark)
            .await
    }

    async fn bot_user(&self) -> Result<&String, ChatError> {
        self.bot_user.get_or_try_init(|| self.web.auth_test()).await
    }

    /// A refusal to post in a conversation the bot is not in (a `/mosaic`
    /// typed there: slash commands work everywhere, posts do not), worded
    /// with what the user can do; other errors as they are.
    fn not_a_member(&self, error: ChatError) -> ChatError {
        let name = &self.options.bot_name;
        match error {
            ChatError::Forbidden(why) if why.ends_with("not_in_channel") => {
                ChatError::Forbidden(format!(
                    "I am not a member of this channel: invite me with `/invite @{name}`, then try again"
                ))
            }
            ChatError::NotFound(why) if why.ends_with("channel_not_found") => {
                ChatError::Forbidden(format!(
                    "I cannot see this conversation (a direct message, or a private channel I am not in): use `/{name}` in a channel I am a member of, or invite me there"
                ))
            }
            other => other,
        }
    }

    fn check_length(&self, text: &str) -> Result<(), ChatError> {
        // The relay pages to the limit; longer text is a bug upstream, and
        // Slack would cut it silently rather than refuse it.
        if text.chars().count() > self.options.limits.max_message_chars {
            return Err(ChatError::TooLong);
        }
        Ok(())
    }
}

impl ChatPlatform for Slack {
    fn platform(&self) -> Platform {
        PLATFORM
    }

    fn limits(&self) -> Limits {
        self.options.limits
    }

    fn dialect(&self) -> &dyn Dialect {
        &MrkdwnDialect
    }

    /// Kept until `run` starts, which hands it to Socket Mode and the HTTP
    /// endpoint.
    fn accept_presses(&self, presses: mpsc::Sender<Press>) {
        *self.presses.lock().unwrap_or_else(|e| e.into_inner()) = Some(presses);
    }

    /// Block Kit `actions` under the message.
    fn renders_buttons(&self) -> bool {
        true
    }

    /// With Socket Mode, connected from a socket's `hello` until it is lost
    /// or refreshed; with the HTTP endpoint alone, once it listens.
    fn connection(&self) -> Connection {
        self.connection.get()
    }

    /// Serves the HTTP endpoint and Socket Mode (whichever are configured)
    /// until `shutdown`; returns [`ChatError::Unauthorized`] when a token is refused.
    fn run(self: Arc<Self>, ctx: RunContext) -> ChatFuture<'static, ()> {
        let RunContext {
            inbox, shutdown, ..
        } = ctx;
        let presses = self
            .presses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        Box::pin(async move {
            let bot_user = socket::whoami(&self, &shutdown).await?;
            let Some(bot_user) = bot_user else {
                return Ok(());
            };
            tracing::info!(bot_user = %bot_user, "connected to Slack");
            // The endpoint holds a sender of the inbox: it stops when this
            // platform stops, for whatever reason.
            let http_stop = shutdown.child_token();
            let _http_guard = http_stop.clone().drop_guard();
            if let Some(options) = &self.options.http {
                let addr = http::serve(
                    Arc::clone(&self),
                    options,
                    inbox.clone(),
                    presses.clone(),
                    http_stop,
                )
                .await?;
                self.http_addr.send_replace(Some(addr));
            }
            if self.options.app_token.is_some() {
                socket::run(Arc::clone(&self), inbox, presses, shutdown).await
            } else {
                // Slack pushes to a bound endpoint whenever it likes: there
                // is no connection to lose.
                self.connection.set(Connection::Connected);
                shutdown.cancelled().await;
                Ok(())
            }
        })
    }

    fn post<'a>(&'a self, thread: &'a ThreadRef, text: &'a str) -> ChatFuture<'a, String> {
        Box::pin(self.post_in(thread, text, &[], None))
    }

    fn post_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, String> {
        Box::pin(self.post_in(thread, text, buttons, None))
    }

    fn post_marked<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        mark: &'a PostMark,
    ) -> ChatFuture<'a, String> {
        Box::pin(self.post_in(thread, text, &[], Some(mark)))
    }

    fn own_posts_after<'a>(
        &'a self,
        thread: &'a ThreadRef,
        after: &'a str,
    ) -> ChatFuture<'a, Option<Vec<OwnPost>>> {
        Box::pin(async move {
            let me = self.bot_user().await?;
            self.web
                .own_posts_after(&thread.channel, &thread.thread, after, me)
                .await
                .map(Some)
        })
    }

    fn start_thread<'a>(&'a self, channel: &'a str, text: &'a str) -> ChatFuture<'a, ThreadRef> {
        Box::pin(async move {
            self.check_length(text)?;
            let ts = self
                .web
                .post_message(channel, None, text, &[], None)
                .await
                .map_err(|e| self.not_a_member(e))?;
            Ok(ThreadRef {
                platform: PLATFORM,
                channel: channel.to_owned(),
                thread: ts,
            })
        })
    }

    /// Replaces the text; the message keeps no button (Slack replaces all
    /// of a message's blocks).
    fn edit<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
    ) -> ChatFuture<'a, ()> {
        self.edit_with_buttons(thread, message_id, text, &[])
    }

    fn edit_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            self.web
                .update(&thread.channel, message_id, text, buttons)
                .await
        })
    }

    fn react<'a>(
        &'a self,
        channel: &'a str,
        message_id: &'a str,
        reaction: Reaction,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.web
                .react(channel, message_id, reaction.short_name())
                .await
        })
    }

    /// A slash command or a button press is answered through its
    /// `response_url`, seen by its author alone (the card a press came from
    /// stays as it is); a mention is answered in its thread.
    fn reply_private<'a>(&'a self, to: &'a Inbound, text: &'a str) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            match &to.reply_handle {
                Some(url) => self.web.respond_ephemeral(url, text).await,
                None => self
                    .post_in(&to.reply_thread(), text, &[], None)
                    .await
                    .map(drop),
            }
        })
    }

    fn thread_link<'a>(&'a self, thread: &'a ThreadRef) -> ChatFuture<'a, Option<String>> {
        Box::pin(async move {
            self.web
                .permalink(&thread.channel, &thread.thread)
                .await
                .map(Some)
        })
    }
}
