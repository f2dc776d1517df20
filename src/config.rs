//! Typed configuration: `config/mosaic.toml` (or `--config PATH`), then
//! `MOSAIC__SECTION__KEY` environment variables over it, validated into the
//! types the bot runs on. Every key is documented in `config/mosaic.example.toml`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::command::{ForgeKind, Forges, RepoRef};

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
        Ok(Config {
            bot_name,
            forges,
            channels,
        })
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
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn defaults_without_a_file() {
        let config = Config::load_from(Some(file("").path()), no_env()).unwrap();
        assert_eq!(config.bot_name, "mosaic");
        assert_eq!(config.forges.hosts(), "github.com");
        assert!(config.channels.is_empty());
    }

    #[test]
    fn file_values_then_environment_over_them() {
        let f = file(
            r#"
            [bot]
            name = "fixer"
            [[forges]]
            host = "gitlab.example.com"
            kind = "gitlab"
            [[channels]]
            platform = "slack"
            id = "C1"
            default_repo = "group/sub/api"
            "#,
        );
        let env = vec![("MOSAIC__BOT__NAME".to_owned(), "mender".to_owned())];
        let config = Config::load_from(Some(f.path()), env).unwrap();
        assert_eq!(config.bot_name, "mender");
        assert_eq!(config.forges.hosts(), "gitlab.example.com");
        let repo = config
            .channel("slack", "C1")
            .unwrap()
            .default_repo
            .as_ref()
            .unwrap();
        assert_eq!(
            (repo.owner.as_str(), repo.repo.as_str()),
            ("group/sub", "api")
        );
        assert!(config.channel("slack", "C2").is_none());
    }

    #[test]
    fn problems_name_the_key() {
        let bad_repo =
            file("[[channels]]\nplatform = \"slack\"\nid = \"C1\"\ndefault_repo = \"acme\"\n");
        let err = Config::load_from(Some(bad_repo.path()), no_env()).unwrap_err();
        assert!(
            err.to_string().contains("channels[0].default_repo"),
            "{err}"
        );

        let bad_name = file("[bot]\nname = \"two words\"\n");
        let err = Config::load_from(Some(bad_name.path()), no_env()).unwrap_err();
        assert!(err.to_string().contains("bot.name"), "{err}");

        let typo = file("[bot]\nnmae = \"x\"\n");
        let err = Config::load_from(Some(typo.path()), no_env()).unwrap_err();
        assert!(err.to_string().contains("nmae"), "{err}");

        let bad_kind = file("[[forges]]\nhost = \"x.org\"\nkind = \"svn\"\n");
        let err = Config::load_from(Some(bad_kind.path()), no_env()).unwrap_err();
        assert!(err.to_string().contains("svn"), "{err}");
    }

    #[test]
    fn a_missing_file_given_explicitly_is_an_error() {
        let err =
            Config::load_from(Some(Path::new("/nonexistent/mosaic.toml")), no_env()).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/mosaic.toml"),
            "{err}"
        );
    }
}
