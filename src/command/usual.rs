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
use super::reference::number_of;
use super::types::{Action, Command, IssueKind, IssueRef};

/// The command `text` (after the mention and its `,:;`) names, when it has the
/// usual shape and is valid; `None` sends it to the general reader.
pub(crate) fn command(text: &str, ctx: &ParseContext<'_>) -> Option<Command> {
    let bytes = text.as_bytes();
    let mut at = skip_spaces(bytes, 0);
    if at == bytes.len() {
        // A bare mention: the short help.
        return Some(Command::Help(None));
    }
    let word_start = at;
    while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
        at += 1;
    }
    // The action must end at a space or the end: `fix,` or `fix#1` need cleaning.
    if at < bytes.len() && bytes[at] != b' ' {
        return None;
    }
    let action = Action::from_bytes(&bytes[word_start..at])?;
    let at = skip_spaces(bytes, at);
    let issue = if at == bytes.len() {
        None
    } else {
        let (issue, end) = issue(text, at, ctx)?;
        // Nothing may follow the issue: extra words are an error to word.
        if skip_spaces(bytes, end) != bytes.len() {
            return None;
        }
        Some(issue)
    };
    Some(match (action, issue) {
        (Action::Fix, Some(issue)) => Command::Fix(issue),
        // `fix` alone is an error, and `help` has its own parser.
        (Action::Fix, None) | (Action::Help, _) => return None,
        (Action::Status, issue) => Command::Status(issue),
        (Action::Cancel, issue) => Command::Cancel(issue),
        (Action::Retry, issue) => Command::Retry(issue),
        (Action::Verbose, issue) => Command::Verbose(issue),
        (Action::Quiet, issue) => Command::Quiet(issue),
    })
}

/// The issue of the word at `from`, and where the word ends: `#N` on the
/// default repository, or `owner/repo#N` on the default forge, with names
/// made of the characters every forge accepts. `None` for any other form (a
/// trailing `.` or `)` needs cleaning, a GitLab subgroup has a second slash)
/// and for every invalid one.
fn issue(text: &str, from: usize, ctx: &ParseContext<'_>) -> Option<(IssueRef, usize)> {
    let bytes = text.as_bytes();
    if bytes[from] == b'#' {
        let repo = ctx.default_repo?;
        let end = digits_end(bytes, from + 1)?;
        let number = number_of(&bytes[from + 1..end]).ok()?;
        let issue = IssueRef::new(
            &repo.host,
            &repo.owner,
            &repo.repo,
            number,
            IssueKind::Issue,
        );
        return Some((issue, end));
    }
    let slash = name_end(bytes, from);
    if slash == from || bytes.get(slash) != Some(&b'/') {
        return None;
    }
    let hash = name_end(bytes, slash + 1);
    if hash == slash + 1 || bytes.get(hash) != Some(&b'#') {
        return None;
    }
    let end = digits_end(bytes, hash + 1)?;
    let number = number_of(&bytes[hash + 1..end]).ok()?;
    // The general reader takes the owner up to the last slash (GitLab owners
    // may hold more); here the names hold none, so the split is the same, and
    // a one-segment owner is valid on every forge.
    let forge = ctx.forges.default_forge();
    let issue = IssueRef::new(
        &forge.host,
        &text[from..slash],
        &text[slash + 1..hash],
        number,
        IssueKind::Issue,
    );
    Some((issue, end))
}

/// Where the digits starting at `from` end, if the word ends there too:
/// `#4)` needs cleaning and `#4a` is an error, both for the general reader.
fn digits_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() && bytes[at].is_ascii_digit() {
        at += 1;
    }
    (at == bytes.len() || bytes[at] == b' ').then_some(at)
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
mod tests {
    use proptest::prelude::*;

    use super::super::forge::{ForgeKind, Forges, RepoRef};
    use super::super::parse_words;
    use super::*;

    /// Command texts made of the pieces that matter to both readers: actions
    /// in any case, references valid and not, punctuation, other white space.
    fn text() -> impl Strategy<Value = String> {
        let pieces = [
            "fix",
            "FiX",
            "status",
            "cancel",
            "retry",
            "verbose",
            "quiet",
            "help",
            "fxi",
            " ",
            "  ",
            "\t",
            "\u{a0}",
            "#42",
            "#0",
            "#",
            "#-1",
            "acme/web#7",
            "a/b/c#1",
            "acme/web#",
            "/web#1",
            "acme/#1",
            "acme#1",
            "a.b-c_/w.e-b_#3",
            "#99999999999999999999",
            "42",
            ".",
            ",",
            ")",
            "(",
            "*",
            "`",
            "<",
            ">",
            "|",
            "é",
            "https://github.com/acme/web/issues/9",
        ];
        proptest::collection::vec(proptest::sample::select(pieces.to_vec()), 0..7)
            .prop_map(|parts| parts.concat())
    }

    fn contexts() -> Vec<(Forges, Option<RepoRef>)> {
        let github = Forges::github_only();
        let gitlab = Forges::new([("gitlab.example.com".to_owned(), ForgeKind::Gitlab)]).unwrap();
        let default = RepoRef::parse("acme/web", &github).unwrap();
        vec![
            (github.clone(), Some(default)),
            (github, None),
            (gitlab, None),
        ]
    }

    proptest! {
        // More cases than the default: few of the random texts have the usual shape.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Whatever the one-pass reader answers, the general reader answers too.
        #[test]
        fn the_usual_reader_agrees_with_the_general_one(text in text()) {
            for (forges, default) in contexts() {
                let ctx = ParseContext { bot_name: "mosaic", default_repo: default.as_ref(), forges: &forges };
                if let Some(command) = command(&text, &ctx) {
                    prop_assert_eq!(Ok(command), parse_words(&text, &ctx), "{:?}", text);
                }
            }
        }
    }

    #[test]
    fn the_name_table_holds_what_forges_accept() {
        for b in 0..=255u8 {
            let name = b.is_ascii_alphanumeric() || b"_.-".contains(&b);
            assert_eq!(NAME[b as usize], name, "{b}");
        }
    }

    /// The usual forms do take the one-pass way (else it would be dead weight).
    #[test]
    fn the_usual_forms_are_read_in_one_pass() {
        for (forges, default) in contexts().into_iter().take(1) {
            let ctx = ParseContext {
                bot_name: "mosaic",
                default_repo: default.as_ref(),
                forges: &forges,
            };
            for text in [
                "",
                " fix acme/web#42",
                "FIX #7 ",
                "status",
                "quiet  #3",
                "verbose a.b-c_/w.e-b_#3",
            ] {
                assert_eq!(
                    command(text, &ctx).map(Ok),
                    Some(parse_words(text, &ctx)),
                    "{text:?}"
                );
            }
            for text in [
                "fix",
                "fix #0",
                "help",
                "fix #4)",
                "fix a/b/c#1",
                "fix #1 now",
            ] {
                assert_eq!(command(text, &ctx), None, "{text:?}");
            }
        }
    }
}
