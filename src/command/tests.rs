//! The parser's specification as tests: one behaviour per test; the long tail of what
//! people really type is the table in `tests/table.rs`.

mod table;

use super::*;

fn forges() -> Forges {
    Forges::new([
        ("github.com".to_owned(), ForgeKind::Github),
        ("gitlab.example.com".to_owned(), ForgeKind::Gitlab),
        ("gitea.example.com".to_owned(), ForgeKind::Gitea),
    ])
    .unwrap()
}

/// Renders what the parser found compactly: `1:fix github.com:acme/web#42`,
/// `2:status -`, `3:help fix`, `4!unknown_action` — joined by ` | `.
fn render(found: impl Iterator<Item = Parsed>) -> String {
    let items: Vec<String> = found
        .map(|p| match p.result {
            Ok(Command::Help(topic)) => {
                format!("{}:help {}", p.line, topic.map_or("-", |a| a.word()))
            }
            Ok(command) => {
                let issue = command.issue().map_or("-".to_owned(), |i| {
                    let pr = if i.kind() == IssueKind::Change {
                        "!"
                    } else {
                        ""
                    };
                    format!("{}:{}#{}{pr}", i.host(), i.repo_path(), i.number())
                });
                format!("{}:{} {issue}", p.line, command.action())
            }
            Err(e) => format!("{}!{}", p.line, e.problem.code()),
        })
        .collect();
    items.join(" | ")
}

fn parse_with(text: &str, default_repo: bool) -> String {
    let forges = forges();
    let repo = RepoRef::parse("acme/web", &forges).unwrap();
    let ctx = ParseContext {
        bot_name: "mosaic",
        default_repo: default_repo.then_some(&repo),
        forges: &forges,
    };
    render(parse_message(text, &ctx))
}

/// Parses in a channel whose default repository is `acme/web`.
fn parse(text: &str) -> String {
    parse_with(text, true)
}

fn first_error(text: &str, default_repo: bool) -> CommandError {
    let forges = forges();
    let repo = RepoRef::parse("acme/web", &forges).unwrap();
    let ctx = ParseContext {
        bot_name: "mosaic",
        default_repo: default_repo.then_some(&repo),
        forges: &forges,
    };
    let parsed = parse_message(text, &ctx).next().expect("a command");
    parsed.result.expect_err("an error")
}

#[test]
fn no_commands() {
    assert_eq!(parse("hello there"), "");
    assert_eq!(parse(""), "");
    assert_eq!(parse("mail me at x@mosaic.com"), "");
}

#[test]
fn bare_mention_is_help() {
    assert_eq!(parse("@mosaic"), "1:help -");
    assert_eq!(parse("thanks @mosaic!"), "1:help -");
}

#[test]
fn mention_anywhere_on_the_line() {
    assert_eq!(parse("hey @mosaic fix #42 please?"), "1!extra_arguments");
    assert_eq!(parse("so, @mosaic fix #42"), "1:fix github.com:acme/web#42");
}

#[test]
fn case_is_ignored_but_names_keep_theirs() {
    assert_eq!(
        parse("@Mosaic FIX Acme/Web#42"),
        "1:fix github.com:Acme/Web#42"
    );
}

#[test]
fn several_lines_several_commands_in_order() {
    let text =
        "@mosaic fix acme/web#42\n@mosaic status\nnothing here\n@mosaic help fix\n@mosaic fxi #42";
    assert_eq!(
        parse(text),
        "1:fix github.com:acme/web#42 | 2:status - | 4:help fix | 5!unknown_action"
    );
}

#[test]
fn code_and_quotes_hide_mentions() {
    assert_eq!(parse("`@mosaic fix #1`"), "");
    assert_eq!(
        parse("```\n@mosaic fix #1\n```\n@mosaic fix #2"),
        "4:fix github.com:acme/web#2"
    );
    assert_eq!(
        parse("> @mosaic fix #1\n@mosaic fix #2"),
        "2:fix github.com:acme/web#2"
    );
}

#[test]
fn slash_text_needs_no_mention() {
    let forges = forges();
    let ctx = ParseContext {
        bot_name: "mosaic",
        default_repo: None,
        forges: &forges,
    };
    assert_eq!(
        render(parse_slash("fix acme/web#3", &ctx)),
        "1:fix github.com:acme/web#3"
    );
    assert_eq!(render(parse_slash("  ", &ctx)), "1:help -");
    assert_eq!(render(parse_slash("@mosaic status", &ctx)), "1:status -");
    let err = parse_slash("fxi", &ctx).next().unwrap().result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unknown command `fxi`. Did you mean `fix`? Try `/mosaic help`."
    );
}

#[test]
fn error_messages_name_the_mistake_and_the_right_form() {
    let cases = [
        (
            "@mosaic fxi #42",
            true,
            "Unknown command `fxi`. Did you mean `fix`? Try `@mosaic help`.",
        ),
        (
            "@mosaic fix",
            true,
            "`fix` needs an issue: `@mosaic fix #42`, `@mosaic fix acme/web#42` or a link to the issue.",
        ),
        (
            "@mosaic fix #abc",
            true,
            "`#abc` is not an issue number: use digits, like `#42`.",
        ),
        (
            "@mosaic fix #42",
            false,
            "This channel has no default repository, so `#42` is ambiguous. Use `owner/repo#42`.",
        ),
        (
            "@mosaic fix https://example.com/a/b/issues/1",
            true,
            "`example.com` is not a forge this bot works with. Use a link to github.com, gitlab.example.com, gitea.example.com, or `owner/repo#42`.",
        ),
        (
            "@mosaic fix #42 #43",
            true,
            "`fix` takes one issue; start one per line.",
        ),
        (
            "@mosaic fix #42 now",
            true,
            "`fix` takes one issue, but `now` follows it. Use `@mosaic fix #42`.",
        ),
        (
            "@mosaic fix #0",
            true,
            "`#0` is not an issue: issue numbers start at 1.",
        ),
        (
            "@mosaic fix #-1",
            true,
            "`#-1` is not an issue: issue numbers are positive, like `#42`.",
        ),
        (
            "@mosaic fix #99999999999999999999",
            true,
            "`#99999999999999999999` is too big to be an issue number.",
        ),
        (
            "@mosaic fix 42",
            true,
            "`42` is not an issue reference. Did you mean `#42`?",
        ),
        (
            "@mosaic #42",
            true,
            "`#42` is not a command. Did you mean `@mosaic fix #42`?",
        ),
        (
            "@mosaic thanks",
            true,
            "Unknown command `thanks`. Try `@mosaic help` to see what I can do.",
        ),
        (
            "@mosaic help fix status",
            true,
            "`help` takes one command name, but `status` follows it. Try `@mosaic help fix`.",
        ),
    ];
    for (text, default_repo, message) in cases {
        assert_eq!(
            first_error(text, default_repo).to_string(),
            message,
            "for {text:?}"
        );
    }
}

#[test]
fn unknown_action_carries_its_suggestion() {
    assert_eq!(
        first_error("@mosaic stauts", true).suggestion(),
        Some(Action::Status)
    );
    assert_eq!(first_error("@mosaic thanks", true).suggestion(), None);
}

#[test]
fn canonical_form_of_each_kind_of_issue() {
    let forges = forges();
    let gh = IssueRef::new("github.com", "acme", "web", 4, IssueKind::Issue);
    let gl = IssueRef::new("gitlab.example.com", "g/s", "r", 5, IssueKind::Change);
    assert_eq!(canonical(&Command::Fix(gh), &forges), "fix acme/web#4");
    assert_eq!(
        canonical(&Command::Status(Some(gl)), &forges),
        "status https://gitlab.example.com/g/s/r/-/merge_requests/5"
    );
    assert_eq!(canonical(&Command::Quiet(None), &forges), "quiet");
    assert_eq!(
        canonical(&Command::Help(Some(Action::Retry)), &forges),
        "help retry"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn issue() -> impl Strategy<Value = IssueRef> {
        let name = "[A-Za-z0-9][A-Za-z0-9_.-]{0,12}";
        (
            prop_oneof![
                Just(("github.com", false)),
                Just(("gitlab.example.com", true)),
                Just(("gitea.example.com", false)),
            ],
            proptest::collection::vec(name, 1..4),
            name,
            1u64..=u64::MAX,
            any::<bool>(),
        )
            .prop_map(|((host, nested), owners, repo, number, change)| {
                let owner = if nested {
                    owners.join("/")
                } else {
                    owners[0].clone()
                };
                // Only GitLab tells merge requests from issues (see reference.rs).
                let kind = if change && nested {
                    IssueKind::Change
                } else {
                    IssueKind::Issue
                };
                IssueRef::new(host, &owner, &repo, number, kind)
            })
    }

    fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            issue().prop_map(Command::Fix),
            proptest::option::of(issue()).prop_map(Command::Status),
            proptest::option::of(issue()).prop_map(Command::Cancel),
            proptest::option::of(issue()).prop_map(Command::Retry),
            proptest::option::of(issue()).prop_map(Command::Verbose),
            proptest::option::of(issue()).prop_map(Command::Quiet),
            proptest::option::of(proptest::sample::select(Action::ALL.to_vec()))
                .prop_map(Command::Help),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = parse(&text);
            let _ = parse(&format!("@mosaic {text}"));
        }

        #[test]
        fn never_panics_on_command_like_text(text in "[@#a-z/ `>:<|.\\-0-9\n~]{0,60}") {
            let _ = parse(&text);
        }

        #[test]
        fn canonical_commands_parse_back_to_themselves(command in command(), lead in "[ \t]{0,3}") {
            let forges = forges();
            let ctx = ParseContext { bot_name: "mosaic", default_repo: None, forges: &forges };
            let text = format!("{lead}@mosaic {}", canonical(&command, &forges));
            let found: Vec<Parsed> = parse_message(&text, &ctx).collect();
            prop_assert_eq!(found.len(), 1);
            prop_assert_eq!(found[0].result.as_ref(), Ok(&command));
        }
    }
}
