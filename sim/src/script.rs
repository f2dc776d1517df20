//! Scripts: what a simulated fix job does, step by step, and how it ends.
//! A script is data; `plan.rs` turns it into the job's event sequence.
//!
//! Texts may hold the placeholders `{owner}`, `{repo}`, `{number}` (the issue)
//! and `{pr}` (a pull-request number derived from the issue), filled in when a
//! job is planned, so one script reads right for every issue.

use OutputStream::{Stderr, Stdout};

/// What a job does: its steps in order, the quality gates after them, and
/// its outcome.
#[derive(Clone, Debug)]
pub struct Script {
    /// The steps, run in order; each becomes `step.started` … `step.completed`.
    pub steps: Vec<Step>,
    /// The gates, run after the last step when the job completes.
    pub gates: Vec<Gate>,
    /// How the job ends.
    pub outcome: Outcome,
}

/// One step of a job.
#[derive(Clone, Debug)]
pub struct Step {
    /// The step's name, as `step` in every step payload.
    pub name: String,
    /// `step.progress` events: (percent of this step, message).
    pub progress: Vec<(u8, String)>,
    /// `step.output` events: (stream, text).
    pub output: Vec<(OutputStream, String)>,
    /// `ai.tool_called` events: (tool, short input summary).
    pub tool_calls: Vec<(String, String)>,
}

/// The stream a `step.output` line was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStream {
    /// `"stdout"`
    Stdout,
    /// `"stderr"`
    Stderr,
}

impl OutputStream {
    /// The wire spelling of the stream.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// A quality gate run after the steps (`typecheck`, `lint`, `build`, `test`…).
#[derive(Clone, Debug)]
pub struct Gate {
    /// The gate's name, as `gate` in its payloads.
    pub name: String,
    /// `gate.passed` when true, `gate.failed` when false. A failed gate is
    /// reported and the job still ends as its `Outcome` says.
    pub passes: bool,
    /// `details` of the verdict event.
    pub details: String,
}

/// How a job ends.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// `job.completed` with `summary` and, when given, `prUrl`.
    Completed {
        /// The result summary.
        summary: String,
        /// The pull request opened, if any.
        pr_url: Option<String>,
    },
    /// The last step fails (`step.failed`), then `job.failed` with `error`;
    /// no gate runs.
    Failed {
        /// The job's error.
        error: String,
    },
}

impl Step {
    /// A step named `name` with no events besides start and end.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            progress: Vec::new(),
            output: Vec::new(),
            tool_calls: Vec::new(),
        }
    }

    fn progress(mut self, percent: u8, message: &str) -> Self {
        self.progress.push((percent, message.to_owned()));
        self
    }

    fn out(mut self, stream: OutputStream, text: &str) -> Self {
        self.output.push((stream, text.to_owned()));
        self
    }

    fn tool(mut self, tool: &str, input: &str) -> Self {
        self.tool_calls.push((tool.to_owned(), input.to_owned()));
        self
    }
}

impl Gate {
    fn passing(name: &str, details: &str) -> Self {
        Self {
            name: name.to_owned(),
            passes: true,
            details: details.to_owned(),
        }
    }
}

impl Script {
    /// Six steps (Clone repository, Reproduce issue, Plan fix, Apply fix,
    /// Run tests, Open pull request) with progress, output and tool calls;
    /// the gates typecheck, lint, build and test pass; completes with a
    /// summary and a github.com pull-request URL.
    pub fn standard() -> Self {
        Self {
            steps: standard_steps(),
            gates: vec![
                Gate::passing("typecheck", "tsc --noEmit: 0 errors"),
                Gate::passing("lint", "eslint: 0 problems"),
                Gate::passing("build", "build succeeded in 41 s"),
                Gate::passing("test", "128 passed, 0 failed"),
            ],
            outcome: Outcome::Completed {
                summary: "Fixed the null check in the header parser (issue #{number})".to_owned(),
                pr_url: Some("https://github.com/{owner}/{repo}/pull/{pr}".to_owned()),
            },
        }
    }

    /// The standard steps up to "Run tests", which fails: `step.failed` and
    /// `job.failed` with an error naming the failing tests.
    pub fn failing() -> Self {
        let mut steps = standard_steps();
        steps.truncate(5);
        if let Some(run_tests) = steps.last_mut() {
            *run_tests = Step::named("Run tests")
                .progress(40, "Running 128 tests")
                .out(Stdout, "Tests: 3 failed, 125 passed, 128 total")
                .out(
                    Stderr,
                    "FAIL src/parser.test.ts\n  ● parser › handles null input",
                )
                .tool("shell.run", "npm test");
        }
        Self {
            steps,
            gates: Vec::new(),
            outcome: Outcome::Failed {
                error: "Run tests failed: 3 of 128 tests failed (parser › handles null input)"
                    .to_owned(),
            },
        }
    }

    /// One step, no gates, completes: a job of about ten events for quick
    /// tests.
    pub fn tiny() -> Self {
        Self {
            steps: vec![
                Step::named("Apply fix")
                    .progress(100, "1 file changed")
                    .out(Stdout, " src/parser.ts | 2 +-")
                    .tool("fs.edit", "src/parser.ts"),
            ],
            gates: Vec::new(),
            outcome: Outcome::Completed {
                summary: "Fixed issue #{number}".to_owned(),
                pr_url: Some("https://github.com/{owner}/{repo}/pull/{pr}".to_owned()),
            },
        }
    }

    /// Exactly 22 events with a distinct text each (`job.created`, queued,
    /// started, three steps of 6, 6 and 5 events, the artifact and
    /// `job.completed`), for the whole-binary bench (`benches/relay.rs`): at a
    /// 250 ms tick a job emits 4 events a second for 5.5 s, and every event's
    /// rendering in a thread can be told from the others.
    pub fn bench() -> Self {
        Self {
            steps: vec![
                Step::named("alpha")
                    .progress(50, "alpha-progress")
                    .out(Stdout, "alpha-output")
                    .tool("fs.read", "alpha-tool"),
                Step::named("beta")
                    .progress(50, "beta-progress")
                    .out(Stdout, "beta-output")
                    .tool("fs.edit", "beta-tool"),
                Step::named("gamma")
                    .progress(50, "gamma-progress")
                    .out(Stdout, "gamma-output"),
            ],
            gates: Vec::new(),
            outcome: Outcome::Completed {
                summary: "bench-summary {owner}/{repo}#{number}".to_owned(),
                pr_url: Some("https://github.com/{owner}/{repo}/pull/{pr}".to_owned()),
            },
        }
    }

    /// The script named `name` (`standard`, `failing`, `tiny`, `bench`).
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(Self::standard()),
            "failing" => Some(Self::failing()),
            "tiny" => Some(Self::tiny()),
            "bench" => Some(Self::bench()),
            _ => None,
        }
    }
}

fn standard_steps() -> Vec<Step> {
    vec![
        Step::named("Clone repository")
            .progress(50, "Fetching objects")
            .progress(100, "Checked out main")
            .out(Stdout, "Cloning into '{repo}'...")
            .out(Stdout, "Receiving objects: 100% (1342/1342), done.")
            .tool("git.clone", "{owner}/{repo}@main"),
        Step::named("Reproduce issue")
            .progress(30, "Reading issue #{number}")
            .progress(100, "Reproduced with a failing test")
            .out(Stdout, "> vitest run src/parser.test.ts")
            .out(
                Stderr,
                "TypeError: Cannot read properties of null (reading 'name')",
            )
            .tool("fs.read", "src/parser.ts")
            .tool("shell.run", "npx vitest run src/parser.test.ts"),
        Step::named("Plan fix")
            .progress(100, "Plan ready: guard the null case in parseHeader")
            .out(
                Stdout,
                "Plan: 1. guard null headers  2. add a regression test",
            )
            .tool("ai.plan", "2-point plan"),
        Step::named("Apply fix")
            .progress(50, "Editing src/parser.ts")
            .progress(100, "2 files changed")
            .out(Stdout, " src/parser.ts      | 6 ++++--")
            .out(Stdout, " src/parser.test.ts | 9 +++++++++")
            .tool("fs.edit", "src/parser.ts")
            .tool("fs.edit", "src/parser.test.ts"),
        Step::named("Run tests")
            .progress(40, "Running 128 tests")
            .progress(100, "128 passed")
            .out(Stdout, "Tests: 128 passed, 128 total")
            .tool("shell.run", "npm test"),
        Step::named("Open pull request")
            .progress(100, "Pull request opened")
            .out(Stdout, "https://github.com/{owner}/{repo}/pull/{pr}")
            .tool(
                "github.create_pull_request",
                "fix: guard null headers (#{number})",
            ),
    ]
}
