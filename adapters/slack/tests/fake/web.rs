//! The fake's Web API methods: the token checked on each (bot token, or the
//! app-level token for `apps.connections.open`), every call recorded with
//! its arguments (for the conformance test), writes recorded as [`Sent`],
//! refused with HTTP 429 or `ok:false` while the test asks for it;
//! `usergroups.list` counted, held or refused while the test asks for it.
//! Answers have the shapes of Slack's method pages (https://api.slack.com/methods/…).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::metadata::{self, Given};
use super::{APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER, Call, PERMALINK_BASE, Sent, Shared};

pub(super) fn has_token(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {token}"))
}

pub(super) fn refused(code: &str) -> Response {
    // Slack's failures come as HTTP 200 with `ok: false`.
    Json(json!({"ok": false, "error": code})).into_response()
}

/// Records a call: the method, the HTTP verb, its arguments (JSON body or
/// query) and the token it carried.
pub(super) fn log(shared: &Shared, method: &str, verb: &Method, headers: &HeaderMap, args: Value) {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    shared.world().calls.push(Call {
        method: method.to_owned(),
        verb: verb.to_string(),
        args,
        token,
    });
}

/// A refusal of a write: a wrong token, a 429 (asked for, or past the
/// method's tier), a channel the bot is not in, or an `ok:false` asked for.
fn check_write(
    shared: &Shared,
    headers: &HeaderMap,
    method: &str,
    body: &Value,
) -> Option<Response> {
    if !has_token(headers, BOT_TOKEN) {
        return Some(refused("invalid_auth"));
    }
    let mut world = shared.world();
    if method == "chat.update"
        && let Some(wait) = world.over_update_tier()
    {
        // Tier 3, per workspace and app; a 429 names its wait in
        // `Retry-After` (https://api.slack.com/apis/rate-limits).
        world.rate_limited += 1;
        world.tier_refusals += 1;
        drop(world);
        shared.notify();
        let secs = wait.as_secs_f64().ceil().max(1.0).to_string();
        return Some((StatusCode::TOO_MANY_REQUESTS, [("Retry-After", secs)], "").into_response());
    }
    let channel = field(body, "channel");
    if world.outside.contains(&channel) {
        // https://api.slack.com/methods/chat.postMessage#errors: `not_in_channel`
        // when the bot is not a member (and lacks `chat:write.public`).
        return Some(refused("not_in_channel"));
    }
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        world.rate_limited += 1;
        drop(world);
        shared.notify();
        return Some((StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "1")], "").into_response());
    }
    if !world.fail_next.is_empty() {
        let code = world.fail_next.remove(0);
        return Some(refused(&code));
    }
    None
}

/// Slack's refusal of blocks that break Block Kit's rules
/// (https://api.slack.com/methods/chat.postMessage#errors: `invalid_blocks`,
/// with what is wrong in `errors`).
fn invalid_blocks(body: &Value) -> Option<Response> {
    let blocks = body.get("blocks")?;
    let problems = super::block_kit::problems("blocks", blocks);
    if problems.is_empty() {
        return None;
    }
    Some(Json(json!({"ok": false, "error": "invalid_blocks", "errors": problems})).into_response())
}

fn record(shared: &Shared, sent: Sent) {
    shared.world().sent.push(sent);
    shared.notify();
}

fn field(body: &Value, name: &str) -> String {
    body.get(name)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// https://api.slack.com/methods/auth.test
pub(super) async fn auth_test(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
) -> Response {
    log(&s, "auth.test", &verb, &headers, json!({}));
    if !has_token(&headers, BOT_TOKEN) {
        return refused("invalid_auth");
    }
    Json(json!({
        "ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "mosaic",
        "team_id": "T1", "user_id": BOT_USER, "bot_id": "B1",
    }))
    .into_response()
}

/// https://api.slack.com/methods/apps.connections.open
pub(super) async fn connections_open(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let args = serde_json::from_slice(&body).unwrap_or(json!({}));
    log(&s, "apps.connections.open", &verb, &headers, args);
    if !has_token(&headers, APP_TOKEN) {
        return refused(if has_token(&headers, BOT_TOKEN) {
            "not_allowed_token_type"
        } else {
            "invalid_auth"
        });
    }
    let mut world = s.world();
    if world.refuse_sockets {
        world.refused += 1;
        drop(world);
        s.notify();
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    drop(world);
    Json(json!({"ok": true, "url": format!("ws://{}/socket?ticket=t1", s.addr)})).into_response()
}

/// https://api.slack.com/methods/chat.postMessage
pub(super) async fn post_message(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log(&s, "chat.postMessage", &verb, &headers, body.clone());
    if let Some(r) = check_write(&s, &headers, "chat.postMessage", &body) {
        return r;
    }
    if let Some(r) = invalid_blocks(&body) {
        return r;
    }
    let metadata = match metadata::given(&body) {
        Ok(given) => given,
        Err(code) => return refused(code),
    };
    let ts = s.next_ts();
    let channel = field(&body, "channel");
    let kept = match &metadata {
        Given::Keep(kept) => Some(kept.clone()),
        Given::Absent | Given::Empty | Given::Ignored(_) => None,
    };
    let blocks = s.store_message(&channel, &ts, &body, kept.clone());
    let thread_ts = Some(field(&body, "thread_ts")).filter(|t| !t.is_empty());
    record(
        &s,
        Sent::Post {
            ts: ts.clone(),
            channel: channel.clone(),
            thread_ts,
            text: field(&body, "text"),
        },
    );
    let mut message = json!({
        "type": "message", "subtype": "bot_message", "bot_id": BOT_ID, "user": BOT_USER,
        "ts": ts, "text": body["text"], "blocks": blocks,
    });
    if let Some(kept) = kept {
        message["metadata"] = kept;
    }
    let mut answer = json!({"ok": true, "channel": channel, "ts": ts, "message": message});
    metadata::warn(&mut answer, &metadata);
    Json(answer).into_response()
}

/// https://api.slack.com/methods/chat.update
pub(super) async fn update(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log(&s, "chat.update", &verb, &headers, body.clone());
    if let Some(r) = check_write(&s, &headers, "chat.update", &body) {
        return r;
    }
    if let Some(r) = invalid_blocks(&body) {
        return r;
    }
    let metadata = match metadata::given(&body) {
        Ok(given) => given,
        Err(code) => return refused(code),
    };
    let (channel, ts) = (field(&body, "channel"), field(&body, "ts"));
    let warned = match &metadata {
        Given::Ignored(w) => Given::Ignored(w),
        _ => Given::Absent,
    };
    let blocks = match s.update_message(&channel, &ts, &body, metadata) {
        Ok(blocks) => blocks,
        // https://api.slack.com/methods/chat.update#errors
        Err(code) => return refused(code),
    };
    record(
        &s,
        Sent::Update {
            channel: channel.clone(),
            ts: ts.clone(),
            text: field(&body, "text"),
        },
    );
    let message = json!({"text": body["text"], "blocks": blocks});
    let mut answer =
        json!({"ok": true, "channel": channel, "ts": ts, "text": body["text"], "message": message});
    metadata::warn(&mut answer, &warned);
    Json(answer).into_response()
}

/// https://api.slack.com/methods/reactions.add
pub(super) async fn reactions_add(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log(&s, "reactions.add", &verb, &headers, body.clone());
    if let Some(r) = check_write(&s, &headers, "reactions.add", &body) {
        return r;
    }
    record(
        &s,
        Sent::Reaction {
            channel: field(&body, "channel"),
            ts: field(&body, "timestamp"),
            name: field(&body, "name"),
        },
    );
    Json(json!({"ok": true})).into_response()
}

/// `chat.getPermalink`, a read: the message's URL in the fake workspace
/// (https://api.slack.com/methods/chat.getPermalink).
pub(super) async fn permalink(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    log(&s, "chat.getPermalink", &verb, &headers, json!(query));
    if !has_token(&headers, BOT_TOKEN) {
        return refused("invalid_auth");
    }
    let (Some(channel), Some(ts)) = (query.get("channel"), query.get("message_ts")) else {
        return Json(json!({"ok": false, "error": "invalid_arguments"})).into_response();
    };
    let link = format!("{PERMALINK_BASE}/{channel}/p{}", ts.replace('.', ""));
    Json(json!({"ok": true, "channel": channel, "permalink": link})).into_response()
}

/// A read: its arguments come as query parameters, and members are listed
/// only when `include_users` asks for them, as Slack does
/// (https://api.slack.com/methods/usergroups.list). While held, it answers
/// only once released.
pub(super) async fn usergroups_list(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    log(&s, "usergroups.list", &verb, &headers, json!(query));
    if !has_token(&headers, BOT_TOKEN) {
        return refused("invalid_auth");
    }
    s.world().user_groups_calls += 1;
    s.notify();
    loop {
        let released = s.changed.notified();
        if !s.world().hold_user_groups {
            break;
        }
        released.await;
    }
    let answer = {
        let world = s.world();
        match &world.user_groups_refusal {
            Some(code) => json!({"ok": false, "error": code}),
            None => {
                let with_users = matches!(
                    query.get("include_users").map(String::as_str),
                    Some("true" | "1")
                );
                let groups: Vec<Value> = world
                    .user_groups
                    .iter()
                    .map(|(id, users)| {
                        let mut group = json!({
                            "id": id, "team_id": "T1", "is_usergroup": true, "name": id,
                            "handle": id.to_lowercase(), "is_external": false, "date_create": 1_700_000_000,
                            "date_update": 1_700_000_000, "date_delete": 0, "created_by": "UADMIN01",
                            "prefs": {"channels": [], "groups": []}, "user_count": users.len(),
                        });
                        if with_users {
                            group["users"] = json!(users);
                        }
                        group
                    })
                    .collect();
                json!({"ok": true, "usergroups": groups})
            }
        }
    };
    s.notify();
    Json(answer).into_response()
}

/// A slash command's `response_url`
/// (https://api.slack.com/interactivity/handling#message_responses).
pub(super) async fn respond(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log(&s, "response_url", &verb, &headers, body.clone());
    if body["response_type"] != "ephemeral" {
        return StatusCode::BAD_REQUEST.into_response();
    }
    record(
        &s,
        Sent::Ephemeral {
            text: field(&body, "text"),
        },
    );
    "ok".into_response()
}

/// A button press's `response_url`
/// (https://api.slack.com/interactivity/handling#message_responses): it
/// takes up to 5 answers within 30 minutes (a sixth is refused); an answer
/// with `replace_original: true` replaces the message the button is under;
/// an ephemeral one is shown to the presser alone.
pub(super) async fn respond_to_press(
    State(s): State<Shared>,
    Path(id): Path<String>,
    verb: Method,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    log(&s, "response_url", &verb, &headers, body.clone());
    let Some(message) = s.pressed_message(&id) else {
        return (StatusCode::NOT_FOUND, "no_such_url").into_response();
    };
    {
        let mut world = s.world();
        let uses = world.response_uses.entry(id.clone()).or_default();
        *uses += 1;
        if *uses > 5 {
            return (StatusCode::NOT_FOUND, "used_url").into_response();
        }
        world.answers.push((id, body.clone()));
    }
    if body["replace_original"] == true {
        // A `response_url` answer carries no metadata: the message keeps its own.
        let _ = s.update_message(&message.0, &message.1, &body, Given::Absent);
        let sent = Sent::Update {
            channel: message.0,
            ts: message.1,
            text: field(&body, "text"),
        };
        record(&s, sent);
    } else if body["response_type"] == "ephemeral" {
        record(
            &s,
            Sent::Ephemeral {
                text: field(&body, "text"),
            },
        );
    } else {
        // `in_channel`, or no type: a message everyone in the channel sees.
        let sent = Sent::Post {
            ts: s.next_ts(),
            channel: message.0,
            thread_ts: None,
            text: field(&body, "text"),
        };
        record(&s, sent);
    }
    "ok".into_response()
}
