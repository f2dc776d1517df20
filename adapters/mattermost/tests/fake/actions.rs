//! Interactive message buttons as the Mattermost server handles them
//! (developers.mattermost.com/integrate/plugins/interactive-messages/):
//! a post's `props.attachments[].actions[]` kept whole on the server, their
//! `integration` (URL and private context) stripped from everything clients
//! or the bot read; a click by a user POSTed to the integration's URL as
//! `DoPostActionWithCookie` does (server/channels/app/post_action.go),
//! unsigned, refused for internal addresses unless allowed, and its answer
//! (`update`, `ephemeral_text`) applied. `POST /api/v4/posts/ephemeral`
//! is here too, with the permission it needs. The click itself is
//! `click.rs`'s.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::rest::{check_token, record};
use super::{FakeMattermost, Sent, Shared};

/// The actions of a post as stored (integrations included) or as a client
/// sees it: every `props.attachments[].actions[]`, in order.
pub fn actions_of(post: &Value) -> Vec<Value> {
    post["props"]["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// A post as clients (and the bot) read it: model/post.go
/// `StripActionIntegrations` sets every action's `Integration` to nil
/// before a post is encoded (`ToJSON`, `EncodeJSON`, post lists, WebSocket
/// events), so the URL and context stay on the server.
pub(super) fn client_view(post: &Value) -> Value {
    let mut post = post.clone();
    if let Some(attachments) = post["props"]["attachments"].as_array_mut() {
        for attachment in attachments {
            if let Some(actions) = attachment["actions"].as_array_mut() {
                for action in actions {
                    if let Some(action) = action.as_object_mut() {
                        action.remove("integration");
                    }
                }
            }
        }
    }
    post
}

/// A post's props as the server stores them, or why it refuses them
/// (answered with [`invalid`]'s 400). Each
/// action without an id gets one (model/post.go `GenerateActionIds`:
/// `NewId()`, 26 lowercase letters and digits); each action is checked as
/// model/slack_attachment.go `IsValid` checks it through
/// model/integration_action.go `PostAction.IsValid`: a name, a style among
/// default/primary/success/good/warning/danger (or a hex colour), a type
/// `button` or `select`, an integration with an http(s) URL.
pub(super) fn prepare_props(props: Option<&Value>) -> Result<Value, String> {
    let mut props = match props {
        None | Some(Value::Null) => return Ok(json!({})),
        Some(props @ Value::Object(_)) => props.clone(),
        Some(_) => return Err("props is not an object".into()),
    };
    let mut generated = 0u64;
    let Some(attachments) = props["attachments"].as_array_mut() else {
        return Ok(props);
    };
    for attachment in attachments {
        let Some(actions) = attachment["actions"].as_array_mut() else {
            continue;
        };
        for action in actions {
            if action["id"].as_str().unwrap_or("").is_empty() {
                generated += 1;
                action["id"] = json!(format!("genid{generated:021}"));
            }
            if let Some(problem) = action_problem(action) {
                return Err(problem);
            }
        }
    }
    Ok(props)
}

fn action_problem(action: &Value) -> Option<String> {
    const STYLES: [&str; 6] = ["default", "primary", "success", "good", "warning", "danger"];
    let text = |k: &str| action[k].as_str().unwrap_or("");
    if text("name").is_empty() {
        return Some("action must have a name".into());
    }
    let style = text("style");
    if !style.is_empty() && !STYLES.contains(&style) && !style.starts_with('#') {
        return Some(format!("invalid style '{style}'"));
    }
    if !matches!(text("type"), "button" | "select") {
        return Some("invalid action type: must be 'button' or 'select'".into());
    }
    let url = action["integration"]["url"].as_str().unwrap_or("");
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("/plugins/"))
    {
        return Some("action must have an valid integration URL".into());
    }
    None
}

/// The 400 for props the server refuses.
pub(super) fn invalid(detail: &str) -> Response {
    let body = json!({"id": "model.post.is_valid.attachments.app_error", "message": detail, "status_code": 400});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `GET /api/v4/posts/{id}` (posts.yaml GetPost): the post, integrations
/// stripped; 404 for none or a deleted one.
pub(super) async fn get_post(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    let found = s
        .world()
        .posts
        .iter()
        .find(|p| p["id"] == id.as_str() && p["delete_at"] == 0)
        .map(client_view);
    match found {
        Some(post) => Json(post).into_response(),
        None => {
            let body = json!({"id": "app.post.get.app_error", "message": "Unable to get the post.", "status_code": 404});
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
    }
}

/// `POST /api/v4/posts/ephemeral` (posts.yaml CreatePostEphemeral: "Must
/// have `create_post_ephemeral` permission (currently only given to system
/// admin)"): 403 for a bot without it.
pub(super) async fn create_ephemeral(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    if !s.world().may_post_ephemeral {
        let body = json!({"id": "api.context.permissions.app_error", "message": "You do not have the appropriate permissions.", "status_code": 403});
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    let field = |k: &str| body["post"][k].as_str().unwrap_or("").to_owned();
    let sent = Sent::EphemeralPost {
        user_id: body["user_id"].as_str().unwrap_or("").to_owned(),
        channel: field("channel_id"),
        root_id: field("root_id"),
        message: field("message"),
    };
    record(&s, sent);
    (StatusCode::CREATED, Json(json!({"id": "ephemeral"}))).into_response()
}

impl FakeMattermost {
    /// Gives the bot `create_post_ephemeral` (a system admin's), or takes it.
    pub fn allow_ephemeral_posts(&self, allow: bool) {
        self.shared.world().may_post_ephemeral = allow;
    }

    /// Post `id` as the server keeps it (integrations included).
    pub fn stored_post(&self, id: &str) -> Value {
        let world = self.shared.world();
        let post = world.posts.iter().find(|p| p["id"] == id).cloned();
        post.unwrap_or_else(|| panic!("no post {id}"))
    }

    /// Post `id` as a client reads it.
    pub fn client_post(&self, id: &str) -> Value {
        client_view(&self.stored_post(id))
    }
}
