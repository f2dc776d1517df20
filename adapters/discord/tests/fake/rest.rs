//! The fake's REST side: every route the adapter uses, answering as Discord
//! does, refusals and conflicts included. The documentation page of each
//! behaviour is cited beside it (pages of `discord/discord-api-docs`,
//! served at <https://discord.com/developers/docs/…>).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, Inner, perm};

/// An error as Discord words it: a JSON body with its code and message
/// (topics/opcodes-and-status-codes, "JSON Error Codes").
pub(super) fn error(status: u16, code: u64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

fn missing_permissions() -> Response {
    error(403, 50013, "Missing Permissions")
}

/// A channel the bot may not view: 403 with 50001, "Missing access"
/// (topics/opcodes-and-status-codes, "JSON Error Codes"), whatever else it
/// may do there (topics/permissions, "Implicit Permissions").
fn missing_access() -> Response {
    error(403, 50001, "Missing Access")
}

fn unknown_message() -> Response {
    error(404, 10008, "Unknown Message")
}

/// Every REST route the adapter uses.
pub(super) async fn rest(
    AxumState(inner): AxumState<Arc<Inner>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches("/api/v10").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let mut calls = inner.calls.lock().expect("calls");
        calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().unwrap_or("").to_owned(),
            body: body.clone(),
        });
        inner.calls_seen.send_replace(calls.len());
    }
    let failure = {
        let mut failures = inner.failures.lock().expect("failures");
        let at = failures
            .iter()
            .position(|(m, f, _)| *m == method.as_str() && path.contains(f.as_str()));
        at.map(|i| failures.remove(i).2)
    };
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "code": 50013, "message": "Missing Permissions", "retry_after": 0.25, "global": false });
        return (status, axum::Json(body)).into_response();
    }
    let lose = {
        let mut lost = inner.lost_answers.lock().expect("lost answers");
        let at = lost.iter().position(|(m, f, field)| {
            *m == method.as_str()
                && path.contains(f.as_str())
                && field.as_ref().is_none_or(|field| body.get(field).is_some())
        });
        at.map(|i| lost.remove(i)).is_some()
    };
    let answer = route(&inner, &method, &uri, &path, &body);
    if lose && answer.status().is_success() {
        // Done, and the answer lost on the way back: what a gateway in front
        // of Discord's API says then (topics/opcodes-and-status-codes, "HTTP
        // Response Codes": "502 (GATEWAY UNAVAILABLE) … Wait a bit and retry").
        return (StatusCode::BAD_GATEWAY, "error code: 502").into_response();
    }
    answer
}

/// The answer to one call, by its route.
fn route(inner: &Inner, method: &Method, uri: &Uri, path: &str, body: &Value) -> Response {
    let body = body.clone();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |s: &str| s.parse::<u64>().ok().filter(|&n| n != 0);
    match (method.as_str(), parts.as_slice()) {
        // events/gateway, "Get Gateway": the URL Discord answers is its own
        // gateway, never a proxy's or a test's; a bot behind a proxy must be
        // told the gateway's address by other means.
        ("GET", ["gateway"]) => {
            axum::Json(json!({ "url": "wss://gateway.discord.gg" })).into_response()
        }
        // events/gateway, "Get Gateway Bot": the same URL, the recommended shard count
        // ("Each shard can only support a maximum of 2500 guilds": "Sharding"), and the
        // session start limit with `max_concurrency`, the identifies allowed per 5 s.
        ("GET", ["gateway", "bot"]) => {
            let guilds = inner.guild_payloads().len();
            let (identifies, _) = *inner.sessions.borrow();
            let gw = inner.gateway.lock().expect("gateway");
            axum::Json(json!({ "url": "wss://gateway.discord.gg",
                "shards": guilds.div_ceil(gw.max_guilds_per_shard).max(1),
                "session_start_limit": { "total": 1000, "remaining": 1000usize.saturating_sub(identifies),
                    "reset_after": 86_400_000, "max_concurrency": gw.max_concurrency } }))
            .into_response()
        }
        ("POST", ["channels", c, "messages"]) => match id(c) {
            Some(c) => super::messages::create_message(inner, c, &body),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("GET", ["channels", c, "messages"]) => match id(c) {
            Some(c) => super::messages::list_messages(inner, c, uri.query().unwrap_or("")),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("PATCH", ["channels", c, "messages", m]) => {
            // resources/message, "Edit Message": a message is addressed in
            // the channel it lives in; elsewhere it is unknown.
            let (Some(c), Some(m)) = (id(c), id(m)) else {
                return unknown_message();
            };
            if inner.lacks(c, perm::VIEW_CHANNEL) {
                return missing_access();
            }
            if inner.channel_of(m) != Some(c) {
                return unknown_message();
            }
            if let Some(refused) = super::components::refuse_components(&body) {
                return refused;
            }
            let mut messages = inner.messages.lock().expect("messages");
            if let (Some(stored), Some(content)) = (messages.get_mut(&m), body["content"].as_str())
            {
                stored["content"] = json!(content);
            }
            drop(messages);
            inner.keep_components(m, &body);
            axum::Json(json!({ "id": m.to_string(), "channel_id": c.to_string() })).into_response()
        }
        ("PUT", ["channels", c, "messages", m, "reactions", _, "@me"]) => {
            let (Some(c), Some(m)) = (id(c), id(m)) else {
                return unknown_message();
            };
            // resources/message, "Create Reaction": needs READ_MESSAGE_HISTORY,
            // and ADD_REACTIONS for an emoji nobody used yet; the message
            // must be in that channel.
            if inner.lacks(c, perm::VIEW_CHANNEL) {
                return missing_access();
            }
            if inner.lacks(c, perm::READ_MESSAGE_HISTORY | perm::ADD_REACTIONS) {
                return missing_permissions();
            }
            if inner.channel_of(m) != Some(c) {
                return unknown_message();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["channels", c, "messages", m, "threads"]) => match (id(c), id(m)) {
            (Some(c), Some(m)) => start_thread(inner, c, m),
            _ => unknown_message(),
        },
        ("GET", ["channels", c]) => {
            // resources/channel, "Get Channel": a thread names its parent.
            let Some(c) = id(c) else {
                return error(404, 10003, "Unknown Channel");
            };
            // "If operating on a guild channel, this endpoint requires the
            // current user to have the VIEW_CHANNEL permission" (resources/channel).
            let known = inner.channel_kind(c).is_some()
                || inner.threads.lock().expect("threads").contains_key(&c);
            if known && inner.lacks(c, perm::VIEW_CHANNEL) {
                return missing_access();
            }
            let parent = inner.threads.lock().expect("threads").get(&c).copied();
            if let Some(p) = parent {
                let guild = inner.guild_of(c).unwrap_or(super::GUILD_ID);
                return axum::Json(json!({ "id": c.to_string(), "type": 11, "parent_id": p.to_string(), "guild_id": guild.to_string() })).into_response();
            }
            match inner.channel_kind(c) {
                Some(kind) => axum::Json(json!({ "id": c.to_string(), "type": kind, "guild_id": inner.guild_of(c).unwrap_or(super::GUILD_ID).to_string() })).into_response(),
                None => error(404, 10003, "Unknown Channel"),
            }
        }
        ("PUT", ["applications", _, "commands"] | ["applications", _, "guilds", _, "commands"]) => {
            register_commands(&body)
        }
        ("POST", ["interactions", id, token, "callback"]) => inner.callback(id, token, &body),
        ("PATCH", ["webhooks", app, token, "messages", "@original"])
        | ("POST", ["webhooks", app, token]) => {
            if let Some(refused) = inner.refuse_webhook(app, token) {
                return refused;
            }
            if *method == Method::PATCH
                && let Some(card) = inner.updated_message(token)
            {
                return inner.edit_original(card, &body);
            }
            let id = inner.snowflake().to_string();
            axum::Json(json!({ "id": id })).into_response()
        }
        _ => error(404, 0, "404: Not Found"),
    }
}

/// resources/channel, "Start Thread from Message".
fn start_thread(inner: &Inner, channel: u64, message: u64) -> Response {
    // The message must stand in that channel (a thread made with "Create
    // Thread", or a forum post, has no message there): 10008.
    if inner.channel_of(message) != Some(channel) {
        return unknown_message();
    }
    // "Does not work on a GUILD_FORUM or a GUILD_MEDIA channel", nor in a
    // thread (threads do not nest): 50024 (topics/opcodes-and-status-codes).
    let kind = inner.channel_kind(channel);
    if !matches!(kind, Some(0 | 5)) {
        return error(400, 50024, "Cannot execute action on this channel type");
    }
    if inner.lacks(channel, perm::VIEW_CHANNEL) {
        return missing_access();
    }
    // topics/permissions: CREATE_PUBLIC_THREADS creates public threads.
    if inner.lacks(channel, perm::CREATE_PUBLIC_THREADS) {
        return missing_permissions();
    }
    // "A message can only have a single thread created from it": 160004.
    let mut threads = inner.threads.lock().expect("threads");
    if threads.contains_key(&message) {
        return error(
            400,
            160_004,
            "A thread has already been created for this message",
        );
    }
    // "The id of the created thread will be the same as the id of the
    // source message."
    threads.insert(message, channel);
    drop(threads);
    // "Fires a Thread Create and a Message Update": the starter message,
    // unedited, now with its thread.
    let starter = inner
        .messages
        .lock()
        .expect("messages")
        .get(&message)
        .cloned();
    if let Some(mut starter) = starter {
        starter["thread"] =
            json!({ "id": message.to_string(), "type": 11, "parent_id": channel.to_string() });
        inner.dispatch("MESSAGE_UPDATE", starter);
    }
    axum::Json(json!({ "id": message.to_string(), "type": 11, "parent_id": channel.to_string() }))
        .into_response()
}

/// interactions/application-commands, "Bulk Overwrite … Application
/// Commands", validated as "Application Command Naming" says: names match
/// `^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$` and use the lowercase
/// variant of every letter that has one; otherwise 400 with 50035.
fn register_commands(body: &Value) -> Response {
    let valid = |name: &str| {
        let count = name.chars().count();
        (1..=32).contains(&count)
            && name.chars().all(|c| {
                (c == '-' || c == '_' || c == '\'' || c.is_alphanumeric())
                    && c.to_lowercase().eq(std::iter::once(c))
            })
    };
    let commands = body.as_array().cloned().unwrap_or_default();
    let names = commands.iter().flat_map(|c| {
        std::iter::once(c["name"].as_str().unwrap_or("")).chain(
            c["options"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| o["name"].as_str().unwrap_or("")),
        )
    });
    for name in names {
        if !valid(name) {
            let body = json!({ "code": 50035, "message": "Invalid Form Body",
                "errors": { "0": { "name": { "_errors": [{ "code": "APPLICATION_COMMAND_INVALID_NAME",
                    "message": format!("Command name is invalid: {name}") }] } } } });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    }
    axum::Json(Value::Array(commands)).into_response()
}
