//! What the adapter hands to the core: each message to the inbox and each
//! button press to the core's presses, once per delivery however often
//! Slack sends it (a mention comes as `app_mention` and `message`, and any
//! envelope again when its ack came late), with its author's user groups as
//! roles.

use mosaic_chat::{Inbound, Press};
use tokio::sync::mpsc;

use crate::Slack;
use crate::socket::Delivery;

impl Slack {
    /// Records `key`; false when a message with it was handled before.
    pub(crate) fn first_time(&self, key: &str) -> bool {
        self.handled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key)
    }

    /// Sends `inbound` to the inbox, with its author's user groups as its
    /// roles, unless this delivery (the message as created, or one edit of
    /// it) was handed on already: Slack sends a mention as `app_mention` and
    /// as `message`, and again after a retry. Whether an edit is acted on is
    /// the dispatcher's rule, so each edit is handed on once.
    pub(crate) async fn deliver(
        &self,
        inbox: &mpsc::Sender<Inbound>,
        mut inbound: Inbound,
    ) -> bool {
        let delivery = match &inbound.edit {
            Some(mark) => format!("{}#edited:{mark}", inbound.dedupe_key),
            None => inbound.dedupe_key.clone(),
        };
        if !self.first_time(&delivery) {
            tracing::debug!(key = %inbound.dedupe_key, "a Slack message delivered again was skipped");
            return true;
        }
        inbound.roles = self.groups.of(&self.web, &inbound.user.id).await;
        inbox.send(inbound).await.is_ok()
    }

    /// Sends `press` to the core, with its presser's user groups as its
    /// roles, unless it was handed on already (a Socket Mode envelope
    /// re-sent because its ack came late carries the same press).
    pub(crate) async fn deliver_press(
        &self,
        presses: &mpsc::Sender<Press>,
        mut press: Press,
    ) -> bool {
        if !self.first_time(&press.dedupe_key) {
            tracing::debug!(key = %press.dedupe_key, "a Slack button press delivered again was skipped");
            return true;
        }
        press.roles = self.groups.of(&self.web, &press.user.id).await;
        presses.send(press).await.is_ok()
    }

    /// Hands on what one envelope or request carried: a message to the
    /// inbox, presses to the core's press channel. False once the core no
    /// longer listens.
    pub(crate) async fn hand_on(
        &self,
        inbox: &mpsc::Sender<Inbound>,
        presses: Option<&mpsc::Sender<Press>>,
        delivery: Delivery,
    ) -> bool {
        match delivery {
            Delivery::Message(inbound) => self.deliver(inbox, *inbound).await,
            Delivery::Presses(pressed) => {
                let Some(presses) = presses else {
                    for press in &pressed {
                        tracing::warn!(
                            platform = %press.platform,
                            channel = %press.channel,
                            message = %press.message_id,
                            button = %press.button,
                            "a Slack button press arrived, and nothing takes presses"
                        );
                    }
                    return true;
                };
                for press in pressed {
                    if !self.deliver_press(presses, press).await {
                        return false;
                    }
                }
                true
            }
        }
    }
}
