//! Interactions in the fake, as Discord sends and takes them:
//! - a person presses a button: INTERACTION_CREATE of type 3 with the
//!   card message, the thread it stands in, the presser (`member` in a
//!   guild, `user` in a DM), a new id and token
//!   (interactions/receiving-and-responding, "Interaction Object";
//!   components/reference, "Button Interaction");
//! - every interaction is answered once, within 3 seconds, through
//!   `POST /interactions/{id}/{token}/callback`; late: 10062 "Unknown
//!   interaction", twice: 40060 "Interaction has already been
//!   acknowledged"; its token then serves followups for 15 minutes, and
//!   after a deferred update its `@original` is the message pressed
//!   (receiving-and-responding, "Interaction Callback", "Interaction
//!   Callback Type" and "Followup Messages"; topics/opcodes-and-status-codes,
//!   "JSON Error Codes");
//! - a gateway event may come twice (a resumed session replays what the
//!   client had not acknowledged: events/gateway, "Resuming"), so an
//!   interaction can be delivered again, with the same id and token.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::components::invalid_form_body;
use super::payloads::user;
use super::rest::error;
use super::{APP_ID, FakeDiscord, GUILD_ID, Inner, perm};

/// "You must send an initial response within 3 seconds of receiving the
/// event. If the 3 second deadline is exceeded, the token will be
/// invalidated." (receiving-and-responding, "Interaction Callback").
pub const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// "Interaction tokens are valid for 15 minutes" (receiving-and-responding,
/// "Followup Messages").
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// An interaction the fake dispatched, and how it was answered.
struct Issued {
    token: String,
    /// A message component's (type 3): only those take callback types 6 and 7.
    component: bool,
    dispatched: Instant,
    /// The callback's type and how long after the dispatch it came.
    answered: Option<(u64, Duration)>,
    /// The INTERACTION_CREATE payload, for a re-delivery.
    payload: Value,
}

/// Every interaction dispatched, by id; and every button ever shown, by message.
#[derive(Default)]
pub(super) struct Interactions {
    issued: HashMap<u64, Issued>,
    pub(super) shown: HashSet<(u64, String)>,
}

impl Inner {
    /// Records interaction `id` as dispatched now, with `payload`.
    pub(super) fn issue(&self, id: u64, payload: &Value) {
        let issued = Issued {
            token: payload["token"].as_str().unwrap_or("").to_owned(),
            component: payload["type"] == 3,
            dispatched: Instant::now(),
            answered: None,
            payload: payload.clone(),
        };
        self.interactions
            .lock()
            .expect("interactions")
            .issued
            .insert(id, issued);
    }

    /// `POST /interactions/{id}/{token}/callback` (receiving-and-responding,
    /// "Create Interaction Response"): 204 the first time within 3 s.
    pub(super) fn callback(&self, id: &str, token: &str, body: &Value) -> Response {
        let mut interactions = self.interactions.lock().expect("interactions");
        let Some(issued) = id
            .parse::<u64>()
            .ok()
            .and_then(|id| interactions.issued.get_mut(&id))
            .filter(|i| i.token == token)
        else {
            return error(404, 10062, "Unknown interaction");
        };
        if issued.answered.is_some() {
            return error(400, 40060, "Interaction has already been acknowledged.");
        }
        let after = issued.dispatched.elapsed();
        if after > ANSWER_WITHIN {
            // The person saw "This interaction failed"; the token is void.
            return error(404, 10062, "Unknown interaction");
        }
        let kind = body["type"].as_u64().unwrap_or(0);
        // "Interaction Callback Type": 6 and 7 "Only valid for
        // component-based interactions".
        let valid = match kind {
            4 | 5 => true,
            6 | 7 => issued.component,
            _ => false,
        };
        if !valid {
            return invalid_form_body(
                &["type".to_owned()],
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "Interaction response type is not valid for this interaction.",
            );
        }
        issued.answered = Some((kind, after));
        StatusCode::NO_CONTENT.into_response()
    }

    /// Whether `token` may be used on `/webhooks/{application}/{token}…`:
    /// an interaction's, answered in time, within its 15 minutes. Otherwise
    /// 404 / 10015 "Unknown Webhook".
    pub(super) fn refuse_webhook(&self, application: &str, token: &str) -> Option<Response> {
        let interactions = self.interactions.lock().expect("interactions");
        let alive = application == APP_ID.to_string()
            && interactions.issued.values().any(|i| {
                i.token == token && i.answered.is_some() && i.dispatched.elapsed() <= TOKEN_LIFETIME
            });
        (!alive).then(|| error(404, 10015, "Unknown Webhook"))
    }
    /// The message a component interaction answered with a deferred or
    /// immediate update (6, 7) stands for: its "original response" is the
    /// message the button is under (receiving-and-responding, "Interaction
    /// Callback Type": "edit the original message later").
    pub(super) fn updated_message(&self, token: &str) -> Option<u64> {
        let interactions = self.interactions.lock().expect("interactions");
        let issued = interactions
            .issued
            .values()
            .find(|i| i.token == token && matches!(i.answered, Some((6 | 7, _))))?;
        issued.payload["message"]["id"].as_str()?.parse().ok()
    }
}

impl FakeDiscord {
    /// `user` presses button `custom_id` under the bot's message `message`:
    /// INTERACTION_CREATE type 3 (MESSAGE_COMPONENT) with the message as
    /// Discord keeps it, `channel_id` where it stands (a thread: the partial
    /// channel names its parent), and `member` with `roles` in the guild, or
    /// `user` alone in a DM (`roles` `None`). A button shown once may be
    /// pressed after an edit removed it: the presser's client had not
    /// redrawn yet. Returns the interaction id.
    pub fn press(&self, message: u64, custom_id: &str, presser: u64, roles: Option<&[u64]>) -> u64 {
        let id = self.id();
        let stored = self
            .inner
            .messages
            .lock()
            .expect("messages")
            .get(&message)
            .cloned()
            .expect("a message to press a button under");
        let shown = self
            .inner
            .interactions
            .lock()
            .expect("interactions")
            .shown
            .contains(&(message, custom_id.to_owned()));
        assert!(
            shown,
            "message {message} never showed a `{custom_id}` button"
        );
        let channel: u64 = stored["channel_id"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .expect("a message's channel");
        let parent = self
            .inner
            .threads
            .lock()
            .expect("threads")
            .get(&channel)
            .copied();
        let mut payload = json!({
            "id": id.to_string(), "application_id": APP_ID.to_string(), "type": 3,
            "data": { "custom_id": custom_id, "component_type": 2 },
            "channel_id": channel.to_string(), "message": stored,
            "token": format!("btn{id}"), "version": 1, "locale": "en-US",
            "entitlements": [], "attachment_size_limit": 10485760,
            "app_permissions": perm::INVITED.to_string(),
        });
        match roles {
            Some(roles) => {
                payload["guild_id"] = json!(GUILD_ID.to_string());
                payload["guild_locale"] = json!("en-US");
                payload["channel"] = match parent {
                    Some(parent) => {
                        json!({ "id": channel.to_string(), "type": 11, "parent_id": parent.to_string() })
                    }
                    None => json!({ "id": channel.to_string(), "type": 0 }),
                };
                let roles: Vec<String> = roles.iter().map(u64::to_string).collect();
                payload["member"] = json!({
                    "user": user(presser, false), "roles": roles,
                    "joined_at": "2026-01-01T00:00:00.000000+00:00",
                    "deaf": false, "mute": false, "flags": 0, "permissions": "0" });
            }
            None => {
                payload["channel"] = json!({ "id": channel.to_string(), "type": 1 });
                payload["user"] = user(presser, false);
            }
        }
        self.inner.issue(id, &payload);
        self.dispatch("INTERACTION_CREATE", payload);
        id
    }

    /// Interaction `id` delivered once more, the same payload (id, token)
    /// as before, as a resumed session may replay it.
    pub fn redeliver(&self, id: u64) {
        let payload = self
            .inner
            .interactions
            .lock()
            .expect("interactions")
            .issued
            .get(&id)
            .map(|i| i.payload.clone())
            .expect("an interaction dispatched before");
        self.dispatch("INTERACTION_CREATE", payload);
    }

    /// How interaction `id` was answered: the callback's type and how long
    /// after the dispatch it came; `None` while it is not.
    pub fn answered(&self, id: u64) -> Option<(u64, Duration)> {
        self.inner
            .interactions
            .lock()
            .expect("interactions")
            .issued
            .get(&id)
            .and_then(|i| i.answered)
    }
}
