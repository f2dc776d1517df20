//! Message components and interactions in the fake, as Discord does them:
//! - messages take `components` (legacy layout: action rows of buttons)
//!   and refuse malformed ones with 400 / 50035 "Invalid Form Body" and the
//!   field that is wrong; an edit with `components: []` removes them, one
//!   without `components` keeps them (components/reference);
//! - a person presses a button: INTERACTION_CREATE of type 3 with the
//!   card message, the thread it stands in, the presser (`member` in a
//!   guild, `user` in a DM), a new id and token
//!   (interactions/receiving-and-responding, "Interaction Object");
//! - every interaction is answered once, within 3 seconds, through
//!   `POST /interactions/{id}/{token}/callback`; late: 10062 "Unknown
//!   interaction", twice: 40060 "Interaction has already been
//!   acknowledged"; its token then serves followups for 15 minutes
//!   (receiving-and-responding, "Interaction Callback" and "Followup
//!   Messages"; topics/opcodes-and-status-codes, "JSON Error Codes");
//! - a gateway event may come twice (a resumed session replays what the
//!   client had not acknowledged: events/gateway, "Resuming"), so an
//!   interaction can be delivered again, with the same id and token.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::payloads::user;
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
    shown: HashSet<(u64, String)>,
}

/// An error as Discord words it (topics/opcodes-and-status-codes, "JSON Error Codes").
fn error(status: u16, code: u64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

/// 400 / 50035 with the wrong field under `errors`, keyed by the path to it
/// (array items by index), as reference, "Error Messages" shows.
fn invalid_form_body(path: &[String], code: &str, message: &str) -> Response {
    let mut errors = json!({ "_errors": [{ "code": code, "message": message }] });
    for key in path.iter().rev() {
        errors = json!({ key.clone(): errors });
    }
    let body = json!({ "code": 50035, "message": "Invalid Form Body", "errors": errors });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Why `components` (a message's, legacy layout) would be refused: the path
/// to the wrong field, Discord's error code and message.
fn misfit(components: &Value) -> Option<(Vec<String>, &'static str, String)> {
    let at = |keys: &[&str]| keys.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
    let Some(rows) = components.as_array() else {
        return Some((
            at(&["components"]),
            "BASE_TYPE_ARRAY",
            "Must be an array.".into(),
        ));
    };
    // components/reference, "Legacy Message Component Behavior": "up to
    // 5 action rows as top-level components".
    if rows.len() > 5 {
        return Some((
            at(&["components"]),
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 0 and 5 in length.".into(),
        ));
    }
    let mut custom_ids = HashSet::new();
    for (r, row) in rows.iter().enumerate() {
        let r = r.to_string();
        // "Action Row": type 1, up to 5 buttons.
        if row["type"] != 1 {
            return Some((
                at(&["components", &r, "type"]),
                "COMPONENT_LAYOUT_INVALID",
                "Only action rows are allowed at the top level without IS_COMPONENTS_V2.".into(),
            ));
        }
        let buttons = row["components"].as_array().cloned().unwrap_or_default();
        if !(1..=5).contains(&buttons.len()) {
            return Some((
                at(&["components", &r, "components"]),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.".into(),
            ));
        }
        for (b, button) in buttons.iter().enumerate() {
            let b = b.to_string();
            let field = |name: &str| at(&["components", &r, "components", &b, name]);
            if button["type"] != 2 {
                return Some((
                    field("type"),
                    "COMPONENT_TYPE_INVALID",
                    "This component type is not allowed here.".into(),
                ));
            }
            let custom_id = button["custom_id"].as_str();
            match button["style"].as_u64() {
                // "Button Styles": 1–4 need a `custom_id` and no `url`.
                Some(1..=4) => {
                    let Some(custom_id) = custom_id else {
                        return Some((
                            field("custom_id"),
                            "BASE_TYPE_REQUIRED",
                            "This field is required".into(),
                        ));
                    };
                    // "Custom ID": 1 to 100 characters, unique per message.
                    let length = custom_id.chars().count();
                    if !(1..=100).contains(&length) {
                        return Some((
                            field("custom_id"),
                            "BASE_TYPE_BAD_LENGTH",
                            "Must be between 1 and 100 in length.".into(),
                        ));
                    }
                    if !custom_ids.insert(custom_id.to_owned()) {
                        return Some((
                            field("custom_id"),
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated".into(),
                        ));
                    }
                    if !button["url"].is_null() {
                        return Some((
                            field("url"),
                            "BUTTON_COMPONENT_NOT_LINK_FIELD",
                            "A non-link button cannot have a url.".into(),
                        ));
                    }
                }
                // 5, link: a `url` and no `custom_id`.
                Some(5) => {
                    if button["url"].as_str().is_none() || custom_id.is_some() {
                        return Some((
                            field("url"),
                            "BUTTON_COMPONENT_LINK_REQUIRES_URL",
                            "A link button needs a url and no custom_id.".into(),
                        ));
                    }
                }
                _ => {
                    return Some((
                        field("style"),
                        "BASE_TYPE_CHOICES",
                        "Value must be one of {1, 2, 3, 4, 5, 6}.".into(),
                    ));
                }
            }
            // "label?: … max 80 characters".
            if button["label"]
                .as_str()
                .is_some_and(|l| l.chars().count() > 80)
            {
                return Some((
                    field("label"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 80 or fewer in length.".into(),
                ));
            }
        }
    }
    None
}

/// The refusal of a message body whose `components` Discord would refuse.
pub(super) fn refuse_components(body: &Value) -> Option<Response> {
    let components = body.get("components").filter(|c| !c.is_null())?;
    let (path, code, message) = misfit(components)?;
    Some(invalid_form_body(&path, code, &message))
}

/// `components` as Discord stores them: each component numbered where it
/// has no `id` ("generated sequentially if left empty": components/reference,
/// "Anatomy of a Component").
fn stored(components: &Value) -> Value {
    let mut n = 0;
    let mut number = |c: &mut Value| {
        n += 1;
        if c.get("id").is_none_or(Value::is_null) {
            c["id"] = json!(n);
        }
    };
    let mut rows = components.clone();
    for row in rows.as_array_mut().into_iter().flatten() {
        number(row);
        for button in row["components"].as_array_mut().into_iter().flatten() {
            number(button);
        }
    }
    rows
}

impl Inner {
    /// Keeps the `components` of message `id` as `body` sets them: replaced
    /// when `body` names them (`[]` removes them), kept otherwise.
    pub(super) fn keep_components(&self, id: u64, body: &Value) {
        let Some(components) = body.get("components").filter(|c| !c.is_null()) else {
            return;
        };
        let mut interactions = self.interactions.lock().expect("interactions");
        for row in components.as_array().into_iter().flatten() {
            for button in row["components"].as_array().into_iter().flatten() {
                if let Some(custom_id) = button["custom_id"].as_str() {
                    interactions.shown.insert((id, custom_id.to_owned()));
                }
            }
        }
        drop(interactions);
        if let Some(message) = self.messages.lock().expect("messages").get_mut(&id) {
            message["components"] = stored(components);
        }
    }

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

    /// The bot's messages in `channel` that ever showed a button, oldest first.
    pub fn cards_in(&self, channel: u64) -> Vec<u64> {
        let shown: HashSet<u64> = self
            .inner
            .interactions
            .lock()
            .expect("interactions")
            .shown
            .iter()
            .map(|(message, _)| *message)
            .collect();
        let messages = self.inner.messages.lock().expect("messages");
        messages
            .iter()
            .filter(|(id, m)| {
                shown.contains(id) && m["channel_id"].as_str() == Some(&channel.to_string())
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The components message `id` carries now (`[]`: none).
    pub fn components_of(&self, id: u64) -> Value {
        self.inner
            .messages
            .lock()
            .expect("messages")
            .get(&id)
            .map_or(Value::Null, |m| m["components"].clone())
    }
}

/// The `custom_id`s of `components`, row by row.
pub fn custom_ids(components: &Value) -> Vec<String> {
    components
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect()
}
