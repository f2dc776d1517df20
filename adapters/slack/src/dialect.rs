//! [`MrkdwnDialect`]: Slack's mrkdwn, with untrusted text escaped so that it
//! shows as written and pings nobody.
//!
//! Slack turns `<!channel>`, `<!here>`, `<@U123>` and `<url|label>` into
//! pings and links only inside angle brackets; escaping `&`, `<` and `>` (as
//! Slack itself asks) is enough to keep every one of them text.

use mosaic_chat::Dialect;

/// Slack mrkdwn for relayed messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct MrkdwnDialect;

/// Appends `text` with Slack's three control characters escaped.
pub fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

impl Dialect for MrkdwnDialect {
    fn text(&self, out: &mut String, text: &str) {
        escape(out, text);
    }

    fn bold(&self, out: &mut String, text: &str) {
        if text.trim().is_empty() {
            escape(out, text);
            return;
        }
        out.push('*');
        escape(out, text);
        out.push('*');
    }

    /// Inline code, escaped like text (Slack reads `<…>` inside it too); a
    /// backtick or a line break would end the span, so such text is plain.
    fn code(&self, out: &mut String, text: &str) {
        if text.is_empty() || text.contains(['`', '\n']) {
            escape(out, text);
            return;
        }
        out.push('`');
        escape(out, text);
        out.push('`');
    }

    /// `<url|label>`; the URL is the bot's own (trusted), only kept from
    /// closing the link early; the label is escaped.
    fn link(&self, out: &mut String, label: &str, url: &str) {
        let url = url
            .replace('|', "%7C")
            .replace('>', "%3E")
            .replace('<', "%3C")
            .replace(' ', "%20");
        out.push('<');
        out.push_str(&url);
        if !label.is_empty() && label != url {
            out.push('|');
            escape(out, label);
        }
        out.push('>');
    }

    /// A ``` block: Slack has no longer fences, so backtick runs inside
    /// are broken with a zero-width space to keep the block closed.
    fn code_block(&self, out: &mut String, text: &str) {
        out.push_str("```\n");
        let mut escaped = String::with_capacity(text.len());
        escape(&mut escaped, text);
        out.push_str(&escaped.replace("```", "`\u{200b}``"));
        out.push_str("\n```");
    }

    fn bullet(&self) -> &'static str {
        "• "
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_chat::markup::{Markup, Span, render};

    fn one(markup: Markup) -> String {
        render(&markup, &MrkdwnDialect, 4_000).join("\n")
    }

    #[test]
    fn pings_and_links_in_user_text_stay_text() {
        for ping in ["<!channel>", "<!here>", "<@U123>", "<https://evil|click>"] {
            let out = one(Markup::new()
                .line([
                    Span::text(ping),
                    Span::bold(ping),
                    Span::code(ping),
                    Span::link(ping, "https://x/1"),
                ])
                .code_block(ping));
            assert!(!out.contains(ping), "{ping} survives in {out:?}");
            assert!(!out.contains("<!") && !out.contains("<@"), "{out}");
        }
        assert_eq!(one(Markup::new().line([Span::text("a & b")])), "a &amp; b");
    }

    #[test]
    fn formatting_is_mrkdwn() {
        let out = one(Markup::new().line([
            Span::bold("Completed"),
            Span::text(" "),
            Span::code("@mosaic retry"),
            Span::text(" "),
            Span::link("PR <57>", "https://x/pull/57"),
        ]));
        assert_eq!(
            out,
            "*Completed* `@mosaic retry` <https://x/pull/57|PR &lt;57&gt;>"
        );
        assert_eq!(
            one(Markup::new().line([Span::link("https://x/1", "https://x/1")])),
            "<https://x/1>"
        );
    }

    #[test]
    fn the_cards_progress_bar_is_plain_text_in_mrkdwn() {
        // Slack has no progress element: the bar is text, and none of its
        // characters means anything to mrkdwn.
        let out = one(Markup::new().line([
            Span::text("Step 2/6 · "),
            Span::progress(50),
            Span::text(" · "),
            Span::progress(100),
        ]));
        assert_eq!(out, "Step 2/6 · ▰▰▰▰▰▱▱▱▱▱ 50% · ▰▰▰▰▰▰▰▰▰▰ 100%");
        assert!(!out.contains(['*', '_', '`', '~', '<', '&']), "{out}");
    }

    #[test]
    fn code_blocks_cannot_be_closed_from_inside() {
        let out = one(Markup::new().code_block("a\n```\nb"));
        assert_eq!(out.matches("```").count(), 2, "{out}");
    }
}
