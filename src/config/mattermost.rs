//! The `[mattermost]` section: the server, the bot token and the optional
//! slash command endpoint, validated into what `serve` starts the Mattermost
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
    /// The slash command's token; prefer `MOSAIC__MATTERMOST__SLASH_TOKEN`.
    pub slash_token: Option<Secret>,
    /// Address the slash command endpoint listens on, e.g. `0.0.0.0:8081`;
    /// without it, only mentions work.
    pub slash_listen: Option<String>,
}

/// The validated `[mattermost]` section.
#[derive(Debug, Clone)]
pub struct MattermostConfig {
    pub url: String,
    pub token: Secret,
    /// The slash command's address and token, when one is configured.
    pub slash: Option<(SocketAddr, Secret)>,
}

impl MattermostConfig {
    /// Its settings, one `key = value` a line, tokens masked (`check-config`).
    pub fn describe(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "mattermost.url = {:?}", self.url);
        let _ = writeln!(out, "mattermost.token = {}", self.token);
        match &self.slash {
            Some((addr, token)) => {
                let _ = writeln!(out, "mattermost.slash_listen = {addr}");
                let _ = writeln!(out, "mattermost.slash_token = {token}");
            }
            None => {
                let _ = writeln!(out, "mattermost.slash = none");
            }
        }
    }
}

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
    let slash_token = section.slash_token.filter(|t| !t.is_empty());
    let slash = match (section.slash_listen.as_deref(), slash_token) {
        (None, None) => None,
        (Some(addr), Some(token)) => {
            let addr = addr.parse::<SocketAddr>().map_err(|_| {
                key(
                    "slash_listen",
                    format!("`{addr}` is not an address: write `host:port`, like `0.0.0.0:8081`"),
                )
            })?;
            Some((addr, token))
        }
        (Some(_), None) => {
            return Err(key(
                "slash_token",
                "is missing: set MOSAIC__MATTERMOST__SLASH_TOKEN to the slash command's token"
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
    Ok(MattermostConfig { url, token, slash })
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
        assert_eq!((addr.port(), slash.expose()), (8081, "sl-SECRET-2"));
        let shown = format!("{}{config:?}", config.describe());
        assert!(!shown.contains("SECRET"), "{shown}");

        let err = Config::load_from(Some(f.path()), no_env()).unwrap_err();
        assert!(err.to_string().contains("mattermost.token"), "{err}");
        let env = vec![("MOSAIC__MATTERMOST__TOKEN".to_owned(), "t".to_owned())];
        let err = Config::load_from(Some(f.path()), env).unwrap_err();
        assert!(err.to_string().contains("mattermost.slash_token"), "{err}");
    }
}
