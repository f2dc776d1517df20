//! The typed result of parsing: actions, commands and the issues they name.

use std::fmt;

/// One of the seven things a user can ask the bot to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Fix,
    Status,
    Cancel,
    Retry,
    Verbose,
    Quiet,
    Help,
}

impl Action {
    /// Every action, in the order the help lists them.
    pub const ALL: [Action; 7] = [
        Action::Fix,
        Action::Status,
        Action::Cancel,
        Action::Retry,
        Action::Verbose,
        Action::Quiet,
        Action::Help,
    ];

    /// The word a user types for this action.
    pub const fn word(self) -> &'static str {
        match self {
            Action::Fix => "fix",
            Action::Status => "status",
            Action::Cancel => "cancel",
            Action::Retry => "retry",
            Action::Verbose => "verbose",
            Action::Quiet => "quiet",
            Action::Help => "help",
        }
    }

    /// The action a word names, ignoring ASCII case; `None` for any other word.
    pub fn from_word(word: &str) -> Option<Action> {
        Action::from_bytes(word.as_bytes())
    }

    /// [`Action::from_word`] on bytes, for readers that hold bytes: slicing a
    /// `str` checks character boundaries, a cost on every command.
    pub(crate) fn from_bytes(word: &[u8]) -> Option<Action> {
        // Dispatched on length first, then compared ignoring case in place:
        // this runs for every command and must neither allocate nor copy.
        let candidates: &[Action] = match word.len() {
            3 => &[Action::Fix],
            4 => &[Action::Help],
            5 => &[Action::Retry, Action::Quiet],
            6 => &[Action::Status, Action::Cancel],
            7 => &[Action::Verbose],
            _ => &[],
        };
        candidates
            .iter()
            .copied()
            .find(|a| a.word().as_bytes().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Whether a reference names an issue or a change request (pull or merge request).
///
/// GitLab numbers issues and merge requests separately, so the kind is part of
/// the identity, not decoration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueKind {
    Issue,
    Change,
}

/// An issue or pull request on a forge: `host`, `owner/repo` and a number.
///
/// Host, owner and repository are kept in one text (`host/owner/repo`,
/// where `owner` may hold slashes for GitLab subgroups), inline when short,
/// because building a command is on the parser's hot path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssueRef {
    text: RefText,
    host_end: u32,
    repo_at: u32,
    kind: IssueKind,
    number: u64,
}

impl IssueRef {
    /// Builds a reference; `host`, `owner` and `repo` must be non-empty.
    pub fn new(host: &str, owner: &str, repo: &str, number: u64, kind: IssueKind) -> IssueRef {
        let text = RefText::joined(host, owner, repo);
        // Chat messages are far below 4 GiB, so offsets fit in 32 bits.
        IssueRef {
            host_end: host.len() as u32,
            repo_at: (host.len() + owner.len() + 2) as u32,
            text,
            number,
            kind,
        }
    }

    /// The forge's host, lower case (`github.com`).
    pub fn host(&self) -> &str {
        &self.text.as_str()[..self.host_end as usize]
    }

    /// The owner, which may hold slashes (`group/subgroup` on GitLab).
    pub fn owner(&self) -> &str {
        &self.text.as_str()[self.host_end as usize + 1..self.repo_at as usize - 1]
    }

    /// The repository's name.
    pub fn repo(&self) -> &str {
        &self.text.as_str()[self.repo_at as usize..]
    }

    /// `owner/repo`.
    pub fn repo_path(&self) -> &str {
        &self.text.as_str()[self.host_end as usize + 1..]
    }

    /// The issue or pull request number, at least 1.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Issue, or pull / merge request.
    pub fn kind(&self) -> IssueKind {
        self.kind
    }
}

/// The most bytes of `host/owner/repo` kept inline: `github.com/` and 33 more.
const INLINE: usize = 44;

/// `host/owner/repo`, inline up to [`INLINE`] bytes, else on the heap.
///
/// An [`IssueRef`] outlives the message it was read from (the dispatcher and the store
/// keep it), so it cannot borrow from the input; inline storage gives the same: reading a
/// reference of usual length allocates nothing. `arrayvec` rather than a hand-made buffer.
#[derive(Clone)]
enum RefText {
    Inline(arrayvec::ArrayString<INLINE>),
    Heap(Box<str>),
}

impl RefText {
    fn joined(host: &str, owner: &str, repo: &str) -> RefText {
        let len = host.len() + owner.len() + repo.len() + 2;
        if len <= INLINE {
            let mut text = arrayvec::ArrayString::new();
            for part in [host, "/", owner, "/", repo] {
                // Cannot fail: the length was checked above.
                let _ = text.try_push_str(part);
            }
            return RefText::Inline(text);
        }
        let mut text = String::with_capacity(len);
        for part in [host, "/", owner, "/", repo] {
            text.push_str(part);
        }
        RefText::Heap(text.into_boxed_str())
    }

    fn as_str(&self) -> &str {
        match self {
            RefText::Inline(text) => text,
            RefText::Heap(text) => text,
        }
    }
}

impl PartialEq for RefText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RefText {}

impl std::hash::Hash for RefText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for RefText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for IssueRef {
    /// `owner/repo#N`, the form people read; the host is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.repo_path(), self.number)
    }
}

/// A command the parser understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start a fix job for the issue.
    Fix(IssueRef),
    /// Show the state of the issue's newest job, or of this thread's job.
    Status(Option<IssueRef>),
    /// Cancel the running job of the issue or of this thread.
    Cancel(Option<IssueRef>),
    /// Start a failed or cancelled job again.
    Retry(Option<IssueRef>),
    /// Relay every event in the job's thread.
    Verbose(Option<IssueRef>),
    /// Relay only the start and the outcome.
    Quiet(Option<IssueRef>),
    /// What the bot can do, or one action's usage.
    Help(Option<Action>),
}

impl Command {
    /// The action this command performs.
    pub fn action(&self) -> Action {
        match self {
            Command::Fix(_) => Action::Fix,
            Command::Status(_) => Action::Status,
            Command::Cancel(_) => Action::Cancel,
            Command::Retry(_) => Action::Retry,
            Command::Verbose(_) => Action::Verbose,
            Command::Quiet(_) => Action::Quiet,
            Command::Help(_) => Action::Help,
        }
    }

    /// The issue the command names, if any (`None` means "this thread's job").
    pub fn issue(&self) -> Option<&IssueRef> {
        match self {
            Command::Fix(issue) => Some(issue),
            Command::Status(issue)
            | Command::Cancel(issue)
            | Command::Retry(issue)
            | Command::Verbose(issue)
            | Command::Quiet(issue) => issue.as_ref(),
            Command::Help(_) => None,
        }
    }
}
