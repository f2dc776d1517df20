//! The `[mattermost]` section: the server, the bot token, the optional
//! slash command endpoint with its tokens (one per team) and the card
//! buttons' action URL, validated into what `serve` starts the Mattermost
//! adapter with.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;
use crate::secret::Secret;

/// `[mattermost]`: the Mattermost server the bot joins (absent: not started).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostSection {
    /// The server's URL, e.g. `https://chat.example.com`.
    pub url: String,
    /// The bot account's access token; prefer `MOSAIC__MATTERMOST__TOKEN`.
    pub token: Option<Secret>,
    /// The slash command's token (one team); prefer
    /// `MOSAIC__MATTERMOST__SLASH_TOKEN`. Kept for configurations written
    /// before `slash_tokens`: it counts as a list of one.
    pub slash_token: Option<Secret>,
    /// The slash command's token in each team (a custom command belongs to
    /// one team and has its own token there): a list, or in the environment
    /// `MOSAIC__MATTERMOST__SLASH_TOKENS` separated by commas.
    pub slash_tokens: Option<TokenList>,
    /// Address the slash command endpoint listens on, e.g. `0.0.0.0:8081`;
    /// without it, only mentions work. The card buttons' clicks arrive there too.
    pub slash_listen: Option<String>,
    /// The URL the Mattermost server POSTs a card button's click to: the
    /// listener's `/mattermost/action` as the server reaches it. Without
    /// it, cards carry no buttons.
    pub actions_url: Option<String>,
    /// The secret the buttons' tokens are made with; prefer
    /// `MOSAIC__MATTERMOST__ACTIONS_SECRET`. Without it, one is generated
    /// once and kept in the store.
    pub actions_secret: Option<Secret>,
}

/// Tokens given as a list, or as one string of comma-separated tokens (what
/// an environment variable can hold: the `config` crate maps no arrays).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TokenList {
    Many(Vec<Secret>),
    Joined(Secret),
}

impl TokenList {
    /// The tokens, trimmed, empty ones dropped.
    fn into_tokens(self) -> Vec<Secret> {
        let split: Vec<String> = match self {
            TokenList::Many(tokens) => tokens.iter().map(|t| t.expose().to_owned()).collect(),
            TokenList::Joined(joined) => joined.expose().split(',').map(str::to_owned).collect(),
        };
        split
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .collect()
    }
}

/// The validated `[mattermost]` section.
#[derive(Debug, Clone)]
pub struct MattermostConfig {
    pub url: String,
    pub token: Secret,
    /// The listener's address and the slash command's tokens, when one is
    /// configured (no tokens: the listener serves the buttons alone).
    pub slash: Option<(SocketAddr, Vec<Secret>)>,
    /// The card buttons' action URL and secret, when configured.
    pub actions: Option<(String, Option<Secret>)>,
}

impl MattermostConfig {
    /// Its settings, one `key = value` a line, tokens masked (`check-config`).
    pub fn describe(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "mattermost.url = {:?}", self.url);
        let _ = writeln!(out, "mattermost.token = {}", self.token);
        match &self.slash {
            Some((addr, tokens)) => {
                let _ = writeln!(out, "mattermost.slash_listen = {addr}");
                let masked: Vec<String> = tokens.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "mattermost.slash_tokens = [{}]", masked.join(", "));
            }
            None => {
                let _ = writeln!(out, "mattermost.slash = none");
            }
        }
        match &self.actions {
            Some((url, secret)) => {
                let _ = writeln!(out, "mattermost.actions_url = {url:?}");
                let secret = match secret {
                    Some(secret) => secret.to_string(),
                    None => "generated once, kept in the store".to_owned(),
                };
                let _ = writeln!(out, "mattermost.actions_secret = {secret}");
            }
            None => {
                let _ = writeln!(out, "mattermost.actions = none (cards carry no buttons)");
            }
        }
    }
}

/// The path the action URL must end with (the adapter's `ACTION_PATH`).
const ACTION_PATH: &str = mosaic_mattermost::ACTION_PATH;

pub(super) fn validate_mattermost(
    section: MattermostSection,
) -> Result<MattermostConfig, ConfigError> {
    let key = |key: &str, problem: String| ConfigError::Key {
        key: format!("mattermost.{key}"),
        problem,
    };
    let url = section.url.trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(key(
            "url",
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    }
    let token = section.token.filter(|t| !t.is_empty()).ok_or_else(|| {
        key(
            "token",
            "is missing: set MOSAIC__MATTERMOST__TOKEN to the bot account's access token".into(),
        )
    })?;
    let mut tokens: Vec<Secret> = section
        .slash_token
        .filter(|t| !t.is_empty())
        .into_iter()
        .collect();
    tokens.extend(
        section
            .slash_tokens
            .map_or_else(Vec::new, TokenList::into_tokens),
    );
    let actions = match section.actions_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(key(
                    "actions_url",
                    format!("`{url}` is not an http:// or https:// URL"),
                ));
            }
            if !url.trim_end_matches('/').ends_with(ACTION_PATH) {
                return Err(key(
                    "actions_url",
                    format!(
                        "`{url}` does not end with `{ACTION_PATH}`: give the URL at which the \
                         Mattermost server reaches the bot's listener (`slash_listen`) and \
                         that path, like `https://bot.example.com{ACTION_PATH}`"
                    ),
                ));
            }
            if section.slash_listen.is_none() {
                return Err(key(
                    "slash_listen",
                    "is missing: the card buttons' clicks arrive on the listener; give it an \
                     address, like `0.0.0.0:8081`"
                        .into(),
                ));
            }
            let secret = section.actions_secret.filter(|s| !s.is_empty());
            Some((url.trim_end_matches('/').to_owned(), secret))
        }
    };
    let slash_tokens = (!tokens.is_empty()).then_some(tokens);
    let slash = match (section.slash_listen.as_deref(), slash_tokens) {
        (None, None) => None,
        // The listener for the buttons alone: every slash command is refused.
        (Some(addr), None) if actions.is_some() => Some((parse_listen(addr)?, Vec::new())),
        (Some(addr), Some(tokens)) => Some((parse_listen(addr)?, tokens)),
        (Some(_), None) => {
            return Err(key(
                "slash_tokens",
                "is missing: set MOSAIC__MATTERMOST__SLASH_TOKENS to the slash command's token \
                 (one per team, separated by commas)"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(key(
                "slash_listen",
                "is missing: the slash command needs an address to listen on".into(),
            ));
        }
    };
    Ok(MattermostConfig {
        url,
        token,
        slash,
        actions,
    })
}

fn parse_listen(addr: &str) -> Result<SocketAddr, ConfigError> {
    addr.parse::<SocketAddr>().map_err(|_| ConfigError::Key {
        key: "mattermost.slash_listen".to_owned(),
        problem: format!("`{addr}` is not an address: write `host:port`, like `0.0.0.0:8081`"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::super::tests::{file, no_env};

    #[test]
    fn mattermost_tokens_come_from_the_environment_and_never_print() {
        let f = file(
            "[mattermost]\nurl = \"https://chat.example.com/\"\nslash_listen = \"0.0.0.0:8081\"\n",
        );
        let env = vec![
            (
                "MOSAIC__MATTERMOST__TOKEN".to_owned(),
                "mm-SECRET-1".to_owned(),
            ),
            (
                "MOSAIC__MATTERMOST__SLASH_TOKEN".to_owned(),
                "sl-SECRET-2".to_owned(),
            ),
        ];
        let config = Config::load_from(Some(f.path()), env).unwrap();
        let mm = config.mattermost.as_ref().unwrap();
        assert_eq!(mm.url, "https://chat.example.com");
        assert_eq!(mm.token.expose(), "mm-SECRET-1");
        let (addr, slash) = mm.slash.as_ref().unwrap();
        assert_eq!(addr.port(), 8081);
        assert_eq!(slash.len(), 1, "the old single key is a list of one");
        assert_eq!(slash[0].expose(), "sl-SECRET-2");
        let shown = format!("{}{config:?}", config.describe());
        assert!(!shown.contains("SECRET"), "{shown}");

        let err = Config::load_from(Some(f.path()), no_env()).unwrap_err();
        assert!(err.to_string().contains("mattermost.token"), "{err}");
        let env = vec![("MOSAIC__MATTERMOST__TOKEN".to_owned(), "t".to_owned())];
        let err = Config::load_from(Some(f.path()), env).unwrap_err();
        assert!(err.to_string().contains("mattermost.slash_tokens"), "{err}");
    }

    #[test]
    fn the_buttons_need_an_action_url_on_the_listener_and_their_secret_never_prints() {
        let env = || {
            vec![
                ("MOSAIC__MATTERMOST__TOKEN".to_owned(), "t".to_owned()),
                (
                    "MOSAIC__MATTERMOST__ACTIONS_SECRET".to_owned(),
                    "act-SECRET".to_owned(),
                ),
            ]
        };
        let f = file(
            "[mattermost]\nurl = \"https://chat.example.com\"\nslash_listen = \"0.0.0.0:8081\"\n\
             actions_url = \"https://bot.example.com/mattermost/action\"\n",
        );
        let config = Config::load_from(Some(f.path()), env()).unwrap();
        let mm = config.mattermost.as_ref().unwrap();
        let (url, secret) = mm.actions.clone().unwrap();
        assert_eq!(url, "https://bot.example.com/mattermost/action");
        assert_eq!(secret.unwrap().expose(), "act-SECRET");
        let (_, tokens) = mm.slash.clone().unwrap();
        assert!(tokens.is_empty(), "the listener serves the buttons alone");
        let shown = format!("{}{config:?}", config.describe());
        assert!(
            shown
                .contains("mattermost.actions_url = \"https://bot.example.com/mattermost/action\""),
            "{shown}"
        );
        assert!(!shown.contains("SECRET"), "{shown}");

        let no_secret = vec![("MOSAIC__MATTERMOST__TOKEN".to_owned(), "t".to_owned())];
        let config = Config::load_from(Some(f.path()), no_secret).unwrap();
        assert!(
            config
                .describe()
                .contains("mattermost.actions_secret = generated once")
        );

        for (body, wrong) in [
            (
                "slash_listen = \"0.0.0.0:8081\"\nactions_url = \"https://bot.example.com/\"\n",
                "does not end with `/mattermost/action`",
            ),
            (
                "slash_listen = \"0.0.0.0:8081\"\nactions_url = \"bot.example.com/mattermost/action\"\n",
                "not an http",
            ),
            (
                "actions_url = \"https://bot.example.com/mattermost/action\"\n",
                "mattermost.slash_listen",
            ),
        ] {
            let f = file(&format!(
                "[mattermost]\nurl = \"https://chat.example.com\"\n{body}"
            ));
            let err = Config::load_from(Some(f.path()), env()).unwrap_err();
            assert!(err.to_string().contains(wrong), "{body}: {err}");
        }
    }

    #[test]
    fn a_slash_token_per_team_from_the_file_or_the_environment() {
        let f = file(
            "[mattermost]\nurl = \"https://chat.example.com\"\nslash_listen = \"0.0.0.0:8081\"\n\
             slash_tokens = [\"team-a-SECRET\", \"team-b-SECRET\"]\n",
        );
        let env = vec![("MOSAIC__MATTERMOST__TOKEN".to_owned(), "t".to_owned())];
        let config = Config::load_from(Some(f.path()), env).unwrap();
        let (_, tokens) = config.mattermost.as_ref().unwrap().slash.clone().unwrap();
        let tokens: Vec<&str> = tokens.iter().map(|t| t.expose()).collect();
        assert_eq!(tokens, ["team-a-SECRET", "team-b-SECRET"]);
        let shown = config.describe();
        assert!(
            shown.contains("mattermost.slash_tokens = [***, ***]"),
            "{shown}"
        );
        assert!(!shown.contains("SECRET"), "{shown}");

        let f = file(
            "[mattermost]\nurl = \"https://chat.example.com\"\nslash_listen = \"0.0.0.0:8081\"\n",
        );
        let env = vec![
            ("MOSAIC__MATTERMOST__TOKEN".to_owned(), "t".to_owned()),
            (
                "MOSAIC__MATTERMOST__SLASH_TOKENS".to_owned(),
                "team-a, team-b,".to_owned(),
            ),
        ];
        let config = Config::load_from(Some(f.path()), env).unwrap();
        let (_, tokens) = config.mattermost.as_ref().unwrap().slash.clone().unwrap();
        let tokens: Vec<&str> = tokens.iter().map(|t| t.expose()).collect();
        assert_eq!(tokens, ["team-a", "team-b"]);
    }
}
