//! What the store keeps about a followed job, and how its values are spelled
//! in the database (platform names, verbosity, issue kinds).

use std::fmt;
use std::str::FromStr;

use mosaic_chat::ThreadRef;

use crate::command::{IssueKind, IssueRef};

/// A job the bot follows: the thread it answers in, who asked, and how far
/// the relay of its events has got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowedJob {
    /// The backend's id of the job.
    pub job_id: String,
    /// The backend workspace the job belongs to (its `X-Workspace-Id`).
    pub workspace: String,
    /// The thread the job's events are relayed into.
    pub thread: ThreadRef,
    /// The user's message that started the job (reactions go on it).
    pub command_message_id: Option<String>,
    pub requester_id: String,
    pub requester_name: String,
    /// The issue or change request the job fixes.
    pub issue: IssueRef,
    /// The job this one retries, if any.
    pub retry_of: Option<String>,
    /// The progress card's message, edited in place; `None` until posted.
    pub card_message_id: Option<String>,
    pub verbosity: Verbosity,
    /// The id of the last event shown in the thread: where a restarted
    /// relay resumes (`Last-Event-ID`, `?after=`).
    pub last_event_id: Option<String>,
    /// The relay's sequence number of that event; 0 before the first one.
    pub last_event_seq: u64,
    /// The relay's last post recorded with `last_event_seq`: a resumed relay reads the
    /// bot's posts after it (or after the card) to learn what it showed without recording.
    /// Kept by the store; `None` on a new job.
    pub last_post_id: Option<String>,
    /// Whether the job's last relay stopped gracefully with every post recorded: a resumed
    /// relay then reads nothing back. Kept by the store; false on a new job.
    pub posts_settled: bool,
    /// The last known job status text (`RUNNING`, `COMPLETED`, …).
    pub status: String,
    /// Whether the relay has ended (job final, deleted, or given up).
    pub ended: bool,
    /// Unix epoch seconds; stamped by the store on insert.
    pub created_at: i64,
    /// Unix epoch seconds; stamped by the store on every change.
    pub updated_at: i64,
}

/// How much of a job's events a thread shows: a setting of the thread that
/// every job in it shares, so it survives a retry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Verbosity {
    /// The progress card and the outcome only.
    Quiet,
    /// The card, milestone messages (steps, gates) and the outcome.
    #[default]
    Milestones,
    /// Everything, including tool calls and output.
    Verbose,
}

impl Verbosity {
    /// The word stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Verbosity::Quiet => "quiet",
            Verbosity::Milestones => "milestones",
            Verbosity::Verbose => "verbose",
        }
    }
}

impl fmt::Display for Verbosity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was none of `quiet`, `milestones`, `verbose`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown verbosity {0:?}")]
pub struct UnknownVerbosity(pub String);

impl FromStr for Verbosity {
    type Err = UnknownVerbosity;

    fn from_str(text: &str) -> Result<Verbosity, UnknownVerbosity> {
        match text {
            "quiet" => Ok(Verbosity::Quiet),
            "milestones" => Ok(Verbosity::Milestones),
            "verbose" => Ok(Verbosity::Verbose),
            other => Err(UnknownVerbosity(other.to_owned())),
        }
    }
}

/// How an [`IssueKind`] is stored.
pub(super) fn kind_name(kind: IssueKind) -> &'static str {
    match kind {
        IssueKind::Issue => "issue",
        IssueKind::Change => "change",
    }
}

/// The [`IssueKind`] stored as `name`.
pub(super) fn kind_from_name(name: &str) -> Option<IssueKind> {
    match name {
        "issue" => Some(IssueKind::Issue),
        "change" => Some(IssueKind::Change),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_reads_back_what_it_writes() {
        for verbosity in [Verbosity::Quiet, Verbosity::Milestones, Verbosity::Verbose] {
            assert_eq!(verbosity.as_str().parse(), Ok(verbosity));
        }
    }

    #[test]
    fn verbosity_defaults_to_milestones() {
        assert_eq!(Verbosity::default(), Verbosity::Milestones);
    }

    #[test]
    fn unknown_verbosity_is_an_error_naming_it() {
        assert_eq!(
            "loud".parse::<Verbosity>(),
            Err(UnknownVerbosity("loud".into()))
        );
    }

    #[test]
    fn issue_kinds_read_back_what_they_write() {
        for kind in [IssueKind::Issue, IssueKind::Change] {
            assert_eq!(kind_from_name(kind_name(kind)), Some(kind));
        }
        assert_eq!(kind_from_name("pull"), None);
    }
}
