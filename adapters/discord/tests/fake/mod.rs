//! A fake Discord on 127.0.0.1 for tests: the REST routes the adapter uses,
//! recorded call by call, and a gateway WebSocket (hello, identify → READY,
//! heartbeats acked, dispatches, a forced reconnect with resume that replays
//! what was dispatched meanwhile, connections refused while a test asks).
//! Shared by the adapter's tests and the root `tests/discord.rs` (through
//! `#[path]`), so it uses no serenity type.
// Each test binary uses a part of the fake.
#![allow(dead_code, unused_imports)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

mod payloads;

use payloads::user;
pub use payloads::{guild_payload, interaction_payload, message_payload};

/// The bot's user id, application id, guild and channel in the fake.
pub const BOT_ID: u64 = 100;
pub const APP_ID: u64 = 200;
pub const GUILD_ID: u64 = 300;
pub const CHANNEL: u64 = 400;
/// A person who talks to the bot.
pub const ALICE: u64 = 501;
/// The heartbeat interval the fake asks for: short, so that every test
/// sees heartbeats sent and acknowledged.
pub const HEARTBEAT_MS: u64 = 300;
/// How long a test waits for anything.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One REST call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

enum Outgoing {
    Frame(Value),
    Reconnect,
}

#[derive(Default)]
struct Gateway {
    current: Option<(u64, mpsc::UnboundedSender<Outgoing>)>,
    seq: u64,
    /// Every dispatch with its sequence number, to replay on resume.
    sent: Vec<(u64, Value)>,
}

struct Inner {
    addr: SocketAddr,
    calls: Mutex<Vec<Call>>,
    calls_seen: watch::Sender<usize>,
    /// (identifies, resumes) so far.
    sessions: watch::Sender<(usize, usize)>,
    /// Heartbeats acknowledged so far.
    heartbeats: watch::Sender<usize>,
    next_id: AtomicU64,
    threads: Mutex<HashMap<u64, u64>>,
    gateway: Mutex<Gateway>,
    /// Failures to answer once: (method, path fragment, status).
    failures: Mutex<Vec<(String, String, u16)>>,
    /// While set, gateway connections are refused (503); and how many were.
    refuse_gateway: AtomicBool,
    refused: watch::Sender<usize>,
}

/// The fake; dropped with the test's runtime.
#[derive(Clone)]
pub struct FakeDiscord {
    inner: Arc<Inner>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        let inner = Arc::new(Inner {
            addr,
            calls: Mutex::new(Vec::new()),
            calls_seen: watch::channel(0).0,
            sessions: watch::channel((0, 0)).0,
            heartbeats: watch::channel(0).0,
            next_id: AtomicU64::new(1_000_000),
            threads: Mutex::new(HashMap::new()),
            gateway: Mutex::new(Gateway::default()),
            failures: Mutex::new(Vec::new()),
            refuse_gateway: AtomicBool::new(false),
            refused: watch::channel(0).0,
        });
        let app = Router::new()
            .route("/gateway", get(gateway))
            .fallback(rest)
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeDiscord { inner }
    }

    /// The base URL to give the adapter as `api_base`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().expect("calls").clone()
    }

    /// Waits until the bot has identified `identifies` times and resumed `resumes` times.
    pub async fn wait_sessions(&self, identifies: usize, resumes: usize) {
        let mut rx = self.inner.sessions.subscribe();
        let waited = tokio::time::timeout(
            PATIENCE,
            rx.wait_for(|s| s.0 >= identifies && s.1 >= resumes),
        )
        .await
        .map(|r| r.is_ok());
        assert_eq!(
            waited,
            Ok(true),
            "no session {identifies}/{resumes}: {:?}",
            *rx.borrow()
        );
    }

    /// While set, gateway connections are refused with 503, as during an outage.
    pub fn refuse_gateway(&self, refuse: bool) {
        self.inner.refuse_gateway.store(refuse, Ordering::SeqCst);
    }

    /// Waits until `n` gateway connections have been refused in all.
    pub async fn wait_refused(&self, n: usize) {
        let mut rx = self.inner.refused.subscribe();
        let waited = tokio::time::timeout(PATIENCE, rx.wait_for(|r| *r >= n))
            .await
            .map(|r| r.is_ok());
        assert_eq!(
            waited,
            Ok(true),
            "fewer than {n} gateway connections refused"
        );
    }

    /// Waits until the bot has had `n` heartbeats acknowledged.
    pub async fn wait_heartbeats(&self, n: usize) {
        let mut rx = self.inner.heartbeats.subscribe();
        let waited = tokio::time::timeout(PATIENCE, rx.wait_for(|h| *h >= n))
            .await
            .map(|r| r.is_ok());
        assert_eq!(waited, Ok(true), "fewer than {n} heartbeats");
    }

    /// Waits for a call that `matches`, at position `from` or later; returns it and its position.
    pub async fn expect(
        &self,
        what: &str,
        from: usize,
        matches: impl Fn(&Call) -> bool,
    ) -> (usize, Call) {
        let mut rx = self.inner.calls_seen.subscribe();
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                let hit = self
                    .calls()
                    .into_iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, c)| matches(c));
                if let Some(hit) = hit {
                    return hit;
                }
                rx.changed().await.expect("the fake runs");
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for {what}; calls: {:#?}", self.calls()))
    }

    /// Answers the next call of `method` whose path contains `fragment` with `status`.
    pub fn fail_next(&self, method: &str, fragment: &str, status: u16) {
        self.inner.failures.lock().expect("failures").push((
            method.into(),
            fragment.into(),
            status,
        ));
    }

    fn id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Dispatches a gateway event (kept for replay on resume).
    pub fn dispatch(&self, kind: &str, data: Value) {
        let mut gw = self.inner.gateway.lock().expect("gateway");
        gw.seq += 1;
        let frame = json!({ "op": 0, "t": kind, "s": gw.seq, "d": data });
        let seq = gw.seq;
        gw.sent.push((seq, frame.clone()));
        if let Some((_, tx)) = &gw.current {
            let _ = tx.send(Outgoing::Frame(frame));
        }
    }

    /// A message from `author` in `channel` of the guild, by a member with
    /// no roles; returns its id.
    pub fn message_from(&self, channel: u64, author: u64, bot: bool, text: &str) -> u64 {
        self.message_with_roles(channel, author, bot, text, Some(&[]))
    }

    /// A message from `author` in `channel`: `roles` as in [`message_payload`]
    /// (`None`: a DM). Returns its id.
    pub fn message_with_roles(
        &self,
        channel: u64,
        author: u64,
        bot: bool,
        text: &str,
        roles: Option<&[u64]>,
    ) -> u64 {
        let id = self.id();
        self.dispatch(
            "MESSAGE_CREATE",
            message_payload(id, channel, author, bot, text, roles),
        );
        id
    }

    /// A message from alice in `channel`; returns its id.
    pub fn say(&self, channel: u64, text: &str) -> u64 {
        self.message_from(channel, ALICE, false, text)
    }

    /// `/mosaic {sub}` with option `option` = `value`, by alice in the
    /// guild with no roles; returns the interaction id.
    pub fn slash(&self, channel: u64, sub: &str, option: Option<(&str, &str)>) -> u64 {
        self.slash_with_roles(channel, sub, option, Some(&[]))
    }

    /// `/mosaic {sub}` by alice: `roles` as in [`interaction_payload`]
    /// (`None`: in a DM). Returns the interaction id.
    pub fn slash_with_roles(
        &self,
        channel: u64,
        sub: &str,
        option: Option<(&str, &str)>,
        roles: Option<&[u64]>,
    ) -> u64 {
        let id = self.id();
        self.dispatch(
            "INTERACTION_CREATE",
            interaction_payload(id, channel, sub, option, roles),
        );
        id
    }

    /// Tells the bot to reconnect (op 7) and closes its connection.
    pub fn reconnect(&self) {
        let mut gw = self.inner.gateway.lock().expect("gateway");
        if let Some((_, tx)) = gw.current.take() {
            let _ = tx.send(Outgoing::Reconnect);
        }
    }
}

async fn gateway(ws: WebSocketUpgrade, AxumState(inner): AxumState<Arc<Inner>>) -> Response {
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
                        let ready = {
                            let mut gw = inner.gateway.lock().expect("gateway");
                            gw.current = Some((me, tx.clone()));
                            gw.seq += 1;
                            json!({ "op": 0, "t": "READY", "s": gw.seq, "d": {
                                "v": 10, "user": user(BOT_ID, true), "guilds": [],
                                "session_id": "session-1",
                                "resume_gateway_url": format!("ws://{}/gateway", inner.addr),
                                "application": { "id": APP_ID.to_string(), "flags": 0 } } })
                        };
                        send(&mut socket, &ready).await;
                        inner.sessions.send_modify(|s| s.0 += 1);
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

/// Every REST route the adapter uses.
async fn rest(
    AxumState(inner): AxumState<Arc<Inner>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches("/api/v10").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let mut calls = inner.calls.lock().expect("calls");
        calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            body: body.clone(),
        });
        inner.calls_seen.send_replace(calls.len());
    }
    let failure = {
        let mut failures = inner.failures.lock().expect("failures");
        let at = failures
            .iter()
            .position(|(m, f, _)| *m == method.as_str() && path.contains(f.as_str()));
        at.map(|i| failures.remove(i).2)
    };
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "code": 50013, "message": "Missing Permissions", "retry_after": 0.25, "global": false });
        return (status, axum::Json(body)).into_response();
    }
    let id = inner.next_id.fetch_add(1, Ordering::SeqCst).to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reply = match (method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) => json!({ "url": format!("ws://{}/gateway", inner.addr) }),
        ("POST", ["channels", c, "messages"]) => json!({ "id": id, "channel_id": c }),
        ("PATCH", ["channels", c, "messages", m]) => json!({ "id": m, "channel_id": c }),
        ("PUT", ["channels", _, "messages", _, "reactions", _, "@me"]) => {
            return StatusCode::NO_CONTENT.into_response();
        }
        ("POST", ["channels", c, "messages", m, "threads"]) => {
            let (Ok(c), Ok(m)) = (c.parse::<u64>(), m.parse::<u64>()) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            inner.threads.lock().expect("threads").insert(m, c);
            json!({ "id": m.to_string(), "type": 11, "parent_id": c.to_string() })
        }
        ("GET", ["channels", c]) => {
            let parent = c
                .parse::<u64>()
                .ok()
                .and_then(|c| inner.threads.lock().expect("threads").get(&c).copied());
            match parent {
                Some(p) => json!({ "id": c, "type": 11, "parent_id": p.to_string() }),
                None => json!({ "id": c, "type": 0 }),
            }
        }
        ("PUT", ["applications", _, "commands"] | ["applications", _, "guilds", _, "commands"]) => {
            json!([])
        }
        ("POST", ["interactions", _, _, "callback"]) => {
            return StatusCode::NO_CONTENT.into_response();
        }
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) | ("POST", ["webhooks", _, _]) => {
            json!({ "id": id })
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({ "code": 0, "message": "404: Not Found" })),
            )
                .into_response();
        }
    };
    axum::Json(reply).into_response()
}
