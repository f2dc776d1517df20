//! The fake's gateway: hello, identify → READY and the GUILD_CREATE of each
//! guild of the identified shard, heartbeats acknowledged, dispatches, a
//! forced reconnect (op 7), a resume that replays what was dispatched
//! meanwhile, or Invalid Session when the session is gone; shards as Discord
//! has them: 4010 for an invalid shard, 4011 for too many guilds on one,
//! Invalid Session for an identify beyond `max_concurrency` per 5 s; and a
//! record of every shard connection, to prove none was open twice at once
//! (events/gateway and events/gateway-events of Discord's documentation).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::payloads::user;
use super::{APP_ID, BOT_ID, HEARTBEAT_MS, Inner, Outgoing, Session, ShardConnection};

/// events/gateway, "Session Start Limit Object": `max_concurrency` identifies "per 5 seconds".
const IDENTIFY_WINDOW: Duration = Duration::from_secs(5);

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

/// What an IDENTIFY gets.
enum Identified {
    /// READY and the shard's GUILD_CREATEs, for session `.1`.
    Ready(Vec<Value>, String),
    /// The connection is closed with this code and reason.
    Close(u16, &'static str),
    /// Invalid Session (op 9, `d: false`).
    Invalid,
}

/// An IDENTIFY on connection `me`, as the gateway judges it.
fn identify(inner: &Inner, me: u64, tx: &mpsc::UnboundedSender<Outgoing>, d: &Value) -> Identified {
    // events/gateway-events, "Identify": `shard` is `[shard_id, num_shards]`; without it the
    // session is the only shard.
    let shard = d["shard"].as_array().map(|s| {
        (
            s.first().and_then(Value::as_u64),
            s.get(1).and_then(Value::as_u64),
        )
    });
    let (shard, num_shards) = match shard {
        None => (0, 1),
        Some((Some(id), Some(num))) => (id, num),
        Some(_) => (u64::MAX, 0),
    };
    // topics/opcodes-and-status-codes, 4010 "Invalid shard": "You sent us an invalid shard
    // when identifying".
    if num_shards == 0 || shard >= num_shards || num_shards > u64::from(u32::MAX) {
        return Identified::Close(4010, "Invalid shard");
    }
    let (shard, num_shards) = (shard as u32, num_shards as u32);
    let guilds: Vec<(u64, Value)> = inner
        .guild_payloads()
        .into_iter()
        .filter(|(id, _)| super::shard_of(Some(*id), num_shards) == shard)
        .collect();
    let mut gw = inner.gateway.lock().expect("gateway");
    // events/gateway, "Sharding": "Each shard can only support a maximum of 2500 guilds";
    // 4011 "Sharding required": "The session would have handled too many guilds".
    if guilds.len() > gw.max_guilds_per_shard {
        return Identified::Close(4011, "Sharding required");
    }
    // events/gateway, "Identifying": "Apps are limited by maximum concurrency
    // (`max_concurrency`) when identifying. If your app exceeds this limit, Discord will
    // respond with a Invalid Session (opcode 9)"; "Sharding": `rate_limit_key = shard_id %
    // max_concurrency`, and `max_concurrency` identifies are allowed per 5 seconds
    // ("Session Start Limit Object").
    let key = shard % gw.max_concurrency.max(1);
    let now = Instant::now();
    if gw
        .identified
        .get(&key)
        .is_some_and(|at| now.duration_since(*at) < IDENTIFY_WINDOW)
    {
        return Identified::Invalid;
    }
    gw.identified.insert(key, now);
    let session_id = format!("session-{}", gw.sessions.len() + 1);
    let mut session = Session {
        shard: (shard, num_shards),
        conn: Some((me, tx.clone())),
        seq: 0,
        sent: Vec::new(),
    };
    // events/gateway, "Identifying": READY lists the shard's guilds as unavailable, and a
    // GUILD_CREATE for each follows at once ("Guilds" under Gateway Events).
    session.seq += 1;
    let unavailable: Vec<Value> = guilds
        .iter()
        .map(|(id, _)| json!({ "id": id.to_string(), "unavailable": true }))
        .collect();
    let mut frames = vec![json!({ "op": 0, "t": "READY", "s": session.seq, "d": {
        "v": 10, "user": user(BOT_ID, true), "guilds": unavailable,
        "session_id": session_id, "shard": [shard, num_shards],
        "resume_gateway_url": format!("ws://{}/gateway", inner.addr),
        "application": { "id": APP_ID.to_string(), "flags": 0 } } })];
    for (_, guild) in guilds {
        session.seq += 1;
        frames.push(json!({ "op": 0, "t": "GUILD_CREATE", "s": session.seq, "d": guild }));
    }
    gw.sessions.insert(session_id.clone(), session);
    Identified::Ready(frames, session_id)
}

/// Records connection `me` of `shard` as open from now; returns its place in the record.
fn opened(inner: &Inner, shard: (u32, u32)) -> usize {
    let mut gw = inner.gateway.lock().expect("gateway");
    gw.connections.push(ShardConnection {
        shard: shard.0,
        num_shards: shard.1,
        opened: Instant::now(),
        closed: None,
    });
    gw.connections.len() - 1
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
    // The session this connection serves, and its place in the connection record.
    let mut serving: Option<(String, usize)> = None;
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
                    Some(2) if serving.is_some() => {
                        // topics/opcodes-and-status-codes, 4005 "Already authenticated".
                        close(&mut socket, 4005, "Already authenticated").await;
                        break;
                    }
                    Some(2) => match identify(&inner, me, &tx, &frame["d"]) {
                        Identified::Ready(frames, session_id) => {
                            let shard = inner.gateway.lock().expect("gateway").sessions[&session_id].shard;
                            serving = Some((session_id, opened(&inner, shard)));
                            for frame in &frames {
                                send(&mut socket, frame).await;
                            }
                            inner.sessions.send_modify(|s| s.0 += 1);
                        }
                        Identified::Close(code, reason) => {
                            inner.gateway.lock().expect("gateway").refusals.push(code);
                            close(&mut socket, code, reason).await;
                            break;
                        }
                        Identified::Invalid => {
                            send(&mut socket, &json!({ "op": 9, "d": false })).await;
                        }
                    },
                    // events/gateway, "Resuming": a session Discord no
                    // longer holds gets Invalid Session (op 9, `d: false`);
                    // the client identifies anew and nothing is replayed.
                    Some(6) => {
                        let session_id = frame["d"]["session_id"].as_str().unwrap_or("").to_owned();
                        let since = frame["d"]["seq"].as_u64().unwrap_or(0);
                        let expired = inner.expire_session.swap(false, Ordering::SeqCst);
                        let replay = {
                            let mut gw = inner.gateway.lock().expect("gateway");
                            match gw.sessions.get_mut(&session_id).filter(|_| !expired) {
                                Some(session) => {
                                    session.conn = Some((me, tx.clone()));
                                    session.seq += 1;
                                    let resumed = json!({ "op": 0, "t": "RESUMED", "s": session.seq, "d": {} });
                                    session.sent.push((session.seq, resumed));
                                    let frames: Vec<Value> = session.sent.iter()
                                        .filter(|(s, _)| *s > since).map(|(_, f)| f.clone()).collect();
                                    Some((frames, session.shard))
                                }
                                None => None,
                            }
                        };
                        match replay {
                            Some((frames, shard)) => {
                                serving = Some((session_id, opened(&inner, shard)));
                                for frame in &frames {
                                    send(&mut socket, frame).await;
                                }
                                inner.sessions.send_modify(|s| s.1 += 1);
                            }
                            None => {
                                send(&mut socket, &json!({ "op": 9, "d": false })).await;
                            }
                        }
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
    let Some((session_id, record)) = serving else {
        return;
    };
    let mut gw = inner.gateway.lock().expect("gateway");
    gw.connections[record].closed = Some(Instant::now());
    if let Some(session) = gw.sessions.get_mut(&session_id)
        && session.conn.as_ref().is_some_and(|(id, _)| *id == me)
    {
        session.conn = None;
    }
}

/// Closes the connection with `code` (topics/opcodes-and-status-codes, "Gateway Close
/// Event Codes").
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
