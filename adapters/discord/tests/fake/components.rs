//! Message components in the fake, as Discord keeps them: messages take
//! `components` (legacy layout: up to 5 action rows of up to 5 buttons) and
//! malformed ones are refused with 400 / 50035 "Invalid Form Body" naming
//! the wrong field; an edit with `components: []` removes them, one without
//! `components` keeps them (components/reference, "Action Row", "Button",
//! "Legacy Message Component Behavior"; reference, "Error Messages").

use std::collections::HashSet;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::rest::error;
use super::{FakeDiscord, Inner};

/// 400 / 50035 with the wrong field under `errors`, keyed by the path to it
/// (array items by index), as reference, "Error Messages" shows.
pub(super) fn invalid_form_body(path: &[String], code: &str, message: &str) -> Response {
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

    /// `PATCH …/messages/@original` of such an interaction: the message
    /// itself is edited, for everyone to see.
    pub(super) fn edit_original(&self, message: u64, body: &Value) -> Response {
        if let Some(refused) = refuse_components(body) {
            return refused;
        }
        let mut messages = self.messages.lock().expect("messages");
        let Some(stored) = messages.get_mut(&message) else {
            return error(404, 10008, "Unknown Message");
        };
        if let Some(content) = body["content"].as_str() {
            stored["content"] = json!(content);
        }
        let edited = stored.clone();
        drop(messages);
        self.keep_components(message, body);
        axum::Json(edited).into_response()
    }
}

impl FakeDiscord {
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
