//! The bot's messages as Slack keeps them, and presses of their buttons as
//! Slack sends them.
//!
//! - A posted message's blocks get a `block_id` where the app gave none
//!   (<https://api.slack.com/reference/block-kit/blocks#actions>: "If not
//!   specified, a block_id will be generated"), a new one for each version.
//! - `chat.update` replaces the blocks it is given and keeps them when it
//!   is given none (<https://api.slack.com/methods/chat.update>, `blocks`:
//!   an empty list removes them).
//! - A press is a `block_actions` payload
//!   (<https://api.slack.com/reference/interaction-payloads/block-actions>):
//!   `type`, `team`, `user`, `api_app_id`, `container` (`message_ts`,
//!   `channel_id`), `trigger_id` (new for each interaction), `channel`, the
//!   `message` as it stands, `response_url` (a new one for each
//!   interaction), `state`, and `actions` with the button's `action_id`,
//!   `block_id`, `text`, `value`, `style` and `action_ts` (when it was
//!   clicked).
//! - Over Socket Mode it comes in an `interactive` envelope
//!   (<https://api.slack.com/apis/socket-mode>); an envelope whose ack came
//!   too late (3 s) is sent again with `retry_attempt` and `retry_reason`.
//!   Over HTTP it is a form with one field, `payload`, the JSON
//!   (<https://api.slack.com/interactivity/handling#payloads>), signed as
//!   every request Slack sends.

use serde_json::{Value, json};

use super::events::now_ts;
use super::metadata::Given;
use super::{BOT_USER, FakeSlack, Shared, Stored};

/// The button elements of `blocks`.
fn buttons_in(blocks: &Value) -> Vec<Value> {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| {
            let block_id = b["block_id"].clone();
            b["elements"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e["type"] == "button")
                .map(move |mut e| {
                    e["block_id"] = block_id.clone();
                    e
                })
        })
        .collect()
}

impl Shared {
    /// `blocks` with a `block_id` on each block that has none.
    fn with_block_ids(&self, blocks: Option<&Value>) -> Value {
        let mut blocks = blocks.cloned().unwrap_or(json!([]));
        let mut world = self.world();
        for block in blocks.as_array_mut().into_iter().flatten() {
            if block.get("block_id").is_none() {
                world.next_block += 1;
                block["block_id"] = json!(format!("blk{}", world.next_block));
            }
        }
        blocks
    }

    /// Keeps the bot's message `ts` posted with `body` and `metadata`;
    /// returns its blocks.
    pub(super) fn store_message(
        &self,
        channel: &str,
        ts: &str,
        body: &Value,
        metadata: Option<Value>,
    ) -> Value {
        let blocks = self.with_block_ids(body.get("blocks"));
        let thread_ts = body.get("thread_ts").and_then(Value::as_str);
        self.world().messages.push(Stored {
            channel: channel.to_owned(),
            ts: ts.to_owned(),
            user: BOT_USER.to_owned(),
            bot_id: Some(super::BOT_ID.to_owned()),
            thread_ts: thread_ts.filter(|t| !t.is_empty()).map(str::to_owned),
            metadata,
            text: body["text"].clone(),
            shown: buttons_in(&blocks),
            blocks: blocks.clone(),
        });
        blocks
    }

    /// Applies an update of `ts` in `channel`, with `metadata` as Slack took
    /// it; its blocks after it, or the `ok:false` code when there is no such
    /// message (`message_not_found`) or it is not the bot's
    /// (`cant_update_message`, <https://docs.slack.dev/reference/methods/chat.update>).
    pub(super) fn update_message(
        &self,
        channel: &str,
        ts: &str,
        body: &Value,
        metadata: Given,
    ) -> Result<Value, &'static str> {
        let given = body.get("blocks").map(|b| self.with_block_ids(Some(b)));
        let mut world = self.world();
        let message = world
            .messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
            .ok_or("message_not_found")?;
        if message.user != BOT_USER {
            return Err("cant_update_message");
        }
        match metadata {
            Given::Keep(kept) => message.metadata = Some(kept),
            Given::Empty => message.metadata = None,
            Given::Absent | Given::Ignored(_) => {}
        }
        if let Some(text) = body.get("text") {
            message.text = text.clone();
        }
        if let Some(blocks) = given {
            message.shown.extend(buttons_in(&blocks));
            message.blocks = blocks;
        }
        Ok(message.blocks.clone())
    }

    /// The channel and `ts` of the message the press with `response_url`
    /// id `id` came from.
    pub(super) fn pressed_message(&self, id: &str) -> Option<(String, String)> {
        let (channel, ts) = id.split_once('~')?;
        let (ts, _) = ts.split_once('~')?;
        Some((channel.to_owned(), ts.to_owned()))
    }
}

impl FakeSlack {
    fn stored(&self, ts: &str) -> Option<Stored> {
        self.shared
            .world()
            .messages
            .iter()
            .find(|m| m.ts == ts)
            .cloned()
    }

    /// The `action_id`s of the buttons the bot's message `ts` shows now.
    pub fn buttons_of(&self, ts: &str) -> Vec<String> {
        let blocks = self.stored(ts).map(|m| m.blocks).unwrap_or_default();
        buttons_in(&blocks)
            .iter()
            .filter_map(|b| b["action_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// The blocks of the bot's message `ts` now (`null` if none).
    pub fn blocks_of(&self, ts: &str) -> Value {
        self.stored(ts).map(|m| m.blocks).unwrap_or_default()
    }

    /// `user` clicks the button `action_id` under the bot's message `ts`,
    /// as shown now or in an earlier version (a client that has not drawn
    /// the latest yet): the `block_actions` payload Slack sends. Panics if
    /// the message never showed that button: no one can press it.
    pub fn press_payload(&self, ts: &str, action_id: &str, user: &str) -> Value {
        let message = self.stored(ts).unwrap_or_else(|| panic!("no message {ts}"));
        let button = message
            .shown
            .iter()
            .rev()
            .find(|b| b["action_id"] == action_id)
            .unwrap_or_else(|| panic!("message {ts} never showed a `{action_id}` button"))
            .clone();
        let press = {
            let mut world = self.shared.world();
            world.next_press += 1;
            world.next_press
        };
        let mut action = json!({
            "type": "button", "action_id": action_id, "block_id": button["block_id"],
            "text": button["text"], "value": button["value"], "action_ts": now_ts(press),
        });
        if let Some(style) = button.get("style") {
            action["style"] = style.clone();
        }
        let url_id = format!("{}~{ts}~{press}", message.channel);
        json!({
            "type": "block_actions",
            "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T1"},
            "api_app_id": "A1", "token": "fake-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": message.channel,
                "is_ephemeral": false},
            "trigger_id": format!("{press}.1000.fa1e{press:04}"),
            "team": {"id": "T1", "domain": "fake"},
            "enterprise": null, "is_enterprise_install": false,
            "channel": {"id": message.channel, "name": "general"},
            "message": {"type": "message", "subtype": "bot_message", "user": BOT_USER, "bot_id": "B1",
                "ts": ts, "text": message.text, "blocks": message.blocks, "team": "T1"},
            "state": {"values": {}},
            "response_url": format!("http://{}/actions/{url_id}", self.shared.addr),
            "actions": [action],
        })
    }

    /// `user` clicks `action_id` under `ts`, delivered over Socket Mode;
    /// returns the payload sent.
    pub fn press(&self, ts: &str, action_id: &str, user: &str) -> Value {
        let payload = self.press_payload(ts, action_id, user);
        self.envelope("interactive", payload.clone());
        payload
    }

    /// The form Slack posts to the interactivity Request URL for `payload`.
    pub fn press_form(payload: &Value) -> String {
        let payload = payload.to_string();
        reqwest::Url::parse_with_params("http://x/", [("payload", payload.as_str())])
            .ok()
            .and_then(|u| u.query().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Slack sends envelope `id` again, as it does when its ack did not
    /// arrive within 3 s: the same payload, with `retry_attempt` and
    /// `retry_reason`.
    pub fn resend(&self, id: &str) {
        let mut world = self.shared.world();
        let Some((_, frame)) = world.sent_envelopes.iter().find(|(e, _)| e == id).cloned() else {
            panic!("no envelope {id}");
        };
        let mut frame: Value = serde_json::from_str(&frame).unwrap_or_default();
        let attempt = frame["retry_attempt"].as_u64().unwrap_or(0) + 1;
        frame["retry_attempt"] = json!(attempt);
        frame["retry_reason"] = json!("timeout");
        let frame = frame.to_string();
        world.unacked.push((id.to_owned(), frame.clone()));
        world
            .sockets
            .retain(|tx| tx.send(Some(frame.clone())).is_ok());
    }

    /// What was answered through the `response_url` of the press Slack sent
    /// as `payload`, in order.
    pub fn answers_to(&self, payload: &Value) -> Vec<Value> {
        let url = payload["response_url"].as_str().unwrap_or("");
        let id = url.rsplit('/').next().unwrap_or("");
        self.shared
            .world()
            .answers
            .iter()
            .filter(|(a, _)| a == id)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Every answer given through any press's `response_url`.
    pub fn press_answers(&self) -> Vec<Value> {
        let world = self.shared.world();
        world.answers.iter().map(|(_, body)| body.clone()).collect()
    }
}
