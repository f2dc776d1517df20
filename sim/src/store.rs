//! The simulator's state: jobs with their stored events, the scripts queued
//! per issue, the request log and the stream-connection counters. Everything
//! here is synchronous and lives behind one mutex (held briefly, never across
//! an await); every change to a job wakes its watchers through a `watch`.

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::RecordedRequest;
use crate::faults::Faults;
use crate::model::{Issue, JobEvent, JobResult, RunnerJob, Status, event_id, iso8601};
use crate::plan::{Effect, Planned};
use crate::script::Script;

/// A job and everything the simulator knows about it.
pub(crate) struct JobRecord {
    /// Creation order, for "newest first".
    pub(crate) seq: u64,
    pub(crate) id: String,
    pub(crate) workspace: String,
    pub(crate) issue: Issue,
    pub(crate) origin: Value,
    pub(crate) status: Status,
    pub(crate) progress: u8,
    pub(crate) result: Option<JobResult>,
    pub(crate) error: Option<String>,
    pub(crate) retry_of: Option<String>,
    pub(crate) created_at: SystemTime,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) completed_at: Option<SystemTime>,
    pub(crate) events: Vec<JobEvent>,
    pub(crate) emitted_at: Vec<Instant>,
    /// When each event was first handed to a stream connection (a replay does not count):
    /// with the emit instant, it tells the simulator's own delay from the client's.
    pub(crate) first_sent: Vec<Option<SystemTime>>,
    pub(crate) faults: Faults,
    /// Deleted jobs answer 404 but keep their events: they are the truth a
    /// test compares a client's delivery with.
    pub(crate) deleted: bool,
    /// Stream connects that found the job; numbers them for the faults.
    pub(crate) stream_attempts: usize,
    /// Bumped on every change; streams and `wait_final` watch it.
    pub(crate) updates: watch::Sender<()>,
    pub(crate) timeline: Option<AbortHandle>,
}

impl JobRecord {
    /// The job as the `RunnerJob` resource; serializes in the contract's
    /// field order.
    pub(crate) fn view(&self) -> RunnerJob<'_> {
        let ms = |t: SystemTime| iso8601(t, false);
        RunnerJob {
            id: &self.id,
            kind: "fix",
            status: self.status,
            progress_percent: self.progress,
            issue: &self.issue,
            result: self.result.as_ref(),
            error: self.error.as_deref(),
            retry_of: self.retry_of.as_deref(),
            created_at: ms(self.created_at),
            started_at: self.started_at.map(ms),
            completed_at: self.completed_at.map(ms),
            origin: &self.origin,
        }
    }

    /// The `RunnerJob` JSON of the job.
    pub(crate) fn to_json(&self) -> Value {
        serde_json::to_value(self.view()).unwrap_or(Value::Null)
    }

    /// Whether the job is gone or can no longer change.
    pub(crate) fn is_over(&self) -> bool {
        self.deleted || self.status.is_final()
    }

    /// Appends an event, stamped now, and wakes the watchers.
    pub(crate) fn emit(&mut self, kind: &str, actor: Option<&str>, payload: Value, precise: bool) {
        let now = SystemTime::now();
        self.events.push(JobEvent {
            id: event_id(self.events.len() + 1),
            job_id: self.id.clone(),
            kind: kind.to_owned(),
            timestamp: iso8601(now, precise),
            actor: actor.map(str::to_owned),
            payload,
        });
        self.emitted_at.push(Instant::now());
        self.first_sent.push(None);
        self.updates.send_replace(());
    }

    /// Plays one planned event; false once the job is over (cancelled or
    /// deleted meanwhile), which stops its timeline.
    pub(crate) fn play(&mut self, event: Planned, precise: bool) -> bool {
        if self.is_over() {
            return false;
        }
        let now = SystemTime::now();
        match event.effect {
            Effect::None => {}
            Effect::Queued => self.status = Status::Queued,
            Effect::Started => {
                self.status = Status::Running;
                self.started_at = Some(now);
            }
            Effect::Progress(percent) => self.progress = self.progress.max(percent),
            Effect::Completed { summary, pr_url } => {
                self.status = Status::Completed;
                self.progress = 100;
                self.result = Some(JobResult { summary, pr_url });
                self.completed_at = Some(now);
            }
            Effect::Failed { error } => {
                self.status = Status::Failed;
                self.error = Some(error);
                self.completed_at = Some(now);
            }
        }
        self.emit(&event.kind, event.actor, event.payload, precise);
        !self.is_over()
    }

    /// Cancels the job (`job.cancelled`) and stops its timeline; the status
    /// it already had when that is not allowed.
    pub(crate) fn cancel(&mut self, reason: Option<String>, precise: bool) -> Result<(), Status> {
        if self.status.is_final() {
            return Err(self.status);
        }
        self.status = Status::Cancelled;
        self.completed_at = Some(SystemTime::now());
        if let Some(timeline) = self.timeline.take() {
            timeline.abort();
        }
        let payload = match reason {
            Some(reason) => serde_json::json!({"reason": reason}),
            None => serde_json::json!({}),
        };
        self.emit("job.cancelled", Some("system"), payload, precise);
        Ok(())
    }

    /// Deletes the job: it answers 404 from now on, its timeline stops and
    /// its open streams end.
    pub(crate) fn delete(&mut self) {
        self.deleted = true;
        if let Some(timeline) = self.timeline.take() {
            timeline.abort();
        }
        self.updates.send_replace(());
    }
}

/// Which jobs a list call wants.
#[derive(Debug, Default)]
pub(crate) struct ListFilter {
    pub(crate) owner: Option<String>,
    pub(crate) repo: Option<String>,
    pub(crate) issue: Option<u64>,
}

/// All of the simulator's mutable state.
pub(crate) struct State {
    next_seq: u64,
    pub(crate) jobs: HashMap<String, JobRecord>,
    /// Scripts waiting for the next job of an issue, FIFO.
    scripted: HashMap<IssueKey, VecDeque<(Script, Faults)>>,
    /// Faults for jobs created without a queued script.
    pub(crate) default_faults: Faults,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Every request for a job's stream, whatever the answer.
    pub(crate) stream_connections: HashMap<String, usize>,
    /// Job ids per workspace and issue number, oldest first: the bot lists
    /// an issue's jobs on every start, and scanning every job for each made
    /// the list the simulator's main cost (half its CPU at 5,000 jobs).
    by_issue: HashMap<(String, u64), Vec<String>>,
}

/// An issue as scripts are queued for it; owner and repo are compared without
/// case, as forges do.
type IssueKey = (String, String, u64);

fn issue_key(owner: &str, repo: &str, number: u64) -> IssueKey {
    (owner.to_lowercase(), repo.to_lowercase(), number)
}

impl State {
    pub(crate) fn new(default_faults: Faults) -> Self {
        Self {
            next_seq: 1,
            jobs: HashMap::new(),
            scripted: HashMap::new(),
            default_faults,
            requests: Vec::new(),
            stream_connections: HashMap::new(),
            by_issue: HashMap::new(),
        }
    }

    /// The job `id` as `workspace` sees it: absent when deleted or another
    /// workspace's.
    pub(crate) fn visible(&self, id: &str, workspace: &str) -> Option<&JobRecord> {
        self.jobs
            .get(id)
            .filter(|job| !job.deleted && job.workspace == workspace)
    }

    /// Mutable `visible`.
    pub(crate) fn visible_mut(&mut self, id: &str, workspace: &str) -> Option<&mut JobRecord> {
        self.jobs
            .get_mut(id)
            .filter(|job| !job.deleted && job.workspace == workspace)
    }

    /// Queues `script` and `faults` for the next job of an issue.
    pub(crate) fn script_issue(
        &mut self,
        owner: &str,
        repo: &str,
        number: u64,
        script: Script,
        faults: Faults,
    ) {
        self.scripted
            .entry(issue_key(owner, repo, number))
            .or_default()
            .push_back((script, faults));
    }

    /// The script and faults of a new REST job for `issue`: the next queued
    /// for it, else the defaults.
    pub(crate) fn take_script(
        &mut self,
        issue: &Issue,
        default_script: &Script,
    ) -> (Script, Faults) {
        let key = issue_key(&issue.owner, &issue.repo, issue.number);
        self.scripted
            .get_mut(&key)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| (default_script.clone(), self.default_faults.clone()))
    }

    /// Stores a new `PENDING` job with its `job.created` event.
    pub(crate) fn insert_job(
        &mut self,
        workspace: &str,
        issue: Issue,
        origin: Value,
        retry_of: Option<String>,
        faults: Faults,
        precise: bool,
    ) -> &mut JobRecord {
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = crate::model::job_id(seq);
        let (updates, _) = watch::channel(());
        let mut job = JobRecord {
            seq,
            id: id.clone(),
            workspace: workspace.to_owned(),
            issue,
            origin,
            status: Status::Pending,
            progress: 0,
            result: None,
            error: None,
            retry_of,
            created_at: SystemTime::now(),
            started_at: None,
            completed_at: None,
            events: Vec::new(),
            emitted_at: Vec::new(),
            first_sent: Vec::new(),
            faults,
            deleted: false,
            stream_attempts: 0,
            updates,
            timeline: None,
        };
        job.emit(
            "job.created",
            Some("system"),
            serde_json::json!({}),
            precise,
        );
        self.by_issue
            .entry((workspace.to_owned(), job.issue.number))
            .or_default()
            .push(id.clone());
        self.jobs.entry(id).or_insert(job)
    }

    /// The jobs of `workspace` matching `filter`, newest first, and how many
    /// matched before `limit`.
    pub(crate) fn list(
        &self,
        workspace: &str,
        filter: &ListFilter,
        limit: usize,
    ) -> (Vec<&JobRecord>, usize) {
        let same = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have))
        };
        // With an issue number only that issue's jobs are looked at; the
        // filters below still decide, so both paths answer alike.
        let candidates: Box<dyn Iterator<Item = &JobRecord>> = match filter.issue {
            Some(number) => Box::new(
                self.by_issue
                    .get(&(workspace.to_owned(), number))
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.jobs.get(id)),
            ),
            None => Box::new(self.jobs.values()),
        };
        let mut matching: Vec<&JobRecord> = candidates
            .filter(|job| !job.deleted && job.workspace == workspace)
            .filter(|job| {
                same(&filter.owner, &job.issue.owner) && same(&filter.repo, &job.issue.repo)
            })
            .filter(|job| filter.issue.is_none_or(|n| n == job.issue.number))
            .collect();
        matching.sort_by_key(|job| std::cmp::Reverse(job.seq));
        let total = matching.len();
        matching.truncate(limit);
        (matching, total)
    }
}
