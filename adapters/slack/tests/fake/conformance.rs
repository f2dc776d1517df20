//! Every Web API call the bot made, held against Slack's published API
//! description and Block Kit reference.
//!
//! The table is written from `slackapi/slack-api-specs`,
//! `web-api/slack_web_openapi_v2.json` (commit bc08db4): each method's HTTP
//! verb, its required parameters (`"required": true`, the token aside: the
//! bot sends it as a bearer header, which Slack accepts for every method),
//! and every parameter it lists (anything else is not Slack's). Two calls
//! are not in that file, which predates them; they come from their pages:
//! `apps.connections.open` (<https://api.slack.com/methods/apps.connections.open>:
//! an app-level token, no arguments) and a slash command's `response_url`
//! (<https://api.slack.com/interactivity/handling#message_responses>). Message
//! `metadata` (on `chat.postMessage` and `chat.update`) and `conversations.replies`'
//! `include_all_metadata` came after it: they are from the methods' pages
//! (<https://docs.slack.dev/reference/methods/chat.postMessage>,
//! <https://docs.slack.dev/reference/methods/chat.update>,
//! <https://docs.slack.dev/reference/methods/conversations.replies>).
//!
//! Blocks (sections, context lines, and the card's `actions` block of
//! buttons) are held to Block Kit's rules as `block_kit.rs` gives them. A
//! `response_url` answer to a button press is the same call as a slash
//! command's (<https://api.slack.com/interactivity/handling#message_responses>:
//! `response_type`, `replace_original`, …).

use serde_json::Value;

use super::{APP_TOKEN, BOT_TOKEN, Call};

/// One method as the description gives it.
struct Method {
    name: &'static str,
    verb: &'static str,
    /// The token it takes: the bot's, the app-level one, or none.
    token: Option<&'static str>,
    required: &'static [&'static str],
    /// At least one of these (`chat.postMessage`: "one of these arguments is required").
    one_of: &'static [&'static str],
    /// Every parameter listed.
    known: &'static [&'static str],
}

const TABLE: &[Method] = &[
    Method {
        name: "auth.test",
        verb: "GET",
        token: Some(BOT_TOKEN),
        required: &[],
        one_of: &[],
        known: &[],
    },
    Method {
        name: "apps.connections.open",
        verb: "POST",
        token: Some(APP_TOKEN),
        required: &[],
        one_of: &[],
        known: &[],
    },
    Method {
        name: "chat.postMessage",
        verb: "POST",
        token: Some(BOT_TOKEN),
        required: &["channel"],
        one_of: &["text", "blocks", "attachments"],
        known: &[
            "as_user",
            "attachments",
            "blocks",
            "channel",
            "icon_emoji",
            "icon_url",
            "link_names",
            "metadata",
            "mrkdwn",
            "parse",
            "reply_broadcast",
            "text",
            "thread_ts",
            "unfurl_links",
            "unfurl_media",
            "username",
        ],
    },
    Method {
        name: "chat.update",
        verb: "POST",
        token: Some(BOT_TOKEN),
        required: &["channel", "ts"],
        one_of: &["text", "blocks", "attachments"],
        known: &[
            "as_user",
            "attachments",
            "blocks",
            "channel",
            "link_names",
            "metadata",
            "parse",
            "text",
            "ts",
        ],
    },
    Method {
        name: "conversations.replies",
        verb: "GET",
        token: Some(BOT_TOKEN),
        required: &["channel", "ts"],
        one_of: &[],
        known: &[
            "channel",
            "cursor",
            "include_all_metadata",
            "inclusive",
            "latest",
            "limit",
            "oldest",
            "ts",
        ],
    },
    Method {
        name: "reactions.add",
        verb: "POST",
        token: Some(BOT_TOKEN),
        required: &["channel", "name", "timestamp"],
        one_of: &[],
        known: &["channel", "name", "timestamp"],
    },
    Method {
        name: "usergroups.list",
        verb: "GET",
        token: Some(BOT_TOKEN),
        required: &[],
        one_of: &[],
        known: &["include_count", "include_disabled", "include_users"],
    },
    Method {
        name: "chat.getPermalink",
        verb: "GET",
        token: Some(BOT_TOKEN),
        required: &["channel", "message_ts"],
        one_of: &[],
        known: &["channel", "message_ts"],
    },
    Method {
        name: "response_url",
        verb: "POST",
        token: None,
        required: &[],
        one_of: &["text", "blocks"],
        known: &[
            "text",
            "blocks",
            "response_type",
            "replace_original",
            "delete_original",
            "thread_ts",
        ],
    },
];

fn present(args: &Value, name: &str) -> bool {
    match args.get(name) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// What is wrong with `call`, by the table; empty when nothing is.
pub fn problems_of(call: &Call) -> Vec<String> {
    let mut problems = Vec::new();
    let at = &call.method;
    let Some(method) = TABLE.iter().find(|m| m.name == call.method) else {
        return vec![format!("{at}: not a method in the table")];
    };
    if call.verb != method.verb {
        problems.push(format!("{at}: {} instead of {}", call.verb, method.verb));
    }
    if call.token.as_deref() != method.token {
        problems.push(format!(
            "{at}: token {:?}",
            call.token.as_deref().map(|t| &t[..4.min(t.len())])
        ));
    }
    for name in method.required {
        if !present(&call.args, name) {
            problems.push(format!("{at}: `{name}` is required"));
        }
    }
    if !method.one_of.is_empty() && !method.one_of.iter().any(|n| present(&call.args, n)) {
        problems.push(format!("{at}: one of {:?} is required", method.one_of));
    }
    for name in call.args.as_object().into_iter().flat_map(|o| o.keys()) {
        if !method.known.contains(&name.as_str()) {
            problems.push(format!("{at}: `{name}` is not one of its parameters"));
        }
    }
    if let Some(list) = call.args.get("blocks") {
        problems.extend(super::block_kit::problems(at, list));
    }
    problems
}

/// Asserts that every call in `calls` is one Slack describes, made as it describes.
pub fn assert_conforms(calls: &[Call]) {
    assert!(!calls.is_empty(), "the bot made no Web API call at all");
    let problems: Vec<String> = calls.iter().flat_map(problems_of).collect();
    assert!(
        problems.is_empty(),
        "calls Slack does not describe so: {problems:#?}"
    );
}
