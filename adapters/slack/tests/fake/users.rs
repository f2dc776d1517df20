//! What the fake's users do, as Slack tells an app about it: Alice posts
//! (kept among the channel's messages), edits, shares files, broadcasts
//! thread replies and types `/mosaic`; anyone writes in a thread. The events
//! each sends are the ones Slack sends (cited on each).

use std::time::Duration;

use serde_json::{Value, json};

use super::events::{self, event_callback, message_event};
use super::{ALICE, CHANNEL, FakeSlack, Stored};

impl FakeSlack {
    /// Alice posts `text` (in the thread `thread_ts`, if given) mentioning
    /// the bot: an `app_mention` envelope, then (as Slack does for a
    /// channel the bot is in, to an app subscribed to message events) a
    /// `message` envelope for the same post. Returns the post's `ts`.
    pub fn mention(&self, thread_ts: Option<&str>, text: &str) -> String {
        let ts = self.shared.next_ts();
        self.keep(&ts, ALICE, None, thread_ts, text, None);
        self.envelope(
            "events_api",
            event_callback("app_mention", &ts, thread_ts, text),
        );
        self.envelope("events_api", message_event(&ts, thread_ts, text));
        ts
    }

    /// `user` (with `bot_id` when it is an app) writes `text` in the thread
    /// `thread_ts`, with `metadata` if given, without naming the bot: the
    /// message is in the thread for `conversations.replies`. (An app
    /// subscribed to message events would get a `message` event too; the
    /// tests that read threads back run no socket.) Returns its `ts`.
    pub fn write_in_thread(
        &self,
        user: &str,
        bot_id: Option<&str>,
        thread_ts: &str,
        text: &str,
        metadata: Option<Value>,
    ) -> String {
        let ts = self.shared.next_ts();
        self.keep(&ts, user, bot_id, Some(thread_ts), text, metadata);
        ts
    }

    fn keep(
        &self,
        ts: &str,
        user: &str,
        bot_id: Option<&str>,
        thread_ts: Option<&str>,
        text: &str,
        metadata: Option<Value>,
    ) {
        self.shared.world().messages.push(Stored {
            channel: CHANNEL.to_owned(),
            ts: ts.to_owned(),
            user: user.to_owned(),
            bot_id: bot_id.map(str::to_owned),
            thread_ts: thread_ts.map(str::to_owned),
            metadata,
            text: json!(text),
            blocks: json!([]),
            shown: Vec::new(),
        });
    }

    /// Alice edits her post `ts` to `text`, as Slack tells an app subscribed
    /// to `app_mention` and message events: an `app_mention` with an
    /// `edited` field, a new `event_id` and the same `ts`
    /// (https://api.slack.com/events/app_mention), and a `message` with
    /// subtype `message_changed` (https://api.slack.com/events/message/message_changed).
    /// Returns the edit's mark (`edited.ts`).
    pub fn edit_mention(&self, ts: &str, thread_ts: Option<&str>, text: &str) -> String {
        let edited = self.shared.next_ts();
        let mut mention = event_callback("app_mention", ts, thread_ts, text);
        mention["event"]["edited"] = json!({"user": ALICE, "ts": edited});
        mention["event_id"] = json!(format!("Ev{}", edited.replace('.', "")));
        self.envelope("events_api", mention);
        self.envelope("events_api", events::message_changed(ts, &edited, text));
        edited
    }

    /// Alice's mention `text`, written `age` ago and delivered only now, as
    /// Slack re-sends an envelope unacknowledged during a gap
    /// (https://api.slack.com/apis/socket-mode). Returns its `ts`.
    pub fn old_mention(&self, age: Duration, text: &str) -> String {
        let ts = self.shared.next_ts();
        let (secs, seq) = ts.split_once('.').unwrap_or((&ts, "0"));
        let old = secs
            .parse::<u64>()
            .unwrap_or(0)
            .saturating_sub(age.as_secs());
        let ts = format!("{old}.{seq}");
        self.envelope("events_api", event_callback("app_mention", &ts, None, text));
        ts
    }

    /// Alice types `/mosaic text` in `channel`: a `slash_commands` envelope
    /// with the fields of https://api.slack.com/interactivity/slash-commands#app_command_handling.
    pub fn slash(&self, channel: &str, text: &str, trigger: &str) {
        let payload = json!({
            "token": "fake-verification-token", "team_id": "T1", "team_domain": "fake",
            "channel_id": channel, "channel_name": "elsewhere", "user_id": ALICE, "user_name": "alice",
            "command": "/mosaic", "text": text, "api_app_id": "A1", "is_enterprise_install": "false",
            "response_url": self.response_url(), "trigger_id": trigger,
        });
        self.envelope("slash_commands", payload);
    }

    /// Slack re-sends the `app_mention` of the edit `edited` of `ts` (the
    /// same `event_id`), as it does when it thinks a delivery was lost.
    pub fn edit_mention_again(&self, ts: &str, edited: &str, text: &str) {
        let mut mention = event_callback("app_mention", ts, None, text);
        mention["event"]["edited"] = json!({"user": ALICE, "ts": edited});
        mention["event_id"] = json!(format!("Ev{}", edited.replace('.', "")));
        self.envelope("events_api", mention);
    }

    /// Alice uploads a file with `text` mentioning the bot: Slack sends only
    /// a `message` with subtype `file_share`, no `app_mention`
    /// (https://api.slack.com/events/message/file_share). Returns its `ts`.
    pub fn file_share(&self, thread_ts: Option<&str>, text: &str) -> String {
        let ts = self.shared.next_ts();
        let mut share = message_event(&ts, thread_ts, text);
        share["event"]["subtype"] = json!("file_share");
        share["event"]["files"] =
            json!([{"id": "F0FILE01", "name": "trace.txt", "mimetype": "text/plain"}]);
        self.envelope("events_api", share);
        ts
    }

    /// Alice replies in `thread_ts` mentioning the bot and ticks "Also send
    /// to channel": an `app_mention` and a `message`, both with subtype
    /// `thread_broadcast` (https://api.slack.com/events/message/thread_broadcast).
    pub fn broadcast_mention(&self, thread_ts: &str, text: &str) -> String {
        let ts = self.shared.next_ts();
        let mut mention = event_callback("app_mention", &ts, Some(thread_ts), text);
        mention["event"]["subtype"] = json!("thread_broadcast");
        let mut message = message_event(&ts, Some(thread_ts), text);
        message["event"]["subtype"] = json!("thread_broadcast");
        self.envelope("events_api", mention);
        self.envelope("events_api", message);
        ts
    }

    /// Events that are never commands, each naming the bot: a bot's message,
    /// a `channel_join`, a deletion, a `/me` message
    /// (https://api.slack.com/events/message), and a mention in a canvas.
    pub fn non_commands(&self) {
        for subtype in [
            "bot_message",
            "channel_join",
            "message_deleted",
            "me_message",
        ] {
            let ts = self.shared.next_ts();
            let mut event = message_event(&ts, None, "<@UBOT0001> fix #1");
            event["event"]["subtype"] = json!(subtype);
            if subtype == "bot_message" {
                event["event"]["bot_id"] = json!("B0OTHER1");
            }
            self.envelope("events_api", event);
        }
        // A mention in a canvas arrives as an `app_mention` with subtype
        // `document_mention` (https://docs.slack.dev/reference/events/message/document_mention).
        let ts = self.shared.next_ts();
        let mut canvas = event_callback(
            "app_mention",
            &ts,
            None,
            "<@UBOT0001> was mentioned in a canvas",
        );
        canvas["event"]["subtype"] = json!("document_mention");
        canvas["event"]["document_mention"] =
            json!({"file_id": "F0CANVAS", "section_id": "temp:C:1"});
        self.envelope("events_api", canvas);
    }
}
