//! An edit of a bot message: which messages may be edited where, and the
//! record that shows it (in plain mode, redrawn in place when it is the last
//! thing on screen).

use std::sync::atomic::Ordering;

use mosaic_chat::{Button, ChatError, ThreadRef};

use crate::Console;
use crate::output::{self, JsonOp, LastShown};

impl Console {
    /// Queues the edit of `message_id` in `thread`, its buttons replaced by `buttons`;
    /// returns its record's number.
    pub(crate) fn queue_edit(
        &self,
        thread: &ThreadRef,
        message_id: &str,
        text: &str,
        buttons: &[Button],
    ) -> Result<u64, ChatError> {
        let mut out = self.output();
        // A message of this run must be the bot's, in this thread (a
        // top-level message is the root of the thread named by its own
        // id). A message the console never saw was posted by an earlier
        // run of the bot, which a restarted bot resumes: like a chat
        // platform, which keeps messages, the console takes the edit,
        // and keeps the id from being given to a new post.
        // Past the check, the message's channel is the thread's, and its thread is the
        // thread's unless the message is the thread's root.
        let matches = |(channel, in_thread): (&str, Option<&str>)| {
            channel == thread.channel && in_thread.unwrap_or(message_id) == thread.thread
        };
        let found = match out.posted.get(message_id) {
            Some(place) => Some(matches(place)),
            None if self.ids().claim(message_id).is_ok() => {
                let in_thread = (message_id != thread.thread).then_some(thread.thread.as_str());
                out.posted
                    .insert_other(message_id, &thread.channel, in_thread);
                Some(matches((&thread.channel, in_thread)))
            }
            None => None,
        };
        if found != Some(true) {
            return Err(ChatError::NotFound(format!(
                "message {message_id} in {thread}"
            )));
        }
        let channel = thread.channel.as_str();
        let in_thread = (message_id != thread.thread).then_some(thread.thread.as_str());
        let input_lines = self.input_lines.load(Ordering::SeqCst);
        let (number, lines) = if self.options.json {
            let op = JsonOp::Edit {
                channel,
                thread: in_thread,
                id: message_id,
                text,
                buttons: output::JsonButtons(buttons),
            };
            // Nothing is redrawn in JSON mode: no need to remember what is shown last.
            return out.queue_json(&op);
        } else {
            let shown = |last: &LastShown| last.id == message_id && last.input_lines == input_lines;
            let body = |updated| {
                output::plain_message(channel, in_thread, &self.options.bot_name, text, updated)
                    + &output::plain_buttons(buttons)
            };
            let record = match out.last_shown.as_ref().filter(|last| shown(last)) {
                // Up over the old text, clear to the end of the screen,
                // and print the new text where the old one stood.
                Some(last) if self.options.redraw_in_place => {
                    format!("\x1b[{}A\x1b[J{}", last.lines, body(false))
                }
                _ => body(true),
            };
            // The escape sequence holds no line break (and text cannot
            // bring an escape of its own, see `output::visible`): every
            // line break counted is one line on screen.
            (out.queue(&record), record.matches('\n').count())
        };
        out.last_shown = Some(LastShown {
            id: message_id.to_owned(),
            lines,
            input_lines,
        });
        Ok(number)
    }
}
