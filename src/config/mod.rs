//! Typed configuration: `config/mosaic.toml` (or `--config PATH`), then
//! `MOSAIC__SECTION__KEY` environment variables over it, validated into the
//! types the bot runs on. Every key is documented in `config/mosaic.example.toml`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::command::{ForgeKind, Forges};
use crate::secret::Secret;

mod channels;
mod discord;
mod mattermost;
mod permissions;
mod replicas;
mod slack;
mod workspaces;

pub use channels::{Channel, ChannelSection, RepoPattern};
use channels::{describe_channels, validate_channels};
use permissions::validate_permissions;
pub use permissions::{
    Channels, Permissions, PermissionsSection, Principal, Rule, RuleSection, Who, WhoSection,
};
use workspaces::validate_backend;
pub use workspaces::{Backend, BackendSection, DEFAULT_WORKSPACE, Workspace, WorkspaceSection};

use discord::validate_discord;
pub use discord::{DiscordConfig, DiscordSection};
use mattermost::validate_mattermost;
pub use mattermost::{MattermostConfig, MattermostSection, TokenList};
use replicas::validate_replicas;
pub use replicas::{DEFAULT_LEASE_SECS, ReplicasConfig, ReplicasSection};
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
    pub workspaces: BTreeMap<String, WorkspaceSection>,
    #[serde(default)]
    pub permissions: PermissionsSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub replicas: ReplicasSection,
    pub mattermost: Option<MattermostSection>,
    pub discord: Option<DiscordSection>,
    pub slack: Option<SlackSection>,
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
    /// How old a message may be and still be acted on, in seconds: what
    /// the platforms are searched for on start and after a gap.
    #[serde(default = "default_catch_up_secs")]
    pub catch_up_secs: u64,
}

impl Default for BotSection {
    fn default() -> Self {
        BotSection {
            name: default_name(),
            catch_up_secs: default_catch_up_secs(),
        }
    }
}

fn default_catch_up_secs() -> u64 {
    mosaic_chat::RunContext::DEFAULT_CATCH_UP.as_secs()
}

/// The longest catch-up window: the store remembers a handled message for
/// a day, so an older one could be handled a second time.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(12 * 60 * 60);

/// `[[forges]]`: a forge whose issues the bot works on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeSection {
    pub host: String,
    pub kind: ForgeKind,
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
    /// Messages written longer ago than this are never acted on
    /// (`bot.catch_up_secs`).
    pub catch_up: Duration,
    pub forges: Forges,
    pub channels: Vec<Channel>,
    /// Absent when no `[backend]` section is given (`parse` needs none).
    pub backend: Option<Backend>,
    pub permissions: Permissions,
    pub store_url: Secret,
    pub http_listen: Option<SocketAddr>,
    /// Who this replica is, and how long it holds a job's relay (`[replicas]`).
    pub replicas: ReplicasConfig,
    /// Absent when no `[mattermost]` section is given.
    pub mattermost: Option<MattermostConfig>,
    /// The `[discord]` section, when the bot runs on Discord.
    pub discord: Option<DiscordConfig>,
    /// Absent when no `[slack]` section is given.
    pub slack: Option<SlackConfig>,
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
        let catch_up = Duration::from_secs(self.bot.catch_up_secs);
        if catch_up.is_zero() || catch_up > MAX_CATCH_UP {
            return Err(ConfigError::Key {
                key: "bot.catch_up_secs".into(),
                problem: format!(
                    "{} is not a window the bot can keep: give 1 to {} seconds (default {})",
                    self.bot.catch_up_secs,
                    MAX_CATCH_UP.as_secs(),
                    default_catch_up_secs()
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
        let backend = validate_backend(self.backend, self.workspaces)?;
        let channels = validate_channels(self.channels, &forges, backend.as_ref())?;
        let permissions = validate_permissions(self.permissions)?;
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
        let replicas = validate_replicas(self.replicas)?;
        let mattermost = self.mattermost.map(validate_mattermost).transpose()?;
        let discord = self
            .discord
            .map(|d| validate_discord(d, &bot_name))
            .transpose()?;
        let slack = self.slack.map(validate_slack).transpose()?;
        Ok(Config {
            bot_name,
            catch_up,
            forges,
            channels,
            backend,
            permissions,
            store_url: self.store.url,
            http_listen,
            replicas,
            mattermost,
            discord,
            slack,
        })
    }
}

impl Config {
    /// Every setting, one `key = value` a line, secrets masked: what
    /// `check-config` prints.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "bot.name = {:?}", self.bot_name);
        let _ = writeln!(out, "bot.catch_up_secs = {}", self.catch_up.as_secs());
        for (i, forge) in self.forges.iter().enumerate() {
            let _ = writeln!(out, "forges[{i}] = {} ({})", forge.host, forge.kind);
        }
        describe_channels(&self.channels, self.backend.as_ref(), &mut out);
        match &self.backend {
            Some(b) => b.describe(&mut out),
            None => {
                let _ = writeln!(out, "backend = none");
            }
        }
        self.permissions.describe(&mut out);
        if let Some(m) = &self.mattermost {
            m.describe(&mut out);
        }
        if let Some(d) = &self.discord {
            d.describe(&mut out);
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
        self.replicas.describe(&mut out);
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

    /// The workspace a channel's jobs go to: the one it names, else
    /// `[backend]`'s; `None` when it has neither (commands there are refused).
    pub fn workspace_for(&self, platform: &str, channel: &str) -> Option<&Workspace> {
        let backend = self.backend.as_ref()?;
        match self
            .channel(platform, channel)
            .and_then(|c| c.workspace.as_deref())
        {
            Some(name) => backend.workspace(name),
            None => backend.default_workspace(),
        }
    }
}

#[cfg(test)]
mod tests;
