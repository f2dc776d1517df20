//! The fake's messages: posted (with their permissions, replies, and nonces kept for a few
//! minutes) and listed, as resources/message of the documentation says
//! (<https://discord.com/developers/docs/resources/message>).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::rest::error;
use super::{BOT_ID, FakeDiscord, GUILD_ID, Inner, perm};

/// How long a nonce is remembered for `enforce_nonce`. Discord says "in the past few
/// minutes" ("Create Message", `enforce_nonce`) and names no figure; two minutes is the
/// least that "a few minutes" can mean, so the bot is held to no more than is promised.
pub const NONCE_WINDOW: Duration = Duration::from_secs(120);

/// "Can be used to verify a message was sent (up to 25 characters)" ("Create Message",
/// `nonce`).
const NONCE_MAX_CHARS: usize = 25;

/// 400 with 50035 and the field at fault under `errors`, as reference, "Error Messages"
/// shows ("Object Error").
fn invalid_field(field: &str, code: &str, message: &str) -> Response {
    let body = json!({ "code": 50035, "message": "Invalid Form Body",
        "errors": { field: { "_errors": [{ "code": code, "message": message }] } } });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// The nonce of a Create Message body: "integer or string", at most 25 characters; else
/// the refusal's code and message for the `nonce` field. Discord's OpenAPI description
/// (discord/discord-api-spec, `MessageCreateRequest.nonce`) says the same: an int64, or a
/// string of `maxLength` 25.
fn nonce_of(body: &Value) -> Result<Option<String>, (&'static str, &'static str)> {
    let nonce = match &body["nonce"] {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        _ => return Err(("BASE_TYPE_BAD_TYPE", "Must be a string or an integer.")),
    };
    if nonce.chars().count() > NONCE_MAX_CHARS {
        return Err(("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."));
    }
    Ok(Some(nonce))
}

/// resources/message, "Create Message": SEND_MESSAGES in a channel,
/// SEND_MESSAGES_IN_THREADS in a thread (topics/permissions, "Inherited
/// Permissions (Threads)": a thread takes its parent's permissions, but not
/// SEND_MESSAGES); "when creating a message as a reply to another message,
/// the current user must have the READ_MESSAGE_HISTORY permission".
/// "Returns a message object. Fires a Message Create Gateway event."
pub(super) fn create_message(inner: &Inner, channel: u64, body: &Value) -> Response {
    let parent = inner
        .threads
        .lock()
        .expect("threads")
        .get(&channel)
        .copied();
    let (place, needed) = match parent {
        Some(parent) => (parent, perm::SEND_MESSAGES_IN_THREADS),
        None => (channel, perm::SEND_MESSAGES),
    };
    if parent.is_none() && inner.channel_kind(channel).is_none() {
        return error(404, 10003, "Unknown Channel");
    }
    if inner.lacks(place, perm::VIEW_CHANNEL) {
        return error(403, 50001, "Missing Access");
    }
    if inner.lacks(place, needed) {
        return error(403, 50013, "Missing Permissions");
    }
    let reply_to = body["message_reference"]["message_id"]
        .as_str()
        .and_then(|m| m.parse::<u64>().ok());
    if !body["message_reference"].is_null() && inner.lacks(place, perm::READ_MESSAGE_HISTORY) {
        return error(403, 50013, "Missing Permissions");
    }
    if let Some(refused) = super::components::refuse_components(body) {
        return refused;
    }
    let nonce = match nonce_of(body) {
        Ok(nonce) => nonce,
        Err((code, message)) => return invalid_field("nonce", code, message),
    };
    // `enforce_nonce`: "If true and nonce is present, it will be checked for uniqueness in
    // the past few minutes. If another message was created by the same author with the same
    // nonce, that message will be returned and no new message will be created."
    if body["enforce_nonce"] == json!(true)
        && let Some(nonce) = &nonce
        && let Some(earlier) = inner.recent_nonce(BOT_ID, nonce)
    {
        let stored = inner
            .messages
            .lock()
            .expect("messages")
            .get(&earlier)
            .cloned();
        return match stored {
            Some(mut message) => {
                message["nonce"] = json!(nonce);
                axum::Json(message).into_response()
            }
            // Deleted since: not made again, "Unknown Message" (the author of
            // `enforce_nonce`, discord/discord-api-docs#6647: "That we don't try to
            // recreate the message if it was created then subsequently deleted is
            // intentional").
            None => error(404, 10008, "Unknown Message"),
        };
    }
    let id = inner.snowflake();
    let content = body["content"].as_str().unwrap_or("");
    let mut message =
        super::payloads::message_payload(id, channel, BOT_ID, true, content, Some(&[]));
    let guild = inner.guild_of(channel).unwrap_or(GUILD_ID);
    message["guild_id"] = json!(guild.to_string());
    if let Some(to) = reply_to {
        // A reply: type 19 with its reference and the message replied to
        // ("Message Types", "Message Reference Structure", `referenced_message`).
        let referenced = inner.messages.lock().expect("messages").get(&to).cloned();
        message["type"] = json!(19);
        message["message_reference"] = json!({ "type": 0, "message_id": to.to_string(),
            "channel_id": channel.to_string(), "guild_id": guild.to_string() });
        message["referenced_message"] = referenced.unwrap_or(Value::Null);
    }
    // Kept without its nonce: the nonce "will appear in the Message Create event" (the
    // `nonce` parameter), and a message read later has none; discord.py's `Message.nonce`:
    // "This is not stored long term within Discord's servers and is only used ephemerally."
    inner
        .messages
        .lock()
        .expect("messages")
        .insert(id, message.clone());
    inner.keep_components(id, body);
    if let Some(nonce) = &nonce {
        inner
            .nonces
            .lock()
            .expect("nonces")
            .insert((BOT_ID, nonce.clone()), (id, Instant::now()));
        message["nonce"] = json!(nonce);
    }
    // Discord sends the bot its own messages too (events/gateway-events, "Message Create").
    inner.dispatch("MESSAGE_CREATE", message.clone());
    axum::Json(message).into_response()
}

/// resources/message, "Get Channel Messages": newest first, at most
/// `limit` (default 50, 1–100); `after` gives the messages after that id.
/// "If the current user is missing the READ_MESSAGE_HISTORY permission in
/// the channel, then no messages will be returned."
pub(super) fn list_messages(inner: &Inner, channel: u64, query: &str) -> Response {
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let limit = param("limit").unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return error(400, 50035, "Invalid Form Body");
    }
    // "If operating on a guild channel, this endpoint requires the current
    // user to have the VIEW_CHANNEL permission."
    if inner.lacks(channel, perm::VIEW_CHANNEL) {
        return error(403, 50001, "Missing Access");
    }
    if inner.lacks(channel, perm::READ_MESSAGE_HISTORY) {
        return axum::Json(json!([])).into_response();
    }
    let after = param("after").unwrap_or(0);
    let messages = inner.messages.lock().expect("messages");
    // With `after`, Discord returns the oldest `limit` messages after it
    // (exclusive), listed newest first.
    let mut page: Vec<Value> = messages
        .range(after + 1..)
        .filter(|(_, m)| m["channel_id"].as_str().and_then(|c| c.parse().ok()) == Some(channel))
        .take(limit as usize)
        .map(|(_, m)| m.clone())
        .collect();
    page.reverse();
    axum::Json(Value::Array(page)).into_response()
}

impl Inner {
    /// The message `author` made with `nonce` within [`NONCE_WINDOW`].
    fn recent_nonce(&self, author: u64, nonce: &str) -> Option<u64> {
        let nonces = self.nonces.lock().expect("nonces");
        let (id, at) = nonces.get(&(author, nonce.to_owned()))?;
        (at.elapsed() < NONCE_WINDOW).then_some(*id)
    }
}

impl FakeDiscord {
    /// Forgets every nonce, as Discord does after "the past few minutes": a post sent again
    /// with one of them makes a new message.
    pub fn expire_nonces(&self) {
        self.inner.nonces.lock().expect("nonces").clear();
    }

    /// The messages Discord holds in `channel` (or thread), oldest first.
    pub fn messages_in(&self, channel: u64) -> Vec<Value> {
        let messages = self.inner.messages.lock().expect("messages");
        messages
            .values()
            .filter(|m| m["channel_id"] == json!(channel.to_string()))
            .cloned()
            .collect()
    }

    /// The gateway events of type `kind` dispatched so far, in order.
    pub fn dispatched(&self, kind: &str) -> Vec<Value> {
        let gw = self.inner.gateway.lock().expect("gateway");
        gw.dispatched
            .iter()
            .filter(|(t, _)| t == kind)
            .map(|(_, data)| data.clone())
            .collect()
    }
}
