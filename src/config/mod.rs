//! Typed configuration: `config/mosaic.toml` (or `--config PATH`), then
//! `MOSAIC__SECTION__KEY` environment variables over it, validated into the
//! types the bot runs on. Every key is documented in `config/mosaic.example.toml`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::command::{ForgeKind, Forges, RepoRef};
use crate::secret::Secret;

mod mattermost;
mod slack;

use mattermost::validate_mattermost;
pub use mattermost::{MattermostConfig, MattermostSection};
use slack::validate_slack;
pub use slack::{SlackConfig, SlackSection};

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_PATH: &str = "config/mosaic.toml";

/// What the configuration file and environment hold, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub bot: BotSection,
    #[serde(default = "default_forges")]
    pub forges: Vec<ForgeSection>,
    #[serde(default)]
    pub channels: Vec<ChannelSection>,
    pub backend: Option<BackendSection>,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub http: HttpSection,
    pub mattermost: Option<MattermostSection>,
    pub discord: Option<DiscordSection>,
    pub slack: Option<SlackSection>,
}

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
}

/// `[backend]`: the Mosaic Stack API the jobs run on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// Base URL, e.g. `http://localhost:3001`.
    pub url: String,
    /// The workspace id sent as `X-Workspace-Id`.
    pub workspace: String,
    /// The API token; prefer `MOSAIC__BACKEND__TOKEN` or `token_file`.
    pub token: Option<Secret>,
    /// A file holding the token (a mounted secret); read at start.
    pub token_file: Option<PathBuf>,
    /// Seconds of silence after which an event stream is presumed dead.
    pub stall_timeout_secs: Option<u64>,
}

/// `[store]`: where the bot keeps its state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://path` (created on first start), `sqlite::memory:`, or
    /// `postgres://…`.
    #[serde(default = "default_store_url")]
    pub url: Secret,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            url: default_store_url(),
        }
    }
}

/// `[http]`: the health and metrics endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Address to serve `/healthz` and `/readyz` on, e.g. `0.0.0.0:8080`.
    /// `serve` defaults to `127.0.0.1:8080`; `console` serves none unless set.
    pub listen: Option<String>,
}

fn default_store_url() -> Secret {
    // A URL may hold a password (PostgreSQL), so it is kept as a secret.
    Secret::new("sqlite://mosaic.db")
}

/// `[bot]`: who the bot is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotSection {
    /// The name users mention (`@mosaic`) and type after `/`.
    #[serde(default = "default_name")]
    pub name: String,
}

impl Default for BotSection {
    fn default() -> Self {
        BotSection {
            name: default_name(),
        }
    }
}

/// `[[forges]]`: a forge whose issues the bot works on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeSection {
    pub host: String,
    pub kind: ForgeKind,
}

/// `[[channels]]`: settings of one channel of one platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSection {
    /// `discord`, `slack`, `mattermost` or `console`.
    pub platform: String,
    /// The platform's channel id.
    pub id: String,
    /// The repository `#42` refers to in this channel: `owner/repo` on the
    /// default forge, or `host/owner/repo`.
    pub default_repo: Option<String>,
}

fn default_name() -> String {
    "mosaic".to_owned()
}

fn default_forges() -> Vec<ForgeSection> {
    vec![ForgeSection {
        host: "github.com".to_owned(),
        kind: ForgeKind::Github,
    }]
}

/// A configuration problem, naming the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: Box<config::ConfigError>,
    },
    #[error("configuration: {0}")]
    Invalid(Box<config::ConfigError>),
    #[error("configuration key `{key}`: {problem}")]
    Key { key: String, problem: String },
}

/// The validated configuration the bot runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub bot_name: String,
    pub forges: Forges,
    pub channels: Vec<Channel>,
    /// Absent when no `[backend]` section is given (`parse` needs none).
    pub backend: Option<Backend>,
    pub store_url: Secret,
    pub http_listen: Option<SocketAddr>,
    /// Absent when no `[mattermost]` section is given.
    pub mattermost: Option<MattermostConfig>,
    /// The `[discord]` section, when the bot runs on Discord.
    pub discord: Option<DiscordSection>,
    /// Absent when no `[slack]` section is given.
    pub slack: Option<SlackConfig>,
}

/// The validated `[backend]` section.
#[derive(Debug, Clone)]
pub struct Backend {
    pub url: String,
    pub workspace: String,
    pub token: Secret,
    pub stall_timeout: Duration,
}

/// A channel with its validated settings.
#[derive(Debug, Clone)]
pub struct Channel {
    pub platform: String,
    pub id: String,
    pub default_repo: Option<RepoRef>,
}

impl Config {
    /// Loads `path` (which must exist) or, without one, [`DEFAULT_PATH`] when
    /// present; then the `MOSAIC__*` environment; then validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(path, std::env::vars())
    }

    /// As [`Config::load`], with the environment given (for tests).
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        match path {
            Some(path) => {
                builder = builder.add_source(config::File::from(path).required(true));
            }
            None if Path::new(DEFAULT_PATH).exists() => {
                builder = builder.add_source(config::File::with_name(DEFAULT_PATH).required(true));
            }
            None => {}
        }
        let env: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MOSAIC__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("MOSAIC")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env)),
        );
        let built = builder.build().map_err(|e| match path {
            Some(path) => ConfigError::Read {
                path: path.to_owned(),
                source: Box::new(e),
            },
            None => ConfigError::Invalid(Box::new(e)),
        })?;
        let raw: RawConfig = built
            .try_deserialize()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        raw.validate()
    }
}

impl RawConfig {
    /// Checks every key and builds the typed configuration.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let bot_name = self.bot.name.trim().trim_start_matches('@').to_owned();
        if bot_name.is_empty() || bot_name.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(ConfigError::Key {
                key: "bot.name".into(),
                problem: format!(
                    "`{}` is not a name users can mention: use one word, like `mosaic`",
                    self.bot.name
                ),
            });
        }
        let forges =
            Forges::new(self.forges.into_iter().map(|f| (f.host, f.kind))).map_err(|e| {
                ConfigError::Key {
                    key: "forges".into(),
                    problem: e.to_string(),
                }
            })?;
        let channels = self
            .channels
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let default_repo = c
                    .default_repo
                    .as_deref()
                    .map(|r| RepoRef::parse(r, &forges))
                    .transpose()
                    .map_err(|e| ConfigError::Key {
                        key: format!("channels[{i}].default_repo"),
                        problem: e.to_string(),
                    })?;
                Ok(Channel {
                    platform: c.platform,
                    id: c.id,
                    default_repo,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        let backend = self.backend.map(validate_backend).transpose()?;
        let http_listen = self
            .http
            .listen
            .as_deref()
            .map(|addr| {
                addr.parse::<SocketAddr>().map_err(|_| ConfigError::Key {
                    key: "http.listen".into(),
                    problem: format!(
                        "`{addr}` is not an address: write `host:port`, like `0.0.0.0:8080`"
                    ),
                })
            })
            .transpose()?;
        let mattermost = self.mattermost.map(validate_mattermost).transpose()?;
        if let Some(d) = &self.discord {
            let problem = if d.token.is_empty() {
                Some(("discord.token", "is empty: set MOSAIC__DISCORD__TOKEN"))
            } else if d.application_id == 0 || d.guild_id == Some(0) {
                Some(("discord", "ids are never 0: copy them from Discord"))
            } else {
                None
            };
            if let Some((key, problem)) = problem {
                return Err(ConfigError::Key {
                    key: key.into(),
                    problem: problem.into(),
                });
            }
        }
        let slack = self.slack.map(validate_slack).transpose()?;
        Ok(Config {
            bot_name,
            forges,
            channels,
            backend,
            store_url: self.store.url,
            http_listen,
            mattermost,
            discord: self.discord,
            slack,
        })
    }
}

fn validate_backend(section: BackendSection) -> Result<Backend, ConfigError> {
    let key = |key: &str, problem: String| ConfigError::Key {
        key: format!("backend.{key}"),
        problem,
    };
    let url = section.url.trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(key(
            "url",
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    }
    if section.workspace.trim().is_empty() {
        return Err(key("workspace", "is empty: give the workspace id".into()));
    }
    let token = match (section.token, section.token_file) {
        (Some(_), Some(_)) => {
            return Err(key(
                "token",
                "and backend.token_file are both set: keep one".into(),
            ));
        }
        (Some(token), None) => token,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|t| Secret::new(t.trim()))
            .map_err(|e| key("token_file", format!("cannot read {}: {e}", path.display())))?,
        (None, None) => {
            return Err(key(
                "token",
                "is missing: set MOSAIC__BACKEND__TOKEN or backend.token_file".into(),
            ));
        }
    };
    if token.is_empty() {
        return Err(key("token", "is empty".into()));
    }
    let stall_timeout = Duration::from_secs(section.stall_timeout_secs.unwrap_or(45).max(1));
    Ok(Backend {
        url,
        workspace: section.workspace.trim().to_owned(),
        token,
        stall_timeout,
    })
}

impl Config {
    /// Every setting, one `key = value` a line, secrets masked: what
    /// `check-config` prints.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "bot.name = {:?}", self.bot_name);
        for (i, forge) in self.forges.iter().enumerate() {
            let _ = writeln!(out, "forges[{i}] = {} ({})", forge.host, forge.kind);
        }
        for (i, c) in self.channels.iter().enumerate() {
            let repo = c
                .default_repo
                .as_ref()
                .map_or("none".to_owned(), |r| format!("{}/{}", r.host, r));
            let _ = writeln!(
                out,
                "channels[{i}] = {}:{} default_repo={repo}",
                c.platform, c.id
            );
        }
        match &self.backend {
            Some(b) => {
                let _ = writeln!(out, "backend.url = {:?}", b.url);
                let _ = writeln!(out, "backend.workspace = {:?}", b.workspace);
                let _ = writeln!(out, "backend.token = {}", b.token);
                let _ = writeln!(
                    out,
                    "backend.stall_timeout = {}s",
                    b.stall_timeout.as_secs()
                );
            }
            None => {
                let _ = writeln!(out, "backend = none");
            }
        }
        if let Some(m) = &self.mattermost {
            m.describe(&mut out);
        }
        if let Some(d) = &self.discord {
            let guild = d.guild_id.map_or("global".to_owned(), |g| g.to_string());
            let _ = writeln!(
                out,
                "discord = application {} commands {guild} token {}",
                d.application_id, d.token
            );
        }
        if let Some(s) = &self.slack {
            s.describe(&mut out);
        }
        let _ = writeln!(out, "store.url = {}", mask_url(self.store_url.expose()));
        let _ = writeln!(
            out,
            "http.listen = {}",
            self.http_listen
                .map_or("default".to_owned(), |a| a.to_string())
        );
        out
    }
}

/// A database URL with any password replaced by `***`.
fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

impl Config {
    /// The settings of a channel, if it has any.
    pub fn channel(&self, platform: &str, id: &str) -> Option<&Channel> {
        self.channels
            .iter()
            .find(|c| c.platform == platform && c.id == id)
    }
}

#[cfg(test)]
mod tests;
