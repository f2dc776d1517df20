//! The `[slack]` section: the bot token, and how Slack reaches the bot —
//! Socket Mode (an app-level token), the signed HTTP endpoint (a signing
//! secret and an address), or both — validated into what `serve` starts the
//! Slack adapter with.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;
use crate::secret::Secret;

/// `[slack]`: the Slack workspace the bot joins (absent: not started).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    /// The bot token (`xoxb-…`); prefer `MOSAIC__SLACK__BOT_TOKEN`.
    pub bot_token: Option<Secret>,
    /// The app-level token (`xapp-…`) for Socket Mode; prefer `MOSAIC__SLACK__APP_TOKEN`.
    pub app_token: Option<Secret>,
    /// The signing secret for the HTTP endpoint; prefer `MOSAIC__SLACK__SIGNING_SECRET`.
    pub signing_secret: Option<Secret>,
    /// Address the Events API and slash command endpoint listens on, e.g. `0.0.0.0:8082`.
    pub http_listen: Option<String>,
    /// The Web API's URL; only tests change it.
    pub api_url: Option<String>,
}

/// The validated `[slack]` section.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub bot_token: Secret,
    /// Socket Mode's app-level token, when configured.
    pub app_token: Option<Secret>,
    /// The HTTP endpoint's address and signing secret, when configured.
    pub http: Option<(SocketAddr, Secret)>,
    pub api_url: Option<String>,
}

impl SlackConfig {
    /// Its settings, one `key = value` a line, secrets masked (`check-config`).
    pub fn describe(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "slack.bot_token = {}", self.bot_token);
        match &self.app_token {
            Some(token) => {
                let _ = writeln!(out, "slack.app_token = {token} (Socket Mode)");
            }
            None => {
                let _ = writeln!(out, "slack.socket_mode = off");
            }
        }
        match &self.http {
            Some((addr, secret)) => {
                let _ = writeln!(out, "slack.http_listen = {addr}");
                let _ = writeln!(out, "slack.signing_secret = {secret}");
            }
            None => {
                let _ = writeln!(out, "slack.http = none");
            }
        }
    }
}

pub(super) fn validate_slack(section: SlackSection) -> Result<SlackConfig, ConfigError> {
    let key = |key: &str, problem: &str| ConfigError::Key {
        key: format!("slack.{key}"),
        problem: problem.to_owned(),
    };
    let bot_token = section.bot_token.filter(|t| !t.is_empty()).ok_or_else(|| {
        key(
            "bot_token",
            "is missing: set MOSAIC__SLACK__BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)",
        )
    })?;
    let app_token = section.app_token.filter(|t| !t.is_empty());
    let signing_secret = section.signing_secret.filter(|t| !t.is_empty());
    let http = match (section.http_listen.as_deref(), signing_secret) {
        (None, None) => None,
        (Some(addr), Some(secret)) => {
            let addr = addr.parse::<SocketAddr>().map_err(|_| {
                key(
                    "http_listen",
                    "is not an address: write `host:port`, like `0.0.0.0:8082`",
                )
            })?;
            Some((addr, secret))
        }
        (Some(_), None) => {
            return Err(key(
                "signing_secret",
                "is missing: set MOSAIC__SLACK__SIGNING_SECRET to the app's Signing Secret",
            ));
        }
        // A signing secret alone is kept for nothing: Socket Mode needs none.
        (None, Some(_)) if app_token.is_some() => None,
        (None, Some(_)) => {
            return Err(key(
                "http_listen",
                "is missing: the Events API endpoint needs an address to listen on",
            ));
        }
    };
    if app_token.is_none() && http.is_none() {
        return Err(key(
            "app_token",
            "is missing: set MOSAIC__SLACK__APP_TOKEN (Socket Mode), or slack.http_listen and MOSAIC__SLACK__SIGNING_SECRET (HTTP)",
        ));
    }
    Ok(SlackConfig {
        bot_token,
        app_token,
        http,
        api_url: section.api_url.map(|u| u.trim_end_matches('/').to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::super::tests::{env, file};

    #[test]
    fn slack_secrets_come_from_the_environment_and_never_print() {
        let f = file("[slack]\nhttp_listen = \"0.0.0.0:8082\"\n");
        let secrets = env(&[
            ("MOSAIC__SLACK__BOT_TOKEN", "xoxb-SECRET-1"),
            ("MOSAIC__SLACK__APP_TOKEN", "xapp-SECRET-2"),
            ("MOSAIC__SLACK__SIGNING_SECRET", "SECRET-3"),
        ]);
        let config = Config::load_from(Some(f.path()), secrets).unwrap();
        let slack = config.slack.as_ref().unwrap();
        assert_eq!(slack.bot_token.expose(), "xoxb-SECRET-1");
        assert_eq!(slack.app_token.as_ref().unwrap().expose(), "xapp-SECRET-2");
        let (addr, secret) = slack.http.as_ref().unwrap();
        assert_eq!((addr.port(), secret.expose()), (8082, "SECRET-3"));
        let shown = format!("{}{config:?}", config.describe());
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    #[test]
    fn slack_needs_a_bot_token_and_a_way_in() {
        let f = file("[slack]\n");
        let err = Config::load_from(Some(f.path()), env(&[])).unwrap_err();
        assert!(err.to_string().contains("slack.bot_token"), "{err}");
        let only_bot = env(&[("MOSAIC__SLACK__BOT_TOKEN", "xoxb-1")]);
        let err = Config::load_from(Some(f.path()), only_bot).unwrap_err();
        assert!(err.to_string().contains("slack.app_token"), "{err}");
        let f = file("[slack]\nhttp_listen = \"0.0.0.0:8082\"\n");
        let no_secret = env(&[("MOSAIC__SLACK__BOT_TOKEN", "xoxb-1")]);
        let err = Config::load_from(Some(f.path()), no_secret).unwrap_err();
        assert!(err.to_string().contains("slack.signing_secret"), "{err}");
    }
}
