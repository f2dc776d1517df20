//! The gateway side: serenity's events turned into [`Inbound`] messages.
//! Only messages that mention the bot, and the `/mosaic` command, go on;
//! bots (the bot itself included) are ignored.

use std::sync::Arc;

use mosaic_chat::{Inbound, UserRef};
use serenity::all::{
    CommandDataOption, CommandDataOptionValue, CommandInteraction, Context, EventHandler, Guild,
    Interaction, Message, Ready, RoleId,
};
use serenity::async_trait;
use tokio::sync::mpsc;

use crate::commands::invocation_text;
use crate::mention::{BotIdentity, rewrite};
use crate::{Discord, PLATFORM};

/// Serenity's event handler for one [`Discord`].
pub struct Handler {
    pub discord: Arc<Discord>,
    pub inbox: mpsc::Sender<Inbound>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "discord: connected");
        self.discord.set_identity(BotIdentity {
            user_id: ready.user.id.get(),
            role_ids: Vec::new(),
        });
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
