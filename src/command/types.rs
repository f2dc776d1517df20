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
/// because building a command is on the parser's hot path. The whole
/// reference is 64 bytes: every command the parser returns moves it a few
/// times (callgrind counted those moves among the parse's copies).
#[derive(Clone)]
pub struct IssueRef {
    text: RefText,
    number: u64,
}

impl IssueRef {
    /// Builds a reference; `host`, `owner` and `repo` must be non-empty.
    pub fn new(host: &str, owner: &str, repo: &str, number: u64, kind: IssueKind) -> IssueRef {
        IssueRef {
            text: RefText::joined(host, &[owner, "/", repo], owner.len(), kind),
            number,
        }
    }

    /// Builds a reference from `owner/repo` as one text (`path`, whose owner
    /// is its first `owner_len` bytes): the usual reader finds it so in the
    /// message, and copies it once.
    pub(crate) fn with_path(
        host: &str,
        path: &str,
        owner_len: usize,
        number: u64,
        kind: IssueKind,
    ) -> IssueRef {
        let mut issue = IssueRef::empty();
        issue.set_path(host, path, owner_len, number, kind);
        issue
    }

    /// A reference with an empty text, to be set in place by [`IssueRef::set_path`].
    pub(crate) fn empty() -> IssueRef {
        IssueRef {
            text: RefText::Inline {
                text: arrayvec::ArrayString::new(),
                host_end: 0,
                repo_at: 0,
                kind: IssueKind::Issue,
            },
            number: 0,
        }
    }

    /// Makes this the reference [`IssueRef::with_path`] builds, writing its text in
    /// place when it fits inline: `host/` and `owner/repo` in two copies.
    pub(crate) fn set_path(
        &mut self,
        host: &str,
        path: &str,
        owner_len: usize,
        number: u64,
        kind: IssueKind,
    ) {
        self.number = number;
        match &mut self.text {
            RefText::Inline {
                text,
                host_end,
                repo_at,
                kind: text_kind,
            } if host.len() + 1 + path.len() <= INLINE => {
                text.clear();
                // Cannot fail: the length was checked above.
                let _ = text.try_push_str(host);
                let _ = text.try_push_str("/");
                let _ = text.try_push_str(path);
                // Both offsets are at most `INLINE`, so they fit in a byte.
                *host_end = host.len() as u8;
                *repo_at = (host.len() + 1 + owner_len + 1) as u8;
                *text_kind = kind;
            }
            _ => self.text = RefText::joined(host, &[path], owner_len, kind),
        }
    }

    /// The forge's host, lower case (`github.com`).
    pub fn host(&self) -> &str {
        let (text, host_end, _) = self.text.parts();
        &text[..host_end]
    }

    /// The owner, which may hold slashes (`group/subgroup` on GitLab).
    pub fn owner(&self) -> &str {
        let (text, host_end, repo_at) = self.text.parts();
        &text[host_end + 1..repo_at - 1]
    }

    /// The repository's name.
    pub fn repo(&self) -> &str {
        let (text, _, repo_at) = self.text.parts();
        &text[repo_at..]
    }

    /// `owner/repo`.
    pub fn repo_path(&self) -> &str {
        let (text, host_end, _) = self.text.parts();
        &text[host_end + 1..]
    }

    /// The issue or pull request number, at least 1.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Issue, or pull / merge request.
    pub fn kind(&self) -> IssueKind {
        match &self.text {
            RefText::Inline { kind, .. } => *kind,
            RefText::Heap(heap) => heap.kind,
        }
    }
}

impl PartialEq for IssueRef {
    fn eq(&self, other: &Self) -> bool {
        // The text's parts are told apart by the owner's end: `a/b` + `c` is
        // not `a` + `b/c`.
        self.number == other.number
            && self.kind() == other.kind()
            && self.text.parts() == other.text.parts()
    }
}

impl Eq for IssueRef {}

impl std::hash::Hash for IssueRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.parts().hash(state);
        self.kind().hash(state);
        self.number.hash(state);
    }
}

/// The most bytes of `host/owner/repo` kept inline: `github.com/` and 33 more.
const INLINE: usize = 44;

/// `host/owner/repo` with where the host ends and the repository starts, and
/// the reference's kind (kept here, where the inline text leaves room for it).
///
/// An [`IssueRef`] outlives the message it was read from (the dispatcher and the store
/// keep it), so it cannot borrow from the input; inline storage gives the same: reading a
/// reference of usual length allocates nothing. `arrayvec` rather than a hand-made buffer.
/// Inline, the offsets fit in a byte each, and the variant is 56 bytes with its tag; a
/// longer text is boxed whole, so that the rare case does not widen the usual one.
#[derive(Clone)]
enum RefText {
    Inline {
        text: arrayvec::ArrayString<INLINE>,
        host_end: u8,
        repo_at: u8,
        kind: IssueKind,
    },
    Heap(Box<HeapText>),
}

#[derive(Clone)]
struct HeapText {
    text: Box<str>,
    host_end: usize,
    repo_at: usize,
    kind: IssueKind,
}

impl RefText {
    /// `host`, a slash, then `rest` (`owner`, `/`, `repo`, or `owner/repo` in one piece)
    /// copied in: one copy per piece.
    fn joined(host: &str, rest: &[&str], owner_len: usize, kind: IssueKind) -> RefText {
        let len = host.len() + 1 + rest.iter().map(|part| part.len()).sum::<usize>();
        let host_end = host.len();
        let repo_at = host_end + 1 + owner_len + 1;
        if len <= INLINE {
            let mut text = arrayvec::ArrayString::new();
            // Cannot fail: the length was checked above.
            let _ = text.try_push_str(host);
            let _ = text.try_push('/');
            for part in rest {
                let _ = text.try_push_str(part);
            }
            // Both offsets are at most `INLINE`, so they fit in a byte.
            return RefText::Inline {
                text,
                host_end: host_end as u8,
                repo_at: repo_at as u8,
                kind,
            };
        }
        let mut text = String::with_capacity(len);
        text.push_str(host);
        text.push('/');
        for part in rest {
            text.push_str(part);
        }
        RefText::Heap(Box::new(HeapText {
            text: text.into_boxed_str(),
            host_end,
            repo_at,
            kind,
        }))
    }

    /// The text, where its host ends and where its repository starts.
    fn parts(&self) -> (&str, usize, usize) {
        match self {
            RefText::Inline {
                text,
                host_end,
                repo_at,
                ..
            } => (text, usize::from(*host_end), usize::from(*repo_at)),
            RefText::Heap(heap) => (&heap.text, heap.host_end, heap.repo_at),
        }
    }
}

impl fmt::Debug for IssueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueRef")
            .field("host", &self.host())
            .field("owner", &self.owner())
            .field("repo", &self.repo())
            .field("number", &self.number)
            .field("kind", &self.kind())
            .finish()
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
