//! A click on an interactive message button, as the Mattermost server runs
//! it (server/channels/app/post_action.go `DoPostActionWithCookie`): the
//! post and its action read, a `PostActionIntegrationRequest` POSTed to the
//! integration URL unsigned (refused for internal hosts unless allowed),
//! and the answer's `update` and `ephemeral_text` applied.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};

use super::actions::{actions_of, prepare_props};
use super::history::{edit_post, team_of};
use super::rest::{record, username};
use super::{FakeMattermost, Sent};

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
