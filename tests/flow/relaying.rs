//! Jobs relayed end to end through the console: card, milestones, outcome,
//! verbosity, cancel, retry, the backend's failure modes, a bot restart,
//! escaping, deletion. Each event is shown once, whatever happens.

use std::time::Duration;

use mosaic_sim::{Faults, Script, SimConfig};
use serde_json::Value;

use crate::harness::{World, is_post_in, posts_in, text};

/// The simulator's first job id (its ids count from 1).
const JOB_1: &str = "00000000-0000-4000-8000-000000000001";

fn slow(ms: u64) -> SimConfig {
    SimConfig {
        tick: Duration::from_millis(ms),
        ..SimConfig::fast()
    }
}

/// Waits until the bot's store (read beside the running bot) has recorded a position at or
/// after `event_id` (the simulator's ids, `e-0007`, sort as text).
async fn recorded_through(db: &std::path::Path, event_id: &str) {
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}?mode=ro", db.display());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut recorded = None;
        if let Ok(mut db) = sqlx::SqliteConnection::connect(&url).await {
            if let Ok(Some(row)) = sqlx::query("SELECT last_event_id FROM followed_jobs")
                .fetch_optional(&mut db)
                .await
            {
                recorded = row.try_get::<Option<String>, _>(0).ok().flatten();
            }
            let _ = db.close().await;
        }
        if recorded.as_deref().is_some_and(|r| r >= event_id) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store never recorded {event_id} (last: {recorded:?})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `step.started` events of a job as the thread shows them.
fn step_lines(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "step.started")
        .map(|e| {
            let p = &e["payload"];
            format!(
                "Step {}/{}: {}",
                p["index"],
                p["total"],
                p["step"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Asserts that each milestone of the job stands in exactly one post of the
/// thread, and the outcome in exactly one.
fn assert_each_milestone_once(ops: &[Value], thread: &str, events: &[Value]) {
    let posts = posts_in(ops, thread);
    for line in step_lines(events) {
        let n = posts
            .iter()
            .filter(|p| text(p).contains(&format!("▶️ {line}")))
            .count();
        assert_eq!(n, 1, "{line:?} shown {n} times: {ops:#?}");
    }
    let outcomes = posts
        .iter()
        .filter(|p| {
            ["✅ Done", "❌ Failed", "🛑 Cancelled"]
                .iter()
                .any(|o| text(p).contains(o))
        })
        .count();
    assert_eq!(outcomes, 1, "one outcome: {ops:#?}");
}

/// The card: the first post in the thread; every edit in the thread is of it.
fn assert_one_card(ops: &[Value], thread: &str) -> String {
    let card = posts_in(ops, thread)[0]["id"].as_str().unwrap().to_owned();
    for edit in ops.iter().filter(|op| op["op"] == "edit") {
        assert_eq!(edit["id"], card.as_str(), "only the card is edited: {edit}");
        assert!(
            !text(edit).contains("$ "),
            "the card never holds step output: {edit}"
        );
    }
    card
}

#[tokio::test]
async fn a_fix_is_relayed_with_card_milestones_outcome_and_reactions() {
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let ops = bot.finish().await;
    let events = world.sim.wait_final(JOB_1).await;
    assert_eq!(ops[0]["op"], "react", "👀 first: {ops:#?}");
    assert_eq!(ops[0]["emoji"], "eyes");
    let card = assert_one_card(&ops, "m1");
    assert!(text(posts_in(&ops, "m1")[0]).contains("acme/web#42"));
    assert_each_milestone_once(&ops, "m1", &events);
    let outcome = posts_in(&ops, "m1").into_iter().last().unwrap();
    assert!(
        text(outcome).contains("https://github.com/acme/web/pull/57"),
        "{outcome}"
    );
    let last_card = ops.iter().rev().find(|op| op["op"] == "edit").unwrap();
    assert!(text(last_card).starts_with("✅ Completed"), "{last_card}");
    assert_eq!(last_card["id"], card.as_str());
    let last = ops.last().unwrap();
    assert_eq!(
        (last["op"].as_str(), last["emoji"].as_str()),
        (Some("react"), Some("white_check_mark"))
    );
    let origin = &world
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap()
        .body;
    let origin = &origin.as_ref().unwrap()["origin"];
    assert_eq!(origin["platform"], "console");
    assert_eq!(origin["channelId"], "c1");
    assert_eq!(origin["userName"], "alice");
    assert!(
        ops.iter()
            .all(|op| op["op"] != "post" || op["thread"] == "m1"),
        "{ops:#?}"
    );
}

#[tokio::test]
async fn verbose_mid_job_shows_every_later_event_once() {
    let world = World::with(slow(25)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("step 2", |op| text(op).contains("▶️ Step 2/6"))
        .await;
    bot.in_thread("m2", "m1", "@mosaic verbose").await;
    let reply = bot
        .expect("the switch", |op| {
            text(op).starts_with("This thread now shows every event")
        })
        .await;
    assert_eq!(reply["thread"], "m1");
    let ops = bot.finish().await;
    let events = world.sim.wait_final(JOB_1).await;
    assert_each_milestone_once(&ops, "m1", &events);
    let posts = posts_in(&ops, "m1");
    let outputs: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "step.output" && e["payload"]["step"] == "Run tests")
        .filter_map(|e| e["payload"]["text"].as_str())
        .collect();
    assert!(!outputs.is_empty());
    for output in outputs {
        let first = output.lines().next().unwrap_or(output);
        let n = posts.iter().filter(|p| text(p).contains(first)).count();
        assert_eq!(
            n, 1,
            "output {first:?} of a later step shown once: {ops:#?}"
        );
    }
}

#[tokio::test]
async fn quiet_shows_only_start_and_outcome() {
    let world = World::with(slow(25)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("the card", |op| is_post_in(op, "m1")).await;
    bot.in_thread("m2", "m1", "@mosaic quiet").await;
    bot.expect("the switch", |op| {
        text(op).starts_with("This thread now shows only")
    })
    .await;
    let ops = bot.finish().await;
    let later_steps = posts_in(&ops, "m1")
        .iter()
        .skip_while(|p| !text(p).starts_with("This thread now shows only"))
        .filter(|p| text(p).contains("▶️ Step"))
        .count();
    assert_eq!(later_steps, 0, "{ops:#?}");
    assert!(
        posts_in(&ops, "m1")
            .last()
            .map(|p| text(p).contains("✅ Done"))
            .unwrap_or(false)
    );
}

#[tokio::test]
async fn cancel_in_the_thread_ends_the_job_with_a_cross() {
    let world = World::with(slow(40)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("step 1", |op| text(op).contains("▶️ Step 1/6"))
        .await;
    bot.in_thread("m2", "m1", "@mosaic cancel").await;
    // The reply to the command and the relay's outcome race (the relay may see the
    // cancellation before the command's answer is posted): each in either order.
    let is_outcome = |op: &Value| op["op"] == "post" && text(op).contains("🛑 Cancelled");
    bot.seen_or_expect("the cancellation", |op| {
        text(op).starts_with("Cancelling job")
    })
    .await;
    bot.seen_or_expect("the outcome", is_outcome).await;
    let ops = bot.finish().await;
    let outcome = ops.iter().find(|op| is_outcome(op)).unwrap();
    assert!(
        text(outcome).contains("cancelled by alice on console"),
        "{outcome}"
    );
    assert!(
        ops.iter()
            .any(|op| op["op"] == "react" && op["id"] == "m1" && op["emoji"] == "x")
    );
    assert_eq!(world.sim.job(JOB_1).unwrap()["status"], "CANCELLED");
    assert_eq!(
        ops.iter().filter(|op| is_outcome(op)).count(),
        1,
        "{ops:#?}"
    );
}

#[tokio::test]
async fn a_failed_job_says_how_to_retry_and_retry_relays_in_the_same_thread() {
    let world = World::new().await;
    world
        .sim
        .script_issue("acme", "web", 42, Script::failing(), Faults::default());
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let failed = bot
        .expect("the failure", |op| {
            op["op"] == "post" && text(op).contains("❌ Failed")
        })
        .await;
    assert!(
        text(&failed).contains("`@mosaic retry` to try again"),
        "{failed}"
    );
    bot.expect("❌", |op| op["op"] == "react" && op["emoji"] == "x")
        .await;
    bot.in_thread("m2", "m1", "@mosaic retry").await;
    let reply = bot
        .expect("the retry", |op| text(op).starts_with("Retrying as job"))
        .await;
    assert!(text(&reply).ends_with("following it here."), "{reply}");
    bot.expect("the new outcome", |op| {
        op["op"] == "post" && text(op).contains("✅ Done")
    })
    .await;
    let ops = bot.finish().await;
    let retried = world
        .sim
        .job("00000000-0000-4000-8000-000000000002")
        .unwrap();
    assert_eq!(retried["retryOf"], JOB_1);
    let cards: Vec<_> = posts_in(&ops, "m1")
        .into_iter()
        .filter(|p| text(p).contains("acme/web#42 <"))
        .collect();
    assert_eq!(
        cards.len(),
        2,
        "one card per job, both in the thread: {ops:#?}"
    );
}

#[tokio::test]
async fn drops_and_replays_from_the_backend_show_each_event_once() {
    let world = World::new().await;
    let faults = Faults {
        drop_after: Some(5),
        ignore_last_event_id: true,
        ..Faults::default()
    };
    world
        .sim
        .script_issue("acme", "web", 42, Script::standard(), faults);
    world.sim.script_issue(
        "acme",
        "web",
        43,
        Script::standard(),
        Faults {
            live_only_no_ids: true,
            drop_after: Some(4),
            ..Faults::default()
        },
    );
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.top("m2", "@mosaic fix acme/web#43").await;
    let ops = bot.finish().await;
    assert!(
        world.sim.stream_connections(JOB_1) > 1,
        "the stream was dropped"
    );
    assert_each_milestone_once(&ops, "m1", &world.sim.wait_final(JOB_1).await);
    let job_2 = "00000000-0000-4000-8000-000000000002";
    assert_each_milestone_once(&ops, "m2", &world.sim.wait_final(job_2).await);
}

#[tokio::test]
async fn a_bot_killed_mid_job_resumes_on_restart_with_nothing_lost_or_repeated() {
    let world = World::with(slow(30)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("step 2", |op| text(op).contains("▶️ Step 2/6"))
        .await;
    // The crash comes once the store has recorded step 2: a crash between a
    // post and its record (one group commit) would show that one batch again,
    // as src/relay/task.rs says (closing that window is issue 18's).
    bot.expect("the card's next edit", |op| op["op"] == "edit")
        .await;
    let step_2 = world
        .sim
        .events(JOB_1)
        .iter()
        .filter(|e| e["type"] == "step.started")
        .nth(1)
        .and_then(|e| e["id"].as_str().map(str::to_owned))
        .expect("step 2 started");
    recorded_through(&world.db(), &step_2).await;
    let before = bot.crash().await;
    let card = posts_in(&before, "m1")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let after = world.bot().finish().await;
    let events = world.sim.wait_final(JOB_1).await;
    let all: Vec<Value> = before.iter().chain(after.iter()).cloned().collect();
    assert_each_milestone_once(&all, "m1", &events);
    let edits: Vec<_> = after.iter().filter(|op| op["op"] == "edit").collect();
    assert!(
        !edits.is_empty(),
        "the restarted bot edits the card: {after:#?}"
    );
    assert!(
        edits.iter().all(|e| e["id"] == card.as_str()),
        "the same card: {after:#?}"
    );
    assert!(
        after
            .iter()
            .all(|op| op["op"] != "post" || !text(op).contains("acme/web#42 <")),
        "no second card: {after:#?}"
    );
    assert!(
        after
            .iter()
            .any(|op| op["op"] == "react" && op["emoji"] == "white_check_mark")
    );
}

#[tokio::test]
async fn mentions_in_job_output_are_escaped() {
    let world = World::with(slow(25)).await;
    world.sim.script_issue(
        "acme",
        "web",
        42,
        Script::standard(),
        Faults {
            weird_payloads: true,
            ..Faults::default()
        },
    );
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("the card", |op| is_post_in(op, "m1")).await;
    bot.in_thread("m2", "m1", "@mosaic verbose").await;
    let ops = bot.finish().await;
    let bot_text: Vec<&str> = ops.iter().map(text).collect();
    assert!(
        bot_text.iter().any(|t| t.contains("@\u{200b}everyone")),
        "the weird output was shown: {ops:#?}"
    );
    for t in &bot_text {
        for ping in ["@everyone", "@here", "<!channel>", "<@123>"] {
            assert!(!t.contains(ping), "{ping} passed through: {t:?}");
        }
    }
}

#[tokio::test]
async fn a_deleted_job_ends_its_relay_with_a_message() {
    let world = World::with(slow(40)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("step 1", |op| text(op).contains("▶️ Step 1/6"))
        .await;
    world.sim.delete_job(JOB_1);
    bot.expect("the deletion", |op| {
        text(op).contains("no longer exists on the backend")
    })
    .await;
    let ops = bot.finish().await;
    assert_eq!(
        ops.iter()
            .filter(|op| text(op).contains("no longer exists"))
            .count(),
        1,
        "{ops:#?}"
    );
}

#[tokio::test]
async fn sigterm_stops_the_bot_promptly_and_a_restart_finishes_the_job() {
    let world = World::with(slow(40)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("step 1", |op| text(op).contains("▶️ Step 1/6"))
        .await;
    bot.expect("the card's next edit", |op| op["op"] == "edit")
        .await;
    let started = std::time::Instant::now();
    let (status, before) = bot.terminate().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "exits within 10 s"
    );
    assert!(status.success(), "a graceful stop exits 0, got {status}");
    assert!(
        !before.iter().any(|op| text(op).contains("✅ Done")),
        "the job was still running when the bot stopped"
    );
    let after = world.bot().finish().await;
    let all: Vec<Value> = before.iter().chain(after.iter()).cloned().collect();
    assert_each_milestone_once(&all, "m1", &world.sim.wait_final(JOB_1).await);
}

#[tokio::test]
async fn stalls_503s_and_malformed_lines_show_each_event_once() {
    // Live jobs: a client that connects after the end gets everything from
    // the backfill and never meets the faults.
    let world = World::with(slow(20)).await;
    let sim = &world.sim;
    let stall = Faults {
        stall_after: Some(6),
        stall_connections: 1,
        ..Faults::default()
    };
    let unavailable = Faults {
        unavailable_connects: 3,
        ..Faults::default()
    };
    let malformed = Faults {
        malformed_lines: true,
        error_event_after: Some(9),
        ..Faults::default()
    };
    sim.script_issue("acme", "web", 1, Script::standard(), stall);
    sim.script_issue("acme", "web", 2, Script::standard(), unavailable);
    sim.script_issue("acme", "web", 3, Script::standard(), malformed);
    let url = sim.base_url();
    // A stall is detected after a second here (45 s in production).
    let mut bot = world.bot_with(&[
        ("MOSAIC__BACKEND__URL", url.as_str()),
        ("MOSAIC__BACKEND__WORKSPACE", sim.workspace()),
        ("MOSAIC__BACKEND__TOKEN", sim.token()),
        ("MOSAIC__BACKEND__STALL_TIMEOUT_SECS", "1"),
    ]);
    bot.top("m1", "@mosaic fix acme/web#1").await;
    bot.top("m2", "@mosaic fix acme/web#2").await;
    bot.top("m3", "@mosaic fix acme/web#3").await;
    let ops = bot.finish().await;
    for (n, thread) in ["m1", "m2", "m3"].into_iter().enumerate() {
        let job = format!("00000000-0000-4000-8000-{:012}", n + 1);
        assert!(sim.stream_connections(&job) > 1, "job {job} reconnected");
        assert_each_milestone_once(&ops, thread, &sim.wait_final(&job).await);
    }
}

#[tokio::test]
async fn an_unreachable_backend_gets_a_clear_reply_and_no_job() {
    let world = World::new().await;
    world.sim.refuse_connections_for(Duration::from_secs(60));
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let reply = bot.expect("the reply", |op| op["op"] == "post").await;
    assert_eq!(
        text(&reply),
        "The job backend is not reachable right now, so I could not start the job. Try again in a minute."
    );
    let ops = bot.finish().await;
    assert_eq!(
        ops.iter().filter(|op| op["op"] == "post").count(),
        1,
        "{ops:#?}"
    );
}

#[tokio::test]
async fn verbose_in_the_thread_of_an_ended_job_is_taken_from_the_store() {
    // After a restart no relay runs for an ended job, so the bot cannot learn from a running
    // relay that the thread has a job: the store says so, and the setting is stored.
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let ops = bot.finish().await;
    assert!(
        posts_in(&ops, "m1")
            .iter()
            .any(|p| text(p).contains("✅ Done")),
        "{ops:#?}"
    );
    let mut bot = world.bot();
    bot.in_thread("m2", "m1", "@mosaic verbose").await;
    bot.in_thread("m3", "m9", "@mosaic verbose").await;
    let ops = bot.finish().await;
    let posts: Vec<(&str, &str)> = ops
        .iter()
        .filter(|op| op["op"] == "post")
        .map(|op| (op["thread"].as_str().unwrap_or(""), text(op)))
        .collect();
    assert_eq!(posts.len(), 2, "{ops:#?}");
    assert_eq!(posts[0].0, "m1");
    assert!(
        posts[0].1.starts_with("This thread now shows every event"),
        "{posts:?}"
    );
    assert_eq!(posts[1].0, "m9");
    assert!(
        posts[1].1.starts_with("There is no job in this thread"),
        "{posts:?}"
    );
    use sqlx::{Connection, Row};
    let url = format!("sqlite://{}?mode=ro", world.db().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    let row = sqlx::query("SELECT verbosity FROM followed_jobs")
        .fetch_one(&mut db)
        .await
        .expect("one job");
    assert_eq!(row.get::<String, _>(0), "verbose");
}
