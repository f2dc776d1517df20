//! What `help` says: the short help, and one action's usage with examples.

use mosaic_chat::{Markup, Span};

use crate::command::Action;

/// The short help: every action on one line each.
pub fn overview(me: &str, slash_note: bool) -> Markup {
    let mut markup = Markup::new()
        .line([Span::bold(
            "I start fix jobs for issues and follow them in a thread.",
        )])
        .list(Action::ALL.into_iter().map(|a| {
            vec![
                Span::code(format!("{me} {}", usage(a))),
                Span::text(format!(" — {}", summary(a))),
            ]
        }))
        .line([
            Span::text("An issue is "),
            Span::code("#42"),
            Span::text(", "),
            Span::code("owner/repo#42"),
            Span::text(" or a link to it. Without one, a command acts on the job of its thread. "),
            Span::code(format!("{me} help fix")),
            Span::text(" says more about one command."),
        ]);
    if slash_note {
        markup = markup.line([Span::text(
            "Slack takes no slash commands inside threads: in a job's thread there, mention me instead.",
        )]);
    }
    markup
}

/// One action's usage, what it does and examples.
pub fn action(me: &str, action: Action) -> Markup {
    Markup::new()
        .line([Span::code(format!("{me} {}", usage(action)))])
        .line([Span::text(detail(action))])
        .list(
            examples(action)
                .iter()
                .map(|e| vec![Span::code(format!("{me} {e}"))]),
        )
}

fn usage(action: Action) -> &'static str {
    match action {
        Action::Fix => "fix ISSUE",
        Action::Status => "status [ISSUE]",
        Action::Cancel => "cancel [ISSUE]",
        Action::Retry => "retry [ISSUE]",
        Action::Verbose => "verbose [ISSUE]",
        Action::Quiet => "quiet [ISSUE]",
        Action::Help => "help [COMMAND]",
    }
}

fn summary(action: Action) -> &'static str {
    match action {
        Action::Fix => "start a fix job and follow it here",
        Action::Status => "state, step, progress and links of a job",
        Action::Cancel => "cancel a running job",
        Action::Retry => "start a failed or cancelled job again",
        Action::Verbose => "show every event of the job, output included",
        Action::Quiet => "show only the start and the outcome",
        Action::Help => "this help, or one command's",
    }
}

fn detail(action: Action) -> &'static str {
    match action {
        Action::Fix => {
            "Starts a fix job for the issue, answers in a thread and keeps a progress card there until the job ends with its pull request. A second fix for an issue whose job still runs points to that job instead."
        }
        Action::Status => {
            "Shows the job's state, progress, elapsed time and links. Without an issue: the job of this thread; with one: the newest job for that issue."
        }
        Action::Cancel => {
            "Cancels the running job of this thread, or the newest job for the issue."
        }
        Action::Retry => {
            "Starts a failed or cancelled job again and follows it in the same thread."
        }
        Action::Verbose => {
            "From now on this thread shows every event: steps, gates, tool calls and step output."
        }
        Action::Quiet => {
            "From now on this thread shows only the start and the outcome; the progress card stays up to date."
        }
        Action::Help => "Lists the commands, or explains one.",
    }
}

fn examples(action: Action) -> &'static [&'static str] {
    match action {
        Action::Fix => &[
            "fix #42",
            "fix acme/web#42",
            "fix https://github.com/acme/web/issues/42",
        ],
        Action::Status => &["status", "status acme/web#42"],
        Action::Cancel => &["cancel", "cancel #42"],
        Action::Retry => &["retry", "retry acme/web#42"],
        Action::Verbose => &["verbose", "verbose #42"],
        Action::Quiet => &["quiet", "quiet #42"],
        Action::Help => &["help", "help fix"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_chat::markup::{PlainDialect, render};

    #[test]
    fn the_overview_lists_every_action() {
        let text = render(&overview("@mosaic", false), &PlainDialect, 10_000).join("\n");
        for action in Action::ALL {
            assert!(
                text.contains(&format!("`@mosaic {}", action.word())),
                "{action}: {text}"
            );
        }
        assert!(!text.contains("slash commands"));
        let slash = render(&overview("/mosaic", true), &PlainDialect, 10_000).join("\n");
        assert!(slash.contains("Slack takes no slash commands inside threads"));
    }

    #[test]
    fn each_action_has_usage_and_examples_with_the_invoker() {
        for a in Action::ALL {
            let text = render(&action("/mosaic", a), &PlainDialect, 10_000).join("\n");
            assert!(
                text.starts_with(&format!("`/mosaic {}", a.word())),
                "{text}"
            );
            assert!(text.matches("`/mosaic ").count() >= 3, "{text}");
        }
    }
}
