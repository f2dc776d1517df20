//! Interactive message buttons as the Mattermost server handles them
//! (developers.mattermost.com/integrate/plugins/interactive-messages/):
//! a post's `props.attachments[].actions[]` kept whole on the server, their
//! `integration` (URL and private context) stripped from everything clients
//! or the bot read; a click by a user POSTed to the integration's URL as
//! `DoPostActionWithCookie` does (server/channels/app/post_action.go),
//! unsigned, refused for internal addresses unless allowed, and its answer
//! (`update`, `ephemeral_text`) applied. `POST /api/v4/posts/ephemeral`
//! is here too, with the permission it needs.

use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::history::{edit_post, team_of};
use super::rest::{check_token, record, username};
use super::{FakeMattermost, Sent, Shared};

/// `ServiceSettings.OutgoingIntegrationRequestsTimeout`'s default (seconds),
/// server/public/model/config.go.
const DEFAULT_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How a click went, as the clicking user's client would learn it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clicked {
    /// The server refused the click, or the integration failed it: the user
    /// sees an error. `status` is the integration's, when it answered.
    Failed {
        id: &'static str,
        status: Option<u16>,
        detail: String,
    },
    /// The integration answered 200; what its answer did.
    Answered {
        ephemeral_text: Option<String>,
        updated: bool,
    },
}

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

/// Whether the integration's host is one the server's HTTP client refuses:
/// server/public/shared/httpservice/client.go `dialContextFilter` refuses
/// reserved ranges (loopback, private, link-local, …) with
/// `ErrAddressForbidden` unless `AllowedUntrustedInternalConnections`
/// names the host.
fn forbidden_host(url: &str, allowed: &[String]) -> Option<String> {
    let host = reqwest::Url::parse(url).ok()?.host_str()?.to_owned();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let reserved = bare == "localhost"
        || match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
            Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unspecified(),
            Err(_) => false,
        };
    (reserved && !allowed.iter().any(|a| a == bare)).then(|| {
        format!(
            "address forbidden, you may need to set AllowedUntrustedInternalConnections to allow an integration access to your internal network: {bare}"
        )
    })
}

impl FakeMattermost {
    /// Sets `ServiceSettings.AllowedUntrustedInternalConnections` (hosts and
    /// IPs, space or comma separated; the real one takes CIDRs too).
    pub fn allow_untrusted_internal(&self, hosts: &str) {
        self.shared.world().allowed_internal = hosts
            .split([' ', ','])
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
    }

    /// Sets `ServiceSettings.OutgoingIntegrationRequestsTimeout`.
    pub fn set_integration_timeout(&self, timeout: Duration) {
        self.shared.world().integration_timeout = Some(timeout);
    }

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

    /// Waits until post `id` carries exactly the actions `want` (by id).
    pub async fn wait_actions(&self, id: &str, want: &[&str]) -> Value {
        self.until(&format!("post {id} with the buttons {want:?}"), |f| {
            let post = f.stored_post(id);
            let actions = actions_of(&post);
            let ids: Vec<&str> = actions.iter().filter_map(|a| a["id"].as_str()).collect();
            (ids == want).then(|| post.clone())
        })
        .await
    }

    /// While set, a click waits after the server read its post and action,
    /// before calling the integration: `DoPostActionWithCookie` reads the
    /// post first, so an edit landing meanwhile (the bot removing the
    /// button) does not stop the call.
    pub fn hold_clicks(&self, hold: bool) {
        self.shared.world().clicks_held = hold;
        self.shared.changed.notify_waiters();
    }

    /// How many clicks are held (see [`FakeMattermost::hold_clicks`]).
    pub async fn wait_clicks_held(&self, n: usize) {
        self.until(&format!("{n} clicks held"), |f| {
            (f.shared.world().clicks_waiting >= n).then_some(())
        })
        .await;
    }

    /// Every click that reached the integration or was refused, in order.
    pub fn clicks(&self) -> Vec<Clicked> {
        self.shared.world().clicks.clone()
    }

    /// `user` clicks the button `action_id` under post `post_id`, as
    /// `DoPostActionWithCookie` runs it (server/channels/app/post_action.go).
    /// Two calls are two clicks: a double click POSTs twice.
    pub async fn click(&self, post_id: &str, action_id: &str, user: &str) -> Clicked {
        let clicked = self.click_inner(post_id, action_id, user).await;
        self.shared.world().clicks.push(clicked.clone());
        self.shared.changed.notify_waiters();
        clicked
    }

    async fn click_inner(&self, post_id: &str, action_id: &str, user: &str) -> Clicked {
        let failed = |id, status, detail: String| Clicked::Failed { id, status, detail };
        // api4/post.go routes `/posts/{post_id:[A-Za-z0-9]+}/actions/{action_id:[A-Za-z0-9]+}`:
        // an id with anything else in it reaches no handler.
        if action_id.is_empty() || !action_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return failed("api.context.404.app_error", None, action_id.into());
        }
        let (request, url, root, timeout, allowed) = {
            let mut world = self.shared.world();
            let Some(post) = world
                .posts
                .iter()
                .find(|p| p["id"] == post_id && p["delete_at"] == 0)
                .cloned()
            else {
                return failed("app.post.get.app_error", None, post_id.into());
            };
            // post.GetAction(actionId): `action == nil || action.Integration == nil` → 404.
            let Some(action) = actions_of(&post)
                .into_iter()
                .find(|a| a["id"] == action_id && a["integration"].is_object())
            else {
                return failed(
                    "api.post.do_action.action_id.app_error",
                    None,
                    action_id.into(),
                );
            };
            world.next_id += 1;
            let channel = post["channel_id"].as_str().unwrap_or("").to_owned();
            let root = match post["root_id"].as_str().unwrap_or("") {
                "" => post_id.to_owned(),
                root => root.to_owned(),
            };
            // model.PostActionIntegrationRequest, filled from the post, its
            // channel, its team and the clicking user; the trigger id is
            // generated per click (`GenerateTriggerId`: signed, opaque here).
            let request = json!({
                "user_id": user,
                "user_name": username(user),
                "channel_id": channel,
                "channel_name": "town-square",
                "team_id": team_of(&channel),
                "team_domain": "acme",
                "post_id": post_id,
                "trigger_id": format!("trig{:022}", world.next_id),
                "type": action["type"],
                "data_source": "",
                "context": action["integration"]["context"],
            });
            let url = action["integration"]["url"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            (
                request,
                url,
                root,
                world
                    .integration_timeout
                    .unwrap_or(DEFAULT_INTEGRATION_TIMEOUT),
                world.allowed_internal.clone(),
            )
        };
        self.while_held().await;
        const FAILED: &str = "api.post.do_action.action_integration.app_error";
        if let Some(forbidden) = forbidden_host(&url, &allowed) {
            return failed(FAILED, None, forbidden);
        }
        // DoActionRequest: a plain POST with JSON, no signature of any kind,
        // bounded by OutgoingIntegrationRequestsTimeout.
        let answer = reqwest::Client::new()
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(request.to_string())
            .timeout(timeout)
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(e) => return failed(FAILED, None, e.to_string()),
        };
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        // `resp.StatusCode != http.StatusOK` → an error for the user.
        if status != 200 {
            return failed(FAILED, Some(status), String::from_utf8_lossy(&body).into());
        }
        let answer: Value = if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(&body) {
                Ok(answer) => answer,
                Err(e) => return failed(FAILED, Some(status), e.to_string()),
            }
        };
        let updated = self.apply_update(post_id, &answer["update"]);
        let ephemeral_text = answer["ephemeral_text"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if let Some(text) = &ephemeral_text {
            // An ephemeral post to the clicking user, in the post's thread
            // (`RootId: rootPostId`), needing no permission of the bot.
            let channel = request["channel_id"].as_str().unwrap_or("").to_owned();
            record(
                &self.shared,
                Sent::EphemeralPost {
                    user_id: user.to_owned(),
                    channel,
                    root_id: root,
                    message: text.clone(),
                },
            );
        }
        Clicked::Answered {
            ephemeral_text,
            updated,
        }
    }

    async fn while_held(&self) {
        let mut counted = false;
        loop {
            let changed = self.shared.changed.notified();
            let newly_counted = {
                let mut world = self.shared.world();
                if !world.clicks_held {
                    if counted {
                        world.clicks_waiting -= 1;
                    }
                    return;
                }
                let newly = !counted;
                if newly {
                    world.clicks_waiting += 1;
                    counted = true;
                }
                newly
            };
            if newly_counted {
                // Told once only: a click that woke itself would never yield.
                self.shared.changed.notify_waiters();
                continue;
            }
            changed.await;
        }
    }

    /// Applies an answer's `update`: the post gets its message, and its
    /// props unless the update has none (then the original props stay);
    /// `UpdatePost` makes it an edit like any other. Recorded as a patch.
    fn apply_update(&self, post_id: &str, update: &Value) -> bool {
        if !update.is_object() {
            return false;
        }
        let message = update["message"].as_str().unwrap_or("").to_owned();
        let props = match update.get("props") {
            None | Some(Value::Null) => None,
            Some(props) => prepare_props(Some(props)).ok(),
        };
        let edited = edit_post(&mut self.shared.world(), post_id, &message, props).is_some();
        if edited {
            record(
                &self.shared,
                Sent::Patch {
                    id: post_id.to_owned(),
                    message,
                },
            );
        }
        edited
    }
}
