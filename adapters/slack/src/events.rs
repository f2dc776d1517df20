//! What Slack sends, read (pure): an Events API `event_callback` (whether it
//! came over Socket Mode or HTTP) and a slash command, as slack-morphism
//! reads them, turned into [`Inbound`]s, the text normalized for the command
//! parser.
//!
//! Which events are commands, as Slack sends them:
//! - `app_mention`, with or without a subtype: a mention in a thread reply
//!   also sent to the channel arrives with subtype `thread_broadcast`
//!   (<https://api.slack.com/events/message/thread_broadcast>); an edited
//!   mention arrives again with an `edited` field, a new `event_id` and the
//!   same `ts` (<https://api.slack.com/events/app_mention>), reported as an
//!   edit whose mark is `edited.ts`; not other subtypes (`document_mention`,
//!   a mention in a canvas: <https://docs.slack.dev/reference/events/message/document_mention>);
//! - a `message` that names the bot with no subtype, or with `file_share`: a
//!   file uploaded with the mention arrives only so, never as `app_mention`
//!   (<https://api.slack.com/events/message/file_share>);
//! - never other subtypes (`bot_message`, `message_changed`,
//!   `message_deleted`, `channel_join`, …: <https://api.slack.com/events/message>),
//!   nor anything a bot sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mosaic_chat::{Inbound, UserRef};
use slack_morphism::prelude::{
    SlackCommandEvent, SlackEventCallbackBody, SlackMessageEventType, SlackPushEventCallback,
};

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

/// The instant a Slack `ts` (`"1700000000.000100"`: Unix seconds, then a
/// per-channel sequence read as microseconds) names; `None` if it is not one.
pub fn ts_instant(ts: &str) -> Option<SystemTime> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: u64 = secs.parse().ok()?;
    let micros: u64 = micros.get(..6.min(micros.len()))?.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// One user message addressed to the bot, as read from an event.
struct Message<'a> {
    user: &'a str,
    channel: &'a str,
    ts: &'a str,
    thread_ts: Option<&'a str>,
    text: &'a str,
    edit: Option<&'a str>,
}

/// An event's `subtype`, which slack-morphism's `app_mention` model does
/// not keep: read from the `event_callback` as sent.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Subtype {
    event: SubtypeOf,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SubtypeOf {
    subtype: Option<String>,
}

impl Subtype {
    /// The subtype of the event in `callback` (JSON), if it has one.
    pub fn of(callback: &str) -> Option<String> {
        serde_json::from_str::<Subtype>(callback).ok()?.into_inner()
    }

    /// The subtype read.
    pub fn into_inner(self) -> Option<String> {
        self.event.subtype
    }
}

/// The [`Inbound`] of an `event_callback`, when its event is a user's
/// message addressed to the bot (see the module's doc); `subtype` is the
/// event's as sent.
pub fn event_inbound(
    callback: &SlackPushEventCallback,
    subtype: Option<&str>,
    bot_user: &str,
    bot_name: &str,
) -> Option<Inbound> {
    let message = match &callback.event {
        // A mention in a canvas (`document_mention`) and whatever Slack adds
        // are not messages typed to the bot.
        SlackEventCallbackBody::AppMention(_)
            if !matches!(subtype, None | Some("thread_broadcast")) =>
        {
            return None;
        }
        SlackEventCallbackBody::AppMention(e) => Message {
            user: &e.user.0,
            channel: &e.channel.0,
            ts: &e.origin.ts.0,
            thread_ts: e.origin.thread_ts.as_ref().map(|t| t.0.as_str()),
            text: e.content.text.as_deref().unwrap_or(""),
            edit: e.edited.as_ref().map(|ed| ed.ts.0.as_str()),
        },
        SlackEventCallbackBody::Message(e) => {
            if !matches!(e.subtype, None | Some(SlackMessageEventType::FileShare))
                || e.sender.bot_id.is_some()
            {
                return None;
            }
            let text = e.content.as_ref().and_then(|c| c.text.as_deref())?;
            if !text.contains(&format!("<@{bot_user}")) {
                return None;
            }
            Message {
                user: &e.sender.user.as_ref()?.0,
                channel: &e.origin.channel.as_ref()?.0,
                ts: &e.origin.ts.0,
                thread_ts: e.origin.thread_ts.as_ref().map(|t| t.0.as_str()),
                text,
                edit: None,
            }
        }
        _ => return None,
    };
    if message.user.is_empty() || message.user == bot_user || message.channel.is_empty() {
        return None;
    }
    let created_at = ts_instant(message.ts)?;
    let (channel, ts) = (message.channel, message.ts);
    Some(Inbound {
        platform: PLATFORM,
        channel: channel.to_owned(),
        message_id: ts.to_owned(),
        thread: message
            .thread_ts
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        user: UserRef {
            id: message.user.to_owned(),
            // Names need `users:read`, which the bot does not ask for.
            name: message.user.to_owned(),
        },
        roles: Vec::new(),
        text: normalize_text(message.text, bot_user, bot_name),
        slash: false,
        reply_handle: None,
        // One key per post, whichever event (retry, or edit) brings it.
        dedupe_key: format!("slack:{channel}:{ts}"),
        created_at,
        edit: message.edit.map(str::to_owned),
    })
}

/// A slash command's `user_name`, which slack-morphism's model leaves out.
#[derive(Debug, Default, serde::Deserialize)]
pub struct UserName {
    /// The author's name, when Slack sends it.
    pub user_name: Option<String>,
}

/// The [`Inbound`] of a slash command (a form over HTTP, an object over
/// Socket Mode); `user_name`, which slack-morphism does not keep, names
/// its author when given.
pub fn slash_inbound(
    command: &SlackCommandEvent,
    user_name: Option<&str>,
    bot_user: &str,
    bot_name: &str,
) -> Inbound {
    let channel = &command.channel_id.0;
    let user = &command.user_id.0;
    let id = format!("slash-{}", command.trigger_id.0);
    Inbound {
        platform: PLATFORM,
        channel: channel.clone(),
        dedupe_key: format!("slack:{channel}:{id}"),
        message_id: id,
        thread: None,
        user: UserRef {
            id: user.clone(),
            name: user_name
                .filter(|n| !n.is_empty())
                .unwrap_or(user)
                .to_owned(),
        },
        roles: Vec::new(),
        text: normalize_text(
            command.text.as_deref().unwrap_or("").trim(),
            bot_user,
            bot_name,
        ),
        slash: true,
        reply_handle: Some(command.response_url.0.to_string()),
        // A slash command carries no time of its own: it is invoked now.
        created_at: SystemTime::now(),
        edit: None,
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
