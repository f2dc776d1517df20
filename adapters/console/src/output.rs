//! What the console writes: JSON lines for scripts, readable lines for a
//! person, and the memory of what it wrote that edits need (which bot
//! message is where, and which one is on screen last).
//!
//! The formatting is pure (`json_line`, `plain_message`, `plain_reaction`);
//! [`Output`] does the writing, one whole record per `write_all` + `flush`,
//! and is only ever used behind the console's mutex, so records never
//! interleave.

use std::collections::HashMap;

use mosaic_chat::{Button, ChatError};
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// One output line in `--json` mode, fields in the order of cli.md.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(crate) enum JsonOp<'a> {
    Post {
        channel: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        thread: Option<&'a str>,
        id: &'a str,
        text: &'a str,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        buttons: &'a [JsonButton<'a>],
    },
    Edit {
        channel: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        thread: Option<&'a str>,
        id: &'a str,
        text: &'a str,
        /// Absent: the edited message carries no button any more.
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        buttons: &'a [JsonButton<'a>],
    },
    React {
        channel: &'a str,
        id: &'a str,
        emoji: &'a str,
    },
}

/// A button as cli.md writes it: `{"id":"cancel","label":"Cancel"}` (its
/// style is for platforms that draw buttons).
#[derive(Debug, Serialize)]
pub(crate) struct JsonButton<'a> {
    id: &'a str,
    label: &'a str,
}

/// The buttons of a message, for a JSON line.
pub(crate) fn json_buttons(buttons: &[Button]) -> Vec<JsonButton<'_>> {
    buttons
        .iter()
        .map(|b| JsonButton {
            id: &b.id,
            label: &b.label,
        })
        .collect()
}

/// The buttons of a message for a person, on a line of their own under it:
/// `  [Cancel] [Verbose]`; nothing when there are none.
pub(crate) fn plain_buttons(buttons: &[Button]) -> String {
    if buttons.is_empty() {
        return String::new();
    }
    let labels: Vec<String> = buttons
        .iter()
        .map(|b| format!("[{}]", visible(&b.label).replace('\n', " ")))
        .collect();
    format!("  {}\n", labels.join(" "))
}

/// `op` as one line of JSON, line break included.
pub(crate) fn json_line(op: &JsonOp<'_>) -> Result<String, ChatError> {
    let mut line = serde_json::to_string(op)
        .map_err(|e| ChatError::Unavailable(format!("console output: {e}")))?;
    line.push('\n');
    Ok(line)
}

/// A bot message for a person: `[c1 › m1] mosaic: text`, or the header
/// alone with each line of a multi-line text indented under it.
pub(crate) fn plain_message(
    channel: &str,
    thread: Option<&str>,
    bot_name: &str,
    text: &str,
    updated: bool,
) -> String {
    let mut out = String::from("[");
    out.push_str(&visible(channel));
    if let Some(thread) = thread {
        out.push_str(" › ");
        out.push_str(&visible(thread));
    }
    out.push_str("] ");
    out.push_str(&visible(bot_name));
    if updated {
        out.push_str(" (updated)");
    }
    out.push(':');
    let text = visible(text);
    if text.contains('\n') {
        for line in text.split('\n') {
            out.push_str("\n  ");
            out.push_str(line);
        }
    } else {
        out.push(' ');
        out.push_str(&text);
    }
    out.push('\n');
    out
}

/// A reaction for a person: `[c1] m1 ← 👀`.
pub(crate) fn plain_reaction(channel: &str, message_id: &str, emoji: &str) -> String {
    format!("[{}] {} ← {emoji}\n", visible(channel), visible(message_id))
}

/// The text with every control character except line break and tab shown as
/// its Unicode picture (ESC as `␛`): job output may hold terminal escape
/// sequences, which must neither repaint a person's terminal nor break the
/// line count that redrawing in place relies on.
pub(crate) fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Where a bot message was posted; what an edit must match.
#[derive(Debug, Clone)]
pub(crate) struct Posted {
    pub channel: String,
    /// `None` for a top-level message (`start_thread`).
    pub thread: Option<String>,
}

/// The bot message printed last in plain mode, and how many terminal lines
/// it took: what can be redrawn in place.
#[derive(Debug, Clone)]
pub(crate) struct LastShown {
    pub id: String,
    pub lines: usize,
    /// How many input lines had been read when it was printed: a line read
    /// since was echoed below it by the terminal, so it is no longer last.
    pub input_lines: u64,
}

/// The writer, and what the console has written through it.
pub(crate) struct Output {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    pub posted: HashMap<String, Posted>,
    pub last_shown: Option<LastShown>,
}

impl Output {
    pub(crate) fn new(writer: Box<dyn AsyncWrite + Send + Unpin>) -> Output {
        Output {
            writer,
            posted: HashMap::new(),
            last_shown: None,
        }
    }

    /// Writes one record whole and flushes it, so a script reading the other
    /// end sees each line as soon as it exists.
    pub(crate) async fn write(&mut self, record: &str) -> Result<(), ChatError> {
        let unavailable =
            |e: std::io::Error| ChatError::Unavailable(format!("console output: {e}"));
        self.writer
            .write_all(record.as_bytes())
            .await
            .map_err(unavailable)?;
        self.writer.flush().await.map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_at_top_level_has_no_thread_key() {
        let line = json_line(&JsonOp::Post {
            channel: "c1",
            thread: None,
            id: "b1",
            text: "hi",
            buttons: &[],
        });
        assert_eq!(
            line,
            Ok("{\"op\":\"post\",\"channel\":\"c1\",\"id\":\"b1\",\"text\":\"hi\"}\n".into())
        );
    }

    #[test]
    fn buttons_follow_the_text_by_id_and_label() {
        let buttons = [
            Button::new("cancel", "Cancel", mosaic_chat::ButtonStyle::Danger),
            Button::new("quiet", "Quiet", mosaic_chat::ButtonStyle::Default),
        ];
        let line = json_line(&JsonOp::Edit {
            channel: "c1",
            thread: Some("m1"),
            id: "b1",
            text: "hi",
            buttons: &json_buttons(&buttons),
        });
        assert_eq!(
            line,
            Ok(concat!(
                r#"{"op":"edit","channel":"c1","thread":"m1","id":"b1","text":"hi","#,
                r#""buttons":[{"id":"cancel","label":"Cancel"},{"id":"quiet","label":"Quiet"}]}"#,
                "\n"
            )
            .into())
        );
        assert_eq!(plain_buttons(&buttons), "  [Cancel] [Quiet]\n");
        assert_eq!(plain_buttons(&[]), "");
    }

    #[test]
    fn one_line_text_stands_after_the_header() {
        assert_eq!(
            plain_message("c1", Some("m1"), "mosaic", "hello", false),
            "[c1 › m1] mosaic: hello\n"
        );
    }

    #[test]
    fn multi_line_text_is_indented_under_the_header() {
        assert_eq!(
            plain_message("c1", None, "mosaic", "a\nb", true),
            "[c1] mosaic (updated):\n  a\n  b\n"
        );
    }

    #[test]
    fn terminal_escapes_in_text_are_shown_not_obeyed() {
        assert_eq!(visible("\u{1b}[2Jx\r\u{7f}\u{9b}\ty"), "␛[2Jx␍␡\u{fffd}\ty");
        assert_eq!(plain_reaction("c\u{1b}", "m1", "👀"), "[c␛] m1 ← 👀\n");
    }
}
