//! One small parser per action, each documenting the syntax it accepts.
//!
//! Adding an action is one function here and one row in [`PARSERS`].

use super::ParseContext;
use super::error::Problem;
use super::reference;
use super::token::Words;
use super::types::{Action, Command, IssueRef};

/// Reads the words after an action into a command.
type ActionParser = fn(&mut Words<'_>, &ParseContext<'_>) -> Result<Command, Problem>;

/// Every action with its parser; the order is the order of the help.
pub(crate) const PARSERS: &[(Action, ActionParser)] = &[
    (Action::Fix, fix),
    (Action::Status, status),
    (Action::Cancel, cancel),
    (Action::Retry, retry),
    (Action::Verbose, verbose),
    (Action::Quiet, quiet),
    (Action::Help, help),
];

/// Parses `@mosaic fix <issue>`.
fn fix(words: &mut Words<'_>, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    let issue = optional_issue(Action::Fix, words, ctx)?.ok_or(Problem::MissingIssue {
        action: Action::Fix,
    })?;
    Ok(Command::Fix(issue))
}

/// Parses `@mosaic status [<issue>]`.
fn status(words: &mut Words<'_>, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    optional_issue(Action::Status, words, ctx).map(Command::Status)
}

/// Parses `@mosaic cancel [<issue>]`.
fn cancel(words: &mut Words<'_>, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    optional_issue(Action::Cancel, words, ctx).map(Command::Cancel)
}

/// Parses `@mosaic retry [<issue>]`.
fn retry(words: &mut Words<'_>, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    optional_issue(Action::Retry, words, ctx).map(Command::Retry)
}

/// Parses `@mosaic verbose [<issue>]`.
fn verbose(words: &mut Words<'_>, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    optional_issue(Action::Verbose, words, ctx).map(Command::Verbose)
}

/// Parses `@mosaic quiet [<issue>]`.
fn quiet(words: &mut Words<'_>, ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    optional_issue(Action::Quiet, words, ctx).map(Command::Quiet)
}

/// Parses `@mosaic help [<action>]`.
fn help(words: &mut Words<'_>, _ctx: &ParseContext<'_>) -> Result<Command, Problem> {
    let Some((_, topic)) = words.next_meaningful() else {
        return Ok(Command::Help(None));
    };
    let topic = Action::from_word(topic).ok_or_else(|| unknown_action(topic))?;
    no_more(Action::Help, words)?;
    Ok(Command::Help(Some(topic)))
}

/// At most one issue, then nothing else.
fn optional_issue(
    action: Action,
    words: &mut Words<'_>,
    ctx: &ParseContext<'_>,
) -> Result<Option<IssueRef>, Problem> {
    let Some((_, text)) = words.next_meaningful() else {
        return Ok(None);
    };
    let issue = reference::parse(text, ctx.forges, ctx.default_repo)?;
    no_more(action, words)?;
    Ok(Some(issue))
}

/// Fails with the rest of the line when anything meaningful is left.
fn no_more(action: Action, words: &mut Words<'_>) -> Result<(), Problem> {
    let mut probe = words.clone();
    match probe.next_meaningful() {
        None => Ok(()),
        Some(_) => Err(Problem::ExtraArguments {
            action,
            extra: words.remainder().to_owned(),
        }),
    }
}

/// An unknown first word, with the closest action when one is close.
pub(crate) fn unknown_action(word: &str) -> Problem {
    Problem::UnknownAction {
        word: word.to_owned(),
        suggestion: suggest(word),
    }
}

/// The action a mistyped word most likely meant: within two edits and fewer
/// edits than the word has letters, or a prefix of at least two letters.
/// A word that reads as an issue was most likely meant for `fix`.
fn suggest(word: &str) -> Option<Action> {
    if word.contains('#') || word.contains("://") {
        return Some(Action::Fix);
    }
    let lower = word.to_lowercase();
    let letters = lower.chars().count();
    let (distance, action) = Action::ALL
        .into_iter()
        .map(|a| (strsim::damerau_levenshtein(&lower, a.word()), a))
        .min_by_key(|(d, _)| *d)?;
    if distance <= 2 && distance < letters {
        return Some(action);
    }
    Action::ALL
        .into_iter()
        .find(|a| letters >= 2 && a.word().starts_with(&lower))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_action_once_in_help_order() {
        let order: Vec<Action> = PARSERS.iter().map(|(a, _)| *a).collect();
        assert_eq!(order, Action::ALL);
    }

    #[test]
    fn suggestions_come_from_edit_distance_and_prefixes() {
        assert_eq!(suggest("fxi"), Some(Action::Fix));
        assert_eq!(suggest("stauts"), Some(Action::Status));
        assert_eq!(suggest("CANEL"), Some(Action::Cancel));
        assert_eq!(suggest("verb"), Some(Action::Verbose));
        assert_eq!(suggest("hlep"), Some(Action::Help));
        assert_eq!(suggest("#42"), Some(Action::Fix));
        assert_eq!(suggest("thanks"), None);
        assert_eq!(suggest("x"), None);
    }
}
