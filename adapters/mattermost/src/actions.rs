//! The card's buttons as Mattermost interactive message actions
//! (`props.attachments[0].actions[]`, developers.mattermost.com
//! "Interactive messages"), and the token each carries in its
//! `integration.context`.
//!
//! Mattermost does not sign the request it POSTs when a button is clicked:
//! anyone who can reach the bot's action URL could send one, naming any
//! user and any post. What proves a request came through Mattermost is the
//! context, which the server keeps to itself (model/post.go
//! `StripActionIntegrations` removes it from every post a client or the
//! bot reads): each action carries a token, HMAC-SHA256 under a secret only
//! the bot holds, over the action and the card it stands under.
//!
//! **What the token binds.** A post's id is not known before the post is
//! created, and the card is posted with its buttons in one request. The
//! token therefore binds the channel, the card's thread (its root post,
//! known before posting: the card is posted into it) and the action. The
//! press route then checks the clicked post itself (`GET /posts/{id}`): the
//! bot's own, in that channel and that thread. So a token works only for the
//! cards of its thread (the cards of one issue's jobs, retries included) and
//! only for its action; posting then patching each card to bind its id would
//! cost a second write per card for no more safety.
//!
//! **The secret**: `mattermost.actions_secret` when configured, else 32
//! random bytes generated once and kept in the core's memory, so that the
//! buttons of cards posted before a restart still work after it.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use mosaic_chat::{Button, ButtonStyle, Memory, Secret};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::PLATFORM;

/// Where the generated secret is kept in the memory (hex).
const SECRET_KEY: &str = "actions_secret";

/// The secret's length when generated: SHA-256's block is 64 bytes, its
/// output 32; 32 random bytes are as strong as the MAC.
const SECRET_BYTES: usize = 32;

/// The key the action tokens are made and checked with.
#[derive(Clone)]
pub(crate) struct ActionKey(Arc<Secret>);

impl std::fmt::Debug for ActionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActionKey(***)")
    }
}

/// What an action's context holds, as the click's request returns it.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ActionContext {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub root: String,
    #[serde(default)]
    pub token: String,
}

impl ActionKey {
    pub(crate) fn new(secret: Secret) -> ActionKey {
        ActionKey(Arc::new(secret))
    }

    /// The keyed MAC over one card's action, each part length-prefixed so
    /// that no two different triples read alike.
    fn mac(&self, channel: &str, root: &str, action: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"mosaic-mattermost-action-v1");
        for part in [channel, root, action] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The token of `action` on the cards of thread `root` in `channel` (hex).
    pub(crate) fn token(&self, channel: &str, root: &str, action: &str) -> String {
        hex::encode(self.mac(channel, root, action).finalize().into_bytes())
    }

    /// Whether `context` carries the token this key made for its own
    /// channel, thread and action; compared in constant time.
    pub(crate) fn verify(&self, context: &ActionContext) -> bool {
        let Ok(given) = hex::decode(&context.token) else {
            return false;
        };
        self.mac(&context.channel, &context.root, &context.action)
            .verify_slice(&given)
            .is_ok()
    }
}

/// The key: the configured secret, else the one kept in `memory`, else a
/// new one, kept there. A memory that fails leaves a key for this process
/// alone (logged: earlier cards' buttons stop working, later ones work).
pub(crate) async fn load_key(configured: Option<&Secret>, memory: &dyn Memory) -> ActionKey {
    if let Some(secret) = configured.filter(|s| !s.is_empty()) {
        return ActionKey::new(secret.clone());
    }
    match memory.recall(PLATFORM, SECRET_KEY).await {
        Ok(Some(kept)) if !kept.is_empty() => return ActionKey::new(Secret::new(kept)),
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot read the kept secret of the card buttons; a new one is used, so buttons of cards posted before this start will be refused");
        }
    }
    let mut bytes = [0u8; SECRET_BYTES];
    if let Err(e) = getrandom::fill(&mut bytes) {
        // Without randomness no secret can be made that others cannot guess.
        panic!("the system gave no random bytes for the card buttons' secret: {e}");
    }
    let fresh = hex::encode(bytes);
    if let Err(e) = memory.remember(PLATFORM, SECRET_KEY, &fresh).await {
        tracing::error!(error = %e, "cannot keep the secret of the card buttons; after a restart the buttons of earlier cards will be refused (set mattermost.actions_secret)");
        return ActionKey::new(Secret::new(fresh));
    }
    // Read back what was kept: of two processes starting at once, both
    // then use the one written last (set mattermost.actions_secret when
    // running several).
    match memory.recall(PLATFORM, SECRET_KEY).await {
        Ok(Some(kept)) if !kept.is_empty() => ActionKey::new(Secret::new(kept)),
        _ => ActionKey::new(Secret::new(fresh)),
    }
}

/// Mattermost's name of a button style (model/integration_action.go: one
/// of default, primary, success, good, warning, danger).
fn style(style: ButtonStyle) -> &'static str {
    match style {
        ButtonStyle::Default => "default",
        ButtonStyle::Primary => "primary",
        ButtonStyle::Danger => "danger",
    }
}

/// The post's `props` carrying `buttons` under the card in thread `root` of
/// `channel`: one attachment holding the actions (no text of its own: the
/// card's text is the post's message). No buttons: no attachment, so an
/// edit with these props removes the ones shown.
pub(crate) fn props(
    url: &str,
    key: &ActionKey,
    channel: &str,
    root: &str,
    buttons: &[Button],
) -> Value {
    let actions: Vec<Value> = buttons
        .iter()
        // The click route takes alphanumeric action ids only
        // (api4/post.go `{action_id:[A-Za-z0-9]+}`); the core's are.
        .filter(|b| !b.id.is_empty() && b.id.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|b| {
            json!({
                "id": b.id,
                "type": "button",
                "name": b.label,
                "style": style(b.style),
                "integration": {
                    "url": url,
                    "context": {
                        "action": b.id,
                        "channel": channel,
                        "root": root,
                        "token": key.token(channel, root, &b.id),
                    },
                },
            })
        })
        .collect();
    if actions.is_empty() {
        return json!({});
    }
    json!({ "attachments": [{ "actions": actions }] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_chat::InMemory;

    fn context(key: &ActionKey, channel: &str, root: &str, action: &str) -> ActionContext {
        ActionContext {
            action: action.into(),
            channel: channel.into(),
            root: root.into(),
            token: key.token(channel, root, action),
        }
    }

    #[test]
    fn a_token_holds_for_its_own_channel_thread_and_action_only() {
        let key = ActionKey::new(Secret::new("k1"));
        let good = context(&key, "c1", "r1", "cancel");
        assert!(key.verify(&good));
        for forged in [
            ActionContext {
                action: "retry".into(),
                ..good.clone()
            },
            ActionContext {
                root: "r2".into(),
                ..good.clone()
            },
            ActionContext {
                channel: "c2".into(),
                ..good.clone()
            },
            ActionContext {
                token: String::new(),
                ..good.clone()
            },
            ActionContext {
                token: "zz".into(),
                ..good.clone()
            },
            context(&ActionKey::new(Secret::new("k2")), "c1", "r1", "cancel"),
        ] {
            assert!(!key.verify(&forged), "{forged:?}");
        }
        // Parts cannot be shifted between fields.
        assert_ne!(key.token("c1", "r1x", "y"), key.token("c1", "r1", "xy"));
    }

    #[test]
    fn buttons_become_actions_with_styles_and_none_remove_the_attachment() {
        let key = ActionKey::new(Secret::new("k"));
        let buttons = [
            Button::new("cancel", "Cancel", ButtonStyle::Danger),
            Button::new("retry", "Retry", ButtonStyle::Primary),
            Button::new("quiet", "Quiet", ButtonStyle::Default),
        ];
        let props = props("https://bot/mattermost/action", &key, "c1", "r1", &buttons);
        let actions = props["attachments"][0]["actions"].as_array().unwrap();
        let styles: Vec<&str> = actions
            .iter()
            .map(|a| a["style"].as_str().unwrap())
            .collect();
        assert_eq!(styles, ["danger", "primary", "default"]);
        assert_eq!(actions[0]["name"], "Cancel");
        assert_eq!(actions[0]["type"], "button");
        let ctx: ActionContext =
            serde_json::from_value(actions[1]["integration"]["context"].clone()).unwrap();
        assert_eq!(ctx.action, "retry");
        assert!(key.verify(&ctx));
        assert_eq!(super::props("u", &key, "c1", "r1", &[]), json!({}));
    }

    #[tokio::test]
    async fn a_generated_secret_is_kept_and_a_configured_one_wins() {
        let memory = InMemory::default();
        let first = load_key(None, &memory).await;
        let again = load_key(None, &memory).await;
        assert_eq!(first.token("c", "r", "a"), again.token("c", "r", "a"));
        let kept = memory.recall(PLATFORM, SECRET_KEY).await.unwrap().unwrap();
        assert_eq!(kept.len(), SECRET_BYTES * 2);
        let configured = Secret::new("configured");
        let chosen = load_key(Some(&configured), &memory).await;
        assert_eq!(
            chosen.token("c", "r", "a"),
            ActionKey::new(configured).token("c", "r", "a")
        );
        assert_ne!(chosen.token("c", "r", "a"), first.token("c", "r", "a"));
    }
}
