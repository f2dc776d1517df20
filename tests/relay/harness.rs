//! The relay tests' world: a simulator, a store, a recording chat platform and a hub, and
//! how to read a thread's transcript and what it should have been.

#![allow(dead_code)] // not every test uses every helper

use std::sync::Arc;
use std::time::Duration;

use mosaic_bot::backend::{
    BackendClient, BackendConfig, Backends, JobEvent, RetryPolicy, StreamPolicy,
};
use mosaic_bot::command::{IssueKind, IssueRef};
use mosaic_bot::relay::{OutcomeContext, Platforms, RelayHub, render_event};
use mosaic_bot::secret::Secret;
use mosaic_bot::store::{FollowedJob, Store, Verbosity};
use mosaic_chat::{ChatPlatform, Reaction, ThreadRef};
use mosaic_sim::{Faults, Script, Sim, SimConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::fake_chat::{EscapingDialect, FakeChat, Op, PLATFORM};

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

pub fn hub(store: &Store, sim: &Sim, chat: &Arc<FakeChat>) -> RelayHub {
    let mut platforms = Platforms::new();
    platforms.insert(PLATFORM, Arc::clone(chat) as Arc<dyn ChatPlatform>);
    RelayHub::new(
        store.clone(),
        Backends::new([backend(sim)]),
        platforms,
        "mosaic".into(),
        CancellationToken::new(),
    )
}

pub fn thread(name: &str) -> ThreadRef {
    ThreadRef {
        platform: PLATFORM,
        channel: "c1".into(),
        thread: name.into(),
    }
}

pub fn followed(job_id: &str, thread_name: &str, verbosity: Verbosity) -> FollowedJob {
    FollowedJob {
        job_id: job_id.into(),
        workspace: SimConfig::default().workspaces[0].clone(),
        thread: thread(thread_name),
        command_message_id: Some(format!("{thread_name}-cmd")),
        requester_id: "u1".into(),
        requester_name: "alice".into(),
        issue: IssueRef::new("github.com", "acme", "web", 42, IssueKind::Issue),
        retry_of: None,
        card_message_id: None,
        verbosity,
        last_event_id: None,
        last_event_seq: 0,
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
    thread_name: &str,
    verbosity: Verbosity,
) -> String {
    let id = sim.create_job("acme", "web", 42, script, faults);
    let job = followed(&id, thread_name, verbosity);
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
    expected_lines_in(&EscapingDialect, events, verbosity)
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

/// Reads the transcript of `thread_name`, asserting along the way that nothing unexpected
/// happened there: one card post, edits of that card only, at most `reaction` on the command.
pub fn transcript(chat: &FakeChat, thread_name: &str, reaction: Option<Reaction>) -> Transcript {
    let thread = thread(thread_name);
    let ops: Vec<Op> = chat.ops();
    let mine = |op: &&Op| match op {
        Op::Post { thread: t, .. } | Op::Edit { thread: t, .. } => *t == thread,
        Op::React { id, .. } => id.starts_with(&format!("{thread_name}-")),
    };
    let ops: Vec<&Op> = ops.iter().filter(mine).collect();
    let Some(Op::Post { id: card, text, .. }) = ops.first() else {
        panic!("the first act is to post the card: {ops:#?}");
    };
    let mut card_texts = vec![text.clone()];
    let mut lines = Vec::new();
    let mut reactions = Vec::new();
    for op in &ops[1..] {
        match op {
            Op::Post { text, .. } => lines.extend(
                text.lines()
                    .filter(|l| !l.starts_with("Took "))
                    .map(str::to_owned),
            ),
            Op::Edit { id, text, .. } => {
                assert_eq!(id, card, "only the card is edited");
                card_texts.push(text.clone());
            }
            Op::React {
                channel,
                id,
                reaction,
            } => {
                assert_eq!(
                    (channel.as_str(), id.as_str()),
                    ("c1", &*format!("{thread_name}-cmd"))
                );
                reactions.push(*reaction);
            }
        }
    }
    assert_eq!(reactions, reaction.into_iter().collect::<Vec<_>>());
    Transcript {
        card: card.clone(),
        lines,
        card_texts,
    }
}

/// Posts in one channel kept the platform's interval (a little slack for timer granularity).
pub fn assert_paced(chat: &FakeChat) {
    let interval = chat.limits().post_interval;
    let posts: Vec<_> = chat
        .timed_ops()
        .into_iter()
        .filter(|(_, op)| matches!(op, Op::Post { .. }))
        .map(|(at, _)| at)
        .collect();
    for pair in posts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap + Duration::from_millis(5) >= interval,
            "two posts in one channel {gap:?} apart"
        );
    }
}

pub async fn memory_store() -> Store {
    Store::open("sqlite::memory:").await.expect("store opens")
}
