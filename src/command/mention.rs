//! Finds the bot's mention on a line: `@name`, any ASCII case, standing alone.
//!
//! `x@mosaic.com` (an address) and `@mosaicbot` (another name) are not
//! mentions of `mosaic`; `@Mosaic,` and `(@mosaic)` are.

use std::ops::Range;

use super::markup;

/// The byte offset just past the first mention of `name` on `line`, at or
/// after byte `from`, that is not inside one of `code` (ranges relative to
/// the message; `line_start` is the line's offset in it).
pub(crate) fn find(
    line: &str,
    from: usize,
    name: &str,
    line_start: usize,
    code: &[Range<usize>],
) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut next = from;
    // Each `@` in turn, with the short-slice search: a line is usually a few
    // dozen bytes, where `memchr_iter`'s set-up outweighs the search.
    while let Some(i) = super::scan::find(b'@', bytes.get(next..)?) {
        let at = next + i;
        next = at + 1;
        if let Some(end) = at_sign(line, at, name)
            && !markup::inside(code, line_start + at)
        {
            return Some(end);
        }
    }
    None
}

/// The byte offset just past the mention of `name` whose `@` is at byte `at`
/// of `text`, if it is one (code aside). `text` starts where the line does and
/// may run past its end: the checks look at most two characters beyond the
/// name, and a line break there stands for the end of the line.
pub(crate) fn at_sign(text: &str, at: usize, name: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let name_bytes = name.as_bytes();
    let end = at + 1 + name_bytes.len();
    // Indexing cannot panic: `end` is in the text, and a character boundary
    // once the name matched (the name is whole UTF-8, and ASCII case
    // folding leaves every other byte as it is).
    (end <= bytes.len()
        && same_name(&bytes[at + 1..end], name_bytes)
        && stands_after(&text[..at])
        && stands_before(&text[end..]))
    .then_some(end)
}

/// Whether `typed` is `name` in any ASCII case. Adapters write the mention as
/// the name itself, so the exact comparison (one `bcmp`) answers nearly
/// always; folding case byte by byte took ~15 instructions a byte (callgrind).
fn same_name(typed: &[u8], name: &[u8]) -> bool {
    typed == name || typed.eq_ignore_ascii_case(name)
}

/// Whether a mention may begin right after `before`: not inside a word,
/// an address or a path.
fn stands_after(before: &str) -> bool {
    // ASCII is decided on the byte; only a multi-byte character is decoded.
    match before.as_bytes().last() {
        None => true,
        Some(&b) if b.is_ascii() => {
            !(b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'.' | b'-' | b'/' | b'@' | b'+' | b'=' | b'&' | b'%' | b'\\'
                ))
        }
        Some(_) => before
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric()),
    }
}

/// Whether a mention may end right before `after`: the name is not the start
/// of a longer name (`@mosaicbot`, `@mosaic-ci`) or of a domain (`@mosaic.com`).
fn stands_before(after: &str) -> bool {
    let bytes = after.as_bytes();
    match bytes.first() {
        None => true,
        Some(b'.') => !starts_alphanumeric(&after[1..]),
        Some(&b) if b.is_ascii() => !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'@')),
        Some(_) => !starts_alphanumeric(after),
    }
}

/// Whether `text` starts with a letter or digit of any script; ASCII is
/// decided on the byte.
fn starts_alphanumeric(text: &str) -> bool {
    match text.as_bytes().first() {
        None => false,
        Some(&b) if b.is_ascii() => b.is_ascii_alphanumeric(),
        Some(_) => text.chars().next().is_some_and(char::is_alphanumeric),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: &str) -> Option<usize> {
        find(line, 0, "mosaic", 0, &[])
    }

    #[test]
    fn finds_a_mention_anywhere_in_any_case() {
        assert_eq!(at("@mosaic fix"), Some(7));
        assert_eq!(at("hey @MoSaIc fix"), Some(11));
        assert_eq!(at("(@mosaic)"), Some(8));
        assert_eq!(at("@mosaic, fix"), Some(7));
        assert_eq!(at("@mosaic. thanks"), Some(7));
    }

    #[test]
    fn addresses_and_longer_names_are_not_mentions() {
        assert_eq!(at("x@mosaic.com"), None);
        assert_eq!(at("@mosaic.com"), None);
        assert_eq!(at("@mosaicbot fix"), None);
        assert_eq!(at("@mosaic-ci fix"), None);
        assert_eq!(at("@mosaic_2 fix"), None);
        assert_eq!(at("https://x.org/@mosaic"), None);
        assert_eq!(at("@@mosaic"), None);
    }

    #[test]
    fn skips_a_non_mention_to_find_a_later_one() {
        assert_eq!(at("mail x@mosaic.com then @mosaic fix"), Some(30));
    }

    #[test]
    fn mentions_inside_code_do_not_count() {
        let line = "`@mosaic` @mosaic";
        assert_eq!(
            find(line, 0, "mosaic", 0, &[Range { start: 0, end: 9 }]),
            Some(17)
        );
        assert_eq!(
            find(
                line,
                0,
                "mosaic",
                100,
                &[Range {
                    start: 100,
                    end: 109
                }]
            ),
            Some(17)
        );
    }

    proptest::proptest! {
        /// The byte-wise boundary checks answer as the char-wise ones they replaced.
        #[test]
        fn boundaries_read_on_bytes_agree_with_chars(text in "[a.@_/%\\\\é٤\u{a0} -]{0,3}") {
            let after = text.chars().next_back().is_none_or(|c| {
                !(c.is_alphanumeric()
                    || matches!(c, '_' | '.' | '-' | '/' | '@' | '+' | '=' | '&' | '%' | '\\'))
            });
            let mut chars = text.chars();
            let before = match chars.next() {
                None => true,
                Some('.') => !chars.next().is_some_and(char::is_alphanumeric),
                Some(c) => !(c.is_alphanumeric() || matches!(c, '_' | '-' | '@')),
            };
            proptest::prop_assert_eq!(stands_after(&text), after);
            proptest::prop_assert_eq!(stands_before(&text), before);
        }
    }

    #[test]
    fn a_non_ascii_name_matches_exactly() {
        assert_eq!(find("@mosaïc fix", 0, "mosaïc", 0, &[]), Some(8));
        assert_eq!(find("@mosaicfix", 0, "mosaïc", 0, &[]), None);
    }
}
