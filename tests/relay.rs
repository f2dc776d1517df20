//! The relay against the backend simulator and, over the wire, the real Mattermost adapter
//! talking to a fake Mattermost on 127.0.0.1: what a thread shows, exactly once, in
//! Mattermost's Markdown, through the backend's failure modes, restarts, verbosity changes
//! and the server's 429s, 503s and 403s. Each transcript is read from what the fake took,
//! and proves nothing was sent outside the tests' threads.

#[path = "relay/edits.rs"]
mod edits;
#[path = "../adapters/mattermost/tests/fake/mod.rs"]
mod fake;
#[path = "relay/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use fake::Sent;
use harness::*;
use mosaic_bot::backend::{BackendClient, BackendConfig, Backends};
use mosaic_bot::relay::{Platforms, RelayHub};
use mosaic_bot::secret::Secret;
use mosaic_bot::store::{Store, Verbosity};
use mosaic_chat::{ChatPlatform, Reaction};
use mosaic_mattermost::PLATFORM;
use mosaic_sim::{Faults, Script};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_standard_job_at_milestones() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = Chat::start().await;
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        chat.thread("t1"),
        Verbosity::Milestones,
    )
    .await;
    idle(&hub).await;

    let events = sim.events(&id);
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Milestones));
    // Spot checks of what a person reads, independent of the renderer.
    assert_eq!(t.lines[0], "🚀 Job started");
    // Mattermost's Markdown: the step's number in bold.
    assert_eq!(t.lines[1], "▶️ **Step 1/6**: Clone repository");
    assert_eq!(
        t.lines
            .iter()
            .filter(|l| l.starts_with("▶️ **Step"))
            .count(),
        6
    );
    assert_eq!(
        t.lines.iter().filter(|l| l.starts_with("✅ Gate")).count(),
        4
    );
    let outcome = t
        .lines
        .iter()
        .position(|l| l.starts_with("✅ **Done**: "))
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
    assert!(last_card.starts_with("✅ **Completed**"), "{last_card}");
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
    let chat = Chat::start().await;
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        chat.thread("t1"),
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
    let chat = Chat::start().await;
    let hub = hub(&store, &sim, &chat);
    start(
        &sim,
        &store,
        &hub,
        Script::failing(),
        Faults::default(),
        chat.thread("t1"),
        Verbosity::Quiet,
    )
    .await;
    idle(&hub).await;

    let t = transcript(&chat, "t1", Some(Reaction::Failed));
    assert_eq!(
        t.lines,
        [
            "🚀 Job started",
            // Parentheses escaped, so the error cannot become a link.
            "❌ **Failed**: Run tests failed: 3 of 128 tests failed \\(parser › handles null input\\)",
            // Mattermost pings nobody from a code span, and the command stays copyable.
            "`@mosaic retry` to try again.",
        ]
    );
    assert!(
        t.card_texts
            .last()
            .expect("card")
            .starts_with("❌ **Failed**")
    );
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
    let chat = Chat::start().await;
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        chat.thread("t1"),
        Verbosity::Milestones,
    )
    .await;
    chat.posted("Step 2/6").await;
    store
        .set_verbosity(&chat.thread("t1"), Verbosity::Verbose)
        .await
        .expect("stored");
    hub.verbosity_changed(&chat.thread("t1"), Verbosity::Verbose);
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
    let chat = Chat::start().await;
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        faults,
        chat.thread("t1"),
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
        drop_after: Some(7),
        ignore_last_event_id: true,
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

/// A verbose standard job relayed into `t1` by a hub whose store is a file, so a second
/// hub can resume it; returned once step 2 is shown.
struct Restartable {
    sim: mosaic_sim::Sim,
    _dir: tempfile::TempDir,
    url: String,
    store: Store,
    chat: Chat,
    first: mosaic_bot::relay::RelayHub,
    id: String,
}

impl Restartable {
    async fn at_step_2() -> Restartable {
        let sim = sim(10).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bot.db").display());
        let store = Store::open(&url).await.expect("store opens");
        let chat = Chat::start().await;
        let first = hub(&store, &sim, &chat);
        let id = start(
            &sim,
            &store,
            &first,
            Script::standard(),
            Faults::default(),
            chat.thread("t1"),
            Verbosity::Verbose,
        )
        .await;
        chat.posted("Step 2/6").await;
        Restartable {
            sim,
            _dir: dir,
            url,
            store,
            chat,
            first,
            id,
        }
    }
}

#[tokio::test]
async fn a_restart_mid_job_repeats_nothing_and_loses_nothing() {
    let Restartable {
        sim,
        _dir,
        url,
        store,
        chat,
        first,
        id,
    } = Restartable::at_step_2().await;
    // Shut down while the relay waits out a 429 (between attempts, where a shutdown may cut
    // in; a post on the wire is let finish, see the next test). The relay sends one request
    // at a time, so once a request is refused every post taken before it was recorded.
    chat.fake.rate_limit_next(usize::MAX);
    chat.fake.wait_rate_limited(1).await;
    first.shutdown(Duration::from_secs(5)).await;
    chat.fake.rate_limit_next(0);
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
            .starts_with("✅ **Completed**")
    );
    assert!(store.job(&id).await.expect("read").expect("job").ended);
}

#[tokio::test]
async fn a_shutdown_lets_a_post_on_the_wire_finish_so_a_restart_repeats_it_not() {
    let Restartable {
        sim,
        _dir,
        url,
        store,
        chat,
        first,
        id,
    } = Restartable::at_step_2().await;
    // The next post is held on the wire while the shutdown comes: the relay must wait for
    // its answer and record it, or the restart shows that batch a second time.
    chat.fake.hold_posts(Duration::from_millis(300));
    let arrived = chat.fake.posts_arrived();
    chat.fake.wait_posts_arrived(arrived + 1).await;
    first.shutdown(Duration::from_secs(5)).await;
    chat.fake.hold_posts(Duration::ZERO);
    assert_eq!(first.running(), 0);
    store.close().await;

    let store = Store::open(&url).await.expect("store reopens");
    let second = hub(&store, &sim, &chat);
    assert_eq!(second.resume_all().await.expect("resumes"), 1);
    idle(&second).await;
    let events = sim.events(&id);
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Verbose));
}

#[tokio::test]
async fn mentions_in_job_output_are_escaped() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = Chat::start().await;
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
        chat.thread("t1"),
        Verbosity::Verbose,
    )
    .await;
    idle(&hub).await;

    let events = sim.events(&id);
    assert!(events.iter().any(|e| e.to_string().contains("@everyone")));
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(t.lines, expected_lines(&events, |_| Verbosity::Verbose));
    let all: String = chat
        .fake
        .sent()
        .iter()
        .map(|s| match s {
            Sent::Post { message, .. }
            | Sent::Patch { message, .. }
            | Sent::EphemeralPost { message, .. } => message.clone(),
            Sent::Reaction { .. } | Sent::Ephemeral { .. } => String::new(),
        })
        .collect();
    // What pings on Mattermost (`@here`, `@channel`, `@all`, `@name`), and terminal escapes.
    // Slack's `<!channel>` is plain text here, shown as written inside a code block.
    for mention in ["@everyone", "@here", "<@123>", "\u{1b}["] {
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
    let chat = Chat::start().await;
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        chat.thread("t1"),
        Verbosity::Milestones,
    )
    .await;
    chat.posted("Step 1/6").await;
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
    assert!(
        t.card_texts
            .last()
            .expect("card")
            .starts_with("🗑️ **Deleted")
    );
    let stored = store.job(&id).await.expect("read").expect("job");
    assert!(stored.ended);
    assert_eq!(stored.status, "DELETED");
}

#[tokio::test]
async fn rate_limits_are_honoured_and_nothing_is_lost() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = Chat::start().await;
    // The card's post meets a 429 (waiting the second its reset header names), then a 503;
    // the first edit meets a 503.
    chat.fake.rate_limit_next(1);
    chat.fake.fail_next_posts(1);
    chat.fake.fail_next_patches(1);
    let hub = hub(&store, &sim, &chat);
    let metrics = mosaic_bot::metrics::Metrics::new();
    hub.attach_metrics(Arc::clone(&metrics));
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        chat.thread("t1"),
        Verbosity::Milestones,
    )
    .await;
    idle(&hub).await;
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(
        t.lines,
        expected_lines(&sim.events(&id), |_| Verbosity::Milestones)
    );
    assert_eq!(chat.fake.rate_limited(), 1);
    let text = metrics.render();
    let platform = PLATFORM.name();
    for (kind, n) in [("rate_limited", 1), ("unavailable", 2)] {
        let series =
            format!("mosaic_platform_errors_total{{platform=\"{platform}\",kind=\"{kind}\"}} {n}");
        assert!(text.contains(&series), "{series} in:\n{text}");
    }
}

#[tokio::test]
async fn a_refused_post_stops_posting_but_the_outcome_is_recorded() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = Chat::start().await;
    // Only the first post is refused: any later one would be taken, and seen.
    chat.fake.forbid_next_posts(1);
    let hub = hub(&store, &sim, &chat);
    let id = start(
        &sim,
        &store,
        &hub,
        Script::standard(),
        Faults::default(),
        chat.thread("t1"),
        Verbosity::Milestones,
    )
    .await;
    idle(&hub).await;
    assert_eq!(chat.fake.forbidden(), 1, "the card's post was refused");
    assert_eq!(chat.fake.sent(), [], "nothing is posted after the refusal");
    let stored = store.job(&id).await.expect("read").expect("job");
    assert!(stored.ended);
    assert_eq!(stored.status, "COMPLETED");
}

#[tokio::test]
async fn jobs_in_one_channel_share_its_post_interval() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = Chat::start().await;
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
                chat.thread(name),
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

#[tokio::test]
async fn refused_credentials_end_the_relay_with_a_message() {
    let sim = sim(1).await;
    let store = memory_store().await;
    let chat = Chat::start().await;
    let id = sim.create_job("acme", "web", 42, Script::tiny(), Faults::default());
    let mut platforms = Platforms::new();
    platforms.insert(PLATFORM, Arc::clone(&chat.mm) as Arc<dyn ChatPlatform>);
    let config = BackendConfig {
        use_env_proxy: false,
        ..BackendConfig::new(sim.base_url(), Secret::from("wrong-token"), sim.workspace())
    };
    let hub = RelayHub::new(
        store.clone(),
        Backends::new([BackendClient::new(config).expect("client builds")]),
        platforms,
        "mosaic".into(),
        CancellationToken::new(),
    );
    let job = followed(&id, chat.thread("t1"), Verbosity::Milestones);
    store.insert_job(&job).await.expect("job inserted");
    hub.follow(job.clone());
    hub.follow(job); // already running: a no-op
    assert_eq!(hub.running(), 1);
    idle(&hub).await;

    let t = transcript(&chat, "t1", None);
    assert_eq!(t.lines.len(), 1, "{:?}", t.lines);
    assert!(t.lines[0].contains("refused the bot's credentials"));
    let stored = store.job(&id).await.expect("read").expect("job");
    assert!(stored.ended);
    assert_eq!(stored.status, "UNAUTHORIZED");
}
