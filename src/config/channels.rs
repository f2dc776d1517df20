//! `[[channels]]`: per-channel settings (the backend workspace its jobs go to,
//! the repository `#42` means there, the repositories it may start jobs on),
//! validated against the forges and workspaces.

use std::fmt::{self, Write as _};

use mosaic_chat::Platform;
use serde::Deserialize;

use super::ConfigError;
use super::workspaces::Backend;
use crate::command::{Forges, IssueRef, RepoRef};

/// `[[channels]]`: settings of one channel of one platform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSection {
    /// `discord`, `slack`, `mattermost` or `console`.
    pub platform: String,
    /// The platform's channel id.
    pub id: String,
    /// The `[workspaces.NAME]` its jobs go to; default: `[backend]`'s.
    pub workspace: Option<String>,
    /// The repository `#42` refers to in this channel: `owner/repo` on the
    /// default forge, or `host/owner/repo`.
    pub default_repo: Option<String>,
    /// The only repositories jobs may be started on from this channel
    /// (`owner/repo`, or `owner/*` for all of an owner's); default: any.
    pub repos: Option<Vec<String>>,
}

/// A channel with its validated settings.
#[derive(Debug, Clone)]
pub struct Channel {
    pub platform: String,
    pub id: String,
    /// The name of its workspace, when it names one.
    pub workspace: Option<String>,
    pub default_repo: Option<RepoRef>,
    /// `None`: any repository.
    pub repos: Option<Vec<RepoPattern>>,
}

impl Channel {
    /// A channel of `platform` with nothing but a default repository (the
    /// demo's console).
    pub fn with_default_repo(platform: &str, id: &str, repo: Option<RepoRef>) -> Channel {
        Channel {
            platform: platform.to_owned(),
            id: id.to_owned(),
            workspace: None,
            default_repo: repo,
            repos: None,
        }
    }

    /// Whether jobs on `issue`'s repository may be started here.
    pub fn allows(&self, issue: &IssueRef) -> bool {
        self.repos
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(issue)))
    }
}

/// A repository, or all of an owner's (`owner/*`), on one forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPattern {
    host: String,
    owner: String,
    /// `None`: any repository of the owner.
    repo: Option<String>,
}

impl RepoPattern {
    /// Reads `owner/repo`, `owner/*`, or either behind a forge host.
    pub fn parse(text: &str, forges: &Forges) -> Result<RepoPattern, ConfigError> {
        let text = text.trim();
        let (exact, whole_owner) = match text.strip_suffix("/*") {
            // A placeholder repository lets `RepoRef::parse` read host and owner.
            Some(owner) => (format!("{owner}/x"), true),
            None => (text.to_owned(), false),
        };
        let repo = RepoRef::parse(&exact, forges).map_err(|e| ConfigError::Key {
            key: "channels.repos".into(),
            problem: format!("{e}; or `owner/*` for every repository of an owner"),
        })?;
        Ok(RepoPattern {
            host: repo.host.to_string(),
            owner: repo.owner,
            repo: (!whole_owner).then_some(repo.repo),
        })
    }

    /// Whether `issue` lies in this repository (owner and name in any case,
    /// as forges compare them).
    pub fn matches(&self, issue: &IssueRef) -> bool {
        issue.host() == self.host
            && issue.owner().eq_ignore_ascii_case(&self.owner)
            && self
                .repo
                .as_deref()
                .is_none_or(|repo| issue.repo().eq_ignore_ascii_case(repo))
    }
}

impl fmt::Display for RepoPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.repo.as_deref().unwrap_or("*"))
    }
}

pub(super) fn validate_channels(
    sections: Vec<ChannelSection>,
    forges: &Forges,
    backend: Option<&Backend>,
) -> Result<Vec<Channel>, ConfigError> {
    let mut channels: Vec<Channel> = Vec::with_capacity(sections.len());
    for (i, c) in sections.into_iter().enumerate() {
        let key = |field: &str, problem: String| ConfigError::Key {
            key: format!("channels[{i}].{field}"),
            problem,
        };
        if Platform::known(&c.platform).is_none() {
            return Err(key(
                "platform",
                format!(
                    "`{}` is not a platform: write discord, slack, mattermost or console",
                    c.platform
                ),
            ));
        }
        if channels
            .iter()
            .any(|known| known.platform == c.platform && known.id == c.id)
        {
            return Err(key(
                "id",
                format!("{}:{} is listed twice: keep one entry", c.platform, c.id),
            ));
        }
        if let Some(name) = &c.workspace
            && backend.and_then(|b| b.workspace(name)).is_none()
        {
            return Err(key(
                "workspace",
                format!("`{name}` is not a workspace: declare it as [workspaces.{name}]"),
            ));
        }
        let default_repo = c
            .default_repo
            .as_deref()
            .map(|r| RepoRef::parse(r, forges))
            .transpose()
            .map_err(|e| key("default_repo", e.to_string()))?;
        let repos = c
            .repos
            .map(|list| {
                list.iter()
                    .map(|r| RepoPattern::parse(r, forges))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| match e {
                ConfigError::Key { problem, .. } => key("repos", problem),
                other => other,
            })?;
        let channel = Channel {
            platform: c.platform,
            id: c.id,
            workspace: c.workspace,
            default_repo,
            repos,
        };
        if let Some(repo) = &channel.default_repo {
            let issue = IssueRef::new(
                &repo.host,
                &repo.owner,
                &repo.repo,
                1,
                crate::command::IssueKind::Issue,
            );
            if !channel.allows(&issue) {
                return Err(key(
                    "default_repo",
                    format!("`{repo}` is not among the channel's repos: add it there"),
                ));
            }
        }
        channels.push(channel);
    }
    Ok(channels)
}

/// One line per channel (`check-config`).
pub(super) fn describe_channels(channels: &[Channel], backend: Option<&Backend>, out: &mut String) {
    let fallback = if backend.and_then(Backend::default_workspace).is_some() {
        "default"
    } else {
        "none (refused)"
    };
    for (i, c) in channels.iter().enumerate() {
        let repo = c
            .default_repo
            .as_ref()
            .map_or("none".to_owned(), |r| format!("{}/{}", r.host, r));
        let workspace = c.workspace.as_deref().unwrap_or(fallback);
        let repos = c.repos.as_ref().map_or("any".to_owned(), |list| {
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        });
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "channels[{i}] = {}:{} workspace={workspace} default_repo={repo} repos={repos}",
            c.platform, c.id
        );
    }
}
