//! The custom slash command endpoint (`/mosaic fix #42`): Mattermost POSTs a
//! form here; the token (one per team's command) is checked in constant
//! time, the command goes to the inbox with the thread it was typed in, and the answer is an empty 200 at once (Mattermost waits 3 s at
//! most). The work, and any error, comes later (`reply_private` answers
//! through the `response_url` kept in [`Inbound::reply_handle`]). The
//! author's roles are looked up first, within that time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::routing::post;
use mosaic_chat::{ChatError, Inbound, Secret, UserRef};
use subtle::{Choice, ConstantTimeEq};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::PLATFORM;
use crate::press::{self, ACTION_PATH, PressRoute};
use crate::roles::Roles;

/// The path Mattermost's slash command points at.
pub const SLASH_PATH: &str = "/mattermost/command";

/// How long the endpoint waits for room in the inbox: well inside the 3 s
/// Mattermost gives a slash command.
const INBOX_WAIT: Duration = Duration::from_secs(2);

/// How long each lookup of the author's roles may take, within [`INBOX_WAIT`]:
/// the command goes on with the roles found by then.
const ROLES_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Endpoint {
    /// One token per team's command.
    tokens: Arc<[Secret]>,
    inbox: mpsc::Sender<Inbound>,
    roles: Arc<Roles>,
    /// Numbers commands without a `trigger_id`, so their keys never repeat.
    counter: Arc<AtomicU64>,
}

/// Binds `addr` and serves the slash command (and, given `presses`, the
/// buttons' action route) until `shutdown`; returns the address bound (a
/// port of 0 is chosen by the system).
pub async fn serve(
    addr: SocketAddr,
    tokens: Vec<Secret>,
    inbox: mpsc::Sender<Inbound>,
    roles: Arc<Roles>,
    presses: Option<PressRoute>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, ChatError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        ChatError::Unavailable(format!("cannot listen for slash commands on {addr}: {e}"))
    })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let endpoint = Endpoint {
        tokens: tokens.into(),
        inbox,
        roles,
        counter: Arc::new(AtomicU64::new(0)),
    };
    let mut app = Router::new()
        .route(SLASH_PATH, post(command))
        .with_state(endpoint);
    if let Some(route) = presses {
        app = app.merge(
            Router::new()
                .route(ACTION_PATH, post(press::press))
                .with_state(route),
        );
        tracing::info!(addr = %bound, path = ACTION_PATH, "serving the Mattermost card buttons");
    }
    tracing::info!(addr = %bound, path = SLASH_PATH, "serving the Mattermost slash command");
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the Mattermost slash command endpoint stopped");
        }
    });
    Ok(bound)
}

/// Whether `given` is one of the configured tokens. Each is compared in
/// constant time, and all of them always, so that the time taken tells
/// nothing about how much of any matched, nor which.
fn token_matches(given: &str, expected: &[Secret]) -> bool {
    expected
        .iter()
        .fold(Choice::from(0), |found, token| {
            let nonempty = Choice::from(u8::from(!token.is_empty()));
            found | (nonempty & given.as_bytes().ct_eq(token.expose().as_bytes()))
        })
        .into()
}

async fn command(
    State(endpoint): State<Endpoint>,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if !token_matches(field("token"), &endpoint.tokens) {
        tracing::warn!(
            channel = field("channel_id"),
            user = field("user_name"),
            team = field("team_id"),
            "a slash command came with a token not configured: refused (give each team's command token in mattermost.slash_tokens)"
        );
        return StatusCode::UNAUTHORIZED;
    }
    let Some(mut inbound) = slash_inbound(&form, &endpoint.counter) else {
        tracing::warn!("a slash command without channel_id or user_id: refused");
        return StatusCode::BAD_REQUEST;
    };
    let handed_on = async {
        inbound.roles = endpoint
            .roles
            .of(field("team_id").trim(), &inbound.user.id, ROLES_WAIT)
            .await;
        endpoint.inbox.send(inbound).await
    };
    match tokio::time::timeout(INBOX_WAIT, handed_on).await {
        Ok(Ok(())) => StatusCode::OK,
        Ok(Err(_)) => StatusCode::SERVICE_UNAVAILABLE,
        Err(_) => {
            tracing::warn!("the bot is too busy to take a slash command");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The [`Inbound`] of a slash command's form; `None` without a channel or user.
fn slash_inbound(form: &HashMap<String, String>, counter: &AtomicU64) -> Option<Inbound> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("").trim();
    let channel = field("channel_id");
    let user = field("user_id");
    if channel.is_empty() || user.is_empty() {
        return None;
    }
    // Mattermost sends no post id for a command; its trigger id names the
    // invocation, else a number this process never gives twice.
    let id = match field("trigger_id") {
        "" => format!(
            "slash-{}-{}",
            std::process::id(),
            counter.fetch_add(1, Ordering::Relaxed)
        ),
        trigger => format!("slash-{trigger}"),
    };
    let name = match field("user_name") {
        "" => user,
        name => name,
    };
    Some(Inbound {
        platform: PLATFORM,
        channel: channel.to_owned(),
        dedupe_key: format!("mattermost:{id}"),
        // The form carries no time: a command is invoked as it arrives.
        created_at: std::time::SystemTime::now(),
        edit: None,
        message_id: id,
        // Typed in a thread, the command comes with the thread's root
        // (server/channels/app/command.go: `p.Set("root_id", args.RootId)`):
        // it acts on that thread's job and answers there.
        thread: Some(field("root_id").to_owned()).filter(|r| !r.is_empty()),
        user: UserRef {
            id: user.to_owned(),
            name: name.to_owned(),
        },
        roles: Vec::new(),
        text: field("text").to_owned(),
        slash: true,
        reply_handle: Some(field("response_url").to_owned()).filter(|u| !u.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_token_matches() {
        let tokens = [Secret::new("tok-1"), Secret::new("tok-2")];
        assert!(token_matches("tok-1", &tokens));
        assert!(token_matches("tok-2", &tokens));
        assert!(!token_matches("tok-3", &tokens));
        assert!(!token_matches("tok-10", &tokens));
        assert!(!token_matches("", &[Secret::new("")]));
        assert!(!token_matches("tok-1", &[]));
    }

    #[test]
    fn a_form_becomes_a_slash_inbound_with_its_response_url() {
        let form: HashMap<String, String> = [
            ("channel_id", "c1"),
            ("user_id", "u1"),
            ("user_name", "alice"),
            ("text", "fix #42"),
            ("response_url", "http://mm/hooks/commands/x"),
            ("trigger_id", "t1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let inbound = slash_inbound(&form, &AtomicU64::new(0)).unwrap();
        assert!(inbound.slash);
        assert_eq!(inbound.text, "fix #42");
        assert_eq!(inbound.dedupe_key, "mattermost:slash-t1");
        assert_eq!(
            inbound.reply_handle.as_deref(),
            Some("http://mm/hooks/commands/x")
        );
        assert_eq!(inbound.thread, None, "typed outside a thread");
        let mut in_thread = form.clone();
        in_thread.insert("root_id".into(), "root1".into());
        let inbound = slash_inbound(&in_thread, &AtomicU64::new(0)).unwrap();
        assert_eq!(inbound.reply_thread().thread, "root1");
        assert!(slash_inbound(&HashMap::new(), &AtomicU64::new(0)).is_none());
    }
}
