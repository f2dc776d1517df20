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
            tick: Duration::from_millis(1),
            keepalive: Duration::from_secs(15),
            default_script: Script::standard(),
            faults: Faults::default(),
            precise_timestamps: false,
        }
    }
}

impl SimConfig {
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
