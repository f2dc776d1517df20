//! Button presses, as Slack sends them (pure): a `block_actions` payload
//! (<https://api.slack.com/reference/interaction-payloads/block-actions>),
//! read with slack-morphism's [`SlackInteractionEvent`], whether it came in
//! an `interactive` Socket Mode envelope or as the `payload` field of a form
//! posted to the interactivity Request URL, turned into one [`Press`] per
//! button action.
//!
//! - The message the button is under is the payload's `container`
//!   (`message_ts`, `channel_id`): the `ts` the card was posted with, which
//!   is how the core finds the card's job.
//! - The button is the action's `action_id` (the core's button id); its
//!   `value` carries the same id and is not needed.
//! - The press's time is the action's `action_ts`, never when the bot read
//!   it: a press re-sent after a gap is as old as the click.
//! - Its dedupe key is made of what a re-delivery repeats (Slack re-sends
//!   the same payload: <https://api.slack.com/apis/socket-mode>, envelopes
//!   not acknowledged in time come again with `retry_attempt`), and what
//!   tells two clicks apart (`action_ts`): team, channel, card, user,
//!   button, `action_ts`. Not `trigger_id` alone: it names one interaction
//!   for opening a modal and is documented as nothing more.
//! - The answer to the presser goes through the payload's `response_url`
//!   (ephemeral, the card left as it is), kept as the reply handle.
//!
//! Anything else (a press in a modal, or under an ephemeral message, which
//! the bot never posts with buttons; other interaction types) is no press.

use std::time::SystemTime;

use mosaic_chat::{Press, UserRef};
use slack_morphism::prelude::{
    SlackInteractionActionContainer, SlackInteractionBlockActionsEvent, SlackInteractionEvent,
};

use crate::PLATFORM;
use crate::events::ts_instant;

/// The `payload` field of the form Slack posts to the interactivity
/// Request URL (`application/x-www-form-urlencoded`,
/// <https://api.slack.com/interactivity/handling#payloads>).
#[derive(Debug, serde::Deserialize)]
pub struct PayloadForm {
    /// The interaction payload, JSON.
    pub payload: String,
}

/// The presses an interaction payload carries (none unless it is a
/// `block_actions` on a message), without roles (the adapter adds them).
pub fn presses_of(event: &SlackInteractionEvent) -> Vec<Press> {
    match event {
        SlackInteractionEvent::BlockActions(actions) => block_actions_presses(actions),
        _ => {
            tracing::debug!("a Slack interaction that is no button press was skipped");
            Vec::new()
        }
    }
}

fn block_actions_presses(event: &SlackInteractionBlockActionsEvent) -> Vec<Press> {
    let SlackInteractionActionContainer::Message(container) = &event.container else {
        return Vec::new();
    };
    if container.is_ephemeral == Some(true) {
        return Vec::new();
    }
    let Some(user) = &event.user else {
        return Vec::new();
    };
    let channel = container
        .channel_id
        .as_ref()
        .map(|c| c.0.as_str())
        .or_else(|| event.channel.as_ref().map(|c| c.id.0.as_str()))
        .unwrap_or("");
    let message_ts = container.message_ts.0.as_str();
    if channel.is_empty() || message_ts.is_empty() || user.id.0.is_empty() {
        return Vec::new();
    }
    let name = user
        .username
        .as_deref()
        .or(user.name.as_deref())
        .filter(|n| !n.is_empty())
        .unwrap_or(&user.id.0);
    let team = &event.team.id.0;
    event
        .actions
        .iter()
        .flatten()
        .filter(|action| !action.action_id.0.is_empty())
        .map(|action| {
            let action_ts = action.action_ts.as_ref().map(|t| t.0.as_str());
            Press {
                platform: PLATFORM,
                channel: channel.to_owned(),
                message_id: message_ts.to_owned(),
                button: action.action_id.0.clone(),
                user: UserRef {
                    id: user.id.0.clone(),
                    name: name.to_owned(),
                },
                roles: Vec::new(),
                reply_handle: event.response_url.as_ref().map(|u| u.0.to_string()),
                dedupe_key: format!(
                    "slack:{channel}:press:{team}:{message_ts}:{}:{}:{}",
                    user.id.0,
                    action.action_id.0,
                    action_ts.unwrap_or(&event.trigger_id.0)
                ),
                // Slack documents `action_ts` on every action; without it
                // the press is taken as made now, like a slash command.
                created_at: action_ts
                    .and_then(ts_instant)
                    .unwrap_or_else(SystemTime::now),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A `block_actions` payload shaped as the reference's example.
    fn payload(container: serde_json::Value) -> serde_json::Value {
        json!({
            "type": "block_actions",
            "team": {"id": "T1", "domain": "fake"},
            "user": {"id": "UALICE01", "username": "alice", "name": "alice", "team_id": "T1"},
            "api_app_id": "A1", "token": "fake-verification-token",
            "container": container,
            "trigger_id": "111.222.abc",
            "channel": {"id": "C0CHANNEL", "name": "general"},
            "message": {"type": "message", "user": "UBOT0001", "ts": "1700000000.000100", "text": "card",
                "blocks": [{"type": "actions", "block_id": "b1", "elements": [
                    {"type": "button", "action_id": "cancel", "value": "cancel", "text": {"type": "plain_text", "text": "Cancel"}}]}]},
            "response_url": "https://hooks.slack.com/actions/T1/1/abc",
            "actions": [{"type": "button", "action_id": "cancel", "block_id": "b1", "value": "cancel",
                "text": {"type": "plain_text", "text": "Cancel"}, "action_ts": "1700000005.123456"}],
        })
    }

    fn read(value: serde_json::Value) -> Vec<Press> {
        let event: SlackInteractionEvent =
            serde_json::from_value(value).expect("a block_actions payload");
        presses_of(&event)
    }

    #[test]
    fn a_button_press_on_a_message_is_a_press_on_its_card() {
        let presses = read(payload(
            json!({"type": "message", "message_ts": "1700000000.000100",
            "channel_id": "C0CHANNEL", "is_ephemeral": false}),
        ));
        assert_eq!(presses.len(), 1);
        let press = &presses[0];
        assert_eq!(
            (
                press.channel.as_str(),
                press.message_id.as_str(),
                press.button.as_str()
            ),
            ("C0CHANNEL", "1700000000.000100", "cancel")
        );
        assert_eq!(
            (press.user.id.as_str(), press.user.name.as_str()),
            ("UALICE01", "alice")
        );
        assert_eq!(
            press.reply_handle.as_deref(),
            Some("https://hooks.slack.com/actions/T1/1/abc")
        );
        assert_eq!(
            press.dedupe_key,
            "slack:C0CHANNEL:press:T1:1700000000.000100:UALICE01:cancel:1700000005.123456"
        );
        assert_eq!(press.created_at, ts_instant("1700000005.123456").unwrap());
        assert!(press.roles.is_empty());
    }

    #[test]
    fn presses_in_modals_and_under_ephemeral_messages_are_not_card_presses() {
        let ephemeral = read(payload(
            json!({"type": "message", "message_ts": "1700000000.000100",
            "channel_id": "C0CHANNEL", "is_ephemeral": true}),
        ));
        assert!(ephemeral.is_empty());
        let modal = read(payload(json!({"type": "view", "view_id": "V1"})));
        assert!(modal.is_empty());
    }
}
