use super::*;
use serde_json::{Value, json};

#[test]
fn the_bots_mention_becomes_its_name_and_escapes_are_undone() {
    let text = "<@UBOT> fix <https://github.com/a/b/issues/1|a/b#1> &lt;x&gt; &amp;lt; <@UOTHER>";
    assert_eq!(
        normalize_text(text, "UBOT", "mosaic"),
        "@mosaic fix <https://github.com/a/b/issues/1|a/b#1> <x> &lt; <@UOTHER>"
    );
    assert_eq!(
        normalize_text("<@UBOT|mosaic> help", "UBOT", "mosaic"),
        "@mosaic help"
    );
}

#[test]
fn a_ts_is_the_instant_it_names() {
    let at = ts_instant("1700000000.000100").expect("a ts");
    assert_eq!(
        at.duration_since(UNIX_EPOCH).expect("after 1970"),
        Duration::from_secs(1_700_000_000) + Duration::from_micros(100)
    );
    assert!(ts_instant("yesterday").is_none());
}

fn callback(event: Value) -> SlackPushEventCallback {
    serde_json::from_value(json!({
        "type": "event_callback", "team_id": "T1", "api_app_id": "A1",
        "event_id": "Ev1", "event_time": 1_700_000_000, "event": event,
    }))
    .expect("an event_callback")
}

fn read(event: Value) -> Option<Inbound> {
    let subtype = event["subtype"].as_str().map(str::to_owned);
    event_inbound(&callback(event), subtype.as_deref(), "UBOT", "mosaic")
}

#[test]
fn an_app_mention_is_answered_in_its_thread_or_its_own() {
    let top = read(json!({"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1.1", "text": "<@UBOT> fix #42"}))
        .expect("a command");
    assert_eq!(top.text, "@mosaic fix #42");
    assert_eq!(top.reply_thread().thread, "1.1");
    assert_eq!(top.dedupe_key, "slack:C1:1.1");
    assert_eq!(top.edit, None);
    let reply = read(json!({"type": "app_mention", "user": "U1", "channel": "C1", "ts": "2.2", "thread_ts": "1.1", "text": "<@UBOT> status"}))
        .expect("a command");
    assert_eq!(reply.reply_thread().thread, "1.1");
}

#[test]
fn a_broadcast_reply_and_an_edit_are_mentions_too() {
    let broadcast = read(
        json!({"type": "app_mention", "subtype": "thread_broadcast", "user": "U1", "channel": "C1", "ts": "2.2", "thread_ts": "1.1", "text": "<@UBOT> status"}),
    );
    assert_eq!(broadcast.map(|i| i.message_id), Some("2.2".to_owned()));
    let edited = read(json!({"type": "app_mention", "user": "U1", "channel": "C1", "ts": "2.2", "text": "<@UBOT> status",
        "edited": {"user": "U1", "ts": "3.3"}}))
    .expect("a command");
    assert_eq!(
        (edited.edit.as_deref(), edited.dedupe_key.as_str()),
        (Some("3.3"), "slack:C1:2.2")
    );
}

#[test]
fn messages_count_with_no_subtype_or_a_file_share_when_they_name_the_bot() {
    let msg = |extra: Value| {
        let mut e = json!({"type": "message", "user": "U1", "channel": "C1", "ts": "3.3", "text": "<@UBOT> status"});
        if let (Some(e), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            e.extend(x.clone());
        }
        read(e)
    };
    assert!(msg(json!({})).is_some());
    assert!(msg(json!({"subtype": "file_share", "files": [{"id": "F1"}]})).is_some());
    assert!(msg(json!({"text": "no mention"})).is_none());
    for subtype in [
        "bot_message",
        "message_changed",
        "message_deleted",
        "channel_join",
        "thread_broadcast",
        "me_message",
    ] {
        assert!(msg(json!({"subtype": subtype})).is_none(), "{subtype}");
    }
    assert!(msg(json!({"bot_id": "B1"})).is_none());
    assert!(msg(json!({"user": "UBOT"})).is_none());
}

#[test]
fn a_slash_command_keeps_its_response_url() {
    let command: SlackCommandEvent = serde_json::from_value(json!({
        "team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": "/mosaic",
        "text": "fix #42", "response_url": "http://slack/commands/1", "trigger_id": "t1",
    }))
    .expect("a command");
    let inbound = slash_inbound(&command, Some("alice"), "UBOT", "mosaic");
    assert!(inbound.slash && inbound.thread.is_none());
    assert_eq!(inbound.user.name, "alice");
    assert_eq!(
        inbound.reply_handle.as_deref(),
        Some("http://slack/commands/1")
    );
    assert_eq!(
        slash_inbound(&command, None, "UBOT", "mosaic").user.name,
        "U1"
    );
}
