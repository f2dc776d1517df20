//! Socket Mode: `apps.connections.open` (with the app-level token) gives a
//! WebSocket URL; Slack greets with `hello`, then sends envelopes, each acked
//! with its `envelope_id` the moment it is read (Slack re-sends an envelope
//! not acked within a few seconds, with `retry_attempt` and `retry_reason`);
//! what it carries (a message, a slash command, or the button presses of an
//! `interactive` envelope) is then handed, in order, to a task of its own
//! that reads the author's user groups and waits for room in the inbox or
//! the presses' channel, so the socket is never held up. A `disconnect`
//! (Slack refreshes connections every few hours) opens a new connection at
//! once; a dropped one is reopened with capped, jittered backoff.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::{SinkExt, StreamExt};
use mosaic_chat::{ChatError, Connection, Inbound, Press};
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::{SlackCommandEvent, SlackPushEventCallback};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::{Slack, SlackOptions, events, presses};

/// How often the bot pings Slack, to find a dead connection.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// Silence (not even a pong or Slack's own ping) after which the socket counts as dead.
const DEAD_AFTER: Duration = Duration::from_secs(90);

/// A Socket Mode frame (<https://api.slack.com/apis/socket-mode>), its
/// payloads read with slack-morphism's models. The envelope itself is ours:
/// slack-morphism 2.31 keeps its `SlackSocketModeEvent` in a private module
/// (its `models::socket_mode` is shadowed by its public `socket_mode`).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Envelope {
    Hello,
    Disconnect,
    // Boxed: slack-morphism's payloads are large (its event union is
    // several kilobytes), and one frame is read at a time.
    EventsApi {
        payload: Box<SlackPushEventCallback>,
    },
    SlashCommands {
        payload: Box<SlackCommandEvent>,
    },
    /// A user interacted with the app: read as slack-morphism's
    /// `SlackInteractionEvent` apart, so that a payload it cannot read is
    /// told in the log rather than skipped as an unknown frame.
    Interactive {
        payload: Box<serde_json::Value>,
    },
    /// Whatever Slack adds: acked, not read.
    #[serde(other)]
    Other,
}

/// What an envelope hands on.
pub(crate) enum Delivery {
    // Boxed: an `Inbound` is ten times the size of the presses' `Vec`.
    Message(Box<Inbound>),
    Presses(Vec<Press>),
}

/// An envelope's acknowledgement, and the one field read to send it.
#[derive(Serialize, Deserialize)]
struct Ack {
    envelope_id: String,
}

/// How a Socket Mode connection ended.
enum SessionEnd {
    Shutdown,
    InboxClosed,
    Unauthorized(String),
    /// Slack asked for a new connection (`disconnect`): open one at once.
    Refresh,
    /// The connection failed or died; `greeted` says whether it got as far
    /// as `hello` (then the backoff starts over).
    Lost {
        greeted: bool,
        reason: String,
    },
}

/// Reconnect delays: exponential from `reconnect_min` to `reconnect_max`,
/// jittered so that many bots do not reconnect in step.
fn backoff(options: &SlackOptions) -> impl Iterator<Item = Duration> + use<> {
    ExponentialBuilder::default()
        .with_min_delay(options.reconnect_min)
        .with_max_delay(options.reconnect_max)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The bot's own user id, asked until Slack answers (it may be unreachable
/// when the bot starts); `None` on shutdown. A refused token ends the wait.
pub(crate) async fn whoami(
    slack: &Slack,
    shutdown: &CancellationToken,
) -> Result<Option<String>, ChatError> {
    let mut delays = backoff(&slack.options);
    loop {
        let answer = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            me = slack.bot_user() => me.cloned(),
        };
        match answer {
            Ok(me) => return Ok(Some(me)),
            Err(e) if e.is_retryable() => {
                let wait = delays.next().unwrap_or(slack.options.reconnect_max);
                tracing::warn!(error = %e, ?wait, "cannot reach Slack; trying again");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Socket Mode sessions until shutdown or a refused token.
pub(crate) async fn run(
    slack: Arc<Slack>,
    inbox: mpsc::Sender<Inbound>,
    presses: Option<mpsc::Sender<Press>>,
    shutdown: CancellationToken,
) -> Result<(), ChatError> {
    // Envelopes are handed on by a task of their own, in order, so the
    // socket is read (and the next envelope acked) while a message waits
    // for its author's user groups or for room in the inbox.
    let (handed, mut to_hand) = mpsc::unbounded_channel::<Delivery>();
    let worker = {
        let (slack, shutdown) = (Arc::clone(&slack), shutdown.clone());
        tokio::spawn(async move {
            while let Some(delivery) = to_hand.recv().await {
                let delivered = tokio::select! {
                    () = shutdown.cancelled() => return,
                    delivered = slack.hand_on(&inbox, presses.as_ref(), delivery) => delivered,
                };
                if !delivered {
                    return;
                }
            }
        })
    };
    let _worker = AbortOnDrop(worker);
    let mut delays = backoff(&slack.options);
    loop {
        let end = session(&slack, &handed, &shutdown).await;
        if matches!(end, SessionEnd::Refresh | SessionEnd::Lost { .. }) {
            // Even a refresh leaves a gap: envelopes wait until the next `hello`.
            slack.connection.lost();
        }
        match end {
            SessionEnd::Shutdown | SessionEnd::InboxClosed => return Ok(()),
            SessionEnd::Unauthorized(why) => return Err(ChatError::Unauthorized(why)),
            SessionEnd::Refresh => {
                tracing::info!("Slack refreshes the Socket Mode connection");
                delays = backoff(&slack.options);
            }
            SessionEnd::Lost { greeted, reason } => {
                if greeted {
                    delays = backoff(&slack.options);
                }
                let wait = delays.next().unwrap_or(slack.options.reconnect_max);
                tracing::warn!(%reason, ?wait, "the Slack Socket Mode connection was lost; reconnecting");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Stops the delivery task with the platform.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lost(greeted: bool, reason: String) -> SessionEnd {
    SessionEnd::Lost { greeted, reason }
}

/// One Socket Mode connection, from `apps.connections.open` until it ends.
async fn session(
    slack: &Slack,
    inbox: &mpsc::UnboundedSender<Delivery>,
    shutdown: &CancellationToken,
) -> SessionEnd {
    let Some(app_token) = &slack.options.app_token else {
        return SessionEnd::Shutdown;
    };
    let url = tokio::select! {
        () = shutdown.cancelled() => return SessionEnd::Shutdown,
        url = slack.web.open_connection(app_token) => url,
    };
    let url = match url {
        Ok(url) => url,
        Err(ChatError::Unauthorized(why)) => return SessionEnd::Unauthorized(why),
        Err(e) => return lost(false, format!("apps.connections.open: {e}")),
    };
    let connect = tokio::select! {
        () = shutdown.cancelled() => return SessionEnd::Shutdown,
        c = tokio::time::timeout(DEAD_AFTER, tokio_tungstenite::connect_async(url.as_str())) => c,
    };
    let socket = match connect {
        Ok(Ok((socket, _))) => socket,
        // The URL holds a ticket: never logged.
        Ok(Err(e)) => {
            return lost(
                false,
                format!("cannot open the Socket Mode connection: {e}"),
            );
        }
        Err(_) => return lost(false, "no answer opening the Socket Mode connection".into()),
    };
    let (mut sink, mut stream) = socket.split();
    let mut greeted = false;
    let mut last_heard = Instant::now();
    let mut next_ping = Instant::now() + PING_INTERVAL;
    loop {
        let frame = tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                let _ = sink.close().await;
                return SessionEnd::Shutdown;
            }
            () = sleep_until(last_heard + DEAD_AFTER) => {
                return lost(greeted, format!("nothing heard for {DEAD_AFTER:?}"));
            }
            () = sleep_until(next_ping) => {
                next_ping = Instant::now() + PING_INTERVAL;
                if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                    return lost(greeted, format!("cannot ping: {e}"));
                }
                continue;
            }
            frame = stream.next() => frame,
        };
        last_heard = Instant::now();
        let text = match frame {
            None | Some(Ok(Message::Close(_))) => {
                return lost(greeted, "Slack closed the connection".into());
            }
            Some(Err(e)) => return lost(greeted, e.to_string()),
            Some(Ok(Message::Text(text))) => text,
            // Pings are answered by the library; pongs only prove life.
            Some(Ok(_)) => continue,
        };
        // Acked before anything else (even before it is read in full), so a
        // slow inbox or a user-group lookup never makes Slack re-send it.
        if let Ok(ack) = serde_json::from_str::<Ack>(&text) {
            let ack = serde_json::to_string(&ack).unwrap_or_default();
            if let Err(e) = sink.send(Message::text(ack)).await {
                return lost(greeted, format!("cannot ack an envelope: {e}"));
            }
        }
        let envelope = match serde_json::from_str::<Envelope>(&text) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::debug!(error = %e, "a Socket Mode frame the bot does not read was skipped");
                continue;
            }
        };
        let delivery = match envelope {
            Envelope::Hello => {
                greeted = true;
                slack.connection.set(Connection::Connected);
                None
            }
            Envelope::Disconnect => return SessionEnd::Refresh,
            Envelope::Interactive { payload } => interactive_presses(*payload),
            other => envelope_inbound(slack, other, &text).map(|i| Delivery::Message(Box::new(i))),
        };
        if let Some(delivery) = delivery
            && inbox.send(delivery).is_err()
        {
            return SessionEnd::InboxClosed;
        }
    }
}

/// The button presses of an `interactive` envelope, if any.
fn interactive_presses(payload: serde_json::Value) -> Option<Delivery> {
    match serde_json::from_value(payload) {
        Ok(event) => {
            let presses = presses::presses_of(&event);
            (!presses.is_empty()).then_some(Delivery::Presses(presses))
        }
        Err(e) => {
            tracing::warn!(error = %e, "an interaction Slack sent over Socket Mode could not be read; skipped");
            None
        }
    }
}

/// The [`Inbound`] an envelope carries: an Events API event addressed to the
/// bot, or a slash command (`frame` is the envelope as sent, for the
/// command's `user_name`).
fn envelope_inbound(slack: &Slack, envelope: Envelope, frame: &str) -> Option<Inbound> {
    let bot_user = slack.bot_user.get().map_or("", String::as_str);
    let bot_name = &slack.options.bot_name;
    match envelope {
        Envelope::EventsApi { payload } => {
            #[derive(Deserialize)]
            struct InFrame {
                payload: events::Subtype,
            }
            let subtype = serde_json::from_str::<InFrame>(frame)
                .ok()
                .and_then(|f| f.payload.into_inner());
            events::event_inbound(&payload, subtype.as_deref(), bot_user, bot_name)
        }
        Envelope::SlashCommands { payload } => {
            #[derive(serde::Deserialize)]
            struct Named {
                payload: events::UserName,
            }
            let named = serde_json::from_str::<Named>(frame).ok();
            let user_name = named.as_ref().and_then(|n| n.payload.user_name.as_deref());
            Some(events::slash_inbound(
                &payload, user_name, bot_user, bot_name,
            ))
        }
        _ => None,
    }
}
