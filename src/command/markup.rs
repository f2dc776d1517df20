//! Where in a message a mention does not count: code and quoted lines.
//!
//! Code is found by a Markdown parser rather than by counting backticks by
//! hand, because code spans and fences have rules (run lengths, unclosed
//! fences, spans across lines) that are easy to get wrong. Quotes are decided
//! per line, as chat platforms render them: a line starting with `>`. A
//! CommonMark block quote would also swallow the next unquoted line (a "lazy
//! continuation"), which is not what a chat user sees.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag};

/// Byte ranges of inline code and fenced code blocks in `text`.
///
/// Returns an empty list without allocating when the text has no backtick
/// and no tilde, which is almost every chat message.
pub(crate) fn code_ranges(text: &str) -> Vec<Range<usize>> {
    if super::scan::find2(b'`', b'~', text.as_bytes()).is_none() {
        return Vec::new();
    }
    let mut ranges = Vec::new();
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Code(_) => ranges.push(range),
            // Indented code blocks are left out: chat platforms do not render
            // them, so a command indented by four spaces is still a command.
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => ranges.push(range),
            _ => {}
        }
    }
    ranges
}

/// Whether the byte at `offset` lies in one of `ranges`.
pub(crate) fn inside(ranges: &[Range<usize>], offset: usize) -> bool {
    ranges.iter().any(|r| r.contains(&offset))
}

/// Whether the line is a quote (`> …`), as chat platforms render it.
pub(crate) fn is_quoted(line: &str) -> bool {
    // The first byte decides almost every line; only white space, or a
    // non-ASCII byte that may start Unicode white space, needs `trim_start`.
    match line.as_bytes().first() {
        // Empty (the usual line's part before its mention, when it starts it).
        None => false,
        Some(b'>') => true,
        Some(b) if b.is_ascii() && !b.is_ascii_whitespace() && *b != 0x0b => false,
        _ => line.trim_start().starts_with('>'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_text(text: &str) -> Vec<&str> {
        code_ranges(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn no_backtick_means_no_parse_and_no_ranges() {
        assert!(code_ranges("@mosaic fix #42").is_empty());
    }

    #[test]
    fn inline_code_spans_are_found() {
        assert_eq!(
            code_text("say `@mosaic fix #1` to start"),
            ["`@mosaic fix #1`"]
        );
        assert_eq!(code_text("``a ` b`` c"), ["``a ` b``"]);
    }

    #[test]
    fn fenced_blocks_are_found_including_unclosed_ones() {
        let text = "look:\n```\n@mosaic fix #1\n```\n@mosaic fix #2";
        let ranges = code_ranges(text);
        assert_eq!(ranges.len(), 1);
        assert!(inside(&ranges, text.find("@mosaic fix #1").unwrap()));
        assert!(!inside(&ranges, text.find("@mosaic fix #2").unwrap()));
        let open = "~~~\n@mosaic fix #1";
        assert!(inside(&code_ranges(open), 4));
    }

    #[test]
    fn indented_text_is_not_code() {
        assert!(code_ranges("    @mosaic fix #1 `x`").is_empty());
    }

    proptest::proptest! {
        /// The first-byte shortcut answers as trimming does.
        #[test]
        fn quotes_read_on_the_first_byte_agree_with_trimming(line in "[ \t\u{0b}\u{0c}\u{a0}\u{2003}>a@é]{0,4}") {
            proptest::prop_assert_eq!(is_quoted(&line), line.trim_start().starts_with('>'));
        }
    }

    #[test]
    fn quoted_lines_are_recognised() {
        assert!(is_quoted("> @mosaic fix #1"));
        assert!(is_quoted("   >@mosaic fix #1"));
        assert!(!is_quoted("@mosaic fix #1 > 2"));
    }
}
