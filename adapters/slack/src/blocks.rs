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
//! - The buttons the core puts under a message ([`Button`]) become one
//!   `actions` block of `button` elements after them ([`blocks_with_buttons`]).
//!
//! Limits from the Block Kit reference
//! (<https://api.slack.com/reference/block-kit/blocks>): a section's text is
//! at most 3,000 characters, a context holds at most 10 elements; the
//! adapter's `max_message_chars` keeps every message within the first. An
//! `actions` block holds at most 25 elements
//! (<https://api.slack.com/reference/block-kit/blocks#actions>); a button's
//! text is `plain_text` of at most 75 characters, its `action_id` at most 255
//! and unique in the message, its `value` at most 2,000, its `style`
//! `primary`, `danger` or absent
//! (<https://api.slack.com/reference/block-kit/block-elements#button>).

use mosaic_chat::{Button, ButtonStyle};
use slack_morphism::prelude::{
    SlackActionBlockElement, SlackActionsBlock, SlackBlock, SlackBlockButtonElement,
    SlackBlockButtonStyle, SlackBlockMarkDownText, SlackBlockPlainText, SlackBlockText,
    SlackContextBlock, SlackContextBlockElement, SlackSectionBlock,
};

/// A section's text limit (Block Kit reference, "Section").
pub const SECTION_MAX_CHARS: usize = 3_000;

/// The most elements an `actions` block holds.
const ACTIONS_MAX_ELEMENTS: usize = 25;
/// The longest text a button shows.
const BUTTON_TEXT_MAX_CHARS: usize = 75;

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

/// A [`Button`] as a Block Kit `button`: the core's id is both its
/// `action_id` (what a press names) and its `value`; Slack has no plain
/// style, so [`ButtonStyle::Default`] sends none.
fn button(button: &Button) -> SlackActionBlockElement {
    // The core's labels are a word; cut rather than have Slack refuse the
    // whole message (`invalid_blocks`).
    let label: String = button.label.chars().take(BUTTON_TEXT_MAX_CHARS).collect();
    let style = match button.style {
        ButtonStyle::Default => None,
        ButtonStyle::Primary => Some(SlackBlockButtonStyle::Primary),
        ButtonStyle::Danger => Some(SlackBlockButtonStyle::Danger),
    };
    SlackBlockButtonElement::new(SlackBlockPlainText::new(label).into())
        .with_action_id(button.id.clone().into())
        .with_value(button.id.clone())
        .opt_style(style)
        .into()
}

/// The blocks of a message whose mrkdwn text is `text`, with `buttons`
/// under it in `actions` blocks (none: no `actions` block, so an edit
/// without buttons removes them). No `block_id`: Slack makes a new one for
/// each version of a message, as its reference asks of apps that set one.
pub fn blocks_with_buttons(text: &str, buttons: &[Button]) -> Vec<SlackBlock> {
    let mut blocks = blocks_of(text);
    for row in buttons.chunks(ACTIONS_MAX_ELEMENTS) {
        blocks.push(SlackActionsBlock::new(row.iter().map(button).collect()).into());
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn buttons_are_an_actions_block_under_the_text() {
        let buttons = [
            Button::new("cancel", "Cancel", ButtonStyle::Danger),
            Button::new("retry", "Retry", ButtonStyle::Primary),
            Button::new("quiet", "Quiet", ButtonStyle::Default),
        ];
        let blocks = serde_json::to_value(blocks_with_buttons("hello", &buttons)).unwrap();
        assert_eq!(
            blocks,
            json!([
                {"type": "section", "text": {"type": "mrkdwn", "verbatim": true, "text": "hello"}},
                {"type": "actions", "elements": [
                    {"type": "button", "action_id": "cancel", "value": "cancel", "style": "danger",
                     "text": {"type": "plain_text", "text": "Cancel"}},
                    {"type": "button", "action_id": "retry", "value": "retry", "style": "primary",
                     "text": {"type": "plain_text", "text": "Retry"}},
                    {"type": "button", "action_id": "quiet", "value": "quiet",
                     "text": {"type": "plain_text", "text": "Quiet"}},
                ]},
            ])
        );
        assert_eq!(blocks_with_buttons("hello", &[]).len(), 1);
        let many: Vec<Button> = (0..30)
            .map(|i| Button::new(format!("b{i}"), "x".repeat(80), ButtonStyle::Default))
            .collect();
        let blocks = serde_json::to_value(blocks_with_buttons("hello", &many)).unwrap();
        assert_eq!(blocks[1]["elements"].as_array().map(Vec::len), Some(25));
        assert_eq!(blocks[2]["elements"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            blocks[2]["elements"][0]["text"]["text"]
                .as_str()
                .map(str::len),
            Some(75)
        );
    }

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
