//! The `[discord]` section: the bot token, the application, where the
//! command is registered, and where Discord is reached (a REST proxy, a
//! gateway address), validated into what `serve` starts the Discord adapter
//! with.

use std::fmt::Write as _;

use serde::Deserialize;

use super::ConfigError;
use crate::secret::Secret;

/// `[discord]`: the Discord bot, started by `serve` when this section is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordSection {
    /// The bot token; prefer `MOSAIC__DISCORD__TOKEN`.
    pub token: Secret,
    /// The application's id (the developer portal's "Application ID").
    pub application_id: u64,
    /// Register `/mosaic` in this guild only (instant) instead of globally.
    pub guild_id: Option<u64>,
    /// A REST proxy to send every API request to (nirn-proxy,
    /// twilight-http-proxy), e.g. `http://discord-proxy:8080`.
    pub api_url: Option<String>,
    /// The gateway to connect to instead of the one `GET /gateway` names,
    /// e.g. `wss://gateway.discord.gg` behind a gateway proxy.
    pub gateway_url: Option<String>,
    /// The gateway's shard count (default 1): every replica running Discord connects its
    /// share of them, each shard held by one replica at a time.
    pub shards: Option<u64>,
}

/// The most shards `discord.shards` may name: more than any bot needs (Discord's largest
/// run thousands), few enough that a typo is caught.
pub const MAX_SHARDS: u64 = 4096;

/// The validated `[discord]` section.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    pub token: Secret,
    pub application_id: u64,
    pub guild_id: Option<u64>,
    pub api_url: Option<String>,
    pub gateway_url: Option<String>,
    /// The gateway's shard count.
    pub shards: u32,
}

impl DiscordConfig {
    /// Its settings on one line, the token masked (`check-config`).
    pub fn describe(&self, out: &mut String) {
        let guild = self.guild_id.map_or("global".to_owned(), |g| g.to_string());
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "discord = application {} commands {guild} token {}",
            self.application_id, self.token
        );
        let _ = writeln!(
            out,
            "discord.api_url = {}",
            self.api_url.as_deref().unwrap_or("Discord")
        );
        let _ = writeln!(
            out,
            "discord.gateway_url = {}",
            self.gateway_url
                .as_deref()
                .unwrap_or("as GET /gateway answers")
        );
        let _ = writeln!(
            out,
            "discord.shards = {} (each held by one replica at a time)",
            self.shards
        );
    }
}

/// Whether `name` can be an application command's name once lowercased:
/// `^[-_\p{L}\p{N}]{1,32}$`, Discord's rule ("Application Command Naming"),
/// with Unicode letters and numbers as Rust's `char` knows them.
pub fn is_command_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    (1..=32).contains(&lower.chars().count())
        && lower
            .chars()
            .all(|c| c == '-' || c == '_' || c.is_alphanumeric())
}

pub(super) fn validate_discord(
    section: DiscordSection,
    bot_name: &str,
) -> Result<DiscordConfig, ConfigError> {
    let key = |key: &str, problem: String| ConfigError::Key {
        key: key.to_owned(),
        problem,
    };
    if section.token.is_empty() {
        return Err(key(
            "discord.token",
            "is empty: set MOSAIC__DISCORD__TOKEN".into(),
        ));
    }
    if section.application_id == 0 || section.guild_id == Some(0) {
        return Err(key(
            "discord",
            "ids are never 0: copy them from Discord".into(),
        ));
    }
    if !is_command_name(bot_name) {
        return Err(key(
            "bot.name",
            format!(
                "`{bot_name}` cannot be a Discord command: use 1 to 32 letters, digits, `-` or `_`, like `mosaic`"
            ),
        ));
    }
    let url = |name: &str, value: Option<String>, schemes: [&str; 2]| {
        let Some(value) = value.map(|v| v.trim().trim_end_matches('/').to_owned()) else {
            return Ok(None);
        };
        if schemes.iter().any(|s| value.starts_with(s)) {
            Ok(Some(value))
        } else {
            Err(key(
                &format!("discord.{name}"),
                format!("`{value}` is not a {} or {} URL", schemes[0], schemes[1]),
            ))
        }
    };
    let shards = section.shards.unwrap_or(1);
    if !(1..=MAX_SHARDS).contains(&shards) {
        return Err(key(
            "discord.shards",
            format!(
                "{shards} is not a shard count: give 1 to {MAX_SHARDS} (default 1; GET /gateway/bot's \
                 `shards` is Discord's recommendation, one shard per 2,500 guilds at most)"
            ),
        ));
    }
    Ok(DiscordConfig {
        shards: u32::try_from(shards).unwrap_or(1),
        token: section.token,
        application_id: section.application_id,
        guild_id: section.guild_id,
        api_url: url("api_url", section.api_url, ["http://", "https://"])?,
        gateway_url: url("gateway_url", section.gateway_url, ["ws://", "wss://"])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(shards: Option<u64>) -> DiscordSection {
        DiscordSection {
            token: Secret::new("t".to_owned()),
            application_id: 1,
            guild_id: None,
            api_url: None,
            gateway_url: None,
            shards,
        }
    }

    #[test]
    fn the_shard_count_defaults_to_one_and_absurd_counts_are_refused() {
        let config = validate_discord(section(None), "mosaic").expect("valid");
        assert_eq!(config.shards, 1);
        let mut shown = String::new();
        config.describe(&mut shown);
        assert!(shown.contains("discord.shards = 1"), "{shown}");
        assert_eq!(
            validate_discord(section(Some(3)), "mosaic")
                .expect("valid")
                .shards,
            3
        );
        for bad in [0, 4097, u64::MAX] {
            let error = validate_discord(section(Some(bad)), "mosaic")
                .expect_err("refused")
                .to_string();
            assert!(error.contains("discord.shards"), "{error}");
            assert!(error.contains("give 1 to 4096"), "{error}");
        }
    }

    #[test]
    fn command_names_follow_discords_rule_in_lowercase() {
        for good in ["mosaic", "Mosaic", "mosaic-bot", "fix_it", "ボット", "bot2"] {
            assert!(is_command_name(good), "{good}");
        }
        let long = "m".repeat(33);
        for bad in ["", "mosaic.bot", "my bot", "bot!", long.as_str()] {
            assert!(!is_command_name(bad), "{bad}");
        }
    }
}
