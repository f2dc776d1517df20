//! The console's [`Dialect`]: plain, readable text, with every mention in
//! untrusted text neutralized.
//!
//! A terminal pings nobody, so why escape? Because the console stands in for
//! a chat platform in tests and demos: if the relay ever let user or job text
//! reach a platform without going through its dialect, `@everyone` in a step's
//! output would ping a whole Discord server. Escaping here exactly as a chat
//! platform must lets a test through the console prove that no ping ever
//! passes: an unescaped `@` in the console's output is a bug upstream.

use mosaic_chat::Dialect;

/// The zero-width space: invisible to a reader, but it breaks the token a
/// platform would read as a mention (`@here`, `<!channel>`, `<@123>`).
const BREAK: char = '\u{200b}';

/// Plain text for a terminal or a script; mentions neutralized in every
/// span but inline code (see `code` below, and the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleDialect;

/// Appends `text` to `out` with a zero-width space after every `@` and after
/// every `<` that opens a Slack/Discord mention (`<!`, `<@`, `<#`).
pub fn neutralize_mentions(out: &mut String, text: &str) {
    // Copied in runs between `@` and `<`, not char by char: most text holds neither, and
    // one reserve then one copy replaces a push (and a possible regrowth) per char.
    out.reserve(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['@', '<']) {
        let after = &rest[at + 1..];
        out.push_str(&rest[..=at]);
        if rest.as_bytes()[at] == b'@' || after.starts_with(['!', '@', '#']) {
            out.push(BREAK);
        }
        rest = after;
    }
    out.push_str(rest);
}

impl Dialect for ConsoleDialect {
    fn text(&self, out: &mut String, text: &str) {
        neutralize_mentions(out, text);
    }

    /// A terminal has no bold that survives a pipe; the words stand as is.
    fn bold(&self, out: &mut String, text: &str) {
        neutralize_mentions(out, text);
    }

    /// Inline code is kept as written, because it is where the bot shows
    /// commands to copy (`@mosaic retry`): a zero-width space in there would
    /// make the copied command not a mention. No platform pings from inline
    /// code (Mattermost skips it, Slack's `<…>` are escaped, Discord sends no
    /// allowed mentions). Text holding a backtick could close the span early
    /// and continue as plain text, so that text is neutralized like any other.
    fn code(&self, out: &mut String, text: &str) {
        out.push('`');
        if text.contains('`') {
            neutralize_mentions(out, text);
        } else {
            out.push_str(text);
        }
        out.push('`');
    }

    /// `label <url>`, or the bare URL when the label is the URL. The URL is
    /// the bot's own (trusted) and must stay clickable, so it is not escaped.
    fn link(&self, out: &mut String, label: &str, url: &str) {
        if label == url {
            out.push_str(url);
        } else {
            neutralize_mentions(out, label);
            out.push_str(" <");
            out.push_str(url);
            out.push('>');
        }
    }

    /// Indented by four spaces rather than fenced: step output may hold
    /// fences of its own, and an indent can never be closed early.
    fn code_block(&self, out: &mut String, text: &str) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str("    ");
            neutralize_mentions(out, line);
        }
    }

    fn bullet(&self) -> &'static str {
        "- "
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_chat::markup::{Markup, Span, render};

    const PINGS: [(&str, &str); 4] = [
        ("@everyone", "@\u{200b}everyone"),
        ("@here", "@\u{200b}here"),
        ("<!channel>", "<\u{200b}!channel>"),
        ("<@123>", "<\u{200b}@\u{200b}123>"),
    ];

    fn one(markup: Markup) -> String {
        let pages = render(&markup, &ConsoleDialect, 4000);
        assert_eq!(pages.len(), 1, "{pages:?}");
        pages.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn mentions_are_broken_in_text() {
        for (ping, safe) in PINGS {
            assert_eq!(one(Markup::new().line([Span::text(ping)])), safe);
        }
    }

    #[test]
    fn mentions_are_broken_in_bold() {
        for (ping, safe) in PINGS {
            assert_eq!(one(Markup::new().line([Span::bold(ping)])), safe);
        }
    }

    #[test]
    fn inline_code_is_kept_as_written_so_commands_can_be_copied() {
        assert_eq!(
            one(Markup::new().line([Span::code("@mosaic retry")])),
            "`@mosaic retry`"
        );
    }

    #[test]
    fn inline_code_that_could_close_early_is_neutralized() {
        for (ping, safe) in PINGS {
            assert_eq!(
                one(Markup::new().line([Span::code(format!("x`{ping}"))])),
                format!("`x`{safe}`")
            );
        }
    }

    #[test]
    fn mentions_are_broken_in_link_labels_but_urls_stay_intact() {
        for (ping, safe) in PINGS {
            assert_eq!(
                one(Markup::new().line([Span::link(ping, "https://x/@me")])),
                format!("{safe} <https://x/@me>")
            );
        }
    }

    #[test]
    fn mentions_are_broken_in_code_blocks_on_every_line() {
        let text = PINGS.map(|(ping, _)| ping).join("\n");
        let expected = PINGS.map(|(_, safe)| format!("    {safe}")).join("\n");
        assert_eq!(one(Markup::new().code_block(text)), expected);
    }

    #[test]
    fn mentions_are_broken_in_list_items() {
        let m = Markup::new().list([vec![Span::text("@here")], vec![Span::bold("<#42>")]]);
        assert_eq!(one(m), "- @\u{200b}here\n- <\u{200b}#42>");
    }

    #[test]
    fn harmless_angle_brackets_and_plain_text_are_left_alone() {
        let plain = "a < b, <tag>, x<y> and 100% done";
        assert_eq!(one(Markup::new().line([Span::text(plain)])), plain);
    }

    #[test]
    fn a_link_whose_label_is_its_url_is_written_once() {
        let m = Markup::new().line([Span::link("https://x/1", "https://x/1")]);
        assert_eq!(one(m), "https://x/1");
    }

    #[test]
    fn a_mention_at_the_very_end_is_still_broken() {
        let mut out = String::new();
        neutralize_mentions(&mut out, "mail me @");
        assert_eq!(out, "mail me @\u{200b}");
    }
}
