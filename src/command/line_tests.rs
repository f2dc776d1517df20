//! The usual line's shortcut (`Commands::usual_line`): its mention taken at the
//! line's first `@`, its end found by the usual reader as it reads, and the
//! code scan skipped. Each must agree with the plain reading (`agreement::plain`),
//! here on the line endings and neighbours the shortcut has to tell apart.

use proptest::prelude::*;

use super::agreement::plain;
use super::*;

/// Runs `check` with GitHub alone and `acme/web` as the channel's repository.
fn with_context<T>(check: impl FnOnce(&ParseContext<'_>) -> T) -> T {
    let forges = Forges::github_only();
    let default = RepoRef::parse("acme/web", &forges).unwrap();
    check(&ParseContext {
        bot_name: "mosaic",
        default_repo: Some(&default),
        forges: &forges,
    })
}

/// Messages of usual commands and what may end or follow them: lone and
/// doubled `\r`, tabs, code marks after the mention, a second mention.
fn message() -> impl Strategy<Value = String> {
    let pieces = [
        "@mosaic",
        "@mosaic:",
        "@Mosaic,",
        " fix acme/web#42",
        " fix #7",
        " status",
        " quiet #3",
        " cancel a.b/c-d#9",
        " fix",
        " help",
        "\r",
        "\r\n",
        "\n",
        "\t",
        " ",
        "`",
        "~",
        "x@mosaic.com",
        "#0",
        "é",
        ".",
    ];
    proptest::collection::vec(proptest::sample::select(pieces.to_vec()), 0..16)
        .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_usual_line_finds_what_the_plain_reading_finds(text in message()) {
        let (fast, plain) = with_context(|ctx| (parse_message(&text, ctx).collect::<Vec<_>>(), plain(&text, ctx)));
        prop_assert_eq!(fast, plain);
    }
}

#[test]
fn line_endings_end_the_usual_command_and_the_next_line_is_read() {
    with_context(lines_in_order);
}

fn lines_in_order(ctx: &ParseContext<'_>) {
    for text in [
        "@mosaic fix #1\r\n@mosaic status",
        "@mosaic fix #1\n@mosaic status",
        "@mosaic fix #1\r",
        "@mosaic fix #1\r\r\n@mosaic status",
        "@mosaic fix #1\rstatus",
        "@mosaic\r\n@mosaic quiet",
        "@mosaic fix #1 \t\n",
        "@mosaic fix acme/web#2`\n",
    ] {
        let fast: Vec<Parsed> = parse_message(text, ctx).collect();
        assert_eq!(fast, plain(text, ctx), "{text:?}");
    }
    // The line numbers and commands themselves, for the two-line message.
    let found: Vec<Parsed> = parse_message("@mosaic fix #1\r\n@mosaic status", ctx).collect();
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].line, found[1].line), (1, 2));
    assert_eq!(found[1].result, Ok(Command::Status(None)));
    let Ok(Command::Fix(issue)) = &found[0].result else {
        panic!("{found:?}");
    };
    assert_eq!((issue.repo_path(), issue.number()), ("acme/web", 1));
}

/// A reference too long to keep inline is built on the heap, by the same
/// usual line, and equals the one built from its parts.
#[test]
fn a_reference_past_the_inline_length_is_kept_whole() {
    with_context(long_references);
}

fn long_references(ctx: &ParseContext<'_>) {
    let owner = "an-organisation-with-a-rather-long-name";
    let repo = "and.its_repository-too";
    for (text, kind) in [
        (format!("@mosaic fix {owner}/{repo}#5"), "fix"),
        (format!("@mosaic status {owner}/{repo}#5\r\n"), "status"),
    ] {
        let found: Vec<Parsed> = parse_message(&text, ctx).collect();
        assert_eq!(found, plain(&text, ctx), "{text:?}");
        let expected = IssueRef::new("github.com", owner, repo, 5, IssueKind::Issue);
        let issue = match &found[..] {
            [
                Parsed {
                    line: 1,
                    result: Ok(Command::Fix(issue) | Command::Status(Some(issue))),
                },
            ] => issue,
            other => panic!("{kind}: {other:?}"),
        };
        assert_eq!(issue, &expected);
        assert_eq!((issue.owner(), issue.repo()), (owner, repo));
    }
}
