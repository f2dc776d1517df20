//! The gateway side: serenity's events turned into [`Inbound`] messages,
//! and its shard's stage into the platform's [`Connection`]. Only messages
//! that mention the bot, and the `/mosaic` command, go on; bots (the bot
//! itself included) are ignored.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::{Connection, ConnectionState, Inbound, UserRef};
use serenity::all::{
    CommandDataOption, CommandDataOptionValue, CommandInteraction, ConnectionStage, Context,
    EventHandler, Guild, Interaction, Message, Ready, ResumedEvent, RoleId, ShardManager,
    ShardStageUpdateEvent,
};
use serenity::async_trait;
use tokio::sync::mpsc;

use crate::commands::invocation_text;
use crate::mention::{BotIdentity, rewrite};
use crate::{Discord, PLATFORM};

/// How often [`watch_shards`] looks at the shards: a lost gateway shows in
/// `/readyz` within this long.
const SHARD_CHECK: Duration = Duration::from_secs(1);

/// Keeps the connection as serenity's shard manager records its shards:
/// lost while it has no runner or one that is not connected, connected when
/// all are. A reconnect that Discord asks for (op 7), a close frame, a
/// failed resume and the shard restart that follows it change the stage
/// between event reads, where serenity 0.12 fires no
/// [`EventHandler::shard_stage_update`]; the manager's record changes then
/// too. It also sets right a stage update whose handler (a task of its own)
/// ran late. Runs until dropped.
pub(crate) async fn watch_shards(
    shards: &ShardManager,
    connection: &ConnectionState,
) -> Infallible {
    let mut every = tokio::time::interval(SHARD_CHECK);
    loop {
        every.tick().await;
        let runners = shards.runners.lock().await;
        let up = !runners.is_empty()
            && runners
                .values()
                .all(|runner| runner.stage == ConnectionStage::Connected);
        // Under the lock: a runner records its stage there before its
        // handlers hear of it, so this never undoes a newer stage.
        if up {
            connection.set(Connection::Connected);
        } else {
            connection.lost();
        }
    }
}

/// Serenity's event handler for one [`Discord`].
pub struct Handler {
    pub discord: Arc<Discord>,
    pub inbox: mpsc::Sender<Inbound>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "discord: connected");
        self.discord.connection.set(Connection::Connected);
        self.discord.set_identity(BotIdentity {
            user_id: ready.user.id.get(),
            role_ids: Vec::new(),
        });
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

    /// A guild's roles name the bot's managed role (`tags.bot_id`), which
    /// people may mention instead of the bot.
    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        let channels = guild
            .channels
            .keys()
            .chain(guild.threads.iter().map(|t| &t.id));
        self.discord
            .remember_guild(guild.id.get(), channels.map(|c| c.get()));
        let Some(bot) = self.discord.identity() else {
            return;
        };
        let managed = guild
            .roles
            .values()
            .find(|role| role.tags.bot_id.is_some_and(|id| id.get() == bot.user_id));
        if let Some(role) = managed {
            self.discord.add_managed_role(role.id.get());
        }
    }

    async fn message(&self, _ctx: Context, message: Message) {
        if message.author.bot {
            return;
        }
        let Some(bot) = self.discord.identity() else {
            return;
        };
        let Some(text) = rewrite(&message.content, &bot, &self.discord.options.bot_name) else {
            return;
        };
        let here = message.channel_id.get();
        let (channel, thread) = match self.discord.parent_of(here).await {
            Some(parent) => (parent, Some(here.to_string())),
            None => (here, None),
        };
        let id = message.id.get();
        self.discord.remember_location(id, here);
        if let Some(guild) = message.guild_id {
            self.discord.remember_guild(guild.get(), [here, channel]);
        }
        let inbound = Inbound {
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
            // Made truthful per platform by the platform's own change (issue 13).
            created_at: std::time::SystemTime::now(),
            edit: None,
        };
        // The core stopped listening: shutting down, nothing to do.
        let _ = self.inbox.send(inbound).await;
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let Interaction::Command(command) = interaction else {
            return;
        };
        if command.data.name != self.discord.options.bot_name || command.user.bot {
            return;
        }
        // Within Discord's 3 seconds, before anything slow happens.
        if let Err(e) = self
            .discord
            .rest
            .defer(command.id.get(), &command.token)
            .await
        {
            tracing::warn!(error = %e, "discord: cannot defer an interaction");
            return;
        }
        if let Some(guild) = command.guild_id {
            self.discord
                .remember_guild(guild.get(), [command.channel_id.get()]);
        }
        let inbound = slash_inbound(&command);
        let _ = self.inbox.send(inbound).await;
    }
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
        // Made truthful per platform by the platform's own change (issue 13).
        created_at: std::time::SystemTime::now(),
        edit: None,
    }
}

/// Role ids as the core matches them: decimal strings.
fn role_ids(roles: &[RoleId]) -> Vec<String> {
    roles.iter().map(|r| r.get().to_string()).collect()
}

fn string_value(option: &CommandDataOption) -> Option<&str> {
    match &option.value {
        CommandDataOptionValue::String(s) => Some(s.as_str()),
        _ => None,
    }
}
