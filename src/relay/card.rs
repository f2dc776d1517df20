//! The progress card: one message per job, edited in place. [`ProgressCard`] is pure: it is
//! fed the job as fetched and each event, and renders its state as [`Markup`] for a given
//! moment, with a progress bar in the platform's dialect. It never holds step output; its
//! buttons are `buttons.rs`'s.

use std::time::{Duration, SystemTime};

use mosaic_chat::{Markup, Span};

use super::render::{format_elapsed, is_web_url};
use crate::backend::{EventKind, JobEvent, JobStatus, RunnerJob};
use crate::command::IssueRef;

/// Where a job is, as the card shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardState {
    /// ⏳ created or waiting for a runner.
    Queued,
    /// 🔧 a runner works on it.
    Running,
    /// ✅ final: done.
    Completed,
    /// ❌ final: failed.
    Failed,
    /// 🛑 final: cancelled.
    Cancelled,
    /// 🗑️ the backend no longer knows the job.
    Deleted,
}

impl CardState {
    /// The emoji and word the card shows.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            CardState::Queued => ("⏳", "Queued"),
            CardState::Running => ("🔧", "Running"),
            CardState::Completed => ("✅", "Completed"),
            CardState::Failed => ("❌", "Failed"),
            CardState::Cancelled => ("🛑", "Cancelled"),
            CardState::Deleted => ("🗑️", "Deleted on the backend"),
        }
    }

    /// The card state of a backend status; `None` for a status the card cannot name.
    pub fn from_status(status: &JobStatus) -> Option<CardState> {
        match status {
            JobStatus::Pending | JobStatus::Queued => Some(CardState::Queued),
            JobStatus::Running => Some(CardState::Running),
            JobStatus::Completed => Some(CardState::Completed),
            JobStatus::Failed => Some(CardState::Failed),
            JobStatus::Cancelled => Some(CardState::Cancelled),
            JobStatus::Other(_) => None,
        }
    }

    /// Whether the job can no longer change.
    pub fn is_final(self) -> bool {
        !matches!(self, CardState::Queued | CardState::Running)
    }
}

/// The card's state: everything it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressCard {
    /// `acme/web#42`.
    issue_label: String,
    /// Where the issue is on its forge.
    issue_url: String,
    state: CardState,
    /// (index, total, name) of the current step.
    step: Option<(Option<u32>, Option<u32>, String)>,
    /// Overall progress, 0 to 100.
    percent: Option<u32>,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    pr_url: Option<String>,
}

impl ProgressCard {
    /// A card for a job on `issue` that has not been heard of yet.
    pub fn new(issue: &IssueRef) -> ProgressCard {
        ProgressCard {
            issue_label: format!("{}/{}#{}", issue.owner(), issue.repo(), issue.number()),
            issue_url: format!(
                "https://{}/{}/{}/issues/{}",
                issue.host(),
                issue.owner(),
                issue.repo(),
                issue.number()
            ),
            state: CardState::Queued,
            step: None,
            percent: None,
            started_at: None,
            finished_at: None,
            pr_url: None,
        }
    }

    /// What the card shows now.
    pub fn state(&self) -> CardState {
        self.state
    }

    /// When the job started, or was created if it never started.
    pub fn started_at(&self) -> Option<SystemTime> {
        self.started_at
    }

    /// How long the job has run at `now` (or ran, once final).
    pub fn elapsed(&self, now: SystemTime) -> Option<Duration> {
        let start = self.started_at?;
        let end = self.finished_at.unwrap_or(now);
        Some(end.duration_since(start).unwrap_or(Duration::ZERO))
    }

    /// Takes in the job as `GET /runner-jobs/:id` returned it.
    pub fn apply_job(&mut self, job: &RunnerJob) {
        if let Some(url) = job.issue.as_ref().and_then(|i| i.url.as_deref())
            && is_web_url(url)
        {
            self.issue_url = url.to_owned();
        }
        if let Some(state) = CardState::from_status(&job.status) {
            self.state = state;
        }
        self.started_at = job.started_at.or(job.created_at).or(self.started_at);
        if self.state.is_final() {
            self.finished_at = job.completed_at.or(self.finished_at);
        }
        if let Some(percent) = job.progress_percent {
            self.percent = Some(percent.min(100));
        }
        if let Some(pr) = job.result.as_ref().and_then(|r| r.pr_url.as_deref()) {
            self.set_pr(pr);
        }
    }

    /// Takes in one event; returns whether what the card shows changed.
    pub fn apply(&mut self, event: &JobEvent) -> bool {
        if self.state.is_final() {
            // A replayed or late event says nothing new about a job already seen to end.
            return false;
        }
        // Compared field by field rather than against a clone of the card: this runs for
        // every event, and only the step and the pull request hold text.
        let before = (self.state, self.percent, self.started_at, self.finished_at);
        let mut text_changed = false;
        match &event.kind {
            EventKind::JobCreated | EventKind::JobQueued => self.state = CardState::Queued,
            EventKind::JobStarted => {
                self.state = CardState::Running;
                self.started_at = event.timestamp.or(self.started_at);
            }
            EventKind::StepStarted(step) | EventKind::StepCompleted(step) => {
                self.state = CardState::Running;
                let name = step.step.as_deref().unwrap_or_default();
                let same = matches!(&self.step,
                    Some((index, total, shown)) if *index == step.index && *total == step.total && shown == name);
                if !same {
                    self.step = Some((step.index, step.total, name.to_owned()));
                    text_changed = true;
                }
                if let (Some(index), Some(total)) = (step.index, step.total) {
                    // A completed step counts whole; a started one not yet.
                    let done = if matches!(event.kind, EventKind::StepCompleted(_)) {
                        index
                    } else {
                        index.saturating_sub(1)
                    };
                    self.percent = Some(percent_of(done, 0, total));
                }
            }
            EventKind::StepProgress(progress) => {
                if let (Some((Some(index), Some(total), _)), Some(p)) =
                    (&self.step, progress.percent)
                {
                    self.percent = Some(percent_of(index.saturating_sub(1), p, *total));
                }
            }
            EventKind::JobCompleted(done) => {
                self.finish(CardState::Completed, event.timestamp);
                self.percent = Some(100);
                if let Some(pr) = &done.pr_url {
                    text_changed |= self.set_pr(pr);
                }
            }
            EventKind::JobFailed(_) => self.finish(CardState::Failed, event.timestamp),
            EventKind::JobCancelled(_) => self.finish(CardState::Cancelled, event.timestamp),
            _ => {}
        }
        text_changed || (self.state, self.percent, self.started_at, self.finished_at) != before
    }

    /// Marks the job final with `state` (from a stream end rather than an event).
    pub fn finish(&mut self, state: CardState, at: Option<SystemTime>) {
        if !self.state.is_final() || state == CardState::Deleted {
            self.state = state;
            self.finished_at = self.finished_at.or(at).or(Some(SystemTime::now()));
        }
    }

    /// Shows `url` as the pull request; returns whether that changed the card.
    fn set_pr(&mut self, url: &str) -> bool {
        if !is_web_url(url) || self.pr_url.as_deref() == Some(url) {
            return false;
        }
        self.pr_url = Some(url.to_owned());
        true
    }

    /// The card as a message, elapsed time counted up to `now` while the job runs.
    pub fn render(&self, now: SystemTime) -> Markup {
        let (emoji, word) = self.state.label();
        let mut markup = Markup::new().line([
            Span::text(format!("{emoji} ")),
            Span::bold(word),
            Span::text(" · "),
            Span::link(self.issue_label.clone(), self.issue_url.clone()),
        ]);
        let mut status = Vec::new();
        if let Some((index, total, name)) = &self.step {
            let position = match (index, total) {
                (Some(i), Some(t)) => format!("Step {i}/{t}"),
                (Some(i), None) => format!("Step {i}"),
                _ => "Step".to_owned(),
            };
            status.push(Span::text(format!("{position}: ")));
            status.push(Span::text(name.clone()));
        }
        if let Some(percent) = self.percent {
            if !status.is_empty() {
                status.push(Span::text(" · "));
            }
            // A bar the dialect draws, its percent written beside it.
            status.push(Span::progress(percent));
        }
        if let Some(elapsed) = self.elapsed(now) {
            let sep = if status.is_empty() { "" } else { " · " };
            status.push(Span::text(format!(
                "{sep}{} elapsed",
                format_elapsed(elapsed)
            )));
        }
        if !status.is_empty() {
            markup = markup.line(status);
        }
        if let Some(pr) = &self.pr_url {
            markup = markup.line([
                Span::text("Pull request: "),
                Span::link(pr.clone(), pr.clone()),
            ]);
        }
        markup
    }
}

/// Overall percent after `done` whole steps and `step_percent` of the next, of `total`.
fn percent_of(done: u32, step_percent: u32, total: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    let done = u64::from(done.min(total)) * 100 + u64::from(step_percent.min(100));
    u32::try_from(done / u64::from(total))
        .unwrap_or(100)
        .min(100)
}

#[cfg(test)]
#[path = "card_tests.rs"]
mod tests;
