//! Buttons under a bot message and the presses of them, platform-neutral.
//!
//! The core decides which buttons a message carries ([`Button`], by a stable
//! id such as `cancel`); an adapter that renders buttons shows them
//! (Discord components, Slack Block Kit `actions`, Mattermost attachment
//! actions, the console's `buttons` field) through
//! [`ChatPlatform::post_with_buttons`](crate::ChatPlatform::post_with_buttons)
//! and [`ChatPlatform::edit_with_buttons`](crate::ChatPlatform::edit_with_buttons),
//! and hands every press back as a [`Press`] on the sender the core gave it
//! through [`ChatPlatform::accept_presses`](crate::ChatPlatform::accept_presses).
//! What a press does,
//! who may, and whether it still applies, is the core's business: an adapter
//! only verifies that the press really came from its platform.

use std::time::SystemTime;

use crate::{Inbound, Platform, UserRef};

/// How a button looks, where the platform has looks (Discord and Slack
/// styles, Mattermost's `style`); the console ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ButtonStyle {
    /// The platform's plain button.
    #[default]
    Default,
    /// The action the message suggests (Retry).
    Primary,
    /// An action that stops something (Cancel).
    Danger,
}

/// A button under a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Button {
    /// Stable and short (`cancel`, `retry`, `verbose`, `quiet`): what a
    /// press names, as Discord's `custom_id`, Slack's `action_id`, the
    /// console's `press`. Never shown.
    pub id: String,
    /// What the button says (`Cancel`); plain text, no markup.
    pub label: String,
    pub style: ButtonStyle,
}

impl Button {
    pub fn new(id: impl Into<String>, label: impl Into<String>, style: ButtonStyle) -> Button {
        Button {
            id: id.into(),
            label: label.into(),
            style,
        }
    }
}

/// A person pressed a button under one of the bot's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Press {
    pub platform: Platform,
    pub channel: String,
    /// The platform's id of the message the button is under.
    pub message_id: String,
    /// The id of the button pressed ([`Button::id`]), as the platform
    /// returned it: untrusted, the core checks it against what the message
    /// carries.
    pub button: String,
    /// Who pressed.
    pub user: UserRef,
    /// The presser's roles, as in [`Inbound::roles`].
    pub roles: Vec<String>,
    /// What the adapter needs to answer the presser privately (Discord's
    /// interaction token, Slack's `response_url`); opaque to the core.
    pub reply_handle: Option<String>,
    /// Unique to this press (Discord's interaction id, Slack's
    /// `trigger_id`, the console's press id), the same on a re-delivery, so
    /// that a press delivered twice acts once.
    pub dedupe_key: String,
    /// When the platform says the press happened; as for
    /// [`Inbound::created_at`], never when the bot received it.
    pub created_at: SystemTime,
}

impl Press {
    /// The press as the command `text` typed by the presser in `thread`
    /// (the thread the message is in; `None`: the message's own): what the
    /// core's dispatcher runs, so a press gets the permissions and the
    /// replies of the typed command.
    pub fn as_command(&self, thread: Option<&str>, text: &str) -> Inbound {
        Inbound {
            platform: self.platform,
            channel: self.channel.clone(),
            message_id: self.message_id.clone(),
            thread: thread.map(str::to_owned),
            user: self.user.clone(),
            roles: self.roles.clone(),
            text: text.to_owned(),
            slash: false,
            reply_handle: self.reply_handle.clone(),
            dedupe_key: self.dedupe_key.clone(),
            created_at: self.created_at,
            edit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_press_reads_as_its_command_typed_in_the_cards_thread() {
        let press = Press {
            platform: Platform::new("console"),
            channel: "c1".into(),
            message_id: "b1".into(),
            button: "cancel".into(),
            user: UserRef {
                id: "u1".into(),
                name: "alice".into(),
            },
            roles: vec!["ops".into()],
            reply_handle: Some("token".into()),
            dedupe_key: "console:c1:press:p1".into(),
            created_at: SystemTime::UNIX_EPOCH,
        };
        let typed = press.as_command(Some("m1"), "@mosaic cancel");
        assert_eq!(typed.reply_thread().to_string(), "console:c1/m1");
        assert_eq!(typed.text, "@mosaic cancel");
        assert_eq!(
            (typed.user, typed.roles),
            (press.user.clone(), press.roles.clone())
        );
        assert_eq!(typed.reply_handle.as_deref(), Some("token"));
        assert_eq!(typed.dedupe_key, press.dedupe_key);
        assert!(!typed.slash && typed.edit.is_none());
        // Under a message the store does not know, the answer goes to the message's thread.
        let unknown = press.as_command(None, "");
        assert_eq!(unknown.reply_thread().thread, "b1");
    }
}
