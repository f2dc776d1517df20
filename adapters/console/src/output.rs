//! What the console writes: JSON lines for scripts, readable lines for a
//! person, and the memory of what it wrote that edits need (which bot
//! message is where, and which one is on screen last).
//!
//! The formatting is pure (`plain_message`, `plain_reaction`, and
//! `JsonOp`'s serialization);
//! [`Output`] queues whole records in order and [`Sink`] writes what is
//! queued, so records never interleave.

use mosaic_chat::{Button, ChatError};
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::posted::PostedPlaces;

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
        #[serde(skip_serializing_if = "JsonButtons::is_empty")]
        buttons: JsonButtons<'a>,
    },
    Edit {
        channel: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        thread: Option<&'a str>,
        id: &'a str,
        text: &'a str,
        /// Absent: the edited message carries no button any more.
        #[serde(skip_serializing_if = "JsonButtons::is_empty")]
        buttons: JsonButtons<'a>,
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
struct JsonButton<'a> {
    id: &'a str,
    label: &'a str,
}

/// The buttons of a message, serialized in place for a JSON line (nearly every
/// line is a card edit with its buttons: no list of them is built first).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonButtons<'a>(pub &'a [Button]);

impl JsonButtons<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for JsonButtons<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|b| JsonButton {
            id: &b.id,
            label: &b.label,
        }))
    }
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

/// What the console has written or queued, and what edits need. Kept behind a plain mutex,
/// never across an await: records are formatted and queued under it, in the order their ids
/// were minted, and written by [`Sink`].
pub(crate) struct Output {
    pub posted: PostedPlaces,
    pub last_shown: Option<LastShown>,
    /// Records queued and not yet taken by a writer, in order.
    pending: Vec<u8>,
    /// The number of the last record queued (records are numbered from 1).
    queued: u64,
}

impl Output {
    pub(crate) fn new() -> Output {
        Output {
            posted: PostedPlaces::default(),
            last_shown: None,
            pending: Vec::new(),
            queued: 0,
        }
    }

    /// Queues one record; returns its number, for [`Sink::write_through`].
    pub(crate) fn queue(&mut self, record: &str) -> u64 {
        self.pending.extend_from_slice(record.as_bytes());
        self.queued += 1;
        self.queued
    }

    /// Queues `op` as one line of JSON, line break included, serialized in place.
    pub(crate) fn queue_json(&mut self, op: &JsonOp<'_>) -> Result<u64, ChatError> {
        let start = self.pending.len();
        if let Err(e) = serde_json::to_writer(&mut self.pending, op) {
            self.pending.truncate(start);
            return Err(ChatError::Unavailable(format!("console output: {e}")));
        }
        self.pending.push(b'\n');
        self.queued += 1;
        Ok(self.queued)
    }
}

/// The writer. Whoever holds it writes every record queued so far with one `write_all` and
/// one `flush`, so that under load many records share one write (stdout's writes go through
/// Tokio's blocking pool: one hand-over per write) while a lone record is written at once.
pub(crate) struct Sink {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    /// The number of the last record written (or failed).
    written: u64,
    /// The buffer swapped with `Output::pending`, so that neither is reallocated.
    spare: Vec<u8>,
    /// The first record whose write failed, and why: it and every later one fail.
    failed: Option<(u64, String)>,
}

impl Sink {
    pub(crate) fn new(writer: Box<dyn AsyncWrite + Send + Unpin>) -> Sink {
        Sink {
            writer,
            written: 0,
            spare: Vec::new(),
            failed: None,
        }
    }

    /// Returns once record `number` is written and flushed, writing it (and whatever else
    /// is queued in `output`) unless another caller already did.
    pub(crate) async fn write_through(
        &mut self,
        number: u64,
        output: &std::sync::Mutex<Output>,
    ) -> Result<(), ChatError> {
        if self.written < number {
            let first = self.written + 1;
            {
                let mut out = output
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                std::mem::swap(&mut out.pending, &mut self.spare);
                self.written = out.queued;
            }
            let written = self.writer.write_all(&self.spare).await;
            let flushed = match written {
                Ok(()) => self.writer.flush().await,
                Err(e) => Err(e),
            };
            self.spare.clear();
            if let (Err(e), None) = (flushed, &self.failed) {
                self.failed = Some((first, format!("console output: {e}")));
            }
        }
        match &self.failed {
            Some((from, why)) if number >= *from => Err(ChatError::Unavailable(why.clone())),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_follow_the_text_by_id_and_label() {
        let buttons = [
            Button::new("cancel", "Cancel", mosaic_chat::ButtonStyle::Danger),
            Button::new("quiet", "Quiet", mosaic_chat::ButtonStyle::Default),
        ];
        let mut out = Output::new();
        let number = out.queue_json(&JsonOp::Edit {
            channel: "c1",
            thread: Some("m1"),
            id: "b1",
            text: "hi",
            buttons: JsonButtons(&buttons),
        });
        assert_eq!(number, Ok(1));
        assert_eq!(
            String::from_utf8_lossy(&out.pending),
            concat!(
                r#"{"op":"edit","channel":"c1","thread":"m1","id":"b1","text":"hi","#,
                r#""buttons":[{"id":"cancel","label":"Cancel"},{"id":"quiet","label":"Quiet"}]}"#,
                "\n"
            )
        );
        assert_eq!(plain_buttons(&buttons), "  [Cancel] [Quiet]\n");
        assert_eq!(plain_buttons(&[]), "");
    }

    #[test]
    fn a_post_at_top_level_has_no_thread_key() {
        let mut out = Output::new();
        let number = out.queue_json(&JsonOp::Post {
            channel: "c1",
            thread: None,
            id: "b1",
            text: "hi\nthere",
            buttons: JsonButtons(&[]),
        });
        assert_eq!(number, Ok(1));
        assert_eq!(
            String::from_utf8_lossy(&out.pending),
            "{\"op\":\"post\",\"channel\":\"c1\",\"id\":\"b1\",\"text\":\"hi\\nthere\"}\n"
        );
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
