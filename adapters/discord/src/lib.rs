//! The Discord platform of mosaic-bot: serenity's gateway for messages that
//! mention the bot and for the `/mosaic` command; Discord REST for posts,
//! threads, edits, reactions and interaction responses. No serenity type
//! leaves this crate.
//!
//! - this file: [`Discord`], its options, and the [`ChatPlatform`] it is;
//! - `gateway.rs`: serenity events → [`Inbound`], and the shards' stages →
//!   [`Connection`];
//! - `shards.rs`: the shards held (by lease, [`ShardLeases`]), each a serenity
//!   client started after its identify turn and closed when its lease goes;
//! - `rest.rs`: REST calls, `allowed_mentions` on every message, errors;
//! - `answer.rs`: where a thread's messages go (the thread, made on first
//!   use, or the channel when no thread can be made), and missing
//!   permissions told in the channel;
//! - `places.rs`: threads, message locations, guilds and managed roles learnt;
//! - `permission.rs`: the permissions the bot needs, and which were told;
//! - `told.rs`: which were told, kept across restarts;
//! - `perms.rs`: the bot's permissions per channel, computed as Discord does;
//! - `ability.rs`: what the bot may do where, asked before acting, and the
//!   events that change it;
//! - `order.rs`: per-channel order of what serenity's handlers deliver;
//! - `commands.rs`: the application command's definition and invocations;
//! - `interactions.rs`: which deferred responses are answered;
//! - `buttons.rs`: the card's buttons as message components, and presses
//!   of them (component interactions) as [`Press`]es;
//! - `marked.rs`: relay posts that land once (a `nonce` made from their
//!   mark), and the bot's own posts read back after a restart;
//! - `mention.rs`: the bot's mentions rewritten to `@name` (pure);
//! - `dialect.rs`: [`DiscordDialect`], Discord Markdown with text escaped.
//!
//! Threads: Discord gives a thread started on a message that message's id,
//! so a [`ThreadRef`] is `{channel, root message id}` and the thread's
//! channel id is the same number. A thread made otherwise (a forum post,
//! "Create Thread") is `{parent, thread id}` alike.

mod ability;
mod answer;
mod buttons;
mod catch_up;
mod commands;
mod dialect;
mod gateway;
mod interactions;
mod kept;
mod marked;
mod mention;
mod order;
mod permission;
mod perms;
mod places;
mod rest;
mod shards;
mod snowflake;
mod told;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use mosaic_chat::{
    Button, ChatError, ChatFuture, ChatPlatform, Connection, ConnectionState, Dialect, HeldShards,
    Inbound, Limits, Memory, OwnPost, Platform, PostMark, Press, Reaction, RunContext, Secret,
    ShardLeases, ThreadRef,
};
use serenity::all::{ApplicationId, HttpBuilder, ShardManager};
use tokio::sync::{mpsc, watch};

pub use dialect::DiscordDialect;
pub use rest::message_body;

use interactions::Interactions;
use marked::nonce_of;
use mention::BotIdentity;
use order::Order;
use permission::{Permission, Permissions};
use places::Places;
use rest::Rest;

/// How long a message of a guild waits for the guild's GUILD_CREATE to be
/// handled, for the bot's managed role in it.
const GUILD_WAIT: Duration = Duration::from_secs(5);

/// Discord's platform name, in thread references and dedupe keys.
pub const PLATFORM: Platform = Platform::new("discord");

/// How the adapter connects.
#[derive(Debug, Clone)]
pub struct DiscordOptions {
    /// The bot token.
    pub token: Secret,
    /// The application's id (for commands and interaction followups).
    pub application_id: u64,
    /// Register the command in this guild (instant) rather than globally.
    pub guild_id: Option<u64>,
    /// The name users mention and type after `/`.
    pub bot_name: String,
    /// Send every REST request to this base URL instead of Discord: a REST
    /// proxy that shares Discord's rate limits between processes
    /// (nirn-proxy, twilight-http-proxy), or a fake Discord. Serenity's own
    /// rate limiter is off then: the proxy keeps the limits (a 429 that
    /// still comes through is retried by the core).
    pub api_url: Option<String>,
    /// Connect the gateway here instead of where `GET /gateway` points
    /// (which is always Discord's own gateway, whoever answers it).
    pub gateway_url: Option<String>,
    /// The gateway's shard count (`num_shards` of every IDENTIFY); which of them this
    /// process connects is [`RunContext::shards`]'s to say (all when it is `None`).
    pub shards: u32,
    /// What the relay must stay within.
    pub limits: Limits,
}

impl DiscordOptions {
    /// Discord's own limits: 2,000 characters, 5 messages per 5 s per
    /// channel, an edit a second.
    pub fn new(token: Secret, application_id: u64, bot_name: &str) -> DiscordOptions {
        DiscordOptions {
            token,
            application_id,
            guild_id: None,
            bot_name: bot_name.to_owned(),
            api_url: None,
            gateway_url: None,
            shards: 1,
            limits: Limits {
                max_message_chars: 2000,
                post_interval: Duration::from_secs(1),
                edit_interval: Duration::from_secs(1),
            },
        }
    }
}

/// Discord as a chat platform.
pub struct Discord {
    options: DiscordOptions,
    /// The application command's name: the bot's name in lowercase, as
    /// Discord requires ("Application Command Naming").
    command_name: String,
    rest: Rest,
    /// The bot's user id, from READY: handlers that need it wait for it, as
    /// serenity may run a later event's handler first.
    bot_user: watch::Sender<Option<u64>>,
    /// Guilds whose GUILD_CREATE has been handled.
    guilds_told: watch::Sender<HashSet<u64>>,
    places: Mutex<Places>,
    permissions: Mutex<Permissions>,
    /// Each guild's roles, channels and the bot's member, for permissions.
    guilds: Mutex<perms::Guilds>,
    /// Deferred interactions answered so far.
    interactions: Mutex<Interactions>,
    /// Where presses go, from [`ChatPlatform::accept_presses`] until `run`
    /// hands it to the gateway's handler.
    presses: Mutex<Option<mpsc::Sender<Press>>>,
    order: Order,
    /// The gateway's, as serenity reports its shards.
    connection: ConnectionState,
    /// The shard manager of each shard running here (one serenity client per shard).
    shard_managers: Mutex<BTreeMap<u32, Arc<ShardManager>>>,
    /// What survives a restart, from [`RunContext::memory`].
    memory: OnceLock<Arc<dyn Memory>>,
    /// How far back a catch-up looks, from [`RunContext::catch_up`].
    catch_up: OnceLock<Duration>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these; a poisoned map is still whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn parse_id(what: &str, id: &str) -> Result<u64, ChatError> {
    // Discord ids are never 0, and serenity's id types panic on it.
    id.parse()
        .ok()
        .filter(|&n| n != 0)
        .ok_or_else(|| ChatError::NotFound(format!("discord: `{id}` is not a {what} id")))
}

impl Discord {
    /// An adapter with `options`; connects when [`ChatPlatform::run`] runs.
    pub fn new(options: DiscordOptions) -> Discord {
        Discord {
            rest: Rest::new(http_client(&options)),
            command_name: options.bot_name.to_lowercase(),
            options,
            bot_user: watch::channel(None).0,
            guilds_told: watch::channel(HashSet::new()).0,
            places: Mutex::new(Places::default()),
            permissions: Mutex::new(Permissions::default()),
            guilds: Mutex::new(perms::Guilds::default()),
            interactions: Mutex::new(Interactions::default()),
            presses: Mutex::new(None),
            order: Order::default(),
            connection: ConnectionState::new(),
            shard_managers: Mutex::new(BTreeMap::new()),
            memory: OnceLock::new(),
            catch_up: OnceLock::new(),
        }
    }

    /// The bot's mentions in `guild`: its user id once READY told it, and
    /// the managed roles learnt for it once the guild's GUILD_CREATE was
    /// handled (Discord sends it before any of the guild's messages, but
    /// serenity may run the handlers in another order).
    async fn identity(&self, guild: Option<u64>) -> Option<BotIdentity> {
        let mut user = self.bot_user.subscribe();
        let user_id = (*user.wait_for(Option::is_some).await.ok()?)?;
        if let Some(guild) = guild {
            let mut told = self.guilds_told.subscribe();
            // A guild that stays unavailable has no roles to wait for.
            let _ = tokio::time::timeout(GUILD_WAIT, told.wait_for(|g| g.contains(&guild))).await;
        }
        let role_ids = lock(&self.places).roles_of_bot(user_id);
        Some(BotIdentity { user_id, role_ids })
    }

    /// The parent channel of `channel` if it is a thread (asked of Discord
    /// once per channel; an error counts as "not a thread").
    async fn parent_of(&self, channel: u64) -> Option<u64> {
        if let Some(parent) = self.known_thread(channel).await {
            return Some(parent);
        }
        if lock(&self.places).is_top_level(channel) {
            return None;
        }
        match self.rest.thread_parent(channel).await {
            Ok(Some(parent)) => {
                self.learn_thread(channel, parent).await;
                Some(parent)
            }
            Ok(None) => {
                lock(&self.places).learn_top_level(channel);
                None
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "discord: cannot look up a channel");
                None
            }
        }
    }

    fn check_length(&self, text: &str) -> Result<(), ChatError> {
        if text.chars().count() > self.options.limits.max_message_chars {
            return Err(ChatError::TooLong);
        }
        Ok(())
    }
}

/// Serenity's REST client for `options`: Discord itself with serenity's
/// rate limiter, or the configured `api_url` without it.
fn http_client(options: &DiscordOptions) -> serenity::http::Http {
    let mut http = HttpBuilder::new(options.token.expose())
        .application_id(ApplicationId::new(options.application_id.max(1)));
    if let Some(url) = &options.api_url {
        http = http
            .proxy(url.trim_end_matches('/').to_owned())
            .ratelimiter_disabled(true);
    }
    http.build()
}

/// A thread's name: the first line of its first message, unescaped and
/// within Discord's 100 characters.
fn thread_name(text: &str, bot_name: &str) -> String {
    let line = text
        .lines()
        .next()
        .unwrap_or("")
        .replace(['\\', '*', '\u{200b}'], "");
    let name: String = line.trim().chars().take(90).collect();
    if name.is_empty() {
        bot_name.to_owned()
    } else {
        name
    }
}

impl ChatPlatform for Discord {
    fn platform(&self) -> Platform {
        PLATFORM
    }

    fn limits(&self) -> Limits {
        self.options.limits
    }

    fn dialect(&self) -> &dyn Dialect {
        &DiscordDialect
    }

    /// Connected from READY or RESUMED until serenity's shard leaves its
    /// connected stage.
    fn connection(&self) -> Connection {
        self.connection.get()
    }

    /// Registers the command, then runs a serenity gateway client for each
    /// shard held (each reconnects and resumes by itself) until `shutdown`.
    /// Every new session catches up on its guilds' channels (see `catch_up.rs`).
    fn run(self: Arc<Self>, ctx: RunContext) -> ChatFuture<'static, ()> {
        let RunContext {
            inbox,
            shutdown,
            memory,
            catch_up,
            shards,
        } = ctx;
        // A second run of one adapter keeps the first's: there is none.
        let _ = self.memory.set(memory);
        let _ = self.catch_up.set(catch_up);
        let leases: Arc<dyn ShardLeases> =
            shards.unwrap_or_else(|| Arc::new(HeldShards::all(self.options.shards)));
        Box::pin(async move {
            let commands = commands::definitions(&self.command_name, &self.options.bot_name);
            match self
                .rest
                .register_commands(
                    self.options.application_id,
                    self.options.guild_id,
                    &commands,
                )
                .await
            {
                Ok(()) => {}
                Err(e @ ChatError::Unauthorized(_)) => return Err(e),
                // Mentions still work without the command: carry on.
                Err(e) => {
                    tracing::error!(error = %e, "discord: cannot register /{}", self.command_name)
                }
            }
            let sinks = shards::Sinks {
                inbox,
                presses: lock(&self.presses).take(),
            };
            let held = leases.held();
            tokio::select! {
                ran = self.run_shards(leases, sinks, shutdown) => ran,
                never = gateway::watch_shards(&self, held) => match never {},
            }
        })
    }

    fn post<'a>(&'a self, thread: &'a ThreadRef, text: &'a str) -> ChatFuture<'a, String> {
        Box::pin(self.post_in(thread, text, None))
    }

    /// With a `nonce` made from `mark` and `enforce_nonce`: a retried post
    /// of the same page lands once (see `marked.rs`).
    fn post_marked<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        mark: &'a PostMark,
    ) -> ChatFuture<'a, String> {
        Box::pin(async move { self.post_in(thread, text, Some(&nonce_of(mark))).await })
    }

    /// Read with `GET /channels/{id}/messages?after=`; never with marks, which
    /// Discord does not keep (see `marked.rs`).
    fn own_posts_after<'a>(
        &'a self,
        thread: &'a ThreadRef,
        after: &'a str,
    ) -> ChatFuture<'a, Option<Vec<OwnPost>>> {
        Box::pin(self.own_posts_in(thread, after))
    }

    fn start_thread<'a>(&'a self, channel: &'a str, text: &'a str) -> ChatFuture<'a, ThreadRef> {
        Box::pin(self.send_top_level(channel, text))
    }

    fn edit<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
    ) -> ChatFuture<'a, ()> {
        Box::pin(self.edit_in(thread, message_id, text, None))
    }

    /// Keeps `presses` for the gateway's handler, which `run` makes.
    fn accept_presses(&self, presses: mpsc::Sender<Press>) {
        *lock(&self.presses) = Some(presses);
    }

    fn renders_buttons(&self) -> bool {
        true
    }

    /// The card's buttons as one action row of message components.
    fn post_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, String> {
        Box::pin(self.post_buttons(thread, text, buttons))
    }

    /// No buttons sends `components: []`, which removes those the message had.
    fn edit_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, ()> {
        Box::pin(self.edit_buttons(thread, message_id, text, buttons))
    }

    fn react<'a>(
        &'a self,
        channel: &'a str,
        message_id: &'a str,
        reaction: Reaction,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            let message = parse_id("message", message_id)?;
            let named = parse_id("channel", channel)?;
            // A command typed inside a thread stands in the thread.
            let here = self.location(message).await.unwrap_or(named);
            let needed = [Permission::ReadMessageHistory, Permission::AddReactions];
            self.ensure(here, named, &needed).await?;
            match self.rest.react(here, message, reaction.unicode()).await {
                Err(e @ ChatError::Forbidden(_)) => {
                    self.tell_missing(named, Permission::AddReactions).await;
                    Err(e)
                }
                done => done,
            }
        })
    }

    /// Refused when the bot's computed permissions (or the last
    /// interaction's) say it may not post there.
    fn can_answer<'a>(&'a self, channel: &'a str, thread: Option<&'a str>) -> ChatFuture<'a, ()> {
        Box::pin(self.can_answer_in(channel, thread))
    }

    fn reply_private<'a>(&'a self, to: &'a Inbound, text: &'a str) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            let Some((application, token, first)) = to
                .reply_handle
                .as_deref()
                .and_then(|h| lock(&self.interactions).route(h))
            else {
                return self.post(&to.reply_thread(), text).await.map(drop);
            };
            let application = parse_id("application", application)?;
            self.rest.respond(application, token, first, text).await
        })
    }

    /// `https://discord.com/channels/{guild}/{thread}`: the thread's channel
    /// id is its root message's id. `None` while the channel's guild is not
    /// known (a guild's channels are learnt when it becomes available).
    fn thread_link<'a>(&'a self, thread: &'a ThreadRef) -> ChatFuture<'a, Option<String>> {
        let guild = thread
            .channel
            .parse::<u64>()
            .ok()
            .and_then(|channel| lock(&self.places).guild_of(channel));
        let link =
            guild.map(|guild| format!("https://discord.com/channels/{guild}/{}", thread.thread));
        Box::pin(async move { Ok(link) })
    }
}
