//! The action route (`/mattermost/action`, on the slash command's
//! listener): Mattermost POSTs here when someone clicks a card's button
//! (server/channels/app/post_action.go `DoPostActionWithCookie`), a JSON
//! `PostActionIntegrationRequest` that nothing signs. A request is taken
//! only when its context carries a token the bot made for that action, that
//! channel and the clicked post's thread (`actions.rs`), and the post is the
//! bot's own in that thread; anything else is refused with 403 and a log
//! line, and no press reaches the core.
//!
//! A taken press goes to the core, and the request is held a moment
//! ([`MattermostOptions::press_answer_wait`](crate::MattermostOptions)) for
//! a private answer (a refusal, "no longer applies"): it comes back as the
//! response's `ephemeral_text`, which Mattermost shows to the presser alone
//! in the card's thread and which needs no permission. The card itself is
//! never part of the response (`{}` otherwise): the relay edits it through
//! `edit_with_buttons`, one writer in order, and every client sees that edit
//! over the WebSocket at once; an `update` here would be a second writer
//! that could put back an older card over a newer one.
//!
//! Also here, the adapter's side of that exchange: the key read when `run`
//! starts, the props a card is posted or edited with, and a private answer
//! that comes after the click was answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mosaic_chat::{Button, ChatError, Inbound, Memory, Press, ThreadRef, UserRef};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::actions::{self, ActionContext, ActionKey};
use crate::{Mattermost, PLATFORM};

/// The path the actions' `integration.url` must reach.
pub const ACTION_PATH: &str = "/mattermost/action";

/// The reply handle of a press starts so; a slash command's is a URL.
const HANDLE_PREFIX: &str = "press:";

/// How long the roles of the presser are looked up at most.
const ROLES_WAIT: Duration = Duration::from_secs(1);

/// How long the route waits for room in the core's press queue.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// `PostActionIntegrationRequest` (server/public/model/integration_action.go),
/// as far as the bot reads it. No field says when the click happened.
#[derive(Debug, Deserialize)]
struct ActionRequest {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    post_id: String,
    #[serde(default)]
    trigger_id: String,
    #[serde(default)]
    context: Option<ActionContext>,
}

/// Presses waiting for the core's private answer, by reply handle.
#[derive(Default)]
pub(crate) struct Pending {
    next: AtomicU64,
    waiting: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
}

impl Pending {
    fn open(&self) -> (String, mpsc::UnboundedReceiver<String>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // The process id keeps handles apart across restarts.
        let handle = format!("{HANDLE_PREFIX}{}:{n}", std::process::id());
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(handle.clone(), tx);
        (handle, rx)
    }

    fn close(&self, handle: &str) {
        self.lock().remove(handle);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<String>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `text` to the request of press `handle` if it still waits.
    /// Sent under the lock, so a request that closes afterwards finds it.
    pub(crate) fn deliver(&self, handle: &str, text: &str) -> bool {
        self.lock()
            .get(handle)
            .is_some_and(|tx| tx.send(text.to_owned()).is_ok())
    }
}

/// How long a post or edit with buttons waits for `run` to have the key:
/// it is read from the memory first thing, so this is never reached unless
/// the store hangs.
const KEY_WAIT: Duration = Duration::from_secs(10);

/// The route of the card buttons' clicks, once `run` has read their key
/// (before anything can post a card); `None` when cards carry no buttons.
pub(crate) async fn route(mm: &Arc<Mattermost>, memory: &dyn Memory) -> Option<PressRoute> {
    let actions = mm.options.actions.as_ref().filter(|_| mm.buttons_on())?;
    let key = actions::load_key(actions.secret.as_ref(), memory).await;
    mm.key.send_replace(Some(key.clone()));
    Some(PressRoute {
        mm: Arc::clone(mm),
        key,
    })
}

/// Drops the core's press sender when `run` ends, however it ends, so the
/// core sees this platform's presses end with it.
pub(crate) struct PressesGuard(pub Arc<Mattermost>);

impl Drop for PressesGuard {
    fn drop(&mut self) {
        self.0
            .presses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

impl Mattermost {
    /// The props carrying `buttons` under a card in `thread`; `None` when
    /// cards carry no buttons here, or the key could not be had (logged:
    /// the card goes without them, and its next edit brings them).
    pub(crate) async fn button_props(
        &self,
        thread: &ThreadRef,
        buttons: &[Button],
    ) -> Option<Value> {
        let actions = self
            .options
            .actions
            .as_ref()
            .filter(|_| self.buttons_on())?;
        let mut key = self.key.subscribe();
        let key = match tokio::time::timeout(KEY_WAIT, key.wait_for(Option::is_some)).await {
            Ok(Ok(key)) => key.clone()?,
            _ => {
                tracing::error!(channel = %thread.channel, thread = %thread.thread, "the buttons' key is not loaded; the card goes without buttons");
                return None;
            }
        };
        Some(actions::props(
            &actions.url,
            &key,
            &thread.channel,
            &thread.thread,
            buttons,
        ))
    }

    /// A private answer to a press whose click was answered already: an
    /// ephemeral post, or, for a bot that may not make one (Mattermost gives
    /// `create_post_ephemeral` to system admins only), a post in the thread.
    pub(crate) async fn answer_press_late(
        &self,
        to: &Inbound,
        text: &str,
    ) -> Result<(), ChatError> {
        let thread = to.reply_thread();
        let ephemeral = self
            .rest
            .create_ephemeral(&to.user.id, &thread.channel, &thread.thread, text)
            .await;
        match ephemeral {
            Err(ChatError::Forbidden(why)) => {
                tracing::info!(channel = %thread.channel, thread = %thread.thread, %why, "a late answer to a button press goes in the thread: the bot may not post ephemeral messages");
                self.rest
                    .create_post(&thread.channel, Some(&thread.thread), text, None)
                    .await
                    .map(drop)
            }
            other => other,
        }
    }
}

/// Whether `handle` is a press's (else a slash command's `response_url`).
pub(crate) fn is_press_handle(handle: &str) -> bool {
    handle.starts_with(HANDLE_PREFIX)
}

/// The route's state.
#[derive(Clone)]
pub(crate) struct PressRoute {
    pub mm: Arc<Mattermost>,
    pub key: ActionKey,
}

fn refused(request: &ActionRequest, why: &str) -> Response {
    tracing::warn!(
        platform = %PLATFORM,
        channel = %request.channel_id,
        post = %request.post_id,
        user = %request.user_id,
        reason = why,
        "a button press was refused: Mattermost does not sign these requests, and this one does not carry a token the bot issued for that button"
    );
    (StatusCode::FORBIDDEN, Json(json!({ "error": why }))).into_response()
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

pub(crate) async fn press(State(route): State<PressRoute>, body: Bytes) -> Response {
    let request: ActionRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(error = %e, "a button press that is no PostActionIntegrationRequest: refused");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "not a button press"})),
            )
                .into_response();
        }
    };
    let Some(context) = request.context.clone().filter(|c| !c.token.is_empty()) else {
        return refused(&request, "no token");
    };
    if !route.key.verify(&context) {
        return refused(&request, "a token the bot did not issue for this button");
    }
    // Mattermost fills `channel_id` from the clicked post itself.
    if request.channel_id != context.channel {
        return refused(&request, "a token issued for another channel");
    }
    if !is_id(&request.post_id) || !is_id(&request.user_id) {
        return refused(&request, "no post or user id");
    }
    if let Some(answer) = check_post(&route.mm, &request, &context).await {
        return answer;
    }
    take(&route.mm, request, context).await
}

/// The clicked post must be the bot's own, in the token's channel and
/// thread; `None` when it is.
async fn check_post(
    mm: &Mattermost,
    request: &ActionRequest,
    context: &ActionContext,
) -> Option<Response> {
    let (post, me) = match tokio::join!(mm.rest.post(&request.post_id), mm.me()) {
        (Ok(post), Ok(me)) => (post, me),
        (Err(ChatError::NotFound(_)), _) => return Some(refused(request, "no such post")),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(post = %request.post_id, error = %e, "cannot check the post of a button press; the presser sees an error and may press again");
            let body = Json(json!({"error": "Mattermost could not be asked about the post"}));
            return Some((StatusCode::SERVICE_UNAVAILABLE, body).into_response());
        }
    };
    let root = if post.root_id.is_empty() {
        &post.id
    } else {
        &post.root_id
    };
    if post.user_id != me.id || post.channel_id != context.channel || *root != context.root {
        return Some(refused(
            request,
            "a token issued for a card of another thread, or a post not the bot's",
        ));
    }
    None
}

/// Hands a verified press to the core and answers with its private reply,
/// if one comes in time.
async fn take(mm: &Arc<Mattermost>, request: ActionRequest, context: ActionContext) -> Response {
    let Some(presses) = mm.press_sender() else {
        tracing::warn!("a button press arrived while the core takes none");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let roles = mm
        .roles
        .of(request.team_id.trim(), &request.user_id, ROLES_WAIT)
        .await;
    let (handle, mut replies) = mm.pending.open();
    // Every click has its own trigger id (model.GenerateTriggerId): a
    // double click is two presses, which the core tells apart by the card.
    let key = match request.trigger_id.as_str() {
        "" => handle.clone(),
        trigger => trigger.to_owned(),
    };
    let name = match request.user_name.trim() {
        "" => request.user_id.clone(),
        name => name.to_owned(),
    };
    let press = Press {
        platform: PLATFORM,
        channel: context.channel,
        message_id: request.post_id,
        button: context.action,
        user: UserRef {
            id: request.user_id,
            name,
        },
        roles,
        reply_handle: Some(handle.clone()),
        dedupe_key: format!("mattermost:press:{key}"),
        // The request carries no time: a click is sent the moment it is
        // made, and never again.
        created_at: SystemTime::now(),
    };
    match tokio::time::timeout(QUEUE_WAIT, presses.send(press)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) | Err(_) => {
            mm.pending.close(&handle);
            tracing::warn!("the bot is too busy or stopping: a button press was not taken");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let first = tokio::time::timeout(mm.options.press_answer_wait, replies.recv()).await;
    mm.pending.close(&handle);
    let mut texts: Vec<String> = first.ok().flatten().into_iter().collect();
    while let Ok(more) = replies.try_recv() {
        texts.push(more);
    }
    if texts.is_empty() {
        return Json(json!({})).into_response();
    }
    Json(json!({ "ephemeral_text": texts.join("\n\n"), "skip_slack_parsing": true }))
        .into_response()
}
