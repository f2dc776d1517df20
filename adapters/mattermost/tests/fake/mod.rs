//! A fake Mattermost on 127.0.0.1: the REST v4 calls the adapter makes and
//! the WebSocket API (`/api/v4/websocket`, authentication challenge, `hello`,
//! `posted` and `post_edited` events with the post as a JSON string); posts
//! that change as the server's do (`history.rs`: replies, reactions, edits
//! with pre-edit copies, deletes, `posts?since=`); props as the server keeps
//! them (`props.rs`); a thread read in pages (`thread.rs`); a `/mosaic` command per
//! team (`commands.rs`); interactive message buttons (`actions.rs`: actions
//! kept with their integration, stripped from what clients see; `click.rs`:
//! a click by a user POSTed to the integration URL and its answer applied); every
//! request recorded (`record.rs`) and held
//! against the published API description (`conformance.rs`). It records everything the
//! bot sends and counts its lookups of users, team members and channels,
//! and the sockets it refused; a test posts as a user, gives users roles,
//! drops or stalls sockets, keeps the bot out, and turns on 429s, 503s,
//! refused posts, failing lookups or a refused token. Each record keeps the
//! instant the fake took it, so pacing can be checked on the wire. Shared
//! with the root tests through
//! `#[path = "../adapters/mattermost/tests/fake/mod.rs"]`.
#![allow(dead_code)]

mod actions;
mod click;
mod commands;
pub mod conformance;
mod history;
mod props;
mod record;
mod rest;
mod socket;
mod thread;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post, put};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

// Used by the root crate's whole-flow tests, not by every includer.
#[allow(unused_imports)]
pub use actions::actions_of;
#[allow(unused_imports)]
pub use click::Clicked;
#[allow(unused_imports)]
pub use commands::{Executed, command_token};
#[allow(unused_imports)]
pub use record::Recorded;
use rest::*;
use socket::websocket;

/// The bot account's token, id and username.
pub const BOT_TOKEN: &str = "mm-bot-token";
pub const BOT_ID: &str = "botuserid000000000000000001";
pub const BOT_USERNAME: &str = "mosaic-bot";
/// The user tests post as.
pub const ALICE: &str = "aliceuserid0000000000000001";
/// Another user, who clicks buttons under alice's jobs.
pub const BOB: &str = "bobuserid000000000000000001";
/// The channel tests post in, and its team.
pub const CHANNEL: &str = "townsquare00000000000000001";
pub const TEAM: &str = "teamid000000000000000000001";
/// A second team, with a channel of its own and its own `/mosaic` command.
pub const TEAM2: &str = "teamid000000000000000000002";
pub const CHANNEL2: &str = "otherteamchannel00000000001";
/// A direct message channel between alice and the bot: in no team.
pub const DM_CHANNEL: &str = "directmessage00000000000001";

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
    /// A post only `user_id` sees: an action's `ephemeral_text`, or one made
    /// through `POST /api/v4/posts/ephemeral`.
    EphemeralPost {
        user_id: String,
        channel: String,
        root_id: String,
        message: String,
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
    /// WebSocket connections refused while `refuse_sockets` was set.
    refused: usize,
    rate_limit_next: usize,
    /// Thread reads to answer 429 (`rate_limited` counts them too).
    rate_limit_reads_next: usize,
    rate_limited: usize,
    /// Posts to answer 403, then posts and patches to answer 503 (after any
    /// 429s asked for), and how many posts were refused with 403.
    forbid_next_posts: usize,
    fail_next_posts: usize,
    /// How long each post's answer is held after the post is taken.
    post_delay: Duration,
    /// Posts whose request arrived (held or not).
    posts_arrived: usize,
    fail_next_patches: usize,
    forbidden: usize,
    unauthorized: bool,
    sent: Vec<Sent>,
    /// When each of `sent` was taken, in the same order.
    sent_at: Vec<tokio::time::Instant>,
    /// User id → system roles, and → roles in [`TEAM`] (space-separated);
    /// `system_user` and `team_user` for users not set.
    system_roles: std::collections::HashMap<String, String>,
    team_roles: std::collections::HashMap<String, String>,
    /// While set, `GET /users/{id}` and `GET /teams/{team}/members/{user}`
    /// answer 500.
    fail_user_lookups: bool,
    fail_team_member_lookups: bool,
    lookups: Lookups,
    /// Every request the bot made, as it arrived.
    requests: Vec<Recorded>,
    /// `GET /channels/{id}/posts` queries answered (catch-ups).
    posts_queries: usize,
    /// `ServiceSettings.SiteURL`: the fake's own URL unless a test unsets it.
    site_url: Option<String>,
    /// `ServiceSettings.AllowedUntrustedInternalConnections`, split.
    allowed_internal: Vec<String>,
    /// `ServiceSettings.OutgoingIntegrationRequestsTimeout` (30 s unless set).
    integration_timeout: Option<Duration>,
    /// Whether the bot holds `create_post_ephemeral` (system admins only).
    may_post_ephemeral: bool,
    /// Button clicks that reached the integration, and how each ended.
    clicks: Vec<Clicked>,
    /// While set, clicks wait between reading the post and calling the
    /// integration; how many wait so.
    clicks_held: bool,
    clicks_waiting: usize,
}

/// How many times the bot asked for users (not itself), team members and channels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lookups {
    pub users: usize,
    pub team_members: usize,
    pub channels: usize,
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

/// Reads the requests recorded by a fake (see [`FakeMattermost::recorder`]).
#[derive(Clone)]
pub struct Recorder(Shared);

impl Recorder {
    /// Every request so far, held against Mattermost's API description:
    /// panics naming each one the real server would not take.
    pub fn assert_conforms(&self) {
        let requests = self.0.world().requests.clone();
        conformance::assert_conforms(&requests);
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
            .route("/api/v4/channels/{id}", get(channel))
            .route("/api/v4/channels/{id}/posts", get(channel_posts))
            .route("/api/v4/teams/{team}/members/{user}", get(team_member))
            .route("/api/v4/posts", post(create_post))
            .route("/api/v4/posts/ephemeral", post(actions::create_ephemeral))
            .route("/api/v4/posts/{id}", get(actions::get_post))
            .route("/api/v4/posts/{id}/patch", put(patch_post))
            .route("/api/v4/posts/{id}/thread", get(thread::get_thread))
            .route("/api/v4/reactions", post(react))
            .route("/hooks/commands/{id}", post(respond))
            .route("/api/v4/websocket", get(websocket))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                record::record,
            ))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        shared.world().site_url = Some(format!("http://{addr}"));
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
        let id = add_post(
            &self.shared,
            ALICE,
            channel,
            root_id.unwrap_or(""),
            text,
            serde_json::json!({}),
        );
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

    /// The next `n` posts answer 403, as to a bot that may no longer post in
    /// the channel (later posts are taken again).
    pub fn forbid_next_posts(&self, n: usize) {
        self.shared.world().forbid_next_posts = n;
    }

    /// How many posts were refused with 403.
    pub fn forbidden(&self) -> usize {
        self.shared.world().forbidden
    }

    /// The next `n` posts answer 503, as a server restarting behind its
    /// proxy would (after any 429s asked for).
    pub fn fail_next_posts(&self, n: usize) {
        self.shared.world().fail_next_posts = n;
    }

    /// Every post from now on is taken at once but answered `delay` later: a
    /// request whose answer is on the wire while a test acts.
    pub fn hold_posts(&self, delay: Duration) {
        self.shared.world().post_delay = delay;
    }

    /// Waits until `n` post requests have arrived in all.
    pub async fn wait_posts_arrived(&self, n: usize) {
        self.until(&format!("{n} posts arrived"), |f| {
            (f.shared.world().posts_arrived >= n).then_some(())
        })
        .await;
    }

    /// How many post requests have arrived so far.
    pub fn posts_arrived(&self) -> usize {
        self.shared.world().posts_arrived
    }

    /// The next `n` patches answer 503 (after any 429s asked for).
    pub fn fail_next_patches(&self, n: usize) {
        self.shared.world().fail_next_patches = n;
    }

    /// While set, every REST call and WebSocket authentication answers 401.
    pub fn refuse_token(&self, refuse: bool) {
        self.shared.world().unauthorized = refuse;
    }

    /// Gives `user` these system roles and these roles in [`TEAM`]
    /// (space-separated, as Mattermost writes them).
    pub fn set_roles(&self, user: &str, system: &str, team: &str) {
        let mut world = self.shared.world();
        world
            .system_roles
            .insert(user.to_owned(), system.to_owned());
        world.team_roles.insert(user.to_owned(), team.to_owned());
    }

    /// While set, looking up a user (`GET /users/{id}`) answers 500.
    pub fn fail_user_lookups(&self, fail: bool) {
        self.shared.world().fail_user_lookups = fail;
    }

    /// While set, looking up a team member answers 500.
    pub fn fail_team_member_lookups(&self, fail: bool) {
        self.shared.world().fail_team_member_lookups = fail;
    }

    /// The lookups the bot made so far.
    pub fn lookups(&self) -> Lookups {
        self.shared.world().lookups
    }

    /// Everything the bot sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.world().sent.clone()
    }

    /// Everything the bot sent so far, in order, each with the instant the
    /// fake took it: what a server's rate limiter would measure.
    pub fn sent_timed(&self) -> Vec<(tokio::time::Instant, Sent)> {
        let world = self.shared.world();
        world
            .sent_at
            .iter()
            .copied()
            .zip(world.sent.iter().cloned())
            .collect()
    }

    /// Every request the bot made so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.world().requests.clone()
    }

    /// A handle on the requests the bot makes, which outlives no fake but
    /// can be kept by whoever stops the bot.
    pub fn recorder(&self) -> Recorder {
        Recorder(self.shared.clone())
    }

    /// How many sockets authenticated so far.
    pub fn authenticated(&self) -> usize {
        self.shared.world().authenticated
    }

    /// How many WebSocket connections were refused so far.
    pub fn refused(&self) -> usize {
        self.shared.world().refused
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

    /// Waits until `n` catch-up queries (`GET /channels/{id}/posts`, one per
    /// channel) have been answered in all: a post made after that reaches
    /// the bot over the socket alone.
    pub async fn wait_caught_up(&self, n: usize) {
        self.until(&format!("{n} catch-up queries answered"), |f| {
            (f.shared.world().posts_queries >= n).then_some(())
        })
        .await;
    }

    /// Waits until `n` WebSocket connections have been refused in all.
    pub async fn wait_refused(&self, n: usize) {
        self.until(&format!("{n} refused sockets"), |f| {
            (f.refused() >= n).then_some(())
        })
        .await;
    }

    /// Waits until `n` writes have been answered 429 in all.
    pub async fn wait_rate_limited(&self, n: usize) {
        self.until(&format!("{n} writes answered 429"), |f| {
            (f.rate_limited() >= n).then_some(())
        })
        .await;
    }

    /// Waits until the bot has sent `n` things in all.
    pub async fn wait_sent(&self, n: usize) {
        self.until(&format!("{n} things sent"), |f| {
            (f.shared.world().sent.len() >= n).then_some(())
        })
        .await;
    }

    /// Waits until everything sent so far satisfies `ready`.
    pub async fn until_sent(&self, what: &str, ready: impl Fn(&[Sent]) -> bool) {
        self.until(what, |f| ready(&f.sent()).then_some(())).await;
    }

    /// Waits for the first thing sent that `matches`, and returns it.
    pub async fn expect(&self, what: &str, matches: impl Fn(&Sent) -> bool) -> Sent {
        self.until(what, |f| f.sent().into_iter().find(|s| matches(s)))
            .await
    }
}

fn add_post(
    shared: &Shared,
    user: &str,
    channel: &str,
    root_id: &str,
    text: &str,
    props: Value,
) -> String {
    let mut world = shared.world();
    let now = history::tick(&mut world);
    history::insert_post(&mut world, user, channel, root_id, text, now, props)
}

/// Sends `event` to every connected socket, forgetting those gone.
fn broadcast(world: &mut World, event: &Value) {
    let event = event.to_string();
    world
        .sockets
        .retain(|(_, tx)| tx.send(Some(event.clone())).is_ok());
}
