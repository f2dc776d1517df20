//! The REST operations the bot may call, as Discord's published OpenAPI
//! description says them (`discord/discord-api-spec`, `specs/openapi.json`,
//! API v10, read at commit 74fda0f): method, path, the query parameters
//! the operation takes, and for its JSON body the fields it requires and
//! the fields it knows. [`assert_conforms`] walks recorded calls against
//! it, so the fake cannot drift into accepting what Discord would refuse.

use serde_json::Value;

use super::Call;

/// A JSON object's shape: the fields it must hold and those it may.
pub struct Shape {
    /// The schema's name in `components.schemas`.
    pub schema: &'static str,
    pub required: &'static [&'static str],
    pub known: &'static [&'static str],
}

/// An operation of the description.
pub struct Operation {
    pub operation_id: &'static str,
    pub method: &'static str,
    /// The path template, `{…}` standing for one segment.
    pub path: &'static str,
    pub query: &'static [&'static str],
    /// `None`: no body. A list body (`PUT …/commands`) is a list of these.
    pub body: Option<Shape>,
}

const MESSAGE_CREATE: Shape = Shape {
    schema: "MessageCreateRequest",
    required: &[],
    known: &[
        "content",
        "embeds",
        "allowed_mentions",
        "sticker_ids",
        "components",
        "flags",
        "attachments",
        "poll",
        "shared_client_theme",
        "message_reference",
        "nonce",
        "enforce_nonce",
        "tts",
    ],
};

const MESSAGE_EDIT: Shape = Shape {
    schema: "MessageEditRequestPartial",
    required: &[],
    known: &[
        "content",
        "embeds",
        "flags",
        "allowed_mentions",
        "sticker_ids",
        "components",
        "attachments",
    ],
};

const WEBHOOK_MESSAGE: Shape = Shape {
    schema: "IncomingWebhookUpdateRequestPartial",
    required: &[],
    known: &[
        "content",
        "embeds",
        "allowed_mentions",
        "components",
        "attachments",
        "poll",
        "flags",
    ],
};

const COMMAND: Shape = Shape {
    schema: "ApplicationCommandUpdateRequest",
    required: &["name"],
    known: &[
        "name",
        "name_localizations",
        "description",
        "description_localizations",
        "options",
        "default_member_permissions",
        "dm_permission",
        "contexts",
        "integration_types",
        "handler",
        "type",
        "id",
    ],
};

/// `ApplicationCommandSubcommandOption` and `ApplicationCommandStringOption`.
const COMMAND_OPTION: Shape = Shape {
    schema: "ApplicationCommandSubcommandOption",
    required: &["type", "name", "description"],
    known: &[
        "type",
        "name",
        "name_localizations",
        "description",
        "description_localizations",
        "required",
        "options",
        "autocomplete",
        "min_length",
        "max_length",
        "choices",
    ],
};

const MESSAGE_REFERENCE: Shape = Shape {
    schema: "MessageReferenceRequest",
    required: &["message_id"],
    known: &[
        "guild_id",
        "channel_id",
        "message_id",
        "fail_if_not_exists",
        "type",
    ],
};

/// A message's action row (legacy layout: the only top-level component
/// without the IS_COMPONENTS_V2 flag).
const ACTION_ROW: Shape = Shape {
    schema: "ActionRowComponentForMessageRequest",
    required: &["type", "components"],
    known: &["type", "id", "components"],
};

const BUTTON: Shape = Shape {
    schema: "ButtonComponentForMessageRequest",
    required: &["type", "style"],
    known: &[
        "type",
        "id",
        "custom_id",
        "style",
        "label",
        "disabled",
        "url",
        "sku_id",
        "emoji",
    ],
};

/// The body of `create_interaction_response` is one of several schemas,
/// told apart by `type`; the bot sends these.
const CALLBACKS: &[(&[u64], Shape)] = &[
    (
        &[4, 5],
        Shape {
            schema: "CreateMessageInteractionCallbackRequest",
            required: &["type"],
            known: &["type", "data"],
        },
    ),
    (
        &[6, 7],
        Shape {
            schema: "UpdateMessageInteractionCallbackRequest",
            required: &["type"],
            known: &["type", "data"],
        },
    ),
];

/// Stands for the union [`CALLBACKS`] in the operations table.
const CALLBACK: Shape = Shape {
    schema: "InteractionCallbackRequest (oneOf)",
    required: &["type"],
    known: &["type", "data"],
};

const ALLOWED_MENTIONS: Shape = Shape {
    schema: "MessageAllowedMentionsRequest",
    required: &[],
    known: &["parse", "users", "roles", "replied_user"],
};

/// Every operation the bot uses.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        operation_id: "get_gateway",
        method: "GET",
        path: "/gateway",
        query: &[],
        body: None,
    },
    Operation {
        operation_id: "get_bot_gateway",
        method: "GET",
        path: "/gateway/bot",
        query: &[],
        body: None,
    },
    Operation {
        operation_id: "get_channel",
        method: "GET",
        path: "/channels/{channel_id}",
        query: &[],
        body: None,
    },
    Operation {
        operation_id: "list_messages",
        method: "GET",
        path: "/channels/{channel_id}/messages",
        query: &["around", "before", "after", "limit"],
        body: None,
    },
    Operation {
        operation_id: "create_message",
        method: "POST",
        path: "/channels/{channel_id}/messages",
        query: &[],
        body: Some(MESSAGE_CREATE),
    },
    Operation {
        operation_id: "update_message",
        method: "PATCH",
        path: "/channels/{channel_id}/messages/{message_id}",
        query: &[],
        body: Some(MESSAGE_EDIT),
    },
    Operation {
        operation_id: "add_my_message_reaction",
        method: "PUT",
        path: "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me",
        query: &[],
        body: None,
    },
    Operation {
        operation_id: "create_thread_from_message",
        method: "POST",
        path: "/channels/{channel_id}/messages/{message_id}/threads",
        query: &[],
        body: Some(Shape {
            schema: "CreateTextThreadWithMessageRequest",
            required: &["name"],
            known: &["name", "auto_archive_duration", "rate_limit_per_user"],
        }),
    },
    Operation {
        operation_id: "bulk_set_application_commands",
        method: "PUT",
        path: "/applications/{application_id}/commands",
        query: &[],
        body: Some(COMMAND),
    },
    Operation {
        operation_id: "bulk_set_guild_application_commands",
        method: "PUT",
        path: "/applications/{application_id}/guilds/{guild_id}/commands",
        query: &[],
        body: Some(COMMAND),
    },
    Operation {
        operation_id: "create_interaction_response",
        method: "POST",
        path: "/interactions/{interaction_id}/{interaction_token}/callback",
        query: &["with_response"],
        body: Some(CALLBACK),
    },
    Operation {
        operation_id: "update_original_webhook_message",
        method: "PATCH",
        path: "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        query: &["thread_id", "with_components"],
        body: Some(WEBHOOK_MESSAGE),
    },
    Operation {
        operation_id: "execute_webhook",
        method: "POST",
        path: "/webhooks/{webhook_id}/{webhook_token}",
        query: &["wait", "thread_id", "with_components"],
        body: Some(WEBHOOK_MESSAGE),
    },
];

fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

/// Why `value` does not have `shape`, if it does not.
fn misfit(shape: &Shape, value: &Value) -> Option<String> {
    let Some(object) = value.as_object() else {
        return Some(format!("{}: not an object: {value}", shape.schema));
    };
    if let Some(missing) = shape.required.iter().find(|f| !object.contains_key(**f)) {
        return Some(format!("{}: `{missing}` is required", shape.schema));
    }
    if let Some(unknown) = object.keys().find(|k| !shape.known.contains(&k.as_str())) {
        return Some(format!("{}: `{unknown}` is no field of it", shape.schema));
    }
    let nested = [
        ("message_reference", &MESSAGE_REFERENCE),
        ("allowed_mentions", &ALLOWED_MENTIONS),
    ];
    for (field, inner) in nested {
        if let Some(v) = object.get(field).filter(|v| !v.is_null())
            && let Some(why) = misfit(inner, v)
        {
            return Some(why);
        }
    }
    if shape.schema == ACTION_ROW.schema {
        let buttons = object.get("components").and_then(Value::as_array);
        return buttons
            .into_iter()
            .flatten()
            .find_map(|b| misfit(&BUTTON, b));
    }
    if let Some(rows) = object.get("components").filter(|v| !v.is_null()) {
        let Some(rows) = rows.as_array() else {
            return Some(format!("{}: `components` is not a list", shape.schema));
        };
        if let Some(why) = rows.iter().find_map(|row| misfit(&ACTION_ROW, row)) {
            return Some(why);
        }
    }
    if let Some(options) = object.get("options").and_then(Value::as_array) {
        return options.iter().find_map(|o| misfit(&COMMAND_OPTION, o));
    }
    None
}

/// The operation `call` is, or why it is none the description allows.
pub fn check(call: &Call) -> Result<&'static str, String> {
    let operation = OPERATIONS
        .iter()
        .find(|op| op.method == call.method && path_matches(op.path, &call.path))
        .ok_or_else(|| {
            format!(
                "{} {} is no operation the bot may use",
                call.method, call.path
            )
        })?;
    for (name, _) in call.query.split('&').filter_map(|kv| kv.split_once('=')) {
        if !operation.query.contains(&name) {
            return Err(format!(
                "{}: `{name}` is no query parameter of it",
                operation.operation_id
            ));
        }
    }
    match (&operation.body, &call.body) {
        (None, Value::Null) => Ok(operation.operation_id),
        (None, body) => Err(format!(
            "{}: takes no body, got {body}",
            operation.operation_id
        )),
        (Some(shape), Value::Array(items)) if shape.schema == COMMAND.schema => items
            .iter()
            .find_map(|item| misfit(shape, item))
            .map_or(Ok(operation.operation_id), Err),
        (Some(shape), body) if shape.schema == CALLBACK.schema => {
            let kind = body["type"].as_u64().unwrap_or(0);
            let variant = CALLBACKS
                .iter()
                .find(|(kinds, _)| kinds.contains(&kind))
                .map(|(_, shape)| shape)
                .ok_or_else(|| format!("{}: no callback of type {kind}", operation.operation_id))?;
            misfit(variant, body).map_or(Ok(operation.operation_id), Err)
        }
        (Some(shape), body) => misfit(shape, body).map_or(Ok(operation.operation_id), Err),
    }
}

/// Fails naming the first of `calls` the description does not allow.
pub fn assert_conforms(calls: &[Call]) {
    for call in calls {
        if let Err(why) = check(call) {
            panic!("not as Discord's OpenAPI description says: {why}\n{call:#?}");
        }
    }
}
