//! Splits the text after a mention into words, borrowing from the input.
//!
//! Words are separated by white space of any kind, except inside Slack's
//! `<…>` link wrapping, whose label may hold spaces (`<https://…|issue 42>`).

/// An iterator over the words of a command line, each a slice of the input.
#[derive(Debug, Clone)]
pub(crate) struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    pub(crate) fn new(text: &'a str) -> Words<'a> {
        Words { rest: text }
    }

    /// The text not yet consumed, leading white space removed.
    pub(crate) fn remainder(&self) -> &'a str {
        self.rest.trim()
    }

    /// The next word that still holds something once punctuation around it
    /// is removed, as `(raw, cleaned)`.
    pub(crate) fn next_meaningful(&mut self) -> Option<(&'a str, &'a str)> {
        self.find_map(|raw| {
            let cleaned = clean(raw);
            (!cleaned.is_empty()).then_some((raw, cleaned))
        })
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = skip_space(self.rest);
        if text.is_empty() {
            self.rest = text;
            return None;
        }
        let end = if text.starts_with('<') {
            // Slack wraps links as `<url>` or `<url|label>`: keep it one word.
            super::scan::find(b'>', text.as_bytes()).map(|i| i + 1)
        } else {
            None
        }
        .unwrap_or_else(|| word_end(text));
        let (word, rest) = text.split_at(end);
        self.rest = rest;
        Some(word)
    }
}

/// `text` without its leading white space (of any kind).
pub(crate) fn skip_space(text: &str) -> &str {
    // ASCII first: the common case needs no char decoding.
    let ascii = text
        .as_bytes()
        .iter()
        .position(|&b| CLASS[b as usize] & SPACE == 0)
        .unwrap_or(text.len());
    let rest = &text[ascii..];
    if rest.as_bytes().first().is_some_and(|b| *b >= 0x80) {
        rest.trim_start()
    } else {
        rest
    }
}

/// ASCII white space (with vertical tab, which `is_ascii_whitespace` leaves out).
const SPACE: u8 = 1;
/// A byte of a multi-byte character: decoded to look for Unicode spaces.
const NON_ASCII: u8 = 2;
/// Opening punctuation [`clean`] strips from the front of a word.
const LEADING: u8 = 4;
/// Closing and sentence punctuation [`clean`] strips from the end of a word.
const TRAILING: u8 = 8;

/// The classes of every byte, so that each scanning loop tests one table
/// entry per byte instead of a chain of comparisons: with it, splitting and
/// cleaning the words of `@mosaic fix acme/web#42` took about half the
/// instructions (callgrind).
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_whitespace() || byte == 0x0b {
            table[b] |= SPACE;
        }
        if byte >= 0x80 {
            table[b] |= NON_ASCII;
        }
        if matches!(byte, b'(' | b'[' | b'{' | b'"' | b'\'' | b'*' | b'`' | b'<') {
            table[b] |= LEADING;
        }
        if matches!(
            byte,
            b')' | b']'
                | b'}'
                | b'"'
                | b'\''
                | b'*'
                | b'`'
                | b'>'
                | b'.'
                | b','
                | b';'
                | b':'
                | b'!'
                | b'?'
        ) {
            table[b] |= TRAILING;
        }
        b += 1;
    }
    table
};

/// The byte length of the word at the start of `text`: up to the first
/// white space character of any kind.
///
/// Scans bytes rather than chars because commands are almost always ASCII;
/// only a non-ASCII byte is decoded, to catch Unicode spaces.
fn word_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let class = CLASS[b as usize];
        if class & (SPACE | NON_ASCII) == 0 {
            i += 1;
        } else if class & SPACE != 0 {
            return i;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            if c.is_whitespace() {
                return i;
            }
            i += c.len_utf8();
        }
    }
    bytes.len()
}

/// Removes what a person types around a word: Slack's `<url|label>`
/// wrapping, brackets, quotes, emphasis and trailing sentence punctuation.
pub(crate) fn clean(word: &str) -> &str {
    let mut w = word;
    if let Some(inner) = w.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
        w = inner.split('|').next().unwrap_or(inner);
    }
    // Every character trimmed is ASCII, so trimming bytes keeps UTF-8 whole.
    let bytes = w.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| CLASS[b as usize] & LEADING == 0)
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| CLASS[b as usize] & TRAILING == 0)
        .map_or(start, |i| (i + 1).max(start));
    &w[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_any_white_space() {
        let words: Vec<_> = Words::new(" fix\t#42\u{a0}now\u{2003}x ").collect();
        assert_eq!(words, ["fix", "#42", "now", "x"]);
    }

    #[test]
    fn keeps_slack_links_with_spaced_labels_whole() {
        let words: Vec<_> = Words::new("fix <https://github.com/a/b/issues/1|a b #1> x").collect();
        assert_eq!(
            words,
            ["fix", "<https://github.com/a/b/issues/1|a b #1>", "x"]
        );
    }

    #[test]
    fn cleans_punctuation_and_wrapping() {
        assert_eq!(clean("#42."), "#42");
        assert_eq!(clean("(#42)!"), "#42");
        assert_eq!(clean("<https://x/y|label>"), "https://x/y");
        assert_eq!(clean("<https://x/y>"), "https://x/y");
        assert_eq!(clean("`#42`"), "#42");
        assert_eq!(clean("?!"), "");
    }

    #[test]
    fn the_byte_table_matches_the_characters_it_stands_for() {
        for b in 0..=255u8 {
            let class = CLASS[b as usize];
            assert_eq!(
                class & SPACE != 0,
                b.is_ascii_whitespace() || b == 0x0b,
                "{b}"
            );
            assert_eq!(class & NON_ASCII != 0, b >= 0x80, "{b}");
            assert_eq!(
                class & LEADING != 0,
                "([{\"'*`<".contains(b as char) && b < 0x80,
                "{b}"
            );
            assert_eq!(
                class & TRAILING != 0,
                ")]}\"'*`>.,;:!?".contains(b as char) && b < 0x80,
                "{b}"
            );
        }
    }

    #[test]
    fn next_meaningful_skips_lone_punctuation() {
        let mut words = Words::new("! fix");
        assert_eq!(words.next_meaningful(), Some(("fix", "fix")));
        assert_eq!(words.next_meaningful(), None);
    }
}
