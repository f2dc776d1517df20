//! Block Kit as Slack checks it: `chat.postMessage` and `chat.update` answer
//! `invalid_blocks` to blocks that break these rules
//! (<https://api.slack.com/methods/chat.postMessage#errors>), and the
//! conformance walk holds every recorded call to them. Only the blocks the
//! bot may send are known; any other type is refused here (Slack would take
//! some, but the bot never sends them).
//!
//! - at most 50 blocks a message (<https://api.slack.com/reference/block-kit/blocks>);
//! - `section`: a text object of 1 to 3,000 characters;
//! - `context`: 1 to 10 elements, each a text object;
//! - `actions`: 1 to 25 interactive elements
//!   (<https://api.slack.com/reference/block-kit/blocks#actions>); its
//!   `block_id`, if given, at most 255 characters and unique in the message;
//! - `button` (<https://api.slack.com/reference/block-kit/block-elements#button>):
//!   `text` a `plain_text` object of at most 75 characters, `action_id` at
//!   most 255 characters and unique among the message's actions, `value` at
//!   most 2,000 characters, `style` `primary` or `danger` or absent;
//! - a text object is `mrkdwn` or `plain_text` with a non-empty `text`
//!   (<https://api.slack.com/reference/block-kit/composition-objects#text>).

use std::collections::HashSet;

use serde_json::Value;

/// What is wrong with a text object at `at`, at most `max` characters.
fn text_object(at: &str, text: &Value, max: usize, problems: &mut Vec<String>) {
    let kind = text.get("type").and_then(Value::as_str);
    if !matches!(kind, Some("mrkdwn" | "plain_text")) {
        problems.push(format!("{at}: a text object's type is {kind:?}"));
    }
    let chars = text
        .get("text")
        .and_then(Value::as_str)
        .map_or(0, |t| t.chars().count());
    if !(1..=max).contains(&chars) {
        problems.push(format!("{at}: text of {chars} characters (1 to {max})"));
    }
}

fn chars(value: Option<&Value>) -> usize {
    value
        .and_then(Value::as_str)
        .map_or(0, |s| s.chars().count())
}

/// What is wrong with the `button` element `e` at `at`.
fn button(at: &str, e: &Value, action_ids: &mut HashSet<String>, problems: &mut Vec<String>) {
    match e.get("text") {
        Some(text) if text["type"] == "plain_text" => text_object(at, text, 75, problems),
        other => problems.push(format!(
            "{at}: a button's text must be plain_text: {other:?}"
        )),
    }
    if let Some(id) = e.get("action_id") {
        let n = chars(Some(id));
        if !(1..=255).contains(&n) {
            problems.push(format!("{at}: action_id of {n} characters (1 to 255)"));
        }
        if !action_ids.insert(id.as_str().unwrap_or("").to_owned()) {
            problems.push(format!("{at}: action_id {id} used twice in the message"));
        }
    }
    if chars(e.get("value")) > 2_000 {
        problems.push(format!("{at}: a value over 2,000 characters"));
    }
    match e.get("style").map(|s| s.as_str()) {
        None | Some(Some("primary" | "danger")) => {}
        Some(other) => problems.push(format!("{at}: style {other:?} (primary, danger or none)")),
    }
}

/// What is wrong with `blocks` as Block Kit; empty when Slack takes them.
pub fn problems(at: &str, blocks: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(list) = blocks.as_array() else {
        return vec![format!("{at}: blocks is not an array")];
    };
    if list.len() > 50 {
        problems.push(format!("{at}: {} blocks (at most 50)", list.len()));
    }
    let (mut block_ids, mut action_ids) = (HashSet::new(), HashSet::new());
    for (i, block) in list.iter().enumerate() {
        let at = format!("{at} block {i}");
        if let Some(id) = block.get("block_id") {
            let n = chars(Some(id));
            if !(1..=255).contains(&n) || !block_ids.insert(id.to_string()) {
                problems.push(format!("{at}: block_id {id} too long or used twice"));
            }
        }
        match block.get("type").and_then(Value::as_str) {
            Some("section") => match block.get("text") {
                Some(text) => text_object(&at, text, 3_000, &mut problems),
                None => problems.push(format!("{at}: a section without text or fields")),
            },
            Some("context") => {
                let elements = block.get("elements").and_then(Value::as_array);
                let n = elements.map_or(0, Vec::len);
                if !(1..=10).contains(&n) {
                    problems.push(format!("{at}: {n} context elements (1 to 10)"));
                }
                for (j, e) in elements.into_iter().flatten().enumerate() {
                    text_object(&format!("{at} element {j}"), e, 3_000, &mut problems);
                }
            }
            Some("actions") => {
                let elements = block.get("elements").and_then(Value::as_array);
                let n = elements.map_or(0, Vec::len);
                if !(1..=25).contains(&n) {
                    problems.push(format!("{at}: {n} actions elements (1 to 25)"));
                }
                for (j, e) in elements.into_iter().flatten().enumerate() {
                    let at = format!("{at} element {j}");
                    match e.get("type").and_then(Value::as_str) {
                        Some("button") => button(&at, e, &mut action_ids, &mut problems),
                        other => problems.push(format!(
                            "{at}: an element of type {other:?} the bot never sends"
                        )),
                    }
                }
            }
            other => problems.push(format!(
                "{at}: a block of type {other:?} the bot never sends"
            )),
        }
    }
    problems
}
