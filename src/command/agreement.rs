//! Proves the fast message scan (`Commands`) equal to the grammar read the
//! plain way: every line split out, code ranges of the whole message found
//! up front, the mention looked for on each line.
//!
//! `Commands` skips to each `@`, scans a short line with loops and a long one
//! with `memchr`, and parses code only when a backtick or tilde stands before
//! a mention's line end; each of those shortcuts must give what this gives.

use proptest::prelude::*;

use super::*;

/// The commands of `text` found without any shortcut.
pub(super) fn plain(text: &str, ctx: &ParseContext<'_>) -> Vec<Parsed> {
    let code = markup::code_ranges(text);
    let mut found = Vec::new();
    let mut offset = 0;
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if !markup::is_quoted(line)
            && let Some(end) = mention::find(line, 0, ctx.bot_name, offset, &code)
        {
            found.push(Parsed {
                line: index + 1,
                result: parse_command(&line[end..], ctx).map_err(|problem| CommandError {
                    problem,
                    invoker: Invoker::mention(ctx.bot_name),
                }),
            });
        }
        offset += raw.len() + 1;
    }
    found
}

/// Messages made of the pieces that matter to the scan, long and short (the
/// filler takes lines past the 32 bytes where the scan changes method).
fn message() -> impl Strategy<Value = String> {
    let pieces = [
        "@mosaic",
        "@MOSAIC,",
        "x@mosaic",
        "@mosaicbot",
        " ",
        "fix",
        "status",
        "#42",
        "acme/web#7",
        "\n",
        "\r\n",
        "`",
        "```",
        "~~~",
        "> ",
        "\n\n",
        "We looked at the flaky test again today.",
    ];
    proptest::collection::vec(proptest::sample::select(pieces.to_vec()), 0..24)
        .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn the_fast_scan_finds_what_the_plain_reading_finds(text in message()) {
        let forges = Forges::github_only();
        let default = RepoRef::parse("acme/web", &forges).unwrap();
        let ctx = ParseContext { bot_name: "mosaic", default_repo: Some(&default), forges: &forges };
        let fast: Vec<Parsed> = parse_message(&text, &ctx).collect();
        prop_assert_eq!(fast, plain(&text, &ctx));
    }
}
