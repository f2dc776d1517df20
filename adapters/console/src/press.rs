//! One input line read as a button press:
//! `{"press":"cancel","message":"b1","channel":"c1","user":"alice"}`, with
//! `id` (the same id twice is one press delivered twice), `roles` and `ts`
//! as on a message line. Pure, like `input.rs`.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::input::{DEFAULT_NAME, InputError, name_field, roles_field, ts_field};

/// A press as the input line gave it, before the console keys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IncomingPress {
    /// The press's id, if the line gave one.
    pub id: Option<String>,
    /// The button's id.
    pub button: String,
    /// The message the button is under.
    pub message: String,
    pub channel: String,
    pub user: String,
    pub roles: Vec<String>,
    pub written: Option<SystemTime>,
}

const FIELDS: [&str; 7] = ["press", "message", "id", "channel", "user", "roles", "ts"];

/// Reads a JSON object that has a `press` field.
pub(crate) fn from_object(object: &Map<String, Value>) -> Result<IncomingPress, InputError> {
    let press = IncomingPress {
        button: name_field(object, "press")?.ok_or(InputError::Empty { field: "press" })?,
        message: name_field(object, "message")?.ok_or(InputError::PressWithoutMessage)?,
        id: name_field(object, "id")?,
        channel: name_field(object, "channel")?.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
        user: name_field(object, "user")?.unwrap_or_else(|| DEFAULT_NAME.to_owned()),
        roles: roles_field(object)?,
        written: ts_field(object)?,
    };
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            tracing::warn!("console input: unknown field `{key}` of a press ignored");
        }
    }
    Ok(press)
}

#[cfg(test)]
mod tests {
    use crate::input::{InputError, Line, read_line};

    #[test]
    fn a_press_line_names_button_message_and_presser() {
        let line = r#"{"press":"cancel","message":"b1","channel":"c1","user":"alice","id":"p1","roles":["ops"]}"#;
        let Ok(Some(Line::Press(press))) = read_line(line) else {
            panic!("not a press: {line}");
        };
        assert_eq!(
            (press.button.as_str(), press.message.as_str()),
            ("cancel", "b1")
        );
        assert_eq!(
            (press.channel.as_str(), press.user.as_str()),
            ("c1", "alice")
        );
        assert_eq!(
            (press.id.as_deref(), press.roles),
            (Some("p1"), vec!["ops".to_owned()])
        );
    }

    #[test]
    fn a_press_without_its_message_or_button_is_refused_by_name() {
        assert_eq!(
            read_line(r#"{"press":"cancel"}"#),
            Err(InputError::PressWithoutMessage)
        );
        assert!(
            InputError::PressWithoutMessage
                .to_string()
                .contains(r#""message":"b1""#)
        );
        assert_eq!(
            read_line(r#"{"press":"","message":"b1"}"#),
            Err(InputError::Empty { field: "press" })
        );
        assert!(matches!(
            read_line(r#"{"press":1,"message":"b1"}"#),
            Err(InputError::NotAString { field: "press", .. })
        ));
    }

    #[test]
    fn a_line_without_press_is_still_a_message() {
        assert!(matches!(
            read_line(r#"{"text":"@mosaic cancel"}"#),
            Ok(Some(Line::Message(_)))
        ));
        assert_eq!(read_line(""), Ok(None));
    }
}
