//! `SimConfig`: what a simulator accepts (token, workspaces), its pace (tick,
//! keep-alive) and the defaults new jobs take (script, faults).

use std::time::Duration;

use crate::faults::Faults;
use crate::script::Script;

/// How a simulator behaves. `Default` and `fast()` suit tests; `demo()` suits
/// a person watching the bot relay a job.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The API token every call must bear (`Authorization: Bearer …`).
    pub token: String,
    /// The workspaces accepted in `X-Workspace-Id`; the first is the one
    /// `Sim::workspace` and `Sim::create_job` use.
    pub workspaces: Vec<String>,
    /// Workspaces with an API token of their own, `(workspace, token)`: the
    /// real service's tokens belong to a workspace member, so a call in one
    /// of these must bear its token, and that token is refused (403) in any
    /// other workspace. They are accepted besides `workspaces`.
    pub workspace_tokens: Vec<(String, String)>,
    /// The pause between two events of a job's timeline.
    pub tick: Duration,
    /// The silence after which a stream writes `: keep-alive`.
    pub keepalive: Duration,
    /// The script of jobs with no script queued for their issue.
    pub default_script: Script,
    /// The faults of jobs with no faults queued for their issue.
    pub faults: Faults,
    /// Event timestamps with microseconds instead of milliseconds, for
    /// latency benches. Job timestamps keep milliseconds.
    pub precise_timestamps: bool,
}

impl Default for SimConfig {
    /// Token `sim-token`, one workspace, 1 ms tick, 15 s keep-alive, the
    /// standard script, no faults.
    fn default() -> Self {
        Self {
            token: "sim-token".to_owned(),
            workspaces: vec!["00000000-0000-4000-8000-0000000000aa".to_owned()],
            workspace_tokens: Vec::new(),
            tick: Duration::from_millis(1),
            keepalive: Duration::from_secs(15),
            default_script: Script::standard(),
            faults: Faults::default(),
            precise_timestamps: false,
        }
    }
}

impl SimConfig {
    /// Adds a workspace whose calls must bear `token` (see `workspace_tokens`).
    pub fn with_workspace_token(mut self, workspace: &str, token: &str) -> Self {
        self.workspace_tokens
            .push((workspace.to_owned(), token.to_owned()));
        self
    }

    /// The token a call in `workspace` must bear, if the workspace is known.
    pub(crate) fn token_of(&self, workspace: &str) -> Option<&str> {
        if let Some((_, token)) = self.workspace_tokens.iter().find(|(w, _)| w == workspace) {
            return Some(token);
        }
        self.workspaces
            .iter()
            .any(|w| w == workspace)
            .then_some(self.token.as_str())
    }

    /// Whether any workspace accepts `token`.
    pub(crate) fn knows_token(&self, token: &str) -> bool {
        token == self.token || self.workspace_tokens.iter().any(|(_, t)| t == token)
    }

    /// For tests: a 1 ms tick, so a standard job ends well within a second.
    pub fn fast() -> Self {
        Self::default()
    }

    /// For people: a 700 ms tick, a standard job takes about a minute.
    pub fn demo() -> Self {
        Self {
            tick: Duration::from_millis(700),
            ..Self::default()
        }
    }
}
