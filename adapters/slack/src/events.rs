//! What Slack sends, read (pure): an Events API `event_callback` (whether it
//! came over Socket Mode or HTTP) and a slash command's fields turned into
//! [`Inbound`]s, the text normalized for the command parser.

use std::collections::HashMap;

use mosaic_chat::{Inbound, UserRef};
use serde_json::Value;

use crate::PLATFORM;

/// `text` as the parser reads it: the bot's mention `<@UBOT>` (or
/// `<@UBOT|name>`) written `@bot_name`, and Slack's three escapes (`&lt;`,
/// `&gt;`, `&amp;`) undone. Links (`<https://…|label>`) stay as they are:
/// the parser unwraps them.
pub fn normalize_text(text: &str, bot_user: &str, bot_name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let plain = format!("<@{bot_user}>");
    let labelled = format!("<@{bot_user}|");
    while let Some(at) = rest.find("<@") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = if tail.starts_with(&plain) {
            Some(plain.len())
        } else if tail.starts_with(&labelled) {
            tail.find('>').map(|i| i + 1)
        } else {
            None
        };
        match end {
            Some(end) => {
                out.push('@');
                out.push_str(bot_name);
                rest = &tail[end..];
            }
            None => {
                out.push_str("<@");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    // `&amp;` last, so that `&amp;lt;` (a user's literal `&lt;`) stays `&lt;`.
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The [`Inbound`] of an `event_callback` payload, when its event is a user's
/// message addressed to the bot: an `app_mention`, or a `message` that names
/// the bot (in a thread). The bot's own messages, edits and other subtypes
/// are not commands.
pub fn event_inbound(payload: &Value, bot_user: &str, bot_name: &str) -> Option<Inbound> {
    if payload.get("type").and_then(Value::as_str) != Some("event_callback") {
        return None;
    }
    let event = payload.get("event")?;
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    let text = field("text").unwrap_or("");
    match field("type")? {
        "app_mention" => {}
        "message" if text.contains(&format!("<@{bot_user}")) => {}
        _ => return None,
    }
    if field("subtype").is_some() || field("bot_id").is_some() {
        return None;
    }
    let user = field("user").filter(|u| !u.is_empty() && *u != bot_user)?;
    let channel = field("channel").filter(|c| !c.is_empty())?;
    let ts = field("ts").filter(|t| !t.is_empty())?;
    Some(Inbound {
        platform: PLATFORM,
        channel: channel.to_owned(),
        message_id: ts.to_owned(),
        thread: field("thread_ts")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        user: UserRef {
            id: user.to_owned(),
            // Names need `users:read`, which the bot does not ask for.
            name: user.to_owned(),
        },
        roles: Vec::new(),
        text: normalize_text(text, bot_user, bot_name),
        slash: false,
        reply_handle: None,
        // One key per post, whichever event (or retry) brings it.
        dedupe_key: format!("slack:{channel}:{ts}"),
        // Made truthful per platform by the platform's own change (issue 13).
        created_at: std::time::SystemTime::now(),
        edit: None,
    })
}

/// The [`Inbound`] of a slash command's fields (a form over HTTP, an object
/// over Socket Mode); `None` without a channel or user.
pub fn slash_inbound(
    form: &HashMap<String, String>,
    bot_user: &str,
    bot_name: &str,
) -> Option<Inbound> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("").trim();
    let channel = field("channel_id");
    let user = field("user_id");
    let trigger = field("trigger_id");
    if channel.is_empty() || user.is_empty() || trigger.is_empty() {
        return None;
    }
    let id = format!("slash-{trigger}");
    let name = match field("user_name") {
        "" => user,
        name => name,
    };
    Some(Inbound {
        platform: PLATFORM,
        channel: channel.to_owned(),
        dedupe_key: format!("slack:{channel}:{id}"),
        // Made truthful per platform by the platform's own change (issue 13).
        created_at: std::time::SystemTime::now(),
        edit: None,
        message_id: id,
        thread: None,
        user: UserRef {
            id: user.to_owned(),
            name: name.to_owned(),
        },
        roles: Vec::new(),
        text: normalize_text(field("text"), bot_user, bot_name),
        slash: true,
        reply_handle: Some(field("response_url").to_owned()).filter(|u| !u.is_empty()),
    })
}

/// A JSON object's string fields, as a slash command's form (Socket Mode
/// sends the same fields as JSON).
pub fn object_fields(payload: &Value) -> HashMap<String, String> {
    payload
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bots_mention_becomes_its_name_and_escapes_are_undone() {
        let text =
            "<@UBOT> fix <https://github.com/a/b/issues/1|a/b#1> &lt;x&gt; &amp;lt; <@UOTHER>";
        assert_eq!(
            normalize_text(text, "UBOT", "mosaic"),
            "@mosaic fix <https://github.com/a/b/issues/1|a/b#1> <x> &lt; <@UOTHER>"
        );
        assert_eq!(
            normalize_text("<@UBOT|mosaic> help", "UBOT", "mosaic"),
            "@mosaic help"
        );
    }

    fn callback(event: Value) -> Value {
        json!({"type": "event_callback", "event_id": "Ev1", "event": event})
    }

    #[test]
    fn an_app_mention_is_answered_in_its_thread_or_its_own() {
        let top = callback(
            json!({"type": "app_mention", "user": "U1", "channel": "C1", "ts": "1.1", "text": "<@UBOT> fix #42"}),
        );
        let inbound = event_inbound(&top, "UBOT", "mosaic").unwrap();
        assert_eq!(inbound.text, "@mosaic fix #42");
        assert_eq!(inbound.reply_thread().thread, "1.1");
        assert_eq!(inbound.dedupe_key, "slack:C1:1.1");
        let reply = callback(
            json!({"type": "app_mention", "user": "U1", "channel": "C1", "ts": "2.2", "thread_ts": "1.1", "text": "<@UBOT> status"}),
        );
        assert_eq!(
            event_inbound(&reply, "UBOT", "mosaic")
                .unwrap()
                .reply_thread()
                .thread,
            "1.1"
        );
    }

    #[test]
    fn messages_count_only_when_they_name_the_bot_and_come_from_a_user() {
        let msg = |extra: Value| {
            let mut e = json!({"type": "message", "user": "U1", "channel": "C1", "ts": "3.3", "text": "<@UBOT> status"});
            if let (Some(e), Some(x)) = (e.as_object_mut(), extra.as_object()) {
                e.extend(x.clone());
            }
            callback(e)
        };
        assert!(event_inbound(&msg(json!({})), "UBOT", "mosaic").is_some());
        assert!(event_inbound(&msg(json!({"text": "no mention"})), "UBOT", "mosaic").is_none());
        assert!(
            event_inbound(
                &msg(json!({"subtype": "message_changed"})),
                "UBOT",
                "mosaic"
            )
            .is_none()
        );
        assert!(event_inbound(&msg(json!({"bot_id": "B1"})), "UBOT", "mosaic").is_none());
        assert!(event_inbound(&msg(json!({"user": "UBOT"})), "UBOT", "mosaic").is_none());
    }

    #[test]
    fn a_slash_command_keeps_its_response_url() {
        let form: HashMap<String, String> = [
            ("channel_id", "C1"),
            ("user_id", "U1"),
            ("user_name", "alice"),
            ("text", "fix #42"),
            ("response_url", "http://slack/commands/1"),
            ("trigger_id", "t1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let inbound = slash_inbound(&form, "UBOT", "mosaic").unwrap();
        assert!(inbound.slash && inbound.thread.is_none());
        assert_eq!(inbound.user.name, "alice");
        assert_eq!(
            inbound.reply_handle.as_deref(),
            Some("http://slack/commands/1")
        );
        assert!(slash_inbound(&HashMap::new(), "UBOT", "mosaic").is_none());
    }
}
