//! The usual command, read in one pass: `fix acme/web#42`, `status #7`, `quiet`.
//!
//! Nearly every command is an action and at most one plain issue reference,
//! in ASCII, separated by spaces. The general reader (`Words`, `clean`,
//! `reference::parse`) handles every form the grammar allows and walks the
//! words several times (splitting, cleaning, probing for more); on the usual
//! command that was most of the parse's ~1,900 instructions (callgrind). This
//! reader walks the bytes once and answers only when it is certain the
//! general reader would give the same command; anything else (punctuation to
//! clean, Slack links, forge links, non-ASCII, `help`, every error) returns
//! `None` and goes the general way, which words the errors. The property test
//! below holds it to that.

use super::ParseContext;
use super::types::{Action, Command, IssueKind, IssueRef};

/// The command `text` (after the mention and its `,:;`) names, when it has the
/// usual shape and is valid; `None` sends it to the general reader.
#[cfg(test)]
pub(crate) fn command(text: &str, ctx: &ParseContext<'_>) -> Option<Command> {
    read(text, ctx)
        .filter(|(_, end)| *end == text.len())
        .map(|(usual, _)| usual.command(ctx))
}

/// A usual command as read, its issue still in the text: small and `Copy`, so the
/// reader hands it back in registers and the command is written once, in place.
/// Building the 64-byte reference inside the reader and moving the command out
/// through each caller cost more time than reading it (each move reloads what was
/// just stored piecemeal, which the CPU cannot forward from its store buffer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usual<'t> {
    action: Action,
    issue: Issue<'t>,
}

#[derive(Debug, Clone, Copy)]
enum Issue<'t> {
    None,
    /// `#N` on the channel's default repository.
    Default(u64),
    /// `owner/repo#N` on the default forge; `path` is `owner/repo`.
    Path {
        path: &'t str,
        owner_len: usize,
        number: u64,
    },
}

impl Usual<'_> {
    /// Writes the command read into `command`, whatever it held: the reference's
    /// text is copied straight into its place there. Built apart and moved in, it
    /// was reloaded before the CPU had stored its bytes (a store-forwarding stall:
    /// skipping the text's copy altogether saved ~12 ns of ~65 on the bench).
    pub(crate) fn write(&self, ctx: &ParseContext<'_>, command: &mut Command) {
        let Issue::Path {
            path,
            owner_len,
            number,
        } = self.issue
        else {
            *command = self.command(ctx);
            return;
        };
        let empty = IssueRef::empty();
        *command = match self.action {
            Action::Fix => Command::Fix(empty),
            Action::Status => Command::Status(Some(empty)),
            Action::Cancel => Command::Cancel(Some(empty)),
            Action::Retry => Command::Retry(Some(empty)),
            Action::Verbose => Command::Verbose(Some(empty)),
            Action::Quiet => Command::Quiet(Some(empty)),
            // `read` lets no `help` with an issue through.
            Action::Help => Command::Help(None),
        };
        if let Command::Fix(issue)
        | Command::Status(Some(issue))
        | Command::Cancel(Some(issue))
        | Command::Retry(Some(issue))
        | Command::Verbose(Some(issue))
        | Command::Quiet(Some(issue)) = command
        {
            let host = &ctx.forges.default_forge().host;
            issue.set_path(host, path, owner_len, number, IssueKind::Issue);
        }
    }

    /// The command read, built.
    #[inline]
    pub(crate) fn command(&self, ctx: &ParseContext<'_>) -> Command {
        // Each arm builds its issue straight into the command: one `let issue` before
        // the `match` cost a copy of the reference per command (callgrind).
        match self.action {
            Action::Status => Command::Status(self.issue(ctx)),
            Action::Cancel => Command::Cancel(self.issue(ctx)),
            Action::Retry => Command::Retry(self.issue(ctx)),
            Action::Verbose => Command::Verbose(self.issue(ctx)),
            Action::Quiet => Command::Quiet(self.issue(ctx)),
            Action::Fix => match self.issue(ctx) {
                Some(issue) => Command::Fix(issue),
                // `read` lets no `fix` without an issue through.
                None => Command::Help(None),
            },
            // A bare mention; `read` lets no other `help` through.
            Action::Help => Command::Help(None),
        }
    }

    #[inline(always)]
    fn issue(&self, ctx: &ParseContext<'_>) -> Option<IssueRef> {
        match self.issue {
            Issue::None => None,
            Issue::Default(number) => ctx.default_repo.map(|repo| {
                IssueRef::new(
                    &repo.host,
                    &repo.owner,
                    &repo.repo,
                    number,
                    IssueKind::Issue,
                )
            }),
            Issue::Path {
                path,
                owner_len,
                number,
            } => Some(IssueRef::with_path(
                &ctx.forges.default_forge().host,
                path,
                owner_len,
                number,
                IssueKind::Issue,
            )),
        }
    }
}

/// The usual command on the line `text` starts (after the mention and its
/// `,:;`), when it has the usual shape and is valid, and where the command
/// ends: at the `\r\n`, `\n` or end of text that ends the line, so the line's
/// end is found on the way instead of by a search beforehand. `None` sends the
/// line to the general reader.
pub(crate) fn read<'t>(text: &'t str, ctx: &ParseContext<'_>) -> Option<(Usual<'t>, usize)> {
    let bytes = text.as_bytes();
    let mut at = skip_spaces(bytes, 0);
    if ends_line(bytes, at) {
        // A bare mention: the short help.
        let help = Usual {
            action: Action::Help,
            issue: Issue::None,
        };
        return Some((help, at));
    }
    // The action's letters, lower-cased, packed into one word as they are
    // read: one comparison per action instead of a case-folding loop each.
    let word_start = at;
    let mut word = 0u64;
    while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
        if at - word_start == 8 {
            // Longer than any action.
            return None;
        }
        // A letter: setting the 0x20 bit lower-cases it.
        word = word << 8 | u64::from(bytes[at] | 0x20);
        at += 1;
    }
    // The action must end at a space or the line's end: `fix,` or `fix#1` need cleaning.
    if !ends_word(bytes, at) {
        return None;
    }
    let action = action(word)?;
    let at = skip_spaces(bytes, at);
    let (issue, end) = if ends_line(bytes, at) {
        (Issue::None, at)
    } else {
        let (issue, end) = issue(text, at, ctx)?;
        // Nothing may follow the issue: extra words are an error to word.
        let end = skip_spaces(bytes, end);
        if !ends_line(bytes, end) {
            return None;
        }
        (issue, end)
    };
    match (action, issue) {
        // `fix` alone is an error, and `help` has its own parser.
        (Action::Fix, Issue::None) | (Action::Help, _) => None,
        (action, issue) => Some((Usual { action, issue }, end)),
    }
}

/// Whether the line ends at `at`: the text's end, `\n`, or `\r` before either
/// (the line's `\r` is not part of the command, as for the general reader).
fn ends_line(bytes: &[u8], at: usize) -> bool {
    match bytes.get(at) {
        None | Some(b'\n') => true,
        Some(b'\r') => matches!(bytes.get(at + 1), None | Some(b'\n')),
        Some(_) => false,
    }
}

/// Whether a word ends at `at`: at a space or the line's end.
fn ends_word(bytes: &[u8], at: usize) -> bool {
    bytes.get(at) == Some(&b' ') || ends_line(bytes, at)
}

/// A word of at most eight bytes packed into a `u64`, first byte highest.
const fn packed(word: &str) -> u64 {
    let bytes = word.as_bytes();
    let mut value = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        value = value << 8 | bytes[i] as u64;
        i += 1;
    }
    value
}

/// The action whose word, lower case and packed, is `word`.
fn action(word: u64) -> Option<Action> {
    const FIX: u64 = packed(Action::Fix.word());
    const STATUS: u64 = packed(Action::Status.word());
    const CANCEL: u64 = packed(Action::Cancel.word());
    const RETRY: u64 = packed(Action::Retry.word());
    const VERBOSE: u64 = packed(Action::Verbose.word());
    const QUIET: u64 = packed(Action::Quiet.word());
    const HELP: u64 = packed(Action::Help.word());
    Some(match word {
        FIX => Action::Fix,
        STATUS => Action::Status,
        CANCEL => Action::Cancel,
        RETRY => Action::Retry,
        VERBOSE => Action::Verbose,
        QUIET => Action::Quiet,
        HELP => Action::Help,
        _ => return None,
    })
}

/// The issue of the word at `from`, and where the word ends: `#N` on the
/// default repository, or `owner/repo#N` on the default forge, with names
/// made of the characters every forge accepts. `None` for any other form (a
/// trailing `.` or `)` needs cleaning, a GitLab subgroup has a second slash)
/// and for every invalid one.
fn issue<'t>(text: &'t str, from: usize, ctx: &ParseContext<'_>) -> Option<(Issue<'t>, usize)> {
    let bytes = text.as_bytes();
    if bytes[from] == b'#' {
        ctx.default_repo?;
        let (number, end) = number(bytes, from + 1)?;
        return Some((Issue::Default(number), end));
    }
    let slash = name_end(bytes, from);
    if slash == from || bytes.get(slash) != Some(&b'/') {
        return None;
    }
    let hash = name_end(bytes, slash + 1);
    if hash == slash + 1 || bytes.get(hash) != Some(&b'#') {
        return None;
    }
    let (number, end) = number(bytes, hash + 1)?;
    // The general reader takes the owner up to the last slash (GitLab owners
    // may hold more); here the names hold none, so the split is the same, and
    // a one-segment owner is valid on every forge. `owner/repo` stands whole
    // in the text: it is copied in one piece.
    let issue = Issue::Path {
        path: &text[from..hash],
        owner_len: slash - from,
        number,
    };
    Some((issue, end))
}

/// The issue number whose digits start at `from`, and where it ends, if the
/// word ends there too: `#4)` needs cleaning and `#4a` is an error, both for
/// the general reader, as are `#`, `#0` and more than 19 digits (which may
/// not fit in 64 bits; fewer always do, so no step checks for overflow).
fn number(bytes: &[u8], from: usize) -> Option<(u64, usize)> {
    let mut at = from;
    let mut value = 0u64;
    while at < bytes.len() && bytes[at].is_ascii_digit() {
        value = value
            .wrapping_mul(10)
            .wrapping_add(u64::from(bytes[at] - b'0'));
        at += 1;
    }
    (ends_word(bytes, at) && (1..=19).contains(&(at - from)) && value != 0).then_some((value, at))
}

/// Where the owner or repository name starting at `from` ends: names hold
/// `[A-Za-z0-9_.-]`, as the forges' link patterns (`forge::NAME`) require.
fn name_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while at < bytes.len() && NAME[bytes[at] as usize] {
        at += 1;
    }
    at
}

/// The bytes of owner and repository names, as a table: one load per byte
/// instead of a chain of comparisons (half the reader's instructions).
static NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-');
        b += 1;
    }
    table
};

/// The first byte at or after `from` that is not an ASCII space. Other white
/// space (tabs, Unicode spaces) is left to the general reader.
fn skip_spaces(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while at < bytes.len() && bytes[at] == b' ' {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests;
