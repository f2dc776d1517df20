//! The relay tests' world: a simulator, a store, the Mattermost adapter against a fake
//! Mattermost on 127.0.0.1, and a hub; how to read a thread's transcript from what the fake
//! took, and what it should have been.

#![allow(dead_code)] // not every test uses every helper

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mosaic_bot::backend::{
    BackendClient, BackendConfig, Backends, JobEvent, RetryPolicy, StreamPolicy,
};
use mosaic_bot::command::{IssueKind, IssueRef};
use mosaic_bot::relay::{OutcomeContext, Platforms, RelayHub, render_event};
use mosaic_bot::store::{FollowedJob, Store, Verbosity};
use mosaic_chat::{ChatPlatform, Reaction, Secret, ThreadRef};
use mosaic_mattermost::{Mattermost, MattermostDialect, MattermostOptions, PLATFORM};
use mosaic_sim::{Faults, Script, Sim, SimConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::fake::{ALICE, BOT_ID, BOT_TOKEN, BOT_USERNAME, CHANNEL, FakeMattermost, Sent};

pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn sim(tick_ms: u64) -> Sim {
    init_tracing();
    let config = SimConfig {
        tick: Duration::from_millis(tick_ms),
        ..SimConfig::fast()
    };
    Sim::start(config).await.expect("simulator starts")
}

pub fn backend(sim: &Sim) -> BackendClient {
    let config = BackendConfig {
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        use_env_proxy: false,
        retry: RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        stream: StreamPolicy {
            stall_timeout: Duration::from_secs(5),
            reconnect_min_delay: Duration::from_millis(10),
            reconnect_max_delay: Duration::from_millis(100),
            give_up_after: None,
        },
        ..BackendConfig::new(sim.base_url(), Secret::from(sim.token()), sim.workspace())
    };
    BackendClient::new(config).expect("client builds")
}

/// The relay's platform: the real Mattermost adapter talking REST to a fake Mattermost on
/// 127.0.0.1, and the root posts that name the test's threads.
pub struct Chat {
    pub fake: FakeMattermost,
    pub mm: Arc<Mattermost>,
    /// Thread name (`t1`) → the id of the root post the thread hangs under.
    roots: Mutex<HashMap<String, String>>,
}

impl Chat {
    /// A fake Mattermost and an adapter for it with fast limits: posts 20 ms apart per
    /// channel, edits 20 ms apart. The adapter does not `run`: the relay only writes, and
    /// the adapter asks `/users/me` for its own id when it first reacts.
    pub async fn start() -> Chat {
        let fake = FakeMattermost::start().await;
        let mut options = MattermostOptions::new(&fake.url(), Secret::new(BOT_TOKEN), "mosaic");
        options.limits.post_interval = Duration::from_millis(20);
        options.limits.edit_interval = Duration::from_millis(20);
        let mm = Arc::new(Mattermost::new(options).expect("the adapter builds"));
        Chat {
            fake,
            mm,
            roots: Mutex::default(),
        }
    }

    /// The thread `name` (in [`CHANNEL`]): on first use, alice's command post is made in the
    /// fake, and the thread hangs under it, as it does for a mention.
    pub fn thread(&self, name: &str) -> ThreadRef {
        let mut roots = self.roots.lock().unwrap();
        let root = roots.entry(name.to_owned()).or_insert_with(|| {
            self.fake
                .user_post(CHANNEL, None, &format!("@{BOT_USERNAME} fix acme/web#42"))
        });
        ThreadRef {
            platform: PLATFORM,
            channel: CHANNEL.into(),
            thread: root.clone(),
        }
    }

    /// Waits until the bot has posted something containing `text`.
    pub async fn posted(&self, text: &str) {
        self.fake
            .expect(
                text,
                |s| matches!(s, Sent::Post { message, .. } if message.contains(text)),
            )
            .await;
    }
}

pub fn hub(store: &Store, sim: &Sim, chat: &Chat) -> RelayHub {
    let mut platforms = Platforms::new();
    platforms.insert(PLATFORM, Arc::clone(&chat.mm) as Arc<dyn ChatPlatform>);
    RelayHub::new(
        store.clone(),
        Backends::new([backend(sim)]),
        platforms,
        "mosaic".into(),
        CancellationToken::new(),
    )
}

/// A job followed in `thread`, commanded by the thread's root post.
pub fn followed(job_id: &str, thread: ThreadRef, verbosity: Verbosity) -> FollowedJob {
    FollowedJob {
        job_id: job_id.into(),
        workspace: SimConfig::default().workspaces[0].clone(),
        command_message_id: Some(thread.thread.clone()),
        thread,
        requester_id: ALICE.into(),
        requester_name: "alice".into(),
        issue: IssueRef::new("github.com", "acme", "web", 42, IssueKind::Issue),
        retry_of: None,
        card_message_id: None,
        verbosity,
        last_event_id: None,
        last_event_seq: 0,
        last_post_id: None,
        posts_settled: false,
        status: "QUEUED".into(),
        ended: false,
        created_at: 0,
        updated_at: 0,
    }
}

/// Inserts and follows a job of the simulator; returns its id.
pub async fn start(
    sim: &Sim,
    store: &Store,
    hub: &RelayHub,
    script: Script,
    faults: Faults,
    thread: ThreadRef,
    verbosity: Verbosity,
) -> String {
    let id = sim.create_job("acme", "web", 42, script, faults);
    let job = followed(&id, thread, verbosity);
    store.insert_job(&job).await.expect("job inserted");
    hub.follow(job);
    id
}

pub async fn idle(hub: &RelayHub) {
    tokio::time::timeout(DEADLINE, hub.idle())
        .await
        .expect("every relay ends");
}

/// The lines a thread must show for `events`, the i-th event at `verbosity(i)`. "Took …"
/// lines are left out: the duration depends on when the relay saw the job start.
pub fn expected_lines(events: &[Value], verbosity: impl Fn(usize) -> Verbosity) -> Vec<String> {
    expected_lines_in(&MattermostDialect, events, verbosity)
}

/// [`expected_lines`] as rendered by `dialect`.
pub fn expected_lines_in(
    dialect: &dyn mosaic_chat::Dialect,
    events: &[Value],
    verbosity: impl Fn(usize) -> Verbosity,
) -> Vec<String> {
    let ctx = OutcomeContext {
        bot_name: "mosaic".into(),
        duration: None,
    };
    let mut lines = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let Ok(event) = serde_json::from_value::<JobEvent>(event.clone()) else {
            continue;
        };
        if let Some(markup) = render_event(&event, verbosity(i), &ctx) {
            let text = mosaic_chat::markup::render(&markup, dialect, 100_000).join("\n");
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines
}

/// The thread's transcript: the card's id and the lines of every other post, in order.
pub struct Transcript {
    pub card: String,
    pub lines: Vec<String>,
    pub card_texts: Vec<String>,
}

/// Reads the transcript of `thread_name` from what the fake took, asserting along the way
/// that nothing unexpected happened: the card is the thread's first post, only the card is
/// edited, the command post gets at most `reaction`, from the bot, and nothing at all was
/// sent outside the threads of `chat`.
pub fn transcript(chat: &Chat, thread_name: &str, reaction: Option<Reaction>) -> Transcript {
    let root = chat.thread(thread_name).thread;
    let roots: HashSet<String> = chat.roots.lock().unwrap().values().cloned().collect();
    let sent = chat.fake.sent();
    // Each thread's card is its first post; no other post is ever edited.
    let mut cards: HashMap<&str, &str> = HashMap::new();
    for s in &sent {
        if let Sent::Post { id, root_id, .. } = s {
            cards.entry(root_id).or_insert(id);
        }
    }
    let card = cards
        .get(root.as_str())
        .unwrap_or_else(|| panic!("the first act is to post the card: {sent:#?}"))
        .to_string();
    let mut card_texts = Vec::new();
    let mut lines = Vec::new();
    let mut reactions = Vec::new();
    for s in &sent {
        match s {
            Sent::Post {
                id,
                channel,
                root_id,
                message,
            } => {
                assert_eq!(channel, CHANNEL, "{s:?}");
                assert!(roots.contains(root_id), "a post outside the threads: {s:?}");
                if *id == card {
                    card_texts.push(message.clone());
                } else if *root_id == root {
                    lines.extend(
                        message
                            .lines()
                            .filter(|l| !l.starts_with("Took "))
                            .map(str::to_owned),
                    );
                }
            }
            Sent::Patch { id, message } => {
                assert!(
                    cards.values().any(|c| c == id),
                    "only cards are edited: {s:?}"
                );
                if *id == card {
                    card_texts.push(message.clone());
                }
            }
            Sent::Reaction {
                post_id,
                emoji,
                user_id,
            } => {
                assert!(roots.contains(post_id), "a reaction on no command: {s:?}");
                assert_eq!(user_id, BOT_ID);
                if *post_id == root {
                    assert!(
                        !card_texts.is_empty(),
                        "a reaction before the card: {sent:#?}"
                    );
                    reactions.push(emoji.as_str());
                }
            }
            Sent::Ephemeral { .. } | Sent::EphemeralPost { .. } => {
                panic!("the relay answers nobody privately: {s:?}")
            }
        }
    }
    let expected: Vec<&str> = reaction.into_iter().map(Reaction::short_name).collect();
    assert_eq!(reactions, expected);
    Transcript {
        card,
        lines,
        card_texts,
    }
}

/// Posts in one channel kept the platform's interval, as the fake took them. The trip over
/// loopback delays one post more than the next now and then (seen at 14 ms apart for 20 ms
/// on a loaded 2-core machine), so a single gap may shrink by half; over the whole run the
/// posts must still average the interval, which a relay that bursts cannot do.
pub fn assert_paced(chat: &Chat) {
    let interval = chat.mm.limits().post_interval;
    let posts: Vec<_> = chat
        .fake
        .sent_timed()
        .into_iter()
        .filter(|(_, s)| matches!(s, Sent::Post { .. }))
        .map(|(at, _)| at)
        .collect();
    for pair in posts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap * 2 >= interval,
            "two posts in one channel {gap:?} apart"
        );
    }
    if let (Some(first), Some(last)) = (posts.first(), posts.last()) {
        let gaps = u32::try_from(posts.len() - 1).expect("a few posts");
        let span = *last - *first;
        assert!(
            span + interval >= interval * gaps,
            "{} posts within {span:?}: faster than one per {interval:?}",
            posts.len()
        );
    }
}

pub async fn memory_store() -> Store {
    Store::open("sqlite::memory:").await.expect("store opens")
}
