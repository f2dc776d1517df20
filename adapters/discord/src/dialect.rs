//! [`DiscordDialect`]: Discord Markdown, with untrusted text escaped so it
//! shows as written. Mentions are broken with a zero-width space as a second
//! line of defence: every message also carries `allowed_mentions` with no
//! parsing, so even an unbroken mention would ping nobody.

use mosaic_chat::Dialect;

/// A zero-width space: invisible, but enough to stop Discord reading a mention.
const ZWSP: char = '\u{200b}';

/// Discord's Markdown.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscordDialect;

/// Escapes `text` for Discord Markdown and breaks every `@` mention
/// (`@everyone`, `@here`, `<@id>`, `<@&role>`).
pub fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '|' | '>' | '#' | '-' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push(ZWSP);
            }
            _ => out.push(c),
        }
    }
}

impl Dialect for DiscordDialect {
    fn text(&self, out: &mut String, text: &str) {
        escape(out, text);
    }

    fn bold(&self, out: &mut String, text: &str) {
        out.push_str("**");
        escape(out, text);
        out.push_str("**");
    }

    fn code(&self, out: &mut String, text: &str) {
        // Inline code has no escape for a backtick: one that looks alike
        // keeps the span closed. Mentions inside code never render.
        out.push('`');
        out.push_str(&text.replace('`', "\u{2cb}"));
        out.push('`');
    }

    fn link(&self, out: &mut String, label: &str, url: &str) {
        out.push('[');
        escape(out, label);
        out.push_str("](<");
        out.push_str(&url.replace('>', "%3E"));
        out.push_str(">)");
    }

    fn code_block(&self, out: &mut String, text: &str) {
        out.push_str("```\n");
        // A fence inside the text would end the block early.
        out.push_str(&text.replace("```", "`\u{200b}`\u{200b}`"));
        out.push_str("\n```");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> String {
        let mut out = String::new();
        DiscordDialect.text(&mut out, t);
        out
    }

    #[test]
    fn markdown_characters_are_escaped() {
        assert_eq!(
            text("*a* _b_ ~c~ |d| > #e -f `g`"),
            r"\*a\* \_b\_ \~c\~ \|d\| \> \#e \-f \`g\`"
        );
    }

    #[test]
    fn mentions_are_broken() {
        let out = text("@everyone @here <@123> <@&9>");
        assert!(!out.contains("@everyone") && !out.contains("@here"));
        assert!(!out.contains("<@1") && !out.contains("<@&"));
        assert_eq!(
            out.replace([ZWSP, '\\'], ""),
            "@everyone @here <@123> <@&9>"
        );
    }

    #[test]
    fn a_fence_cannot_close_a_code_block_early() {
        let mut out = String::new();
        DiscordDialect.code_block(&mut out, "a\n```\nb");
        assert_eq!(out.matches("```").count(), 2, "{out}");
    }

    #[test]
    fn the_progress_bar_shows_as_drawn_beside_escaped_text() {
        use mosaic_chat::{Markup, Span, markup::render};
        let card = Markup::new().line([
            Span::text("Step 2/6 - tests"),
            Span::text(" "),
            Span::progress(50),
        ]);
        // Nothing in the bar is Markdown: it reaches Discord as drawn.
        assert_eq!(
            render(&card, &DiscordDialect, 2000),
            [r"Step 2/6 \- tests ▰▰▰▰▰▱▱▱▱▱ 50%"]
        );
    }

    #[test]
    fn links_keep_their_url_and_escape_the_label() {
        let mut out = String::new();
        DiscordDialect.link(&mut out, "PR *1*", "https://x/pull/1");
        assert_eq!(out, r"[PR \*1\*](<https://x/pull/1>)");
    }
}
