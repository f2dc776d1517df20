//! The fake's Socket Mode WebSocket (`/socket`): upgraded by hand, `hello`
//! sent (once the test no longer holds it back), envelopes never acked sent
//! again (as Slack re-delivers them), then new envelopes until the test
//! drops the socket; every ack is recorded.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::Shared;

/// Upgrades by hand, so the fake speaks the same tokio-tungstenite as the bot.
pub(super) async fn websocket(State(s): State<Shared>, mut request: Request) -> Response {
    let Some(key) = request
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            socket(s, ws).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "upgrade")
        .header("sec-websocket-accept", key)
        .body(Body::empty())
        .unwrap_or_default()
}

async fn socket<S>(s: Shared, mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.world().opened += 1;
    s.notify();
    loop {
        // Registered before the check, so a release in between is not missed.
        let released = s.changed.notified();
        if !s.world().hold_hello {
            break;
        }
        released.await;
    }
    // https://api.slack.com/apis/socket-mode: `hello` names the connection
    // and carries `debug_info`.
    let hello = json!({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"},
        "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060}})
    .to_string();
    if ws.send(Message::text(hello)).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut world = s.world();
        for (_, frame) in &world.unacked {
            let _ = tx.send(Some(frame.clone()));
        }
        world.sockets.push(tx);
        world.connected += 1;
    }
    s.notify();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Some(frame)) => if ws.send(Message::text(frame)).await.is_err() { return },
                // Dropped by `drop_sockets`: the stream ends without a close frame.
                Some(None) | None => return,
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let ack: Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(id) = ack.get("envelope_id").and_then(Value::as_str) {
                        let mut world = s.world();
                        world.unacked.retain(|(u, _)| u != id);
                        world.acked.push(id.to_owned());
                        drop(world);
                        s.notify();
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}
