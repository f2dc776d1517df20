//! The fake's WebSocket (`/api/v4/websocket`): upgraded by hand, the
//! authentication challenge checked, `hello` sent, then `posted` events
//! until the test drops or stalls the socket.

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

use super::{BOT_TOKEN, Shared};

/// Upgrades by hand, so the fake speaks the same tokio-tungstenite as the bot.
pub(super) async fn websocket(State(s): State<Shared>, mut request: Request) -> Response {
    let mut world = s.world();
    if world.refuse_sockets {
        world.refused += 1;
        drop(world);
        s.changed.notify_waiters();
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    drop(world);
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
    // The first frame must be the authentication challenge.
    let Some(Ok(Message::Text(first))) = ws.next().await else {
        return;
    };
    let challenge: Value = serde_json::from_str(&first).unwrap_or_default();
    let good = challenge["action"] == "authentication_challenge"
        && challenge["data"]["token"] == BOT_TOKEN
        && !s.world().unauthorized;
    if !good {
        let reply = json!({"status": "FAIL", "seq_reply": challenge["seq"], "error": {"id": "api.web_socket_router.bad_token", "message": "invalid token"}});
        let _ = ws.send(Message::text(reply.to_string())).await;
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut world = s.world();
        world.next_socket += 1;
        let id = world.next_socket;
        world.sockets.push((id, tx));
        world.authenticated += 1;
    }
    s.changed.notify_waiters();
    let ok = json!({"status": "OK", "seq_reply": 1}).to_string();
    let hello =
        json!({"event": "hello", "data": {"server_version": "10.0.0"}, "broadcast": {}, "seq": 0})
            .to_string();
    if ws.send(Message::text(ok)).await.is_err() || ws.send(Message::text(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Some(event)) => if ws.send(Message::text(event)).await.is_err() { return },
                // `stall_sockets`: the connection stays open, and silent.
                Some(None) => std::future::pending::<()>().await,
                // Dropped by `drop_sockets`: the stream goes without a close frame.
                None => return,
            },
            incoming = ws.next() => match incoming {
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}
