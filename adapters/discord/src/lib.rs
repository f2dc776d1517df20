//! The Discord platform of mosaic-bot: serenity's gateway for messages that
//! mention the bot and for the `/mosaic` command; Discord REST for posts,
//! threads, edits, reactions and interaction responses. No serenity type
//! leaves this crate.
//!
//! - this file: [`Discord`], its options, and the [`ChatPlatform`] it is;
//! - `gateway.rs`: serenity events → [`Inbound`], and the shard's stage →
//!   [`Connection`];
//! - `rest.rs`: REST calls, `allowed_mentions` on every message, errors;
//! - `commands.rs`: the application command's definition and invocations;
//! - `interactions.rs`: which deferred responses are answered;
//! - `mention.rs`: the bot's mentions rewritten to `@name` (pure);
//! - `dialect.rs`: [`DiscordDialect`], Discord Markdown with text escaped.
//!
//! Threads: Discord gives a thread started on a message that message's id,
//! so a [`ThreadRef`] is `{channel, root message id}` and the thread's
//! channel id is the same number.

mod commands;
mod dialect;
mod gateway;
mod interactions;
mod mention;
mod rest;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mosaic_chat::{
    ChatError, ChatFuture, ChatPlatform, Connection, ConnectionState, Dialect, Inbound, Limits,
    Platform, Reaction, RunContext, Secret, ThreadRef,
};
use serenity::all::{ApplicationId, ClientBuilder, GatewayError, GatewayIntents, HttpBuilder};

pub use dialect::DiscordDialect;
pub use rest::message_body;

use interactions::Interactions;
use mention::BotIdentity;
use rest::Rest;

/// Discord's platform name, in thread references and dedupe keys.
pub const PLATFORM: Platform = Platform::new("discord");

/// How many message locations are kept before the oldest are forgotten.
const REMEMBERED: usize = 10_000;

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
    /// Tests only: send every request to this base URL (a fake Discord),
    /// with serenity's rate limiter off.
    pub api_base: Option<String>,
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
            api_base: None,
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
    rest: Rest,
    identity: Mutex<Option<BotIdentity>>,
    /// Thread channel → parent channel, for threads seen or created.
    threads: Mutex<HashMap<u64, u64>>,
    /// Channels known not to be threads.
    top_level: Mutex<HashSet<u64>>,
    /// Message → the channel it lives in, for reactions on messages in threads.
    locations: Mutex<HashMap<u64, u64>>,
    /// Deferred interactions answered so far.
    interactions: Mutex<Interactions>,
    /// Channel → its guild, for links (`discord.com/channels/{guild}/{channel}`).
    guilds: Mutex<HashMap<u64, u64>>,
    /// The gateway's, as serenity reports its shard.
    connection: ConnectionState,
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
        let mut http = HttpBuilder::new(options.token.expose())
            .application_id(ApplicationId::new(options.application_id.max(1)));
        if let Some(base) = &options.api_base {
            http = http.proxy(base.clone()).ratelimiter_disabled(true);
        }
        Discord {
            rest: Rest::new(http.build()),
            options,
            identity: Mutex::new(None),
            threads: Mutex::new(HashMap::new()),
            top_level: Mutex::new(HashSet::new()),
            locations: Mutex::new(HashMap::new()),
            interactions: Mutex::new(Interactions::default()),
            guilds: Mutex::new(HashMap::new()),
            connection: ConnectionState::new(),
        }
    }

    /// Notes that `channels` belong to `guild`.
    fn remember_guild(&self, guild: u64, channels: impl IntoIterator<Item = u64>) {
        let mut guilds = lock(&self.guilds);
        if guilds.len() >= REMEMBERED {
            guilds.clear();
        }
        guilds.extend(channels.into_iter().map(|channel| (channel, guild)));
    }

    fn set_identity(&self, identity: BotIdentity) {
        *lock(&self.identity) = Some(identity);
    }

    fn identity(&self) -> Option<BotIdentity> {
        lock(&self.identity).clone()
    }

    fn add_managed_role(&self, role: u64) {
        if let Some(identity) = lock(&self.identity).as_mut()
            && !identity.role_ids.contains(&role)
        {
            identity.role_ids.push(role);
        }
    }

    fn remember_location(&self, message: u64, channel: u64) {
        let mut locations = lock(&self.locations);
        if locations.len() >= REMEMBERED {
            locations.clear();
        }
        locations.insert(message, channel);
    }

    /// The parent channel of `channel` if it is a thread (asked of Discord
    /// once per channel; an error counts as "not a thread").
    async fn parent_of(&self, channel: u64) -> Option<u64> {
        if let Some(parent) = lock(&self.threads).get(&channel) {
            return Some(*parent);
        }
        if lock(&self.top_level).contains(&channel) {
            return None;
        }
        match self.rest.thread_parent(channel).await {
            Ok(Some(parent)) => {
                lock(&self.threads).insert(channel, parent);
                Some(parent)
            }
            Ok(None) => {
                lock(&self.top_level).insert(channel);
                None
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "discord: cannot look up a channel");
                None
            }
        }
    }

    /// The thread channel of `thread`, creating the thread on its root
    /// message the first time.
    async fn thread_channel(&self, thread: &ThreadRef, first_text: &str) -> Result<u64, ChatError> {
        let channel = parse_id("channel", &thread.channel)?;
        let root = parse_id("message", &thread.thread)?;
        if lock(&self.threads).contains_key(&root) {
            return Ok(root);
        }
        let name = thread_name(first_text, &self.options.bot_name);
        let created = self.rest.start_thread(channel, root, &name).await?;
        lock(&self.threads).insert(created, channel);
        Ok(created)
    }

    async fn send_top_level(&self, channel: &str, text: &str) -> Result<ThreadRef, ChatError> {
        self.check_length(text)?;
        let channel_id = parse_id("channel", channel)?;
        let id = self.rest.send(channel_id, text).await?;
        let thread = ThreadRef {
            platform: PLATFORM,
            channel: channel.to_owned(),
            thread: id,
        };
        self.thread_channel(&thread, text).await?;
        Ok(thread)
    }

    fn check_length(&self, text: &str) -> Result<(), ChatError> {
        if text.chars().count() > self.options.limits.max_message_chars {
            return Err(ChatError::TooLong);
        }
        Ok(())
    }
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

    /// Registers the command, then runs serenity's gateway client (which
    /// reconnects and resumes by itself) until `shutdown`.
    fn run(self: Arc<Self>, ctx: RunContext) -> ChatFuture<'static, ()> {
        let RunContext {
            inbox, shutdown, ..
        } = ctx;
        Box::pin(async move {
            let commands = commands::definitions(&self.options.bot_name);
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
                    tracing::error!(error = %e, "discord: cannot register /{}", self.options.bot_name)
                }
            }
            let mut http = HttpBuilder::new(self.options.token.expose())
                .application_id(ApplicationId::new(self.options.application_id.max(1)));
            if let Some(base) = &self.options.api_base {
                http = http.proxy(base.clone()).ratelimiter_disabled(true);
            }
            // Only unprivileged intents: the content of a message that
            // mentions the bot arrives without MESSAGE_CONTENT; GUILDS brings
            // each guild's roles, among them the bot's managed role.
            let intents = GatewayIntents::GUILD_MESSAGES | GatewayIntents::GUILDS;
            let handler = gateway::Handler {
                discord: Arc::clone(&self),
                inbox,
            };
            let mut client = ClientBuilder::new_with_http(http.build(), intents)
                .event_handler(handler)
                .await
                .map_err(|e| ChatError::Unavailable(format!("discord: {e}")))?;
            let shards = Arc::clone(&client.shard_manager);
            tokio::select! {
                started = client.start() => started.map_err(|e| match e {
                    // A refused token will not be accepted on a retry either.
                    serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
                        ChatError::Unauthorized("discord: the bot token was refused".to_owned())
                    }
                    e => ChatError::Unavailable(format!("discord gateway: {e}")),
                }),
                never = gateway::watch_shards(&shards, &self.connection) => match never {},
                () = shutdown.cancelled() => {
                    shards.shutdown_all().await;
                    Ok(())
                }
            }
        })
    }

    fn post<'a>(&'a self, thread: &'a ThreadRef, text: &'a str) -> ChatFuture<'a, String> {
        Box::pin(async move {
            self.check_length(text)?;
            let channel = self.thread_channel(thread, text).await?;
            self.rest.send(channel, text).await
        })
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
        Box::pin(async move {
            self.check_length(text)?;
            let message = parse_id("message", message_id)?;
            // The root message stands in the channel; the rest in the thread,
            // whose channel id is the root's id.
            let channel = if message_id == thread.thread {
                parse_id("channel", &thread.channel)?
            } else {
                parse_id("thread", &thread.thread)?
            };
            self.rest.edit(channel, message, text).await
        })
    }

    fn react<'a>(
        &'a self,
        channel: &'a str,
        message_id: &'a str,
        reaction: Reaction,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            let message = parse_id("message", message_id)?;
            let channel = match lock(&self.locations).get(&message) {
                Some(here) => *here,
                None => parse_id("channel", channel)?,
            };
            self.rest.react(channel, message, reaction.unicode()).await
        })
    }

    fn reply_private<'a>(&'a self, to: &'a Inbound, text: &'a str) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            let Some((handle, (application, token))) = to
                .reply_handle
                .as_deref()
                .and_then(|h| Some((h, h.split_once(':')?)))
            else {
                return self.post(&to.reply_thread(), text).await.map(drop);
            };
            let application = parse_id("application", application)?;
            let first = lock(&self.interactions).answer(handle);
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
            .and_then(|channel| lock(&self.guilds).get(&channel).copied());
        let link =
            guild.map(|guild| format!("https://discord.com/channels/{guild}/{}", thread.thread));
        Box::pin(async move { Ok(link) })
    }
}
