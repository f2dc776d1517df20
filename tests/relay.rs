//! The relay against the backend simulator and a recording chat platform: what a thread
//! shows, exactly once, through the backend's failure modes, restarts, verbosity changes and
//! platform errors. Every test ends by proving nothing unexpected was sent.

#[path = "relay/fake_chat.rs"]
mod fake_chat;

use std::sync::Arc;
use std::time::Duration;

use fake_chat::{EscapingDialect, FakeChat, Op, PLATFORM};
use mosaic_bot::backend::{BackendClient, BackendConfig, JobEvent, RetryPolicy, StreamPolicy};
use mosaic_bot::command::{IssueKind, IssueRef};
use mosaic_bot::relay::{OutcomeContext, Platforms, RelayHub, render_event};
use mosaic_bot::secret::Secret;
use mosaic_bot::store::{FollowedJob, Store, Verbosity};
use mosaic_chat::{ChatError, ChatPlatform, Reaction, ThreadRef};
use mosaic_sim::{Faults, Script, Sim, SimConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn sim(tick_ms: u64) -> Sim {
    init_tracing();
    let config = SimConfig {
        tick: Duration::from_millis(tick_ms),
        ..SimConfig::fast()
    };
    Sim::start(config).await.expect("simulator starts")
}

fn backend(sim: &Sim) -> BackendClient {
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

fn hub(store: &Store, sim: &Sim, chat: &Arc<FakeChat>) -> RelayHub {
    let mut platforms = Platforms::new();
    platforms.insert(PLATFORM, Arc::clone(chat) as Arc<dyn ChatPlatform>);
    RelayHub::new(
        store.clone(),
        backend(sim),
        platforms,
        "mosaic".into(),
        CancellationToken::new(),
    )
}

fn thread(name: &str) -> ThreadRef {
    ThreadRef {
        platform: PLATFORM,
        channel: "c1".into(),
        thread: name.into(),
    }
}

fn followed(job_id: &str, thread_name: &str, verbosity: Verbosity) -> FollowedJob {
    FollowedJob {
        job_id: job_id.into(),
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
async fn start(
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

async fn idle(hub: &RelayHub) {
    tokio::time::timeout(DEADLINE, hub.idle())
        .await
        .expect("every relay ends");
}

/// The lines a thread must show for `events`, the i-th event at `verbosity(i)`. "Took …"
/// lines are left out: the duration depends on when the relay saw the job start.
fn expected_lines(events: &[Value], verbosity: impl Fn(usize) -> Verbosity) -> Vec<String> {
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
            let text = mosaic_chat::markup::render(&markup, &EscapingDialect, 100_000).join("\n");
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    lines
}

/// The thread's transcript: the card's id and the lines of every other post, in order.
struct Transcript {
    card: String,
    lines: Vec<String>,
    card_texts: Vec<String>,
}

/// Reads the transcript of `thread_name`, asserting along the way that nothing unexpected
/// happened there: one card post, edits of that card only, at most `reaction` on the command.
fn transcript(chat: &FakeChat, thread_name: &str, reaction: Option<Reaction>) -> Transcript {
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
fn assert_paced(chat: &FakeChat) {
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

async fn memory_store() -> Store {
    Store::open("sqlite::memory:").await.expect("store opens")
}

#[tokio::test]
async fn a_standard_job_at_milestones() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        "t1",
        Verbosity::Milestones,
    )
    .await;
    idle(&hub).await;

    let events = sim.events(&id);
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Milestones));
    // Spot checks of what a person reads, independent of the renderer.
    assert_eq!(t.lines[0], "🚀 Job started");
    assert_eq!(t.lines[1], "▶️ Step 1/6: Clone repository");
    assert_eq!(
        t.lines.iter().filter(|l| l.starts_with("▶️ Step")).count(),
        6
    );
    assert_eq!(
        t.lines.iter().filter(|l| l.starts_with("✅ Gate")).count(),
        4
    );
    let outcome = t
        .lines
        .iter()
        .position(|l| l.starts_with("✅ Done: "))
        .expect("outcome");
    assert!(t.lines[outcome + 1].starts_with("Pull request: https://github.com/acme/web/pull/"));
    assert_eq!(
        outcome + 2,
        t.lines.len(),
        "the outcome is the last message"
    );
    assert!(
        !t.lines.iter().any(|l| l.contains("Cloning into")),
        "no output at milestones"
    );
    let last_card = t.card_texts.last().expect("card");
    assert!(last_card.starts_with("✅ Completed"), "{last_card}");
    assert!(last_card.contains("Pull request: https://github.com/acme/web/pull/"));

    let stored = store.job(&id).await.expect("read").expect("job");
    assert!(stored.ended);
    assert_eq!(stored.status, "COMPLETED");
    assert_eq!(stored.card_message_id.as_deref(), Some(t.card.as_str()));
    let last = events
        .last()
        .and_then(|e| e["id"].as_str())
        .expect("events");
    assert_eq!(stored.last_event_id.as_deref(), Some(last));
    assert_paced(&chat);
}

#[tokio::test]
async fn verbose_shows_every_event_exactly_once() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        "t1",
        Verbosity::Verbose,
    )
    .await;
    idle(&hub).await;

    let events = sim.events(&id);
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Verbose));
    assert_eq!(
        t.lines
            .iter()
            .filter(|l| *l == "Cloning into 'web'...")
            .count(),
        1
    );
    assert_paced(&chat);
}

#[tokio::test]
async fn quiet_shows_only_the_start_and_the_outcome() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    start(
        &sim,
        &store,
        &hub,
        Script::failing(),
        Faults::default(),
        "t1",
        Verbosity::Quiet,
    )
    .await;
    idle(&hub).await;

    let t = transcript(&chat, "t1", Some(Reaction::Failed));
    assert_eq!(
        t.lines,
        [
            "🚀 Job started",
            "❌ Failed: Run tests failed: 3 of 128 tests failed (parser › handles null input)",
            "`@\u{200b}mosaic retry` to try again.",
        ]
    );
    assert!(t.card_texts.last().expect("card").starts_with("❌ Failed"));
}

/// Whether `lines` are `events` shown at Milestones up to some event and Verbose after it.
fn switched_somewhere(events: &[Value], lines: &[String]) -> bool {
    (0..=events.len()).any(|cut| {
        let expected = expected_lines(events, |i| {
            if i < cut {
                Verbosity::Milestones
            } else {
                Verbosity::Verbose
            }
        });
        expected == lines
    })
}

#[tokio::test]
async fn verbosity_switched_mid_job_applies_from_the_next_event() {
    let sim = sim(10).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        "t1",
        Verbosity::Milestones,
    )
    .await;
    chat.wait_until(|ops| {
        ops.iter()
            .any(|op| matches!(op, Op::Post { text, .. } if text.contains("Step 2/6")))
    })
    .await;
    store
        .set_verbosity(&thread("t1"), Verbosity::Verbose)
        .await
        .expect("stored");
    hub.verbosity_changed(&thread("t1"), Verbosity::Verbose);
    idle(&hub).await;

    let events = sim.events(&id);
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert!(switched_somewhere(&events, &t.lines), "{:#?}", t.lines);
    let first_output = t
        .lines
        .iter()
        .position(|l| l.starts_with("📄 "))
        .expect("output shown");
    let step_two = t
        .lines
        .iter()
        .position(|l| l.contains("Step 2/6"))
        .expect("step 2");
    assert!(first_output > step_two, "no output before the switch");
}

/// Runs a standard job with `faults` at Verbose and checks every event was shown once.
async fn exactly_once_through(faults: Faults) {
    let sim = sim(2).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        faults,
        "t1",
        Verbosity::Verbose,
    )
    .await;
    idle(&hub).await;
    let events = sim.events(&id);
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Verbose));
}

#[tokio::test]
async fn dropped_connections_that_replay_from_the_start_show_each_event_once() {
    exactly_once_through(Faults {
        drop_after: Some(7),
        reset_on_drop: true,
        ..Faults::default()
    })
    .await;
    exactly_once_through(Faults {
        error_event_after: Some(9),
        ignore_last_event_id: true,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn a_live_only_server_without_ids_loses_nothing() {
    exactly_once_through(Faults {
        live_only_no_ids: true,
        ..Faults::default()
    })
    .await;
}

#[tokio::test]
async fn a_restart_mid_job_repeats_nothing_and_loses_nothing() {
    let sim = sim(10).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bot.db").display());
    let store = Store::open(&url).await.expect("store opens");
    let chat = FakeChat::fast();
    let first = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &first,
        Script::standard(),
        Faults::default(),
        "t1",
        Verbosity::Verbose,
    )
    .await;
    chat.wait_until(|ops| {
        ops.iter()
            .any(|op| matches!(op, Op::Post { text, .. } if text.contains("Step 2/6")))
    })
    .await;
    first.shutdown(Duration::from_secs(5)).await;
    assert_eq!(first.running(), 0);
    store.close().await;
    let stored_mid = {
        let store = Store::open(&url).await.expect("store reopens");
        let job = store.job(&id).await.expect("read").expect("job");
        store.close().await;
        job
    };
    assert!(!stored_mid.ended, "a shutdown leaves the job to resume");
    assert!(stored_mid.last_event_seq > 0);

    let store = Store::open(&url).await.expect("store reopens");
    let second = hub(&store, &sim, &chat);
    assert_eq!(second.resume_all().await.expect("resumes"), 1);
    idle(&second).await;

    let events = sim.events(&id);
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Verbose));
    assert_eq!(stored_mid.card_message_id.as_deref(), Some(t.card.as_str()));
    assert!(
        t.card_texts
            .last()
            .expect("card")
            .starts_with("✅ Completed")
    );
    assert!(store.job(&id).await.expect("read").expect("job").ended);
}

#[tokio::test]
async fn mentions_in_job_output_are_escaped() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    let faults = Faults {
        weird_payloads: true,
        ..Faults::default()
    };
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        faults,
        "t1",
        Verbosity::Verbose,
    )
    .await;
    idle(&hub).await;

    let events = sim.events(&id);
    assert!(events.iter().any(|e| e.to_string().contains("@everyone")));
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Verbose));
    let all: String = chat
        .ops()
        .iter()
        .map(|op| match op {
            Op::Post { text, .. } | Op::Edit { text, .. } => text.clone(),
            Op::React { .. } => String::new(),
        })
        .collect();
    for mention in ["@everyone", "@here", "<!channel>", "<@123>", "\u{1b}["] {
        assert!(
            !all.contains(mention),
            "{mention:?} reached the platform unescaped"
        );
    }
    assert!(
        all.contains("@\u{200b}everyone"),
        "the text is shown, escaped"
    );
}

#[tokio::test]
async fn a_deleted_job_ends_its_relay_with_a_message() {
    let sim = sim(20).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        "t1",
        Verbosity::Milestones,
    )
    .await;
    chat.wait_until(|ops| {
        ops.iter()
            .any(|op| matches!(op, Op::Post { text, .. } if text.contains("Step 1/6")))
    })
    .await;
    sim.delete_job(&id);
    idle(&hub).await;

    let t = transcript(&chat, "t1", None);
    assert_eq!(
        t.lines.last().map(String::as_str),
        Some("🗑️ This job no longer exists on the backend; stopped following it.")
    );
    assert_eq!(
        t.lines
            .iter()
            .filter(|l| l.contains("no longer exists"))
            .count(),
        1
    );
    assert!(t.card_texts.last().expect("card").starts_with("🗑️ Deleted"));
    let stored = store.job(&id).await.expect("read").expect("job");
    assert!(stored.ended);
    assert_eq!(stored.status, "DELETED");
}

#[tokio::test]
async fn rate_limits_are_honoured_and_nothing_is_lost() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    chat.fail_next_posts([
        ChatError::RateLimited {
            retry_after: Duration::from_millis(50),
        },
        ChatError::Unavailable("502".into()),
    ]);
    chat.fail_next_edits([ChatError::Unavailable("503".into())]);
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        "t1",
        Verbosity::Milestones,
    )
    .await;
    idle(&hub).await;
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(
        t.lines,
        expected_lines(&sim.events(&id), |_| Verbosity::Milestones)
    );
}

#[tokio::test]
async fn a_refused_post_stops_posting_but_the_outcome_is_recorded() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    chat.fail_next_posts([ChatError::Forbidden("send messages".into())]);
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        "t1",
        Verbosity::Milestones,
    )
    .await;
    idle(&hub).await;
    assert_eq!(chat.ops(), [], "nothing is posted after the refusal");
    let stored = store.job(&id).await.expect("read").expect("job");
    assert!(stored.ended);
    assert_eq!(stored.status, "COMPLETED");
}

#[tokio::test]
async fn jobs_in_one_channel_share_its_post_interval() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = FakeChat::fast();
    let hub = hub(&store, &sim, &chat);
    let mut ids = Vec::new();
    for name in ["t1", "t2", "t3"] {
        ids.push(
            start(
                &sim,
                &store,
                &hub,
                Script::tiny(),
                Faults::default(),
                name,
                Verbosity::Verbose,
            )
            .await,
        );
    }
    assert!(hub.running() <= 3);
    idle(&hub).await;
    for (id, name) in ids.iter().zip(["t1", "t2", "t3"]) {
        let t = transcript(&chat, name, Some(Reaction::Succeeded));
        assert_eq!(
            t.lines,
            expected_lines(&sim.events(id), |_| Verbosity::Verbose)
        );
    }
    assert_paced(&chat);
    assert_eq!(hub.running(), 0);
}
