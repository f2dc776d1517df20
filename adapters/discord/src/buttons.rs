//! Buttons on Discord: the core's [`Button`]s as message components (one
//! action row of buttons, `custom_id` the button's id), and presses of them
//! (component interactions, type 3) as [`Press`]es for the core.
//!
//! A press is answered at once with a deferred update (callback type 6,
//! DEFERRED_UPDATE_MESSAGE: no visible reply, no loading state; the core
//! then edits the card), since Discord wants an answer within 3 seconds
//! (interactions/receiving-and-responding, "Interaction Callback"). Its
//! `channel` and `message_id` are those the card was posted with: the
//! job's channel (a thread's parent) and the card's id, so that the core
//! finds the card's job. The presser is answered privately by ephemeral
//! followups through the interaction's token ([`press_handle`]).

use mosaic_chat::{Button, ButtonStyle, ChatError, ChatPlatform, Press, ThreadRef, UserRef};
use serde_json::Value;
use serenity::all::{
    ButtonStyle as Style, ComponentInteraction, ComponentInteractionDataKind, CreateActionRow,
    CreateButton, CreateInteractionResponse, InteractionId,
};
use serenity::http::{LightMethod, Route};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::gateway::{role_ids, thread_parent};
use crate::interactions::press_handle;
use crate::rest::{Extras, Rest};
use crate::{Discord, PLATFORM, lock, snowflake};

/// The most buttons in one action row (components/reference, "Action Row").
const PER_ROW: usize = 5;

/// Discord's code for "Interaction has already been acknowledged": the
/// same interaction delivered again (topics/opcodes-and-status-codes).
const ALREADY_ANSWERED: &str = "40060";

/// A button's look: Primary → primary (1), Danger → danger (4), Default →
/// secondary (2) (components/reference, "Button Styles").
fn style(style: ButtonStyle) -> Style {
    match style {
        ButtonStyle::Primary => Style::Primary,
        ButtonStyle::Danger => Style::Danger,
        ButtonStyle::Default => Style::Secondary,
    }
}

/// The `components` of a message carrying `buttons`: one action row of up
/// to five (more would take further rows); `[]` for none, which removes
/// those a message had.
pub(crate) fn components(buttons: &[Button]) -> Result<Value, ChatError> {
    let rows: Vec<CreateActionRow> = buttons
        .chunks(PER_ROW)
        .map(|row| {
            CreateActionRow::Buttons(
                row.iter()
                    .map(|b| {
                        CreateButton::new(b.id.as_str())
                            .label(b.label.as_str())
                            .style(style(b.style))
                    })
                    .collect(),
            )
        })
        .collect();
    serde_json::to_value(rows).map_err(|e| ChatError::Rejected {
        code: "components".to_owned(),
        message: format!("discord: buttons that cannot be written: {e}"),
    })
}

impl Rest {
    /// Answers a component interaction with a deferred update (type 6).
    pub async fn defer_update(&self, interaction: u64, token: &str) -> Result<(), ChatError> {
        let route = Route::InteractionResponse {
            interaction_id: InteractionId::new(interaction),
            token,
        };
        let body = serde_json::to_value(CreateInteractionResponse::Acknowledge).map_err(|e| {
            ChatError::Rejected {
                code: "callback".to_owned(),
                message: format!("discord: an answer that cannot be written: {e}"),
            }
        })?;
        self.call(route, LightMethod::Post, Some(&body), "interaction")
            .await
            .map(drop)
    }
}

impl Discord {
    /// Posts `text` in `thread` with `buttons` (none: a plain post).
    pub(crate) async fn post_buttons(
        &self,
        thread: &ThreadRef,
        text: &str,
        buttons: &[Button],
    ) -> Result<String, ChatError> {
        if buttons.is_empty() {
            return self.post(thread, text).await;
        }
        self.check_length(text)?;
        let components = components(buttons)?;
        let target = self.target(thread, text).await?;
        let extras = Extras {
            components: Some(&components),
            ..Extras::default()
        };
        self.send_with(&target, text, extras).await
    }

    /// Replaces the text and the buttons of message `message_id` of `thread`.
    pub(crate) async fn edit_buttons(
        &self,
        thread: &ThreadRef,
        message_id: &str,
        text: &str,
        buttons: &[Button],
    ) -> Result<(), ChatError> {
        let components = components(buttons)?;
        self.edit_in(thread, message_id, text, Some(&components))
            .await
    }

    /// A person pressed a button under one of the bot's messages: answered
    /// at once, then handed to the core on `presses` (none: nothing takes
    /// presses, and the press is only answered).
    pub(crate) async fn pressed(
        &self,
        interaction: ComponentInteraction,
        presses: Option<&mpsc::Sender<Press>>,
    ) {
        let span = tracing::info_span!(
            "press",
            platform = %PLATFORM,
            channel = interaction.channel_id.get(),
            message = interaction.message.id.get(),
            button = %interaction.data.custom_id,
        );
        self.answer_and_hand_on(interaction, presses)
            .instrument(span)
            .await;
    }

    async fn answer_and_hand_on(
        &self,
        interaction: ComponentInteraction,
        presses: Option<&mpsc::Sender<Press>>,
    ) {
        let id = interaction.id.get();
        if !matches!(interaction.data.kind, ComponentInteractionDataKind::Button)
            || interaction.user.bot
        {
            return;
        }
        match self.rest.defer_update(id, &interaction.token).await {
            Ok(()) => {}
            // Delivered again (a resumed session replays it): the core's
            // dedupe acts on it once.
            Err(ChatError::Rejected { code, .. }) if code == ALREADY_ANSWERED => {
                tracing::debug!(interaction = id, "a press delivered again");
            }
            // Too late (10062) or unreachable: Discord showed the person
            // "This interaction failed", so nothing is done for it either.
            Err(e) => {
                tracing::warn!(interaction = id, error = %e, "discord: cannot answer a button press; it is dropped");
                return;
            }
        }
        let Some(presses) = presses else {
            tracing::warn!("discord: a button was pressed, and nothing takes presses");
            return;
        };
        let press = self.press_of(&interaction).await;
        if presses.send(press).await.is_err() {
            tracing::debug!("discord: a press after the core stopped listening");
        }
    }

    /// The press `interaction` stands for, placed where its card was posted.
    async fn press_of(&self, interaction: &ComponentInteraction) -> Press {
        let here = interaction.channel_id.get();
        // The card stands in its job's thread (or, when no thread could be
        // made, in the channel): the job's channel is the thread's parent.
        let channel = match interaction.channel.as_ref() {
            Some(partial) => match thread_parent(partial) {
                Some(parent) => {
                    self.learn_thread(here, parent).await;
                    parent
                }
                None => here,
            },
            None => self.parent_of(here).await.unwrap_or(here),
        };
        if let Some(guild) = interaction.guild_id {
            lock(&self.places).learn_guild(guild.get(), [here, channel]);
        }
        let id = interaction.id.get();
        let user = &interaction.user;
        Press {
            platform: PLATFORM,
            channel: channel.to_string(),
            message_id: interaction.message.id.get().to_string(),
            button: interaction.data.custom_id.clone(),
            user: UserRef {
                id: user.id.get().to_string(),
                name: user
                    .global_name
                    .clone()
                    .unwrap_or_else(|| user.name.clone()),
            },
            // Present only in a guild, as for messages.
            roles: interaction
                .member
                .as_ref()
                .map_or_else(Vec::new, |m| role_ids(&m.roles)),
            reply_handle: Some(press_handle(
                interaction.application_id.get(),
                &interaction.token,
            )),
            // The interaction's id: the same on a re-delivery.
            dedupe_key: format!("discord:{id}"),
            // Pressed when the interaction was made.
            created_at: snowflake::created_at(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn buttons_are_one_action_row_with_their_ids_and_styles() {
        let buttons = [
            Button::new("cancel", "Cancel", ButtonStyle::Danger),
            Button::new("retry", "Retry", ButtonStyle::Primary),
            Button::new("quiet", "Quiet", ButtonStyle::Default),
        ];
        let written = components(&buttons).ok();
        let button = |id: &str, label: &str, style: u8| json!({ "type": 2, "style": style, "custom_id": id, "label": label, "disabled": false });
        assert_eq!(
            written,
            Some(json!([{ "type": 1, "components": [
                button("cancel", "Cancel", 4),
                button("retry", "Retry", 1),
                button("quiet", "Quiet", 2),
            ] }]))
        );
        assert_eq!(components(&[]).ok(), Some(json!([])));
    }
}
