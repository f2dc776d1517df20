//! The fake's REST v4 routes: the bot's token checked on each, writes
//! recorded as [`Sent`] and refused with 429, 403 or 503 while the test asks
//! for it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::actions::client_view;
use super::{
    ALICE, BOB, BOT_ID, BOT_TOKEN, BOT_USERNAME, CHANNEL, CHANNEL2, DM_CHANNEL, Sent, Shared, TEAM,
    TEAM2, add_post,
};

/// A user's username, by id.
pub(super) fn username(id: &str) -> &'static str {
    match id {
        ALICE => "alice",
        BOB => "bob",
        BOT_ID => BOT_USERNAME,
        _ => "someone",
    }
}

/// A 401 to answer, unless the bot's token is given and accepted.
pub(super) fn check_token(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if shared.world().unauthorized || given != Some(&format!("Bearer {BOT_TOKEN}")) {
        let body = json!({"id": "api.context.session_expired.app_error", "message": "Invalid or expired session, please login again.", "status_code": 401});
        return Some((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    None
}

/// A refusal of a write: unauthenticated, or rate limited.
fn check_write(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    if let Some(refused) = check_token(shared, headers) {
        return Some(refused);
    }
    let mut world = shared.world();
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        world.rate_limited += 1;
        drop(world);
        shared.changed.notify_waiters();
        return Some(too_many_requests());
    }
    None
}

/// A request over the rate limit.
pub(super) fn too_many_requests() -> Response {
    // server/channels/app/ratelimit.go `setRateLimitHeaders`, with the
    // default RateLimitSettings (PerSec 10, MaxBurst 100) and the burst
    // used up: `X-RateLimit-Reset` is when the whole burst has refilled
    // (ceil(ResetAfter), ~10 s), `Retry-After` when the next request is
    // allowed (ceil(RetryAfter) of 1/PerSec = 1 s); the body is
    // `http.Error(w, "limit exceeded", 429)`'s.
    let headers = [
        ("X-RateLimit-Limit", "101"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", "10"),
        ("Retry-After", "1"),
    ];
    (StatusCode::TOO_MANY_REQUESTS, headers, "limit exceeded\n").into_response()
}

/// Takes one from `next` if any is left: whether this request is to fail.
fn take(next: &mut usize) -> bool {
    let fail = *next > 0;
    *next = next.saturating_sub(1);
    fail
}

/// The 403 or 503 a post is to answer, if the test asked for one.
fn post_fault(shared: &Shared) -> Option<Response> {
    let mut world = shared.world();
    if take(&mut world.forbid_next_posts) {
        world.forbidden += 1;
        drop(world);
        shared.changed.notify_waiters();
        let body = json!({"id": "api.context.permissions.app_error", "message": "You do not have the appropriate permissions.", "status_code": 403});
        return Some((StatusCode::FORBIDDEN, Json(body)).into_response());
    }
    take(&mut world.fail_next_posts).then(unavailable)
}

/// A proxy's answer while the server behind it restarts.
fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable").into_response()
}

pub(super) fn record(shared: &Shared, sent: Sent) {
    let mut world = shared.world();
    world.sent.push(sent);
    world.sent_at.push(tokio::time::Instant::now());
    drop(world);
    shared.changed.notify_waiters();
}

pub(super) async fn me(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    Json(json!({"id": BOT_ID, "username": BOT_USERNAME, "is_bot": true})).into_response()
}

pub(super) async fn user(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    let name = username(&id);
    let roles = {
        let mut world = s.world();
        world.lookups.users += 1;
        if world.fail_user_lookups {
            None
        } else {
            Some(
                world
                    .system_roles
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| "system_user".into()),
            )
        }
    };
    s.changed.notify_waiters();
    match roles {
        Some(roles) => Json(json!({"id": id, "username": name, "roles": roles})).into_response(),
        None => server_error(),
    }
}

fn server_error() -> Response {
    let body = json!({"id": "app.fake.failing", "message": "the fake was asked to fail", "status_code": 500});
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

pub(super) async fn team_member(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((team, user)): Path<(String, String)>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    let roles = {
        let mut world = s.world();
        world.lookups.team_members += 1;
        if world.fail_team_member_lookups {
            return server_error();
        }
        world
            .team_roles
            .get(&user)
            .cloned()
            .unwrap_or_else(|| "team_user".into())
    };
    s.changed.notify_waiters();
    if team != TEAM && team != TEAM2 {
        let body = json!({"id": "app.team.get_member.missing.app_error", "message": "no such member", "status_code": 404});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    Json(json!({"team_id": team, "user_id": user, "roles": roles})).into_response()
}

pub(super) async fn channel(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    s.world().lookups.channels += 1;
    s.changed.notify_waiters();
    let (team, kind) = if id == DM_CHANNEL {
        ("", "D")
    } else if id == CHANNEL2 {
        (TEAM2, "O")
    } else {
        (TEAM, "O")
    };
    Json(json!({"id": id, "team_id": team, "type": kind})).into_response()
}

pub(super) async fn my_channels(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    Json(json!([
        {"id": CHANNEL, "name": "town-square", "team_id": TEAM},
        {"id": CHANNEL2, "name": "town-square", "team_id": TEAM2},
    ]))
    .into_response()
}

pub(super) async fn channel_posts(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(channel): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    let since: i64 = query.get("since").and_then(|v| v.parse().ok()).unwrap_or(0);
    let answer = {
        let mut world = s.world();
        world.posts_queries += 1;
        super::history::posts_since(&world, &channel, since)
    };
    s.changed.notify_waiters();
    Json(answer).into_response()
}

pub(super) async fn create_post(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let delay = {
        let mut world = s.world();
        world.posts_arrived += 1;
        world.post_delay
    };
    s.changed.notify_waiters();
    if let Some(r) = check_write(&s, &headers).or_else(|| post_fault(&s)) {
        return r;
    }
    let field = |k: &str| body[k].as_str().unwrap_or("").to_owned();
    let (channel, root_id, message) = (field("channel_id"), field("root_id"), field("message"));
    if message.chars().count() > 16_383 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"id": "model.post.is_valid.msg.app_error"})),
        )
            .into_response();
    }
    let props = match super::props::on_create(BOT_ID, body.get("props")) {
        Ok(props) => props,
        Err(refused) => return *refused,
    };
    let id = add_post(&s, BOT_ID, &channel, &root_id, &message, props.clone());
    record(
        &s,
        Sent::Post {
            id: id.clone(),
            channel: channel.clone(),
            root_id: root_id.clone(),
            message,
        },
    );
    // Taken, and its answer held on the wire (see `hold_posts`).
    tokio::time::sleep(delay).await;
    // The created post comes back as stored, as any post does: `EncodeJSON`
    // strips the actions' integrations (model/post.go).
    let created = s
        .world()
        .posts
        .iter()
        .find(|p| p["id"] == id.as_str())
        .cloned();
    let created = created.unwrap_or_default();
    (StatusCode::CREATED, Json(client_view(&created))).into_response()
}

pub(super) async fn patch_post(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_write(&s, &headers) {
        return r;
    }
    if take(&mut s.world().fail_next_patches) {
        return unavailable();
    }
    let message = body["message"].as_str().unwrap_or("").to_owned();
    {
        let mut world = s.world();
        let mine = world
            .posts
            .iter()
            .find(|p| p["id"] == id.as_str() && p["user_id"] == BOT_ID)
            .cloned();
        // Without props the post keeps its own (model/post.go `Patch`).
        let props = match (&mine, body.get("props")) {
            (Some(post), Some(new)) => match super::props::on_patch(&post["props"], Some(new)) {
                Ok(props) => Some(props),
                Err(refused) => return *refused,
            },
            _ => None,
        };
        // A patch is an edit like any other (app/post.go PatchPost →
        // UpdatePost): a pre-edit copy is kept and `post_edited` sent.
        if mine.is_none() || super::history::edit_post(&mut world, &id, &message, props).is_none() {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"id": "app.post.get.app_error"})),
            )
                .into_response();
        }
    }
    record(
        &s,
        Sent::Patch {
            id: id.clone(),
            message,
        },
    );
    Json(json!({"id": id})).into_response()
}

pub(super) async fn react(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_write(&s, &headers) {
        return r;
    }
    let field = |k: &str| body[k].as_str().unwrap_or("").to_owned();
    super::history::react(
        &mut s.world(),
        &field("post_id"),
        &field("user_id"),
        &field("emoji_name"),
    );
    record(
        &s,
        Sent::Reaction {
            post_id: field("post_id"),
            emoji: field("emoji_name"),
            user_id: field("user_id"),
        },
    );
    // reactions.yaml SaveReaction: "201: Reaction creation successful".
    (StatusCode::CREATED, Json(body)).into_response()
}

pub(super) async fn respond(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    assert_eq!(body["response_type"], "ephemeral", "{body}");
    record(
        &s,
        Sent::Ephemeral {
            text: body["text"].as_str().unwrap_or("").to_owned(),
        },
    );
    StatusCode::OK.into_response()
}
