//! The fake's gateway: hello, identify → READY and the guild's
//! GUILD_CREATE, heartbeats acknowledged, dispatches, a forced reconnect
//! (op 7), a resume that replays what was dispatched meanwhile, or Invalid
//! Session when the session is gone (events/gateway and
//! events/gateway-events of Discord's documentation).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State as AxumState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::payloads::user;
use super::{APP_ID, BOT_ID, GUILD_ID, HEARTBEAT_MS, Inner, Outgoing};

pub(super) async fn gateway(
    ws: WebSocketUpgrade,
    AxumState(inner): AxumState<Arc<Inner>>,
) -> Response {
    if inner.refuse_gateway.load(Ordering::SeqCst) {
        inner.refused.send_modify(|r| *r += 1);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    ws.on_upgrade(move |socket| session(socket, inner))
}

async fn send(socket: &mut WebSocket, frame: &Value) -> bool {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .is_ok()
}

/// One gateway connection.
async fn session(mut socket: WebSocket, inner: Arc<Inner>) {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    let me = CONNECTIONS.fetch_add(1, Ordering::SeqCst);
    let (tx, mut rx) = mpsc::unbounded_channel();
    if !send(
        &mut socket,
        &json!({ "op": 10, "d": { "heartbeat_interval": HEARTBEAT_MS } }),
    )
    .await
    {
        return;
    }
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(Message::Text(text))) = incoming else {
                    if matches!(incoming, Some(Ok(_))) { continue; }
                    break;
                };
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match frame["op"].as_u64() {
                    Some(1) => {
                        send(&mut socket, &json!({ "op": 11 })).await;
                        inner.heartbeats.send_modify(|h| *h += 1);
                    }
                    Some(2) => {
                        // events/gateway, "Identifying": READY lists the
                        // guilds as unavailable, and a GUILD_CREATE for each
                        // follows at once ("Guilds" under Gateway Events).
                        let (ready, guild) = {
                            let mut gw = inner.gateway.lock().expect("gateway");
                            gw.current = Some((me, tx.clone()));
                            gw.seq += 1;
                            let ready = json!({ "op": 0, "t": "READY", "s": gw.seq, "d": {
                                "v": 10, "user": user(BOT_ID, true),
                                "guilds": [{ "id": GUILD_ID.to_string(), "unavailable": true }],
                                "session_id": "session-1",
                                "resume_gateway_url": format!("ws://{}/gateway", inner.addr),
                                "application": { "id": APP_ID.to_string(), "flags": 0 } } });
                            gw.seq += 1;
                            let guild = json!({ "op": 0, "t": "GUILD_CREATE", "s": gw.seq,
                                "d": inner.guild.lock().expect("guild").payload() });
                            (ready, guild)
                        };
                        send(&mut socket, &ready).await;
                        send(&mut socket, &guild).await;
                        inner.sessions.send_modify(|s| s.0 += 1);
                    }
                    // events/gateway, "Resuming": a session Discord no
                    // longer holds gets Invalid Session (op 9, `d: false`);
                    // the client identifies anew and nothing is replayed.
                    Some(6) if inner.expire_session.swap(false, Ordering::SeqCst) => {
                        send(&mut socket, &json!({ "op": 9, "d": false })).await;
                    }
                    Some(6) => {
                        let since = frame["d"]["seq"].as_u64().unwrap_or(0);
                        let replay: Vec<Value> = {
                            let mut gw = inner.gateway.lock().expect("gateway");
                            gw.current = Some((me, tx.clone()));
                            gw.seq += 1;
                            let resumed = json!({ "op": 0, "t": "RESUMED", "s": gw.seq, "d": {} });
                            gw.sent.iter().filter(|(s, _)| *s > since).map(|(_, f)| f.clone())
                                .chain(std::iter::once(resumed)).collect()
                        };
                        for frame in &replay {
                            send(&mut socket, frame).await;
                        }
                        inner.sessions.send_modify(|s| s.1 += 1);
                    }
                    _ => {}
                }
            }
            out = rx.recv() => match out {
                Some(Outgoing::Frame(frame)) => { if !send(&mut socket, &frame).await { break; } }
                Some(Outgoing::Reconnect) => {
                    send(&mut socket, &json!({ "op": 7, "d": null })).await;
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                None => break,
            },
        }
    }
    let mut gw = inner.gateway.lock().expect("gateway");
    if gw.current.as_ref().is_some_and(|(id, _)| *id == me) {
        gw.current = None;
    }
}
