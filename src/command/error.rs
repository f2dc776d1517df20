//! What can be wrong with a command, and the one place it is worded for users.
//!
//! Each error keeps what the user typed, so the reply quotes them exactly, and
//! how they called the bot (`@mosaic` or `/mosaic`), so the right form it shows
//! is one they can type as is.

use std::fmt;

use super::types::Action;

/// How the user addressed the bot: a mention or a slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoker {
    name: Box<str>,
    slash: bool,
}

impl Invoker {
    /// `@name` in a message.
    pub fn mention(name: &str) -> Invoker {
        Invoker {
            name: name.into(),
            slash: false,
        }
    }

    /// `/name` as a slash command.
    pub fn slash(name: &str) -> Invoker {
        Invoker {
            name: name.into(),
            slash: true,
        }
    }
}

impl fmt::Display for Invoker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sigil = if self.slash { '/' } else { '@' };
        write!(f, "{sigil}{}", self.name)
    }
}

/// Why an issue reference is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidIssue {
    /// `#abc`, `#4a`.
    NotANumber,
    /// `#0`.
    Zero,
    /// `#-1`.
    Negative,
    /// More than fits in 64 bits.
    TooBig,
    /// `42`: a number without `#`.
    BareNumber,
    /// A link to an allowed forge that is not an issue or pull request.
    NotAnIssueLink,
    /// Anything else: `acme#42`, `#`, `acme/web#`, a word.
    Malformed,
}

/// What was wrong; `code()` is the stable name used by `mosaic-bot parse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The first word is not an action.
    UnknownAction {
        word: String,
        suggestion: Option<Action>,
    },
    /// `fix` with nothing after it.
    MissingIssue { action: Action },
    /// The issue reference cannot be read.
    InvalidIssue { text: String, why: InvalidIssue },
    /// `#N` where the channel has no default repository.
    AmbiguousIssue { text: String },
    /// A link to a host that is not an allowed forge.
    UnknownForge { host: String, allowed: String },
    /// More words than the action takes.
    ExtraArguments { action: Action, extra: String },
}

impl Problem {
    /// The error's kind as `mosaic-bot parse` prints it.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::UnknownAction { .. } => "unknown_action",
            Problem::MissingIssue { .. } => "missing_issue",
            Problem::InvalidIssue { .. } => "invalid_issue",
            Problem::AmbiguousIssue { .. } => "ambiguous_issue",
            Problem::UnknownForge { .. } => "unknown_forge",
            Problem::ExtraArguments { .. } => "extra_arguments",
        }
    }
}

/// A command the user meant but the bot cannot run as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub problem: Problem,
    pub invoker: Invoker,
}

impl CommandError {
    /// The suggested action of an unknown one, if any.
    pub fn suggestion(&self) -> Option<Action> {
        match &self.problem {
            Problem::UnknownAction { suggestion, .. } => *suggestion,
            _ => None,
        }
    }
}

impl std::error::Error for CommandError {}

impl fmt::Display for CommandError {
    // Written by hand rather than with thiserror: the wording depends on the
    // invoker and on sub-kinds, which attribute strings cannot express clearly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let me = &self.invoker;
        match &self.problem {
            Problem::UnknownAction {
                word,
                suggestion: Some(Action::Fix),
            } if word.starts_with('#') || word.contains("://") || word.contains('#') => write!(
                f,
                "`{word}` is not a command. Did you mean `{me} fix {word}`?"
            ),
            Problem::UnknownAction {
                word,
                suggestion: Some(action),
            } => write!(
                f,
                "Unknown command `{word}`. Did you mean `{action}`? Try `{me} help`."
            ),
            Problem::UnknownAction {
                word,
                suggestion: None,
            } => write!(
                f,
                "Unknown command `{word}`. Try `{me} help` to see what I can do."
            ),
            Problem::MissingIssue { action } => write!(
                f,
                "`{action}` needs an issue: `{me} {action} #42`, `{me} {action} acme/web#42` or a link to the issue."
            ),
            Problem::InvalidIssue { text, why } => write_invalid(f, text, *why),
            Problem::AmbiguousIssue { text } => write!(
                f,
                "This channel has no default repository, so `{text}` is ambiguous. Use `owner/repo{text}`."
            ),
            Problem::UnknownForge { host, allowed } => write!(
                f,
                "`{host}` is not a forge this bot works with. Use a link to {allowed}, or `owner/repo#42`."
            ),
            Problem::ExtraArguments {
                action: Action::Help,
                extra,
            } => write!(
                f,
                "`help` takes one command name, but `{extra}` follows it. Try `{me} help fix`."
            ),
            Problem::ExtraArguments { action, extra } if looks_like_issue(extra) => {
                write!(f, "`{action}` takes one issue; start one per line.")
            }
            Problem::ExtraArguments { action, extra } => write!(
                f,
                "`{action}` takes one issue, but `{extra}` follows it. Use `{me} {action} #42`."
            ),
        }
    }
}

fn write_invalid(f: &mut fmt::Formatter<'_>, text: &str, why: InvalidIssue) -> fmt::Result {
    match why {
        InvalidIssue::NotANumber => write!(
            f,
            "`{text}` is not an issue number: use digits, like `#42`."
        ),
        InvalidIssue::Zero => write!(f, "`{text}` is not an issue: issue numbers start at 1."),
        InvalidIssue::Negative => write!(
            f,
            "`{text}` is not an issue: issue numbers are positive, like `#42`."
        ),
        InvalidIssue::TooBig => write!(f, "`{text}` is too big to be an issue number."),
        InvalidIssue::BareNumber => {
            write!(
                f,
                "`{text}` is not an issue reference. Did you mean `#{text}`?"
            )
        }
        InvalidIssue::NotAnIssueLink => write!(
            f,
            "`{text}` is not a link to an issue or pull request: link to the issue itself, like `https://github.com/acme/web/issues/42`."
        ),
        InvalidIssue::Malformed => write!(
            f,
            "`{text}` is not an issue reference: use `#42`, `owner/repo#42` or a link to the issue."
        ),
    }
}

/// Whether extra text starts with something that reads as a second issue.
fn looks_like_issue(text: &str) -> bool {
    let first = text.split_whitespace().next().unwrap_or("");
    first.contains('#') || first.contains("://")
}
