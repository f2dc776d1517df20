//! Message `metadata` as Slack takes it on `chat.postMessage` and `chat.update`.
//!
//! - It is "JSON object with event_type and event_payload fields, presented as a
//!   URL-encoded string" (a JSON body may give the object itself):
//!   <https://docs.slack.dev/reference/methods/chat.postMessage>, `metadata`. What is not a
//!   JSON object is refused with `invalid_metadata_format`; an object without a string
//!   `event_type` or an object `event_payload` with `invalid_metadata_schema` (both in the
//!   method's errors).
//! - "Event types can contain letters, numbers, underscores, and hyphens, but not periods
//!   or other punctuation. Metadata with an invalid `event_type` returns an
//!   `invalid_metadata_schema` warning and is ignored"
//!   (<https://docs.slack.dev/messaging/message-metadata>, Defining metadata): the message
//!   is posted, without it, and the answer carries the warning.
//! - `chat.update`: "If you don't include this field, the message's previous `metadata`
//!   will be retained. To remove previous `metadata`, include an empty object"
//!   (<https://docs.slack.dev/reference/methods/chat.update>, `metadata`).
//! - `metadata_too_large` ("Metadata exceeds size limit") is listed, but no size is
//!   published: the fake enforces none rather than invent one.

use serde_json::{Value, json};

/// What Slack makes of a write's `metadata`.
#[derive(Debug, PartialEq)]
pub enum Given {
    /// No `metadata` argument.
    Absent,
    /// An empty object: on `chat.update`, removes the message's metadata.
    Empty,
    /// Kept with the message.
    Keep(Value),
    /// Not kept; the write succeeds with this warning.
    Ignored(&'static str),
}

fn valid_event_type(event_type: &str) -> bool {
    !event_type.is_empty()
        && event_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The write's `metadata` as Slack takes it, or the `ok:false` code it refuses it with.
pub fn given(body: &Value) -> Result<Given, &'static str> {
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => return Ok(Given::Absent),
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|_| "invalid_metadata_format")?
        }
        Some(other) => other.clone(),
    };
    let Some(object) = metadata.as_object() else {
        return Err("invalid_metadata_format");
    };
    if object.is_empty() {
        return Ok(Given::Empty);
    }
    let Some(event_type) = object.get("event_type").and_then(Value::as_str) else {
        return Err("invalid_metadata_schema");
    };
    if !object.get("event_payload").is_some_and(Value::is_object) {
        return Err("invalid_metadata_schema");
    }
    if !valid_event_type(event_type) {
        return Ok(Given::Ignored("invalid_metadata_schema"));
    }
    Ok(Given::Keep(metadata))
}

/// The warning of an `ok: true` answer whose metadata was ignored, in both places Slack puts
/// one (<https://docs.slack.dev/apis/web-api/#responses>: `warning`, and
/// `response_metadata.warnings`).
pub fn warn(answer: &mut Value, metadata: &Given) {
    if let Given::Ignored(warning) = metadata {
        answer["warning"] = json!(warning);
        answer["response_metadata"] = json!({"warnings": [warning]});
    }
}
