//! The signed HTTP endpoint: the Events API (`/slack/events`, JSON), the
//! `/mosaic` slash command (`/slack/commands`, a form) and the app's
//! interactivity Request URL (`/slack/interactivity`: button presses, a
//! form whose `payload` field is the JSON of a `block_actions`,
//! <https://api.slack.com/interactivity/handling#payloads>). Every request's
//! signature and age are checked first, as Slack signs all three alike
//! (<https://api.slack.com/authentication/verifying-requests-from-slack>;
//! 401 otherwise, logged); the answer is sent at once (Slack waits 3 s at
//! most, then shows the user an error) and the work handed to the inbox or
//! the presses' channel from a task of its own. Retried deliveries
//! (`X-Slack-Retry-Num`) carry the same message, handled once by its dedupe
//! key.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mosaic_chat::{ChatError, Inbound, Press, Secret};
use slack_morphism::prelude::{SlackCommandEvent, SlackInteractionEvent, SlackPushEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::signature;
use crate::socket::Delivery;
use crate::{HttpOptions, Slack, events, presses};

/// The path the app's Event Subscriptions Request URL points at.
pub const EVENTS_PATH: &str = "/slack/events";
/// The path the `/mosaic` slash command's Request URL points at.
pub const COMMANDS_PATH: &str = "/slack/commands";
/// The path the app's Interactivity Request URL points at.
pub const INTERACTIVITY_PATH: &str = "/slack/interactivity";

#[derive(Clone)]
struct Endpoint {
    slack: Arc<Slack>,
    signing_secret: Secret,
    inbox: mpsc::Sender<Inbound>,
    presses: Option<mpsc::Sender<Press>>,
}

/// Binds the endpoint and serves it until `shutdown`; returns the address
/// bound (a port of 0 is chosen by the system).
pub(crate) async fn serve(
    slack: Arc<Slack>,
    options: &HttpOptions,
    inbox: mpsc::Sender<Inbound>,
    presses: Option<mpsc::Sender<Press>>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, ChatError> {
    let addr = options.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        ChatError::Unavailable(format!("cannot listen for Slack requests on {addr}: {e}"))
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let endpoint = Endpoint {
        slack,
        signing_secret: options.signing_secret.clone(),
        inbox,
        presses,
    };
    let app = Router::new()
        .route(EVENTS_PATH, post(event))
        .route(COMMANDS_PATH, post(command))
        .route(INTERACTIVITY_PATH, post(interactivity))
        .with_state(endpoint);
    tracing::info!(addr = %bound, "serving Slack's Events API, slash command and interactivity");
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the Slack HTTP endpoint stopped");
        }
    });
    Ok(bound)
}

impl Endpoint {
    /// `Some(401)` unless the request to `path` is signed with the signing
    /// secret, recently.
    fn refuse_unsigned(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let checked = signature::verify(
            &self.signing_secret,
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            body,
        );
        let refused = checked.err()?;
        tracing::warn!(%path, reason = %refused, "a request to the Slack endpoint was refused (check MOSAIC__SLACK__SIGNING_SECRET)");
        Some(StatusCode::UNAUTHORIZED.into_response())
    }

    fn bot_user(&self) -> &str {
        self.slack.bot_user.get().map_or("", String::as_str)
    }

    /// Hands `inbound` to the inbox from a task, so the answer to Slack never
    /// waits for a busy bot.
    fn deliver(&self, inbound: Inbound) {
        let (slack, inbox) = (Arc::clone(&self.slack), self.inbox.clone());
        tokio::spawn(async move {
            if !slack.deliver(&inbox, inbound).await {
                tracing::warn!("the bot stopped before a Slack message was handled");
            }
        });
    }
}

async fn event(State(endpoint): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = endpoint.refuse_unsigned(EVENTS_PATH, &headers, &body) {
        return refused;
    }
    let payload = match serde_json::from_slice::<SlackPushEvent>(&body) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable Slack event was skipped");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let callback = match payload {
        SlackPushEvent::UrlVerification(check) => return check.challenge.into_response(),
        SlackPushEvent::EventCallback(callback) => callback,
        SlackPushEvent::AppRateLimited(limited) => {
            // https://api.slack.com/apis/rate-limits#events: more than 30,000
            // events an hour; Slack stops sending for the rest of the minute.
            tracing::warn!(minute = ?limited.minute_rate_limited, "Slack rate-limited this app's events");
            return StatusCode::OK.into_response();
        }
    };
    if let Some(retry) = headers.get("x-slack-retry-num") {
        tracing::debug!(?retry, "Slack retried an event delivery");
    }
    let bot_name = &endpoint.slack.options.bot_name;
    let subtype = std::str::from_utf8(&body)
        .ok()
        .and_then(events::Subtype::of);
    let inbound =
        events::event_inbound(&callback, subtype.as_deref(), endpoint.bot_user(), bot_name);
    if let Some(inbound) = inbound {
        endpoint.deliver(inbound);
    }
    StatusCode::OK.into_response()
}

async fn command(State(endpoint): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = endpoint.refuse_unsigned(COMMANDS_PATH, &headers, &body) {
        return refused;
    }
    let (Ok(command), Ok(named)) = (
        serde_urlencoded::from_bytes::<SlackCommandEvent>(&body),
        serde_urlencoded::from_bytes::<events::UserName>(&body),
    ) else {
        tracing::warn!(
            "a slash command without team_id, channel_id, user_id, command, response_url or trigger_id: refused"
        );
        return StatusCode::BAD_REQUEST.into_response();
    };
    let bot_name = &endpoint.slack.options.bot_name;
    let inbound = events::slash_inbound(
        &command,
        named.user_name.as_deref(),
        endpoint.bot_user(),
        bot_name,
    );
    endpoint.deliver(inbound);
    // An empty 200: Slack shows nothing; the answer comes by `response_url`.
    StatusCode::OK.into_response()
}

/// A user pressed a button: answered with an empty 200 at once (Slack
/// leaves the message as it is), the presses handed on from a task.
async fn interactivity(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = endpoint.refuse_unsigned(INTERACTIVITY_PATH, &headers, &body) {
        return refused;
    }
    let event = serde_urlencoded::from_bytes::<presses::PayloadForm>(&body)
        .map_err(|e| e.to_string())
        .and_then(|form| {
            serde_json::from_str::<SlackInteractionEvent>(&form.payload).map_err(|e| e.to_string())
        });
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "an interaction without a readable `payload` was refused");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let pressed = presses::presses_of(&event);
    if !pressed.is_empty() {
        let (slack, inbox, presses) = (
            Arc::clone(&endpoint.slack),
            endpoint.inbox.clone(),
            endpoint.presses.clone(),
        );
        tokio::spawn(async move {
            let delivery = Delivery::Presses(pressed);
            if !slack.hand_on(&inbox, presses.as_ref(), delivery).await {
                tracing::warn!("the bot stopped before a Slack button press was handled");
            }
        });
    }
    StatusCode::OK.into_response()
}
