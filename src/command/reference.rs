//! Reads one issue reference: `#N`, `owner/repo#N`, or a forge link.

use super::error::{InvalidIssue, Problem};
use super::forge::{ForgeKind, Forges, RepoRef, valid_names};
use super::types::{IssueKind, IssueRef};

/// Reads `text` (already stripped of surrounding punctuation) as an issue.
pub(crate) fn parse(
    text: &str,
    forges: &Forges,
    default_repo: Option<&RepoRef>,
) -> Result<IssueRef, Problem> {
    let invalid = |why| Problem::InvalidIssue {
        text: text.to_owned(),
        why,
    };
    if let Some(number) = text.strip_prefix('#') {
        let number = issue_number(number).map_err(invalid)?;
        let repo = default_repo.ok_or_else(|| Problem::AmbiguousIssue {
            text: text.to_owned(),
        })?;
        return Ok(IssueRef::new(
            &repo.host,
            &repo.owner,
            &repo.repo,
            number,
            IssueKind::Issue,
        ));
    }
    if let Some(rest) = strip_scheme(text) {
        return parse_link(text, rest, forges);
    }
    if let Some((path, number)) = rsplit_byte(text, b'#') {
        let forge = forges.default_forge();
        let (owner, repo) =
            rsplit_byte(path, b'/').ok_or_else(|| invalid(InvalidIssue::Malformed))?;
        let nested = forge.kind == ForgeKind::Gitlab;
        if !valid_names(owner, nested) || !valid_names(repo, false) {
            return Err(invalid(InvalidIssue::Malformed));
        }
        let number = issue_number(number).map_err(invalid)?;
        return Ok(IssueRef::new(
            &forge.host,
            owner,
            repo,
            number,
            IssueKind::Issue,
        ));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(InvalidIssue::BareNumber));
    }
    Err(invalid(InvalidIssue::Malformed))
}

/// `text` split around the last `byte` (ASCII), found with [`super::scan::rfind`].
fn rsplit_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = super::scan::rfind(byte, text.as_bytes())?;
    Some((&text[..at], &text[at + 1..]))
}

/// `https://host/…` or `http://host/…` without the scheme, ignoring case.
fn strip_scheme(text: &str) -> Option<&str> {
    ["https://", "http://"].into_iter().find_map(|scheme| {
        let head = text.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &text[scheme.len()..])
    })
}

/// Reads a link whose text after the scheme is `rest`.
fn parse_link(text: &str, rest: &str, forges: &Forges) -> Result<IssueRef, Problem> {
    let (host, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let forge = forges.find(host).ok_or_else(|| Problem::UnknownForge {
        host: host.to_ascii_lowercase(),
        allowed: forges.hosts(),
    })?;
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    let invalid = |why| Problem::InvalidIssue {
        text: text.to_owned(),
        why,
    };
    let (owner, repo, number, kind) = forges
        .match_link(forge.kind, path)
        .ok_or_else(|| invalid(InvalidIssue::NotAnIssueLink))?;
    let number = issue_number(number).map_err(invalid)?;
    // GitHub and Gitea number issues and pull requests in one sequence (and
    // redirect one link to the other), so there `…/pull/42` is `#42`. GitLab
    // numbers merge requests separately: there the kind tells them apart.
    let kind = match forge.kind {
        ForgeKind::Gitlab => kind,
        ForgeKind::Github | ForgeKind::Gitea => IssueKind::Issue,
    };
    Ok(IssueRef::new(&forge.host, owner, repo, number, kind))
}

/// Reads an issue number: digits only, at least 1, fitting in 64 bits.
pub(crate) fn issue_number(digits: &str) -> Result<u64, InvalidIssue> {
    number_of(digits.as_bytes())
}

/// [`issue_number`] on bytes (see [`super::types::Action::from_bytes`]).
pub(crate) fn number_of(digits: &[u8]) -> Result<u64, InvalidIssue> {
    if digits.is_empty() {
        return Err(InvalidIssue::Malformed);
    }
    // One pass that both checks and accumulates (rather than a check and then
    // `str::parse`): this runs for every issue typed. Overflow is remembered,
    // not returned at once, because `99999999999999999999x` is not a number
    // at all, which takes precedence over being too big.
    let mut value = 0u64;
    let mut overflow = false;
    for &b in digits {
        if !b.is_ascii_digit() {
            let negative = digits
                .strip_prefix(b"-")
                .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit));
            return Err(if negative {
                InvalidIssue::Negative
            } else {
                InvalidIssue::NotANumber
            });
        }
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    match (overflow, value) {
        (true, _) => Err(InvalidIssue::TooBig),
        (false, 0) => Err(InvalidIssue::Zero),
        (false, n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_one_error_per_way_to_be_wrong() {
        assert_eq!(issue_number("42"), Ok(42));
        assert_eq!(issue_number("0042"), Ok(42));
        assert_eq!(issue_number("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            issue_number("18446744073709551616"),
            Err(InvalidIssue::TooBig)
        );
        assert_eq!(issue_number("0"), Err(InvalidIssue::Zero));
        assert_eq!(issue_number("-1"), Err(InvalidIssue::Negative));
        assert_eq!(issue_number("4a"), Err(InvalidIssue::NotANumber));
        assert_eq!(issue_number("-"), Err(InvalidIssue::NotANumber));
        assert_eq!(issue_number("٤٢"), Err(InvalidIssue::NotANumber));
        assert_eq!(issue_number(""), Err(InvalidIssue::Malformed));
        assert_eq!(
            issue_number("99999999999999999999x"),
            Err(InvalidIssue::NotANumber)
        );
        assert_eq!(issue_number("000"), Err(InvalidIssue::Zero));
    }

    proptest::proptest! {
        /// The one-pass reading agrees with the standard library's on any digits.
        #[test]
        fn numbers_read_as_the_standard_library_reads_them(digits in "[0-9]{1,24}") {
            let expected = match digits.parse::<u64>() {
                Ok(0) => Err(InvalidIssue::Zero),
                Ok(n) => Ok(n),
                Err(_) => Err(InvalidIssue::TooBig),
            };
            proptest::prop_assert_eq!(issue_number(&digits), expected);
        }
    }

    #[test]
    fn scheme_is_matched_in_any_case() {
        assert_eq!(strip_scheme("HTTPS://github.com/x"), Some("github.com/x"));
        assert_eq!(strip_scheme("ftp://github.com/x"), None);
        assert_eq!(strip_scheme("http"), None);
    }
}
