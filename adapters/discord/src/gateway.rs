//! The gateway side: serenity's events turned into [`Inbound`] messages,
//! and its shard's stage into the platform's [`Connection`]. Only messages
//! that mention the bot, and the `/mosaic` command, go on (presses of the
//! bot's buttons: `buttons.rs`); bots (the bot itself included) are ignored.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mosaic_chat::{Connection, Inbound, Press, ShardSet, UserRef};
use serenity::all::{
    ChannelType, CommandDataOption, CommandDataOptionValue, CommandInteraction, ConnectionStage,
    Context, EventHandler, Guild, Interaction, Message, MessageUpdateEvent, PartialChannel, Ready,
    ResumedEvent, RoleId, ShardManager, ShardStageUpdateEvent,
};
use serenity::async_trait;
use tokio::sync::{mpsc, watch};

use crate::catch_up::catch_up;
use crate::commands::invocation_text;
use crate::mention::rewrite;
use crate::{Discord, PLATFORM, lock, snowflake};

/// How often [`watch_shards`] looks at the shards: a lost gateway shows in
/// `/readyz` within this long.
const SHARD_CHECK: Duration = Duration::from_secs(1);

/// Keeps the connection as serenity's shard managers record the shards held:
/// lost while a held shard has no runner or one that is not connected,
/// connected when all are (and when none is held: the other replicas hold
/// them, and posting needs no gateway). A reconnect that Discord asks for
/// (op 7), a close frame, a failed resume and the shard restart that follows
/// it change the stage between event reads, where serenity 0.12 fires no
/// [`EventHandler::shard_stage_update`]; the manager's record changes then
/// too. It also sets right a stage update whose handler (a task of its own)
/// ran late. Runs until dropped.
pub(crate) async fn watch_shards(discord: &Discord, held: watch::Receiver<ShardSet>) -> Infallible {
    let mut every = tokio::time::interval(SHARD_CHECK);
    loop {
        every.tick().await;
        let wanted = held.borrow().clone();
        let managers: Vec<Option<Arc<ShardManager>>> = {
            let managers = lock(&discord.shard_managers);
            wanted.iter().map(|s| managers.get(s).cloned()).collect()
        };
        let mut up = true;
        for manager in managers {
            let Some(manager) = manager else {
                up = false;
                break;
            };
            let runners = manager.runners.lock().await;
            up &= !runners.is_empty()
                && runners
                    .values()
                    .all(|runner| runner.stage == ConnectionStage::Connected);
        }
        // A runner records its stage before its handlers hear of it, so a stage read
        // here is never older than one a handler set.
        if up {
            discord.connection.set(Connection::Connected);
        } else {
            discord.connection.lost();
        }
    }
}

/// Serenity's event handler for one [`Discord`]. Every handler that hands
/// a message on takes its place in the channel's line first
/// ([`crate::order`]): serenity runs each in a task of its own.
pub struct Handler {
    pub discord: Arc<Discord>,
    pub inbox: mpsc::Sender<Inbound>,
    /// Where presses of the bot's buttons go, when the core takes them.
    pub presses: Option<mpsc::Sender<Press>>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "discord: connected");
        self.discord.connection.set(Connection::Connected);
        self.discord
            .bot_user
            .send_replace(Some(ready.user.id.get()));
    }

    /// A resumed session missed nothing: Discord replayed what it held.
    async fn resume(&self, _ctx: Context, _resumed: ResumedEvent) {
        self.discord.connection.set(Connection::Connected);
    }

    /// Serenity reports a stage change only when one happens while it reads
    /// a gateway event (a read error that starts a resume, a READY or
    /// RESUMED): heard at once; [`watch_shards`] sees the rest.
    async fn shard_stage_update(&self, _ctx: Context, update: ShardStageUpdateEvent) {
        if update.new == ConnectionStage::Connected {
            self.discord.connection.set(Connection::Connected);
        } else {
            self.discord.connection.lost();
        }
    }

    /// A guild's text channels, threads, and the managed roles of bots
    /// (`tags.bot_id`): people may mention the bot's role instead of the
    /// bot. Kept whether or not READY's handler has run yet. Discord sends
    /// it after every READY, that is every new session (never on a resume,
    /// which replays what was missed), and when a guild comes back from an
    /// outage: then the bot catches up on the guild's channels.
    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let mut text_channels: Vec<u64> = guild
            .channels
            .values()
            .filter(|c| matches!(c.kind, ChannelType::Text | ChannelType::News))
            .map(|c| c.id.get())
            .collect();
        // Caught up on in a steady order, oldest channel first.
        text_channels.sort_unstable();
        let mut missed = text_channels.clone();
        missed.extend(guild.threads.iter().map(|t| t.id.get()));
        let managed_roles = guild
            .roles
            .values()
            .filter_map(|role| Some((role.id.get(), role.tags.bot_id?.get())))
            .collect();
        for thread in &guild.threads {
            if let Some(parent) = thread.parent_id {
                self.discord
                    .learn_thread(thread.id.get(), parent.get())
                    .await;
            }
        }
        lock(&self.discord.guilds).learn_guild(&guild);
        lock(&self.discord.places).learn_guild_contents(
            guild.id.get(),
            text_channels,
            managed_roles,
        );
        self.discord.guilds_told.send_modify(|told| {
            told.insert(guild.id.get());
        });
        // What is written from now on comes through the gateway.
        let until = snowflake::at(SystemTime::now());
        tokio::spawn(catch_up(
            Arc::clone(&self.discord),
            self.inbox.clone(),
            missed,
            until,
        ));
    }

    async fn message(&self, _ctx: Context, message: Message) {
        let ticket = self
            .discord
            .order
            .take(message.channel_id.get(), message.id.get());
        let inbound = self.discord.message_inbound(&message, None).await;
        self.discord
            .order
            .deliver(ticket, inbound, &self.inbox)
            .await;
    }

    /// An edit (`edited_timestamp` set; Discord also sends updates that are
    /// no edit, such as a thread started on the message or an embed
    /// resolved) of a message that mentions the bot. The core decides what
    /// an edit does.
    async fn message_update(
        &self,
        _ctx: Context,
        _old: Option<Message>,
        _new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        let (Some(edited), Some(_), Some(_)) =
            (event.edited_timestamp, &event.author, &event.content)
        else {
            return;
        };
        let ticket = self
            .discord
            .order
            .take(event.channel_id.get(), event.id.get());
        let mut message = Message::default();
        event.apply_to_message(&mut message);
        let inbound = self
            .discord
            .message_inbound(&message, Some(edited.to_string()))
            .await;
        self.discord
            .order
            .deliver(ticket, inbound, &self.inbox)
            .await;
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let command = match interaction {
            Interaction::Command(command) => command,
            Interaction::Component(pressed) => {
                return self.discord.pressed(pressed, self.presses.as_ref()).await;
            }
            _ => return,
        };
        if command.data.name != self.discord.command_name || command.user.bot {
            return;
        }
        let ticket = self
            .discord
            .order
            .take(command.channel_id.get(), command.id.get());
        // Within Discord's 3 seconds, before anything slow happens.
        let inbound = match self
            .discord
            .rest
            .defer(command.id.get(), &command.token)
            .await
        {
            Ok(()) => Some(self.discord.slash_inbound(&command).await),
            Err(e) => {
                tracing::warn!(error = %e, "discord: cannot defer an interaction");
                None
            }
        };
        self.discord
            .order
            .deliver(ticket, inbound, &self.inbox)
            .await;
    }
}

impl Discord {
    /// The message `message` stands for, when it is a person's mention of
    /// the bot; `edit`: the mark of this revision when it is an edit.
    pub(crate) async fn message_inbound(
        &self,
        message: &Message,
        edit: Option<String>,
    ) -> Option<Inbound> {
        let here = message.channel_id.get();
        let id = message.id.get();
        self.saw(here, id);
        if message.author.bot {
            return None;
        }
        let bot = self.identity(message.guild_id.map(|g| g.get())).await?;
        let text = rewrite(&message.content, &bot, &self.options.bot_name)?;
        let (channel, thread) = match self.parent_of(here).await {
            Some(parent) => (parent, Some(here.to_string())),
            None => (here, None),
        };
        if thread.is_some() {
            self.learn_location(id, here).await;
        }
        self.keep_newest(here).await;
        if let Some(guild) = message.guild_id {
            lock(&self.places).learn_guild(guild.get(), [here, channel]);
        }
        Some(Inbound {
            platform: PLATFORM,
            channel: channel.to_string(),
            message_id: id.to_string(),
            thread,
            user: UserRef {
                id: message.author.id.get().to_string(),
                name: message
                    .author
                    .global_name
                    .clone()
                    .unwrap_or_else(|| message.author.name.clone()),
            },
            // A guild message carries its author's member (roles and all); a DM none.
            roles: message
                .member
                .as_ref()
                .map_or_else(Vec::new, |m| role_ids(&m.roles)),
            text,
            slash: false,
            reply_handle: None,
            dedupe_key: format!("discord:{id}"),
            created_at: snowflake::created_at(id),
            edit,
        })
    }

    /// The message a `/mosaic` invocation stands for. Typed in a thread, its
    /// `channel_id` is the thread, and its partial channel names the parent
    /// (interactions/receiving-and-responding, "Interaction Object"): the
    /// command acts on that thread's job. `app_permissions` say what the bot
    /// may do there, checked before a job starts.
    async fn slash_inbound(&self, command: &CommandInteraction) -> Inbound {
        let here = command.channel_id.get();
        let parent = command.channel.as_ref().and_then(thread_parent);
        if let Some(parent) = parent {
            self.learn_thread(here, parent).await;
        }
        if let Some(bits) = command.app_permissions {
            lock(&self.permissions).learn(here, bits.bits());
        }
        let channel = parent.unwrap_or(here);
        if let Some(guild) = command.guild_id {
            lock(&self.places).learn_guild(guild.get(), [here, channel]);
        }
        let mut inbound = slash_inbound(command);
        inbound.channel = channel.to_string();
        inbound.thread = parent.map(|_| here.to_string());
        inbound
    }
}

/// The parent of an interaction's channel when it is a thread: its partial
/// channel says so (interactions/receiving-and-responding, "Interaction
/// Object").
pub(crate) fn thread_parent(channel: &PartialChannel) -> Option<u64> {
    let thread = matches!(
        channel.kind,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
    );
    thread.then_some(channel.parent_id?.get())
}

/// The message a `/mosaic` invocation stands for.
fn slash_inbound(command: &CommandInteraction) -> Inbound {
    let (subcommand, argument) = match command.data.options.first() {
        Some(CommandDataOption {
            name,
            value: CommandDataOptionValue::SubCommand(options),
            ..
        }) => (name.as_str(), options.iter().find_map(string_value)),
        _ => ("help", None),
    };
    let id = command.id.get();
    Inbound {
        platform: PLATFORM,
        channel: command.channel_id.get().to_string(),
        message_id: id.to_string(),
        thread: None,
        user: UserRef {
            id: command.user.id.get().to_string(),
            name: command
                .user
                .global_name
                .clone()
                .unwrap_or_else(|| command.user.name.clone()),
        },
        // Present only when invoked in a guild.
        roles: command
            .member
            .as_ref()
            .map_or_else(Vec::new, |m| role_ids(&m.roles)),
        text: invocation_text(subcommand, argument),
        slash: true,
        reply_handle: Some(format!(
            "{}:{}",
            command.application_id.get(),
            command.token
        )),
        dedupe_key: format!("discord:{id}"),
        // Invoked when the interaction was made.
        created_at: snowflake::created_at(id),
        edit: None,
    }
}

/// Role ids as the core matches them: decimal strings.
pub(crate) fn role_ids(roles: &[RoleId]) -> Vec<String> {
    roles.iter().map(|r| r.get().to_string()).collect()
}

fn string_value(option: &CommandDataOption) -> Option<&str> {
    match &option.value {
        CommandDataOptionValue::String(s) => Some(s.as_str()),
        _ => None,
    }
}
