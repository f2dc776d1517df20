//! [`MattermostDialect`]: Mattermost's Markdown, with untrusted text escaped so
//! that it shows as written, becomes no link or formatting, and pings nobody.
//!
//! Mattermost pings on `@channel`, `@all`, `@here` and `@username` anywhere in
//! plain text, bold and link labels. A zero-width space after every `@` breaks
//! each of them while the text still reads the same.

use mosaic_chat::Dialect;

/// The zero-width space put after `@`: invisible, but no mention survives it.
const BREAK: char = '\u{200b}';

/// Markdown characters that would start formatting, a link or an image, a
/// quote, a table or an HTML entity; backslash-escaped in text. (`#` starts a
/// heading only at a line's start, and is escaped there alone, so that
/// `acme/web#42` reads as written.)
const SPECIALS: &[char] = &[
    '\\', '`', '*', '_', '~', '[', ']', '(', ')', '<', '>', '|', '&',
];

/// Mattermost Markdown for relayed messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct MattermostDialect;

/// Appends `text` with a zero-width space after every `@`, and nothing else
/// changed: for code blocks, where Markdown does not apply but a careless
/// client might still highlight a mention.
pub fn neutralize_mentions(out: &mut String, text: &str) {
    for c in text.chars() {
        out.push(c);
        if c == '@' {
            out.push(BREAK);
        }
    }
}

/// Appends `text` escaped for Markdown, mentions neutralized.
fn escape(out: &mut String, text: &str) {
    let mut line_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if line_start {
            // A line that starts like a list item or a setext heading would
            // be formatted; escaping its first character keeps it text.
            if matches!(c, '-' | '+' | '=' | '#') {
                out.push('\\');
            } else if c.is_ascii_digit() {
                out.push(c);
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    out.push(d);
                    chars.next();
                }
                if let Some(&p) = chars.peek().filter(|p| matches!(p, '.' | ')')) {
                    out.push('\\');
                    out.push(p);
                    chars.next();
                }
                line_start = false;
                continue;
            }
        }
        line_start = c == '\n' || (line_start && c == ' ');
        if SPECIALS.contains(&c) {
            out.push('\\');
        }
        out.push(c);
        if c == '@' {
            out.push(BREAK);
        }
    }
}

impl Dialect for MattermostDialect {
    fn text(&self, out: &mut String, text: &str) {
        escape(out, text);
    }

    fn bold(&self, out: &mut String, text: &str) {
        if text.is_empty() {
            return;
        }
        out.push_str("**");
        escape(out, text);
        out.push_str("**");
    }

    /// Inline code is kept as written: Mattermost pings nobody from it, and
    /// it is where the bot shows commands to copy (`@mosaic retry`). Text with
    /// a backtick or a line break could leave the span and continue as
    /// Markdown, so it is written as escaped text instead.
    fn code(&self, out: &mut String, text: &str) {
        if text.is_empty() || text.contains(['`', '\n']) {
            escape(out, text);
            return;
        }
        out.push('`');
        out.push_str(text);
        out.push('`');
    }

    /// `[label](url)`; the URL is the bot's own (trusted), only made safe to
    /// stand inside the parentheses.
    fn link(&self, out: &mut String, label: &str, url: &str) {
        let url = url.replace(' ', "%20").replace(')', "%29");
        if label == url || label.is_empty() {
            out.push_str(&url);
            return;
        }
        out.push('[');
        escape(out, label);
        out.push_str("](");
        out.push_str(&url);
        out.push(')');
    }

    /// A fence longer than any run of backticks in the text, so the text
    /// cannot close it early.
    fn code_block(&self, out: &mut String, text: &str) {
        let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat((longest + 1).max(3));
        out.push_str(&fence);
        out.push('\n');
        neutralize_mentions(out, text);
        out.push('\n');
        out.push_str(&fence);
    }

    fn bullet(&self) -> &'static str {
        "- "
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_chat::markup::{Markup, Span, render};

    const PINGS: [&str; 4] = ["@channel", "@all", "@here", "@alice"];

    fn one(markup: Markup) -> String {
        render(&markup, &MattermostDialect, 16_383).join("\n")
    }

    fn assert_no_ping(out: &str) {
        for ping in PINGS {
            assert!(!out.contains(ping), "{ping} survives in {out:?}");
        }
    }

    #[test]
    fn mentions_are_broken_in_text_bold_labels_and_code_blocks() {
        for ping in PINGS {
            let out = one(Markup::new()
                .line([
                    Span::text(ping),
                    Span::bold(ping),
                    Span::link(ping, "https://x/1"),
                ])
                .code_block(format!("{ping}\n```\n{ping}")));
            assert_no_ping(&out);
            assert!(out.contains(&format!("@{BREAK}{}", &ping[1..])), "{out}");
        }
    }

    #[test]
    fn inline_code_is_kept_so_commands_can_be_copied() {
        assert_eq!(
            one(Markup::new().line([Span::code("@mosaic retry")])),
            "`@mosaic retry`"
        );
    }

    #[test]
    fn inline_code_with_a_backtick_cannot_escape_its_span() {
        let out = one(Markup::new().line([Span::code("x` @here [a](b)")]));
        assert_no_ping(&out);
        assert_eq!(out, format!("x\\` @{BREAK}here \\[a\\]\\(b\\)"));
    }

    #[test]
    fn markdown_in_text_stays_text() {
        let out = one(Markup::new().line([Span::text("**b** _i_ [l](http://e) # h > q")]));
        assert_eq!(out, "\\*\\*b\\*\\* \\_i\\_ \\[l\\]\\(http://e\\) # h \\> q");
        assert_eq!(
            one(Markup::new().line([Span::text("- x\n1. y")])),
            "\\- x\n1\\. y"
        );
        assert_eq!(
            one(Markup::new().line([Span::text("# h, acme/web#42")])),
            "\\# h, acme/web#42"
        );
    }

    #[test]
    fn code_blocks_get_a_fence_longer_than_any_inside() {
        let out = one(Markup::new().code_block("a\n````\nb"));
        assert!(
            out.starts_with("`````\n") && out.ends_with("\n`````"),
            "{out}"
        );
    }

    #[test]
    fn the_cards_progress_bar_is_plain_text_markdown_leaves_alone() {
        let out = one(Markup::new().line([Span::text("Step 3/6 "), Span::progress(50)]));
        assert_eq!(out, "Step 3/6 ▰▰▰▰▰▱▱▱▱▱ 50%");
        let done = one(Markup::new().line([Span::progress(100)]));
        assert_eq!(done, "▰▰▰▰▰▰▰▰▰▰ 100%");
    }

    #[test]
    fn links_keep_their_url_and_escape_their_label() {
        let out = one(Markup::new().line([Span::link("PR *57*", "https://x/pull/57")]));
        assert_eq!(out, "[PR \\*57\\*](https://x/pull/57)");
        let bare = one(Markup::new().line([Span::link("https://x/1", "https://x/1")]));
        assert_eq!(bare, "https://x/1");
    }
}
