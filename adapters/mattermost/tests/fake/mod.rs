//! A fake Mattermost on 127.0.0.1: the REST v4 calls the adapter makes and
//! the WebSocket API (`/api/v4/websocket`, authentication challenge, `hello`,
//! `posted` events with the post as a JSON string). It records everything the
//! bot sends; a test posts as a user, drops sockets, keeps the bot out, and
//! turns on 429s or a refused token. Shared with the root test through
//! `#[path = "../adapters/mattermost/tests/fake/mod.rs"]`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The bot account's token, id and username.
pub const BOT_TOKEN: &str = "mm-bot-token";
pub const BOT_ID: &str = "botuserid000000000000000001";
pub const BOT_USERNAME: &str = "mosaic-bot";
/// The user tests post as.
pub const ALICE: &str = "aliceuserid0000000000000001";
/// The channel tests post in.
pub const CHANNEL: &str = "townsquare00000000000000001";

/// How long a test waits for the bot to do something.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One thing the bot did on the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Post {
        id: String,
        channel: String,
        root_id: String,
        message: String,
    },
    Patch {
        id: String,
        message: String,
    },
    Reaction {
        post_id: String,
        emoji: String,
        user_id: String,
    },
    Ephemeral {
        text: String,
    },
}

#[derive(Default)]
struct World {
    posts: Vec<Value>,
    next_id: u64,
    clock: i64,
    sockets: Vec<(u64, mpsc::UnboundedSender<Option<String>>)>,
    next_socket: u64,
    authenticated: usize,
    refuse_sockets: bool,
    rate_limit_next: usize,
    rate_limited: usize,
    unauthorized: bool,
    sent: Vec<Sent>,
}

#[derive(Clone)]
struct Shared {
    world: Arc<Mutex<World>>,
    changed: Arc<Notify>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake server; it stops when dropped.
pub struct FakeMattermost {
    addr: SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMattermost {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeMattermost {
    pub async fn start() -> FakeMattermost {
        let shared = Shared {
            world: Arc::default(),
            changed: Arc::default(),
        };
        let app = Router::new()
            .route("/api/v4/users/me", get(me))
            .route("/api/v4/users/me/channels", get(my_channels))
            .route("/api/v4/users/{id}", get(user))
            .route("/api/v4/channels/{id}/posts", get(channel_posts))
            .route("/api/v4/posts", post(create_post))
            .route("/api/v4/posts/{id}/patch", put(patch_post))
            .route("/api/v4/reactions", post(react))
            .route("/hooks/commands/{id}", post(respond))
            .route("/api/v4/websocket", get(websocket))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeMattermost {
            addr,
            shared,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A slash command's `response_url` on this fake.
    pub fn response_url(&self) -> String {
        format!("{}/hooks/commands/resp1", self.url())
    }

    /// Alice posts `text` in `channel` (in the thread `root_id`, if given);
    /// connected sockets get a `posted` event. Returns the post's id.
    pub fn user_post(&self, channel: &str, root_id: Option<&str>, text: &str) -> String {
        let id = add_post(&self.shared, ALICE, channel, root_id.unwrap_or(""), text);
        self.shared.changed.notify_waiters();
        id
    }

    /// Closes every socket at once, without a close frame, as a network cut would.
    pub fn drop_sockets(&self) {
        self.shared.world().sockets.clear();
    }

    /// Every socket goes silent but stays open, as behind a dead NAT: not
    /// even pongs come back.
    pub fn stall_sockets(&self) {
        let sockets = std::mem::take(&mut self.shared.world().sockets);
        for (_, tx) in sockets {
            let _ = tx.send(None);
        }
    }

    /// While set, WebSocket connections are refused (503).
    pub fn refuse_sockets(&self, refuse: bool) {
        self.shared.world().refuse_sockets = refuse;
    }

    /// The next `n` writes (posts, patches, reactions) answer 429.
    pub fn rate_limit_next(&self, n: usize) {
        self.shared.world().rate_limit_next = n;
    }

    /// How many 429s were answered.
    pub fn rate_limited(&self) -> usize {
        self.shared.world().rate_limited
    }

    /// While set, every REST call and WebSocket authentication answers 401.
    pub fn refuse_token(&self, refuse: bool) {
        self.shared.world().unauthorized = refuse;
    }

    /// Everything the bot sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.world().sent.clone()
    }

    /// How many sockets authenticated so far.
    pub fn authenticated(&self) -> usize {
        self.shared.world().authenticated
    }

    /// Waits until `ready` holds of the fake's state, checked after every change.
    async fn until<T>(&self, what: &str, ready: impl Fn(&FakeMattermost) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let changed = self.shared.changed.notified();
            if let Some(value) = ready(self) {
                return value;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("timed out waiting for {what}; sent: {:#?}", self.sent());
            }
        }
    }

    /// Waits until `n` sockets have authenticated in all.
    pub async fn wait_authenticated(&self, n: usize) {
        self.until(&format!("{n} authenticated sockets"), |f| {
            (f.authenticated() >= n).then_some(())
        })
        .await;
    }

    /// Waits for the first thing sent that `matches`, and returns it.
    pub async fn expect(&self, what: &str, matches: impl Fn(&Sent) -> bool) -> Sent {
        self.until(what, |f| f.sent().into_iter().find(|s| matches(s)))
            .await
    }
}

fn add_post(shared: &Shared, user: &str, channel: &str, root_id: &str, text: &str) -> String {
    let mut world = shared.world();
    world.next_id += 1;
    // Real time, as a server's, yet never the same twice.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    world.clock = now.max(world.clock + 1);
    let id = format!("post{:022}", world.next_id);
    let post = json!({
        "id": id, "channel_id": channel, "root_id": root_id, "user_id": user,
        "message": text, "create_at": world.clock, "update_at": world.clock, "type": "",
    });
    let mentions: Vec<&str> = if text.contains(&format!("@{BOT_USERNAME}")) {
        vec![BOT_ID]
    } else {
        vec![]
    };
    let event = json!({
        "event": "posted",
        "data": {
            "post": post.to_string(),
            "mentions": serde_json::to_string(&mentions).unwrap_or_default(),
            "channel_type": "O",
            "sender_name": if user == ALICE { "@alice" } else { "@mosaic-bot" },
        },
        "broadcast": { "channel_id": channel },
        "seq": world.next_id,
    })
    .to_string();
    world.posts.push(post);
    world
        .sockets
        .retain(|(_, tx)| tx.send(Some(event.clone())).is_ok());
    id
}

/// A 401 to answer, unless the bot's token is given and accepted.
fn check_token(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if shared.world().unauthorized || given != Some(&format!("Bearer {BOT_TOKEN}")) {
        let body = json!({"id": "api.context.session_expired.app_error", "message": "Invalid or expired session, please login again.", "status_code": 401});
        return Some((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    None
}

/// A refusal of a write: unauthenticated, or rate limited.
fn check_write(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    if let Some(refused) = check_token(shared, headers) {
        return Some(refused);
    }
    let mut world = shared.world();
    if world.rate_limit_next > 0 {
        world.rate_limit_next -= 1;
        world.rate_limited += 1;
        drop(world);
        shared.changed.notify_waiters();
        let headers = [
            ("X-Ratelimit-Limit", "10"),
            ("X-Ratelimit-Remaining", "0"),
            ("X-Ratelimit-Reset", "1"),
        ];
        return Some((StatusCode::TOO_MANY_REQUESTS, headers, "limit exceeded").into_response());
    }
    None
}

fn record(shared: &Shared, sent: Sent) {
    shared.world().sent.push(sent);
    shared.changed.notify_waiters();
}

async fn me(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    Json(json!({"id": BOT_ID, "username": BOT_USERNAME, "is_bot": true})).into_response()
}

async fn user(State(s): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    let name = if id == ALICE {
        "alice"
    } else if id == BOT_ID {
        BOT_USERNAME
    } else {
        "someone"
    };
    Json(json!({"id": id, "username": name})).into_response()
}

async fn my_channels(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    Json(json!([{"id": CHANNEL, "name": "town-square"}])).into_response()
}

async fn channel_posts(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(channel): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    let since: i64 = query.get("since").and_then(|v| v.parse().ok()).unwrap_or(0);
    let world = s.world();
    let posts: Vec<&Value> = world
        .posts
        .iter()
        .filter(|p| {
            p["channel_id"] == channel.as_str() && p["update_at"].as_i64().unwrap_or(0) >= since
        })
        .collect();
    let order: Vec<&Value> = posts.iter().rev().map(|p| &p["id"]).collect();
    let by_id: serde_json::Map<String, Value> = posts
        .iter()
        .map(|p| (p["id"].as_str().unwrap_or("").to_owned(), (*p).clone()))
        .collect();
    Json(json!({"order": order, "posts": by_id})).into_response()
}

async fn create_post(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_write(&s, &headers) {
        return r;
    }
    let field = |k: &str| body[k].as_str().unwrap_or("").to_owned();
    let (channel, root_id, message) = (field("channel_id"), field("root_id"), field("message"));
    if message.chars().count() > 16_383 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"id": "model.post.is_valid.msg.app_error"})),
        )
            .into_response();
    }
    let id = add_post(&s, BOT_ID, &channel, &root_id, &message);
    record(
        &s,
        Sent::Post {
            id: id.clone(),
            channel: channel.clone(),
            root_id: root_id.clone(),
            message,
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "channel_id": channel, "root_id": root_id})),
    )
        .into_response()
}

async fn patch_post(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check_write(&s, &headers) {
        return r;
    }
    let message = body["message"].as_str().unwrap_or("").to_owned();
    {
        let mut world = s.world();
        let Some(post) = world
            .posts
            .iter_mut()
            .find(|p| p["id"] == id.as_str() && p["user_id"] == BOT_ID)
        else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"id": "app.post.get.app_error"})),
            )
                .into_response();
        };
        post["message"] = json!(message);
    }
    record(
        &s,
        Sent::Patch {
            id: id.clone(),
            message,
        },
    );
    Json(json!({"id": id})).into_response()
}

async fn react(State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = check_write(&s, &headers) {
        return r;
    }
    let field = |k: &str| body[k].as_str().unwrap_or("").to_owned();
    record(
        &s,
        Sent::Reaction {
            post_id: field("post_id"),
            emoji: field("emoji_name"),
            user_id: field("user_id"),
        },
    );
    (StatusCode::OK, Json(body)).into_response()
}

async fn respond(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    assert_eq!(body["response_type"], "ephemeral", "{body}");
    record(
        &s,
        Sent::Ephemeral {
            text: body["text"].as_str().unwrap_or("").to_owned(),
        },
    );
    StatusCode::OK.into_response()
}

/// Upgrades by hand, so the fake speaks the same tokio-tungstenite as the bot.
async fn websocket(State(s): State<Shared>, mut request: Request) -> Response {
    if s.world().refuse_sockets {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
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
