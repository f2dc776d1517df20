//! One line of the console's input, read as a chat message: a JSON object
//! (`{"id":"m1","channel":"c1","thread":"m1","user":"alice","text":"…"}`) or,
//! when the line is not a JSON object, the line itself as the text. Pure: no
//! I/O and no ids minted here (see `ids.rs`).
//!
//! Two optional fields let a script replay what platforms deliver: `ts`,
//! when the message was written (unix seconds, as Slack's `ts`), and `edit`,
//! which makes the line an edit of message `id` (a mark unique to the edit).

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

/// The channel and user of a message that does not name them.
pub const DEFAULT_NAME: &str = "console";

/// A message as the input line gave it, before the console numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    /// The id the line gave, if any.
    pub id: Option<String>,
    pub channel: String,
    pub thread: Option<String>,
    pub user: String,
    /// The author's roles (`"roles":["admins"]`), for trying permissions.
    pub roles: Vec<String>,
    pub text: String,
    /// When the line says the message was written (`"ts"`); `None`: as it is read.
    pub written: Option<SystemTime>,
    /// The edit's mark (`"edit"`) when the line is an edit of message `id`.
    pub edit: Option<String>,
}

/// Why an input line was skipped. Each names what to fix in the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InputError {
    #[error("the JSON object has no `text` field")]
    MissingText,
    #[error("field `{field}` must be a string, not {found}")]
    NotAString {
        field: &'static str,
        found: &'static str,
    },
    #[error("field `roles` must be an array of strings, like [\"admins\"]")]
    Roles,
    #[error("field `{field}` must not be empty")]
    Empty { field: &'static str },
    #[error("id `{0}` was already given by the console to an earlier message; choose another id")]
    IdTaken(String),
    #[error("field `ts` must be unix seconds (a number such as 1764160000.5), not {found}")]
    Ts { found: String },
    #[error("an `edit` names the message it changes: give its `id` too")]
    EditWithoutId,
}

const FIELDS: [&str; 8] = [
    "id", "channel", "thread", "user", "roles", "text", "ts", "edit",
];

/// Reads one line (its line break already removed). `Ok(None)` for a blank
/// line, which is no message at all.
pub(crate) fn parse_line(line: &str) -> Result<Option<Incoming>, InputError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    // Only a JSON *object* is structured input; `"hi"`, `42` or a broken
    // object are text a person typed, and are passed on as written.
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => from_object(&object).map(Some),
        _ => Ok(Some(Incoming {
            id: None,
            channel: DEFAULT_NAME.to_owned(),
            thread: None,
            user: DEFAULT_NAME.to_owned(),
            roles: Vec::new(),
            text: line.to_owned(),
            written: None,
            edit: None,
        })),
    }
}

fn from_object(object: &Map<String, Value>) -> Result<Incoming, InputError> {
    let text = string_field(object, "text")?.ok_or(InputError::MissingText)?;
    let incoming = Incoming {
        id: name_field(object, "id")?,
        channel: name_field(object, "channel")?.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
        thread: name_field(object, "thread")?,
        user: name_field(object, "user")?.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
        roles: roles_field(object)?,
        text,
        written: ts_field(object)?,
        edit: name_field(object, "edit")?,
    };
    if incoming.edit.is_some() && incoming.id.is_none() {
        return Err(InputError::EditWithoutId);
    }
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            // Not an error (a script may carry its own fields), but a typo
            // such as `chanel` would silently post elsewhere: say so.
            tracing::warn!("console input: unknown field `{key}` ignored");
        }
    }
    Ok(incoming)
}

/// `roles`: absent, or an array of role names.
fn roles_field(object: &Map<String, Value>) -> Result<Vec<String>, InputError> {
    match object.get("roles") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or(InputError::Roles))
            .collect(),
        Some(_) => Err(InputError::Roles),
    }
}

/// `ts`: absent, or unix seconds, whole or with a fraction.
fn ts_field(object: &Map<String, Value>) -> Result<Option<SystemTime>, InputError> {
    let Some(value) = object.get("ts") else {
        return Ok(None);
    };
    value
        .as_f64()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .map(|since| Some(SystemTime::UNIX_EPOCH + since))
        .ok_or_else(|| InputError::Ts {
            found: value.to_string(),
        })
}

/// A field that names something (an id, a channel): a non-empty string.
fn name_field(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, InputError> {
    match string_field(object, field)? {
        Some(name) if name.is_empty() => Err(InputError::Empty { field }),
        name => Ok(name),
    }
}

fn string_field(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, InputError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(InputError::NotAString {
            field,
            found: kind(other),
        }),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(line: &str) -> Incoming {
        match parse_line(line) {
            Ok(Some(m)) => m,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn a_full_object_is_taken_field_by_field() {
        let m = incoming(
            r#"{"id":"m9","channel":"c1","thread":"m1","user":"alice","roles":["ops"],"text":"@mosaic hi"}"#,
        );
        assert_eq!(
            m,
            Incoming {
                id: Some("m9".into()),
                channel: "c1".into(),
                thread: Some("m1".into()),
                user: "alice".into(),
                roles: vec!["ops".into()],
                text: "@mosaic hi".into(),
                written: None,
                edit: None,
            }
        );
    }

    #[test]
    fn a_line_may_say_when_it_was_written_and_that_it_is_an_edit() {
        let m = incoming(r#"{"id":"m3","text":"x","ts":1764160000.5,"edit":"e1"}"#);
        let since = m
            .written
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
        assert_eq!(since, Some(Duration::from_millis(1_764_160_000_500)));
        assert_eq!(m.edit.as_deref(), Some("e1"));
        for bad in [
            r#"{"text":"x","ts":"yesterday"}"#,
            r#"{"text":"x","ts":-1}"#,
        ] {
            assert!(
                matches!(parse_line(bad), Err(InputError::Ts { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            parse_line(r#"{"text":"x","edit":"e1"}"#),
            Err(InputError::EditWithoutId)
        );
    }

    #[test]
    fn only_text_is_required() {
        let m = incoming(r#"{"text":"x"}"#);
        assert_eq!((m.id, m.thread), (None, None));
        assert_eq!(
            (m.channel.as_str(), m.user.as_str()),
            ("console", "console")
        );
    }

    #[test]
    fn a_line_that_is_not_an_object_is_the_text() {
        for line in [
            "@mosaic fix #42",
            "\"quoted\"",
            "42",
            "[1]",
            "{broken",
            "  padded  ",
        ] {
            let m = incoming(line);
            assert_eq!(m.text, line);
            assert_eq!(
                (m.channel.as_str(), m.user.as_str()),
                ("console", "console")
            );
            assert_eq!(m.id, None);
        }
    }

    #[test]
    fn blank_lines_are_no_message() {
        assert_eq!(parse_line(""), Ok(None));
        assert_eq!(parse_line(" \t "), Ok(None));
    }

    #[test]
    fn an_object_without_text_is_refused() {
        let err = parse_line(r#"{"id":"m1"}"#).err();
        assert_eq!(err, Some(InputError::MissingText));
        assert_eq!(
            InputError::MissingText.to_string(),
            "the JSON object has no `text` field"
        );
    }

    #[test]
    fn a_field_that_is_not_a_string_is_refused_by_name() {
        let err = parse_line(r#"{"text":"x","thread":42}"#).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("field `thread` must be a string, not a number".into())
        );
        let err = parse_line(r#"{"text":null}"#).err();
        assert_eq!(
            err,
            Some(InputError::NotAString {
                field: "text",
                found: "null"
            })
        );
    }

    #[test]
    fn roles_must_be_an_array_of_strings() {
        for line in [
            r#"{"text":"x","roles":"ops"}"#,
            r#"{"text":"x","roles":[1]}"#,
        ] {
            assert_eq!(parse_line(line).err(), Some(InputError::Roles), "{line}");
        }
        assert!(incoming(r#"{"text":"x"}"#).roles.is_empty());
    }

    #[test]
    fn an_empty_name_is_refused() {
        let err = parse_line(r#"{"text":"x","channel":""}"#).err();
        assert_eq!(err, Some(InputError::Empty { field: "channel" }));
    }

    #[test]
    fn empty_text_is_still_a_message() {
        assert_eq!(incoming(r#"{"text":""}"#).text, "");
    }
}
