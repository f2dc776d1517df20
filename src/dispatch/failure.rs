//! Every way a command can fail, and the one place each is worded for users.
//!
//! Like poise's `FrameworkError`: parse errors, missing jobs, backend and
//! store failures all become a [`Failure`], and [`Failure::words`] turns it
//! into the reply, so the wording is the same on every platform. Failures
//! that an admin must fix are also logged, once, where they happen.

use mosaic_chat::{ChatError, Markup, Span};

use crate::backend::BackendError;
use crate::command::{Action, CommandError};
use crate::store::StoreError;

/// Why a command could not be carried out.
#[derive(Debug)]
pub enum Failure {
    /// The command could not be parsed.
    Command(CommandError),
    /// The command names no issue and its thread has no job.
    NoJobInThread { action: Action },
    /// No job is known for the issue, here or on the backend.
    NoJobForIssue { action: Action, issue: String },
    /// The issue's job is not followed in any thread by this bot.
    NotFollowed { action: Action, issue: String },
    /// The job backend failed or refused.
    Backend { action: Action, error: BackendError },
    /// The bot's own store failed.
    Store { action: Action, error: StoreError },
    /// The chat platform refused to start a thread.
    Platform { action: Action, error: ChatError },
    /// The bot may not post where it would answer (`error` names the
    /// missing permission), so nothing was started.
    CannotAnswer { action: Action, error: ChatError },
    /// A permission (`permission`, its configuration key) does not let this
    /// user do it here.
    Denied {
        action: Action,
        why: Denial,
        permission: String,
    },
    /// The channel has no backend workspace to start or find jobs in.
    NoWorkspace { action: Action },
    /// The job's workspace is no longer in the configuration.
    WorkspaceGone { action: Action, workspace: String },
    /// The issue's repository is not among those of the channel.
    RepoNotAllowed {
        action: Action,
        issue: String,
        allowed: String,
    },
}

/// Which part of an action's permission a command lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// `permissions.ACTION.channels` does not list this channel.
    Channel,
    /// Neither everyone, nor this user, nor one of their roles may.
    Who,
    /// Only the job's requester (or an admin) may. `requester` is `None` when
    /// no job for `issue` was started from chat, so there is none to match.
    NotRequester {
        requester: Option<String>,
        issue: String,
    },
}

impl Failure {
    /// The reply to the user; `me` is how they call the bot (`@mosaic`).
    pub fn words(&self, me: &str) -> Markup {
        let line = |text: String| Markup::new().line(prose(&text));
        match self {
            Failure::Command(e) => line(e.to_string()),
            Failure::NoJobInThread { action } => line(format!(
                "There is no job in this thread. Use `{me} {action} #42`, or type it in a job's thread."
            )),
            Failure::NoJobForIssue { action: _, issue } => line(format!(
                "I know of no job for {issue}. Start one with `{me} fix {issue}`."
            )),
            Failure::NotFollowed { action, issue } => line(format!(
                "The job for {issue} was not started from chat, so there is no thread to make {}. Start one with `{me} fix {issue}`.",
                if *action == Action::Verbose {
                    "verbose"
                } else {
                    "quiet"
                }
            )),
            Failure::Backend { action, error } => line(backend_words(me, *action, error)),
            Failure::Store { action, .. } => line(format!(
                "I could not read or save my records, so I did not {}. Try again; if it keeps failing, an admin should look at the bot's log.",
                doing(*action)
            )),
            Failure::Platform { action, error } => line(format!(
                "I could not open a thread here ({error}), so I did not {}.",
                doing(*action)
            )),
            Failure::CannotAnswer { action, error } => line(format!(
                "I may not post here ({error}), so I did not {}. An admin can grant me the permission in the channel's settings.",
                doing(*action)
            )),
            Failure::Denied {
                action,
                why,
                permission,
            } => line(denied_words(*action, why, permission)),
            Failure::NoWorkspace { action } => line(format!(
                "This channel is not connected to a job backend workspace, so I did not {}. An admin can connect it: a `[[channels]]` entry with `workspace = \"…\"`.",
                doing(*action)
            )),
            Failure::WorkspaceGone { action, workspace } => line(format!(
                "This job belongs to backend workspace {workspace}, which is no longer in my configuration, so I did not {}. An admin can add it back under `[workspaces]`.",
                doing(*action)
            )),
            Failure::RepoNotAllowed {
                action,
                issue,
                allowed,
            } => line(format!(
                "This channel works on {allowed} only, so I did not {} for {issue}. Use one of those repositories, or ask an admin to add it to the channel's `repos`.",
                doing(*action)
            )),
        }
    }

    /// Whether an admin must act: such failures are logged as errors.
    pub fn needs_admin(&self) -> bool {
        match self {
            Failure::Backend { error, .. } => matches!(
                error,
                BackendError::Unauthorized { .. }
                    | BackendError::Forbidden { .. }
                    | BackendError::Decode { .. }
            ),
            Failure::Store { .. } | Failure::Platform { .. } => true,
            _ => false,
        }
    }
}

/// A sentence whose `backticked` parts are shown as inline code, so the
/// commands it quotes can be copied as they are. Everything outside a pair of
/// backticks is untrusted text, escaped by the platform, so a stray backtick
/// that user text brings in can only move a boundary, never let a ping out.
pub fn prose(sentence: &str) -> Vec<Span> {
    // An odd number of backticks leaves the last one unpaired: it stays text.
    let pairs = sentence.matches('`').count() / 2;
    let mut spans = Vec::new();
    let mut rest = sentence;
    for _ in 0..pairs {
        let (Some(open), Some(len)) = (
            rest.find('`'),
            rest.find('`').and_then(|o| rest[o + 1..].find('`')),
        ) else {
            break;
        };
        let close = open + 1 + len;
        if open > 0 {
            spans.push(Span::text(&rest[..open]));
        }
        spans.push(Span::code(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        spans.push(Span::text(rest));
    }
    spans
}

fn backend_words(me: &str, action: Action, error: &BackendError) -> String {
    match (action, error) {
        (_, BackendError::NotFound { .. }) => {
            "That job no longer exists on the job backend.".to_owned()
        }
        (Action::Cancel, BackendError::Conflict { .. }) => {
            "That job has already ended, so there is nothing to cancel.".to_owned()
        }
        (Action::Retry, BackendError::Conflict { .. }) => format!(
            "Only a failed or cancelled job can be retried, and this one is not. `{me} status` shows where it is."
        ),
        (_, BackendError::Conflict { message }) => {
            format!("The job backend refused: {message}.")
        }
        (_, BackendError::Unauthorized { .. } | BackendError::Forbidden { .. }) => format!(
            "The job backend refused my credentials, so I could not {}. An admin needs to check the bot's backend token and workspace.",
            doing(action)
        ),
        (_, BackendError::Invalid { messages }) => format!(
            "The job backend refused the request: {}.",
            messages.join("; ")
        ),
        (
            _,
            BackendError::Unavailable { .. }
            | BackendError::Timeout { .. }
            | BackendError::Transport { .. },
        ) => format!(
            "The job backend is not reachable right now, so I could not {}. Try again in a minute.",
            doing(action)
        ),
        (_, other) => format!(
            "The job backend answered with an error, so I could not {}: {other}.",
            doing(action)
        ),
    }
}

fn denied_words(action: Action, why: &Denial, key: &str) -> String {
    let permission = format!("`{key}`");
    match why {
        Denial::Channel => format!(
            "`{action}` is not allowed in this channel ({permission} lists the channels where it is). Use one of those, or ask an admin."
        ),
        Denial::Who => format!(
            "You may not use `{action}`: {permission} allows it only to certain users and roles. Ask an admin if you need it."
        ),
        Denial::NotRequester {
            requester: Some(name),
            ..
        } => format!(
            "Only the job's requester ({name}) or an admin may `{action}` it ({permission})."
        ),
        Denial::NotRequester {
            requester: None,
            issue,
        } => format!(
            "I know of no job for {issue} started from chat, and only a job's requester or an admin may `{action}` one ({permission})."
        ),
    }
}

/// What the action was about to do, for "I could not …".
fn doing(action: Action) -> &'static str {
    match action {
        Action::Fix => "start the job",
        Action::Status => "look the job up",
        Action::Cancel => "cancel the job",
        Action::Retry => "retry the job",
        Action::Verbose | Action::Quiet => "change what this thread shows",
        Action::Help => "help",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_chat::markup::{PlainDialect, render};
    use std::time::Duration;

    fn text(f: Failure) -> String {
        render(&f.words("@mosaic"), &PlainDialect, 10_000).join("\n")
    }

    #[test]
    fn a_place_the_bot_may_not_answer_is_named_with_its_permission() {
        let error = ChatError::Forbidden("missing the Send Messages permission".into());
        let words = text(Failure::CannotAnswer {
            action: Action::Fix,
            error,
        });
        assert!(
            words.contains("Send Messages") && words.contains("did not start the job"),
            "{words}"
        );
    }

    #[test]
    fn each_backend_failure_says_what_happened_and_what_to_do() {
        let backend = |action, error| text(Failure::Backend { action, error });
        assert_eq!(
            backend(
                Action::Cancel,
                BackendError::Conflict {
                    message: "x".into()
                }
            ),
            "That job has already ended, so there is nothing to cancel."
        );
        assert!(
            backend(
                Action::Retry,
                BackendError::Conflict {
                    message: "x".into()
                }
            )
            .contains("`@mosaic status`")
        );
        assert!(
            backend(
                Action::Fix,
                BackendError::Timeout {
                    after: Duration::from_secs(1)
                }
            )
            .contains("not reachable right now, so I could not start the job")
        );
        assert!(
            backend(
                Action::Status,
                BackendError::Unauthorized {
                    message: "x".into()
                }
            )
            .contains("An admin needs to check")
        );
        assert_eq!(
            backend(
                Action::Status,
                BackendError::NotFound {
                    message: "x".into()
                }
            ),
            "That job no longer exists on the job backend."
        );
    }

    #[test]
    fn missing_jobs_show_the_right_form() {
        assert_eq!(
            text(Failure::NoJobInThread {
                action: Action::Status
            }),
            "There is no job in this thread. Use `@mosaic status #42`, or type it in a job's thread."
        );
        assert!(
            text(Failure::NoJobForIssue {
                action: Action::Cancel,
                issue: "acme/web#9".into()
            })
            .contains("`@mosaic fix acme/web#9`")
        );
    }

    #[test]
    fn backticked_parts_become_code_and_the_rest_stays_text() {
        assert_eq!(
            prose("Use `@mosaic status #42` here."),
            [
                Span::text("Use "),
                Span::code("@mosaic status #42"),
                Span::text(" here.")
            ]
        );
        assert_eq!(prose("no code"), [Span::text("no code")]);
        assert_eq!(
            prose("`a` and `b`"),
            [Span::code("a"), Span::text(" and "), Span::code("b")]
        );
        assert_eq!(
            prose("odd `x` then ` @everyone"),
            [
                Span::text("odd "),
                Span::code("x"),
                Span::text(" then ` @everyone")
            ]
        );
    }

    #[test]
    fn only_failures_an_admin_must_fix_are_flagged() {
        assert!(
            Failure::Backend {
                action: Action::Fix,
                error: BackendError::Forbidden {
                    message: "x".into()
                }
            }
            .needs_admin()
        );
        assert!(
            !Failure::NoJobInThread {
                action: Action::Cancel
            }
            .needs_admin()
        );
    }
}
