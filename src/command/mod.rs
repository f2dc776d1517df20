//! The command parser: chat text in, typed commands or typed errors out.
//!
//! Pure: no I/O and no global state. Adapters hand it text in which the
//! bot's platform mention is already rewritten to `@name`; slash commands hand
//! it the text after the command. The grammar is `../shared/commands.md`.
//!
//! - `mention` finds `@name` on a line; `markup` says which parts of a
//!   message are code or quotes, where mentions do not count;
//! - `usual` reads the usual command (an action and at most one plain issue
//!   reference) in one pass; everything else goes to the general reader;
//! - `token` splits the rest of the line into words;
//! - `actions` holds one small parser per action; `reference` reads issue
//!   references against the allowed forges ([`Forges`]);
//! - `error` words every failure for users ([`CommandError`]).
//!
//! The hot path is a message with no `@` at all: it is rejected by one
//! byte search without allocating (`scan` picks a loop or `memchr` by length).
//! Parsing returns an iterator that allocates nothing for a command of usual
//! length; code spans are looked for only up to a mention, and parsed only
//! when a backtick or tilde stands before it. The usual line (its first `@` is
//! the mention, no backtick or tilde before it, a usual command after it) is
//! read in one pass from the mention to the line's end, which the usual reader
//! finds on the way; the command is built in the value returned (each copy of
//! a freshly built reference stalled on the CPU's store buffer).

mod actions;
mod error;
mod forge;
mod markup;
mod mention;
mod reference;
mod scan;
mod token;
mod types;
mod usual;

use std::ops::Range;

pub use error::{CommandError, InvalidIssue, Invoker, Problem};
pub use forge::{Forge, ForgeKind, ForgeListError, Forges, RepoRef, RepoRefError};
pub use types::{Action, Command, IssueKind, IssueRef};

use token::Words;

/// What the parser needs to know besides the text.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// The bot's name, as in `@mosaic`.
    pub bot_name: &'a str,
    /// The channel's default repository, which `#N` refers to.
    pub default_repo: Option<&'a RepoRef>,
    /// The allowed forges.
    pub forges: &'a Forges,
}

/// One command found in a message, with the 1-based line it stood on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub line: usize,
    pub result: Result<Command, CommandError>,
}

/// Every command in a chat message, in order: one per line that mentions the
/// bot outside code and quotes.
pub fn parse_message<'a>(text: &'a str, ctx: &ParseContext<'a>) -> Commands<'a> {
    Commands {
        text,
        next: Some(0),
        lines_before: 0,
        code: Code::NoneBefore(0),
        ctx: *ctx,
        slash: false,
    }
}

/// Every command in the text after a slash command (`/mosaic fix #42`): each
/// non-empty line is a command, no mention needed. Empty text asks for help.
pub fn parse_slash<'a>(text: &'a str, ctx: &ParseContext<'a>) -> Commands<'a> {
    Commands {
        text,
        next: Some(0),
        lines_before: 0,
        code: Code::NoneBefore(0),
        ctx: *ctx,
        slash: true,
    }
}

/// What is known of the message's code spans and fenced blocks, found lazily: most messages
/// have no backtick or tilde before their mention, and then none is looked for beyond it.
#[derive(Debug)]
enum Code {
    /// No backtick or tilde in the text before this offset (so nothing there is code).
    NoneBefore(usize),
    /// The message holds some: where its code is (the whole message, parsed once).
    Ranges(Vec<Range<usize>>),
}

/// The iterator returned by [`parse_message`] and [`parse_slash`].
#[derive(Debug)]
pub struct Commands<'a> {
    text: &'a str,
    /// Where the next unread line starts; `None` once everything is read.
    next: Option<usize>,
    /// How many lines lie before `next`.
    lines_before: usize,
    code: Code,
    ctx: ParseContext<'a>,
    slash: bool,
}

impl Iterator for Commands<'_> {
    type Item = Parsed;

    fn next(&mut self) -> Option<Parsed> {
        if self.slash {
            return self.next_slash();
        }
        loop {
            let from = self.next?;
            let text = self.text;
            // Jump straight to the next `@`: lines without one cost nothing
            // but the count of their line breaks.
            let bytes = text.as_bytes();
            let Some(at) = scan::find(b'@', &bytes[from..]).map(|i| from + i) else {
                self.next = None;
                return None;
            };
            // A mention at the start of the unread text (the usual message) needs no look back.
            let line_start = if at == from {
                from
            } else {
                scan::rfind(b'\n', &bytes[from..at]).map_or(from, |i| from + i + 1)
            };
            if line_start > from {
                self.lines_before += scan::count(b'\n', &bytes[from..line_start]);
            }
            // A line holding an `@` is not blank, so its start up to the `@` says
            // whether it is quoted.
            let quoted = markup::is_quoted(&text[line_start..at]);
            if !quoted && let Some(parsed) = self.usual_line(line_start, at) {
                return Some(parsed);
            }
            let (newline, tick) = scan::line_end(&bytes[at..]);
            let line_end = newline.map_or(text.len(), |i| at + i);
            self.next = (line_end < text.len()).then_some(line_end + 1);
            self.lines_before += 1;
            let line = &text[line_start..line_end];
            let line = line.strip_suffix('\r').unwrap_or(line);
            if quoted {
                continue;
            }
            // Code only counts if it opens before the line ends: a backtick or tilde further
            // on cannot make this line's mention code.
            let bot_name = self.ctx.bot_name;
            let code = self.code_through(at, line_end, tick);
            // The line's first `@` is known: the search for a mention starts there.
            let first_at = at - line_start;
            if let Some(end) = mention::find(line, first_at, bot_name, line_start, code) {
                return Some(self.parsed(self.lines_before, &line[end..]));
            }
        }
    }
}

impl Commands<'_> {
    /// The usual line, read without looking for code or a second `@`: its first `@`
    /// (at `at`) is the mention, and no backtick or tilde stands before it in the
    /// message, so no code span or fence can hold it (each opens before what it
    /// holds). The usual command is read up to the line's end in one pass, any other
    /// by the general reader. `None` (another first `@`, or code before it) leaves
    /// the line to the full reading, which answers the same.
    fn usual_line(&mut self, line_start: usize, at: usize) -> Option<Parsed> {
        let Code::NoneBefore(clean) = self.code else {
            return None;
        };
        let text = self.text;
        let bytes = text.as_bytes();
        // `clean` is 0 or the end of an earlier line, so it never passes `at`.
        if scan::find2(b'`', b'~', &bytes[clean.min(at)..at]).is_some() {
            return None;
        }
        let end =
            line_start + mention::at_sign(&text[line_start..], at - line_start, self.ctx.bot_name)?;
        self.code = Code::NoneBefore(at);
        self.lines_before += 1;
        // The usual command finds its line's end as it is read.
        let rest = after_punctuation(&text[end..]);
        // Matched by reference: moving the reading out of the `Option` copied it.
        if let Some((usual, command_end)) = &usual::read(rest, &self.ctx) {
            let line_end = text.len() - rest.len() + command_end;
            let line_end = line_end + usize::from(bytes.get(line_end) == Some(&b'\r'));
            self.next = (line_end < text.len()).then_some(line_end + 1);
            return Some(self.usual_parsed(self.lines_before, usual));
        }
        let line_end = scan::find(b'\n', &bytes[end..]).map_or(text.len(), |i| end + i);
        self.next = (line_end < text.len()).then_some(line_end + 1);
        let command = &text[end..line_end];
        let command = command.strip_suffix('\r').unwrap_or(command);
        Some(self.parsed(self.lines_before, command))
    }

    /// The usual command read on line `line`, written into the value returned
    /// (see [`usual::Usual::write`]).
    #[inline]
    fn usual_parsed(&self, line: usize, usual: &usual::Usual<'_>) -> Parsed {
        let mut parsed = Parsed {
            line,
            result: Ok(Command::Help(None)),
        };
        if let Ok(command) = &mut parsed.result {
            usual.write(&self.ctx, command);
        }
        parsed
    }

    /// The code ranges that matter for text up to `end`: none when no backtick or tilde
    /// comes before it, without looking past it. `tick` says whether one stands in
    /// `at..end` (the mention's line, already scanned for its end).
    fn code_through(&mut self, at: usize, end: usize, tick: bool) -> &[Range<usize>] {
        if let Code::NoneBefore(clean) = self.code
            && clean < end
        {
            // `clean` is 0 or the end of an earlier line, so it never passes `at`.
            let before = &self.text.as_bytes()[clean.min(at)..at];
            self.code = if tick || scan::find2(b'`', b'~', before).is_some() {
                Code::Ranges(markup::code_ranges(self.text))
            } else {
                Code::NoneBefore(end)
            };
        }
        match &self.code {
            Code::NoneBefore(_) => &[],
            Code::Ranges(ranges) => ranges,
        }
    }

    /// The next non-empty line of a slash command's text.
    fn next_slash(&mut self) -> Option<Parsed> {
        loop {
            let from = self.next?;
            let text = &self.text[from..];
            let (line, next) = match scan::find(b'\n', text.as_bytes()) {
                Some(i) => (&text[..i], Some(from + i + 1)),
                None => (text, None),
            };
            self.next = next;
            self.lines_before += 1;
            let line = line.trim();
            if line.is_empty() {
                if self.lines_before == 1 && self.text.trim().is_empty() {
                    // A slash command with no text at all: show the help.
                    return Some(Parsed {
                        line: 1,
                        result: Ok(Command::Help(None)),
                    });
                }
                continue;
            }
            // `/mosaic @mosaic fix #1` is tolerated: skip a leading mention.
            let skip = mention::find(line, 0, self.ctx.bot_name, 0, &[])
                .filter(|end| *end == self.ctx.bot_name.len() + 1)
                .unwrap_or(0);
            return Some(self.parsed(self.lines_before, &line[skip..]));
        }
    }

    #[inline]
    fn parsed(&self, line: usize, command_text: &str) -> Parsed {
        // The usual command is written into the value returned: see `usual::Usual`.
        let text = after_punctuation(command_text);
        if let Some((usual, end)) = &usual::read(text, &self.ctx)
            && *end == text.len()
        {
            return self.usual_parsed(line, usual);
        }
        Parsed {
            line,
            result: parse_words(text, &self.ctx).map_err(|problem| CommandError {
                problem,
                invoker: if self.slash {
                    Invoker::slash(self.ctx.bot_name)
                } else {
                    Invoker::mention(self.ctx.bot_name)
                },
            }),
        }
    }
}

/// The text after a mention without its leading `,:;`: in `@mosaic, fix` and
/// `@mosaic: fix` the punctuation is not a word (`Words` skips the white space).
fn after_punctuation(text: &str) -> &str {
    // Bytes, not chars: the three are ASCII, and this runs for every command.
    let skip = text
        .bytes()
        .take_while(|b| matches!(b, b',' | b':' | b';'))
        .count();
    &text[skip..]
}

/// Parses the words after a mention (or a slash command's text).
#[cfg(test)]
fn parse_command(text: &str, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    let text = after_punctuation(text);
    match usual::read(text, ctx) {
        Some((usual, end)) if end == text.len() => Ok(usual.command(ctx)),
        _ => parse_words(text, ctx),
    }
}

/// Parses the words after a mention with the general reader, which knows
/// every form the grammar allows (`usual` knows the common ones).
fn parse_words(text: &str, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    let mut words = Words::new(text);
    let Some((_, word)) = words.next_meaningful() else {
        // A bare mention: the short help.
        return Ok(Command::Help(None));
    };
    let Some(action) = Action::from_word(word) else {
        return Err(actions::unknown_action(word));
    };
    let (_, parse) = actions::PARSERS
        .iter()
        .find(|(a, _)| *a == action)
        .expect("every action has a parser (tested)");
    parse(&mut words, ctx)
}

/// The command written as a user would type it after the mention, with the
/// issue as `owner/repo#N` on the default forge and as a link elsewhere.
pub fn canonical(command: &Command, forges: &Forges) -> String {
    let action = command.action();
    if let Command::Help(topic) = command {
        return match topic {
            Some(topic) => format!("help {topic}"),
            None => "help".to_owned(),
        };
    }
    match command.issue() {
        None => action.word().to_owned(),
        Some(issue)
            if issue.host() == &*forges.default_forge().host
                && issue.kind() == IssueKind::Issue =>
        {
            format!("{action} {issue}")
        }
        Some(issue) => format!("{action} {}", forges.issue_url(issue)),
    }
}

#[cfg(test)]
mod agreement;
#[cfg(test)]
mod line_tests;
#[cfg(test)]
mod tests;
