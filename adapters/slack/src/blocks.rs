//! What the bot posts, as Block Kit (slack-morphism's types), built from the
//! mrkdwn the relay rendered: the port hands every platform text, so the
//! structure is read back from the card's shape here, and the core stays
//! platform-neutral. The plain `text` is always sent too: Slack shows it in
//! notifications and wherever blocks cannot be shown.
//!
//! - The progress card (a first line `⏳ *Queued* · <link>`, see the
//!   relay's `card.rs`) becomes a section with the state and a context line
//!   with the step, progress and links.
//! - Anything else becomes one mrkdwn section.
//!
//! Limits from the Block Kit reference
//! (<https://api.slack.com/reference/block-kit/blocks>): a section's text is
//! at most 3,000 characters, a context holds at most 10 elements; the
//! adapter's `max_message_chars` keeps every message within the first.

use slack_morphism::prelude::{
    SlackBlock, SlackBlockMarkDownText, SlackBlockText, SlackContextBlock,
    SlackContextBlockElement, SlackSectionBlock,
};

/// A section's text limit (Block Kit reference, "Section").
pub const SECTION_MAX_CHARS: usize = 3_000;

/// The card's state emojis, in the order the relay's `CardState` names them.
const CARD_STATES: [&str; 6] = ["⏳", "🔧", "✅", "❌", "🛑", "🗑️"];

fn mrkdwn(text: &str) -> SlackBlockMarkDownText {
    // `verbatim`: links and names stay as the bot wrote them (already escaped).
    SlackBlockMarkDownText::new(text.to_owned()).with_verbatim(true)
}

fn section(text: &str) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockText::MarkDown(mrkdwn(text)))
        .into()
}

/// Whether `first_line` is a progress card's: `{state emoji} *{word}*…`.
fn is_card(first_line: &str) -> bool {
    CARD_STATES.iter().any(|emoji| {
        first_line
            .strip_prefix(emoji)
            .and_then(|rest| rest.strip_prefix(" *"))
            .is_some()
    })
}

/// The blocks of a message whose mrkdwn text is `text`.
pub fn blocks_of(text: &str) -> Vec<SlackBlock> {
    if text.trim().is_empty() {
        // Block Kit refuses an empty section; the plain `text` says it all.
        return Vec::new();
    }
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if !is_card(first) {
        return vec![section(text)];
    }
    let details: Vec<SlackContextBlockElement> = lines
        .filter(|line| !line.trim().is_empty())
        .take(10)
        .map(|line| SlackContextBlockElement::MarkDown(mrkdwn(line)))
        .collect();
    let mut blocks = vec![section(first)];
    if !details.is_empty() {
        blocks.push(SlackContextBlock::new(details).into());
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_card_is_a_section_and_a_context_line() {
        let text = "🔧 *Running* · <https://github.com/a/b/issues/1|a/b#1>\nStep 2/6: Tests · 30% · 1m 2s elapsed\nPull request: <https://github.com/a/b/pull/2>";
        let blocks = serde_json::to_value(blocks_of(text)).expect("serializes");
        assert_eq!(
            blocks,
            json!([
                {"type": "section", "text": {"type": "mrkdwn", "verbatim": true, "text": "🔧 *Running* · <https://github.com/a/b/issues/1|a/b#1>"}},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "verbatim": true, "text": "Step 2/6: Tests · 30% · 1m 2s elapsed"},
                    {"type": "mrkdwn", "verbatim": true, "text": "Pull request: <https://github.com/a/b/pull/2>"},
                ]},
            ])
        );
    }

    #[test]
    fn a_fresh_card_and_other_messages_are_one_section() {
        let fresh = serde_json::to_value(blocks_of("⏳ *Queued* · <https://x/1|a/b#1>")).unwrap();
        assert_eq!(fresh.as_array().map(Vec::len), Some(1));
        let other = "▶️ Step 1/6\n```\nout\n```";
        let blocks = serde_json::to_value(blocks_of(other)).unwrap();
        assert_eq!(
            blocks,
            json!([{"type": "section", "text": {"type": "mrkdwn", "verbatim": true, "text": other}}])
        );
        // A user's text that starts like a card but is not one stays one section.
        assert_eq!(blocks_of("✅ done\nmore").len(), 1);
    }
}
