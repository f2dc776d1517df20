//! The fake's Web API methods: the token checked on each (bot token, or the
//! app-level token for `apps.connections.open`), writes recorded as
//! [`Sent`], refused with HTTP 429 or `ok:false` while the test asks for it;
//! `usergroups.list` counted, and refused while the test asks for it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{APP_TOKEN, BOT_TOKEN, BOT_USER, PERMALINK_BASE, Sent, Shared};

fn has_token(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {token}"))
}

fn refused(code: &str) -> Response {
    // Slack's failures come as HTTP 200 with `ok: false`.
    Json(json!({"ok": false, "error": code})).into_response()
}

/// A refusal of a write: a wrong token, a 429, or an `ok:false` asked for.
fn check_write(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    if !has_token(headers, BOT_TOKEN) {
        return Some(refused("invalid_auth"));
    }
    let mut world = shared.world();
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

pub(super) async fn auth_test(headers: HeaderMap) -> Response {
    if !has_token(&headers, BOT_TOKEN) {
        return refused("invalid_auth");
    }
    Json(json!({"ok": true, "user_id": BOT_USER, "team_id": "T1", "bot_id": "B1"})).into_response()
}

pub(super) async fn connections_open(State(s): State<Shared>, headers: HeaderMap) -> Response {
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

pub(super) async fn post_message(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_write(&s, &headers) {
        return r;
    }
    let ts = s.next_ts();
    let channel = field(&body, "channel");
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
    Json(json!({"ok": true, "channel": channel, "ts": ts})).into_response()
}

pub(super) async fn update(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_write(&s, &headers) {
        return r;
    }
    let (channel, ts) = (field(&body, "channel"), field(&body, "ts"));
    record(
        &s,
        Sent::Update {
            channel: channel.clone(),
            ts: ts.clone(),
            text: field(&body, "text"),
        },
    );
    Json(json!({"ok": true, "channel": channel, "ts": ts})).into_response()
}

pub(super) async fn reactions_add(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_write(&s, &headers) {
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

/// `chat.getPermalink`, a read: the message's URL in the fake workspace.
pub(super) async fn permalink(
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
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
/// only when `include_users` asks for them, as Slack does.
pub(super) async fn usergroups_list(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !has_token(&headers, BOT_TOKEN) {
        return refused("invalid_auth");
    }
    let answer = {
        let mut world = s.world();
        world.user_groups_calls += 1;
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
                        let mut group = json!({"id": id, "team_id": "T1", "handle": id.to_lowercase(), "date_delete": 0});
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

pub(super) async fn respond(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
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
