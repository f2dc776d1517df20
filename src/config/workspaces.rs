//! Backend workspaces: `[backend]` (the URL, and the default workspace with its
//! token) and `[workspaces.NAME]` (more workspaces, one token each), validated
//! into the list of workspaces the bot may start jobs in. Which channel uses
//! which workspace is the channel's `workspace` key (`mod.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::secret::Secret;

/// The name of the workspace `[backend]` itself declares.
pub const DEFAULT_WORKSPACE: &str = "default";

/// `[backend]`: the Mosaic Stack API the jobs run on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// Base URL, e.g. `http://localhost:3001`.
    pub url: String,
    /// The workspace of every channel that names none; without it, such a
    /// channel is refused.
    pub workspace: Option<String>,
    /// That workspace's API token; prefer `MOSAIC__BACKEND__TOKEN` or `token_file`.
    pub token: Option<Secret>,
    /// A file holding the token (a mounted secret); read at start.
    pub token_file: Option<PathBuf>,
    /// Seconds of silence after which an event stream is presumed dead.
    pub stall_timeout_secs: Option<u64>,
}

/// `[workspaces.NAME]`: one more backend workspace, with its own token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceSection {
    /// The workspace id sent as `X-Workspace-Id`.
    pub id: String,
    /// Its API token; prefer `MOSAIC__WORKSPACES__NAME__TOKEN` or `token_file`.
    pub token: Option<Secret>,
    /// A file holding the token; read at start.
    pub token_file: Option<PathBuf>,
}

/// The validated backend settings.
#[derive(Debug, Clone)]
pub struct Backend {
    pub url: String,
    pub stall_timeout: Duration,
    /// Every workspace the bot may use; [`DEFAULT_WORKSPACE`] among them when
    /// `[backend]` names one.
    pub workspaces: Vec<Workspace>,
}

/// A backend workspace and the token the bot uses in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// How the configuration names it (`default`, or the `[workspaces.NAME]`).
    pub name: String,
    /// The id sent as `X-Workspace-Id`.
    pub id: String,
    pub token: Secret,
}

impl Backend {
    /// One URL and one workspace, which every channel uses (console flags,
    /// the demo, tests).
    pub fn single(url: &str, workspace: &str, token: Secret) -> Backend {
        Backend {
            url: url.trim_end_matches('/').to_owned(),
            stall_timeout: Duration::from_secs(45),
            workspaces: vec![Workspace {
                name: DEFAULT_WORKSPACE.to_owned(),
                id: workspace.to_owned(),
                token,
            }],
        }
    }

    /// The workspace named `name`.
    pub fn workspace(&self, name: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.name == name)
    }

    /// The workspace of channels that name none, if `[backend]` gives one.
    pub fn default_workspace(&self) -> Option<&Workspace> {
        self.workspace(DEFAULT_WORKSPACE)
    }

    /// Its settings, one `key = value` a line, tokens masked (`check-config`).
    pub fn describe(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "backend.url = {:?}", self.url);
        let _ = writeln!(
            out,
            "backend.stall_timeout = {}s",
            self.stall_timeout.as_secs()
        );
        if self.default_workspace().is_none() {
            let _ = writeln!(
                out,
                "backend.workspace = none (channels without a workspace are refused)"
            );
        }
        for w in &self.workspaces {
            let _ = writeln!(out, "workspace {} = {:?} token {}", w.name, w.id, w.token);
        }
    }
}

/// Validates `[backend]` and `[workspaces.*]` together: workspaces need the URL.
pub(super) fn validate_backend(
    section: Option<BackendSection>,
    workspaces: BTreeMap<String, WorkspaceSection>,
) -> Result<Option<Backend>, ConfigError> {
    let Some(section) = section else {
        if let Some(name) = workspaces.keys().next() {
            return Err(key_error(
                &format!("workspaces.{name}"),
                "needs a [backend] section with the backend's url".into(),
            ));
        }
        return Ok(None);
    };
    let url = section.url.trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(key_error(
            "backend.url",
            format!("`{url}` is not an http:// or https:// URL"),
        ));
    }
    let mut list = Vec::with_capacity(workspaces.len() + 1);
    match section.workspace.as_deref().map(str::trim) {
        Some("") => {
            return Err(key_error(
                "backend.workspace",
                "is empty: give the workspace id, or leave the key out".into(),
            ));
        }
        Some(id) => list.push(Workspace {
            name: DEFAULT_WORKSPACE.to_owned(),
            id: id.to_owned(),
            token: read_token("backend", section.token, section.token_file)?,
        }),
        None if section.token.is_some() || section.token_file.is_some() => {
            return Err(key_error(
                "backend.token",
                "is set but backend.workspace is not: name the workspace the token belongs to"
                    .into(),
            ));
        }
        None => {}
    }
    for (name, w) in workspaces {
        let prefix = format!("workspaces.{name}");
        if name == DEFAULT_WORKSPACE {
            return Err(key_error(
                &prefix,
                "`default` is the workspace of [backend]: choose another name".into(),
            ));
        }
        let id = w.id.trim();
        if id.is_empty() {
            return Err(key_error(
                &format!("{prefix}.id"),
                "is empty: give the workspace id".into(),
            ));
        }
        if let Some(twin) = list.iter().find(|known| known.id == id) {
            return Err(key_error(
                &format!("{prefix}.id"),
                format!("is also the id of workspace `{}`: keep one", twin.name),
            ));
        }
        list.push(Workspace {
            token: read_token(&prefix, w.token, w.token_file)?,
            name,
            id: id.to_owned(),
        });
    }
    if list.is_empty() {
        return Err(key_error(
            "backend.workspace",
            "is missing and no [workspaces.NAME] is given: the bot has no workspace to start jobs in"
                .into(),
        ));
    }
    Ok(Some(Backend {
        url,
        stall_timeout: Duration::from_secs(section.stall_timeout_secs.unwrap_or(45).max(1)),
        workspaces: list,
    }))
}

/// A token given inline (from the environment, preferably) or by a file.
fn read_token(
    prefix: &str,
    token: Option<Secret>,
    file: Option<PathBuf>,
) -> Result<Secret, ConfigError> {
    let env = format!(
        "MOSAIC__{}__TOKEN",
        prefix.to_uppercase().replace('.', "__")
    );
    let token = match (token, file) {
        (Some(_), Some(_)) => {
            return Err(key_error(
                &format!("{prefix}.token"),
                format!("and {prefix}.token_file are both set: keep one"),
            ));
        }
        (Some(token), None) => token,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|t| Secret::new(t.trim()))
            .map_err(|e| {
                key_error(
                    &format!("{prefix}.token_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?,
        (None, None) => {
            return Err(key_error(
                &format!("{prefix}.token"),
                format!("is missing: set {env} or {prefix}.token_file"),
            ));
        }
    };
    if token.is_empty() {
        return Err(key_error(&format!("{prefix}.token"), "is empty".into()));
    }
    Ok(token)
}

fn key_error(key: &str, problem: String) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        problem,
    }
}
