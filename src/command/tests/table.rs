//! The long tail of what people really type, as a table: each message, whether the channel
//! has a default repository, and what the parser understands.

use super::parse_with;

/// The long tail: (message, default repository set, what is understood).
const TABLE: &[(&str, bool, &str)] = &[
    // fix and its references
    ("@mosaic fix #42", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix #42.", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix #42!", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix (#42)", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix #42,", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix #42?!", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix `#42`", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix **#42**", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix \"#42\"", true, "1:fix github.com:acme/web#42"),
    ("@mosaic fix #0042", true, "1:fix github.com:acme/web#42"),
    (
        "@mosaic fix #18446744073709551615",
        true,
        "1:fix github.com:acme/web#18446744073709551615",
    ),
    (
        "@mosaic fix acme/web#42",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix other/repo#7",
        true,
        "1:fix github.com:other/repo#7",
    ),
    (
        "@mosaic fix my-org/my.repo_2#7",
        false,
        "1:fix github.com:my-org/my.repo_2#7",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/42",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix https://github.com/acme/web/pull/57",
        false,
        "1:fix github.com:acme/web#57",
    ),
    (
        "@mosaic fix https://github.com/acme/web/pull/57/files",
        false,
        "1:fix github.com:acme/web#57",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/42/",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/42#issuecomment-1",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/42?x=1",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix HTTPS://GitHub.com/acme/web/issues/42",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix http://github.com/acme/web/issues/42",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix <https://github.com/acme/web/issues/42>",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix <https://github.com/acme/web/issues/42|acme/web#42>",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix <https://github.com/acme/web/issues/42|issue 42 here>",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/42.",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix (https://github.com/acme/web/issues/42)",
        false,
        "1:fix github.com:acme/web#42",
    ),
    (
        "@mosaic fix https://gitlab.example.com/group/sub/repo/-/issues/5",
        false,
        "1:fix gitlab.example.com:group/sub/repo#5",
    ),
    (
        "@mosaic fix https://gitlab.example.com/group/repo/-/issues/5",
        false,
        "1:fix gitlab.example.com:group/repo#5",
    ),
    (
        "@mosaic fix https://gitlab.example.com/a/b/c/d/-/merge_requests/9",
        false,
        "1:fix gitlab.example.com:a/b/c/d#9!",
    ),
    (
        "@mosaic fix https://gitea.example.com/owner/repo/issues/3",
        false,
        "1:fix gitea.example.com:owner/repo#3",
    ),
    (
        "@mosaic fix https://gitea.example.com/owner/repo/pulls/3",
        false,
        "1:fix gitea.example.com:owner/repo#3",
    ),
    // fix errors
    ("@mosaic fix", true, "1!missing_issue"),
    ("@mosaic fix .", true, "1!missing_issue"),
    ("@mosaic fix #abc", true, "1!invalid_issue"),
    ("@mosaic fix #4a", true, "1!invalid_issue"),
    ("@mosaic fix #0", true, "1!invalid_issue"),
    ("@mosaic fix #-1", true, "1!invalid_issue"),
    ("@mosaic fix #99999999999999999999", true, "1!invalid_issue"),
    ("@mosaic fix #18446744073709551616", true, "1!invalid_issue"),
    ("@mosaic fix #", true, "1!invalid_issue"),
    ("@mosaic fix 42", true, "1!invalid_issue"),
    ("@mosaic fix acme#42", true, "1!invalid_issue"),
    ("@mosaic fix acme/web#", true, "1!invalid_issue"),
    ("@mosaic fix acme/web#x", true, "1!invalid_issue"),
    ("@mosaic fix /web#4", true, "1!invalid_issue"),
    ("@mosaic fix a/b/c#4", true, "1!invalid_issue"),
    ("@mosaic fix acme/we$b#4", true, "1!invalid_issue"),
    ("@mosaic fix the bug", true, "1!invalid_issue"),
    ("@mosaic fix #４２", true, "1!invalid_issue"),
    (
        "@mosaic fix https://github.com/acme/web",
        true,
        "1!invalid_issue",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/",
        true,
        "1!invalid_issue",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/0",
        true,
        "1!invalid_issue",
    ),
    (
        "@mosaic fix https://github.com/acme/web/issues/abc",
        true,
        "1!invalid_issue",
    ),
    (
        "@mosaic fix https://github.com/acme/web/-/issues/4",
        true,
        "1!invalid_issue",
    ),
    (
        "@mosaic fix https://gitlab.example.com/group/repo/issues/5",
        true,
        "1!invalid_issue",
    ),
    ("@mosaic fix #42", false, "1!ambiguous_issue"),
    ("@mosaic fix #abc", false, "1!invalid_issue"),
    (
        "@mosaic fix https://example.com/a/b/issues/1",
        true,
        "1!unknown_forge",
    ),
    (
        "@mosaic fix https://gitlab.com/a/b/-/issues/1",
        true,
        "1!unknown_forge",
    ),
    (
        "@mosaic fix https://github.com.evil.io/a/b/issues/1",
        true,
        "1!unknown_forge",
    ),
    ("@mosaic fix #42 #43", true, "1!extra_arguments"),
    ("@mosaic fix #42 and #43", true, "1!extra_arguments"),
    ("@mosaic fix #42 acme/web#43", true, "1!extra_arguments"),
    ("@mosaic fix #abc #43", true, "1!invalid_issue"),
    // the other actions
    ("@mosaic status", true, "1:status -"),
    ("@mosaic status?", true, "1:status -"),
    (
        "@mosaic status #42",
        true,
        "1:status github.com:acme/web#42",
    ),
    ("@mosaic status #42", false, "1!ambiguous_issue"),
    (
        "@mosaic status acme/web#42",
        false,
        "1:status github.com:acme/web#42",
    ),
    ("@mosaic status #42 #43", true, "1!extra_arguments"),
    ("@mosaic status please", true, "1!invalid_issue"),
    ("@mosaic cancel", true, "1:cancel -"),
    ("@mosaic CANCEL #7", true, "1:cancel github.com:acme/web#7"),
    ("@mosaic retry", true, "1:retry -"),
    (
        "@mosaic retry https://github.com/acme/web/issues/9",
        true,
        "1:retry github.com:acme/web#9",
    ),
    ("@mosaic verbose", true, "1:verbose -"),
    ("@mosaic Verbose!", true, "1:verbose -"),
    (
        "@mosaic verbose #5",
        true,
        "1:verbose github.com:acme/web#5",
    ),
    ("@mosaic quiet", true, "1:quiet -"),
    ("@mosaic quiet #5", true, "1:quiet github.com:acme/web#5"),
    ("@mosaic quiet #0", true, "1!invalid_issue"),
    ("@mosaic help", true, "1:help -"),
    ("@mosaic help fix", true, "1:help fix"),
    ("@mosaic HELP Status", true, "1:help status"),
    ("@mosaic help retry?", true, "1:help retry"),
    ("@mosaic help fxi", true, "1!unknown_action"),
    ("@mosaic help fix status", true, "1!extra_arguments"),
    ("@mosaic fxi #42", true, "1!unknown_action"),
    ("@mosaic fixx #42", true, "1!unknown_action"),
    ("@mosaic #42", true, "1!unknown_action"),
    ("@mosaic please fix #42", true, "1!unknown_action"),
    // mentions
    ("@MOSAIC fix #1", true, "1:fix github.com:acme/web#1"),
    ("@mosaic: fix #1", true, "1:fix github.com:acme/web#1"),
    ("@mosaic, fix #1", true, "1:fix github.com:acme/web#1"),
    ("@mosaic\tfix\t#1", true, "1:fix github.com:acme/web#1"),
    (
        "@mosaic\u{a0}fix\u{2003}#1",
        true,
        "1:fix github.com:acme/web#1",
    ),
    (
        "  @mosaic   fix   #1  ",
        true,
        "1:fix github.com:acme/web#1",
    ),
    ("(@mosaic) status", true, "1:status -"),
    ("@mosaicbot fix #1", true, ""),
    ("@mosaic-ci fix #1", true, ""),
    ("x@mosaic.com fix #1", true, ""),
    ("write to @mosaic.com", true, ""),
    ("email@mosaic fix #1", true, ""),
    ("@@mosaic fix #1", true, ""),
    ("@mosaic fix #1 @mosaic fix #2", true, "1!extra_arguments"),
    ("@mosaic\r\n@mosaic status", true, "1:help - | 2:status -"),
    // code, quotes, several lines
    ("`@mosaic fix #1`", true, ""),
    ("run `@mosaic fix #1` to start", true, ""),
    ("``@mosaic fix #1``", true, ""),
    ("```@mosaic fix #1```", true, ""),
    ("```\n@mosaic fix #1\n```", true, ""),
    (
        "```rust\n@mosaic fix #1\n```\n@mosaic fix #2",
        true,
        "4:fix github.com:acme/web#2",
    ),
    ("~~~\n@mosaic fix #1\n~~~", true, ""),
    ("```\n@mosaic fix #1", true, ""),
    (
        "`code` then @mosaic fix #1",
        true,
        "1:fix github.com:acme/web#1",
    ),
    ("@mosaic fix #1 `note`", true, "1!extra_arguments"),
    ("> @mosaic fix #1", true, ""),
    (">@mosaic fix #1", true, ""),
    (
        "> quoted\n@mosaic fix #1",
        true,
        "2:fix github.com:acme/web#1",
    ),
    ("    @mosaic fix #1", true, "1:fix github.com:acme/web#1"),
    (
        "line one\n\n@mosaic fix #1\n\n@mosaic fix #2",
        true,
        "3:fix github.com:acme/web#1 | 5:fix github.com:acme/web#2",
    ),
    (
        "@mosaic fix #1\n@mosaic fix #1",
        true,
        "1:fix github.com:acme/web#1 | 2:fix github.com:acme/web#1",
    ),
    (
        "@mosaic status\n@mosaic nope",
        true,
        "1:status - | 2!unknown_action",
    ),
];

#[test]
fn table_of_real_inputs() {
    assert!(TABLE.len() >= 100, "the table keeps at least 100 cases");
    let mut failures = Vec::new();
    for (text, default_repo, expected) in TABLE {
        let got = parse_with(text, *default_repo);
        if got != *expected {
            failures.push(format!("{text:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
