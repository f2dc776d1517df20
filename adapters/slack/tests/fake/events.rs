//! The Events API payloads the fake sends, shaped as Slack's event pages
//! show them (https://api.slack.com/apis/events-api#callback-field for the
//! `event_callback` wrapper, https://api.slack.com/events/app_mention and
//! https://api.slack.com/events/message for the events).

use serde_json::{Value, json};

use super::{ALICE, CHANNEL};

/// Slack's `ts` of "now", in the same second as the wall clock: messages
/// the fake sends are created now, as a user typing them would.
pub fn now_ts(sequence: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs}.{sequence:06}")
}

/// An Events API `event_callback` for Alice's post `ts`.
pub fn event_callback(kind: &str, ts: &str, thread_ts: Option<&str>, text: &str) -> Value {
    let mut event = json!({
        "type": kind, "user": ALICE, "channel": CHANNEL, "ts": ts, "text": text,
        "channel_type": "channel", "event_ts": ts, "team": "T1",
        "client_msg_id": format!("msg-{}", ts.replace('.', "")),
    });
    if let Some(thread) = thread_ts {
        event["thread_ts"] = json!(thread);
    }
    json!({
        "token": "fake-verification-token", "type": "event_callback", "team_id": "T1", "api_app_id": "A1",
        "event_id": format!("Ev{}", ts.replace('.', "")), "event_time": 1_700_000_000,
        "authorizations": [{"team_id": "T1", "user_id": super::BOT_USER, "is_bot": true}],
        "event_context": "4-fake",
        "event": event,
    })
}

/// The `message` event of Alice's post `ts` (sent with its `app_mention`).
pub fn message_event(ts: &str, thread_ts: Option<&str>, text: &str) -> Value {
    let mut message = event_callback("message", ts, thread_ts, text);
    message["event_id"] = json!(format!("Evm{}", ts.replace('.', "")));
    message
}

/// `message_changed`: the edited message inside `message`, the one before
/// inside `previous_message`, the event's own `ts` the edit's.
pub fn message_changed(ts: &str, edited: &str, text: &str) -> Value {
    let mut changed = event_callback("message", edited, None, text);
    let event = &mut changed["event"];
    event["subtype"] = json!("message_changed");
    event["hidden"] = json!(true);
    event["message"] = json!({"type": "message", "user": ALICE, "text": text, "ts": ts,
        "edited": {"user": ALICE, "ts": edited}});
    event["previous_message"] = json!({"type": "message", "user": ALICE, "text": "", "ts": ts});
    if let Some(e) = event.as_object_mut() {
        e.remove("user");
        e.remove("text");
    }
    changed["event_id"] = json!(format!("Evc{}", edited.replace('.', "")));
    changed
}
