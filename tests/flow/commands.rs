//! Commands and their replies: help, errors, the duplicate-fix guard,
//! status, cancel, retry, and messages delivered twice.

use serde_json::json;

use crate::harness::{World, is_post_in, posts_in, text};

#[tokio::test]
async fn help_and_parse_errors_are_answered_in_the_thread() {
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic help").await;
    let help = bot.expect("the help", |op| is_post_in(op, "m1")).await;
    assert!(text(&help).contains("`@mosaic fix ISSUE`"), "{help}");
    bot.top("m2", "@mosaic fxi #42").await;
    let error = bot
        .expect("the parse error", |op| is_post_in(op, "m2"))
        .await;
    assert_eq!(
        text(&error),
        "Unknown command `fxi`. Did you mean `fix`? Try `@mosaic help`."
    );
    let ops = bot.finish().await;
    let reactions: Vec<_> = ops.iter().filter(|op| op["op"] == "react").collect();
    assert_eq!(reactions.len(), 2, "one 👀 per command message: {ops:#?}");
    assert!(reactions.iter().all(|r| r["emoji"] == "eyes"));
    assert_eq!(ops.len(), 4, "nothing else was printed: {ops:#?}");
    assert!(
        world
            .sim
            .requests()
            .iter()
            .all(|r| r.method == "GET" || r.path != "/runner-jobs"),
        "no job was created"
    );
}

#[tokio::test]
async fn a_message_without_a_mention_is_ignored() {
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "just chatting about #42").await;
    bot.say(json!("plain line")).await;
    let ops = bot.finish().await;
    assert!(ops.is_empty(), "{ops:#?}");
}

#[tokio::test]
async fn status_outside_a_job_thread_says_how_to_name_one() {
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic status").await;
    let reply = bot.expect("the reply", |op| is_post_in(op, "m1")).await;
    assert_eq!(
        text(&reply),
        "There is no job in this thread. Use `@mosaic status #42`, or type it in a job's thread."
    );
    bot.top("m2", "@mosaic cancel acme/nothing#1").await;
    let reply = bot.expect("the reply", |op| is_post_in(op, "m2")).await;
    // Cancelling is for a job's requester (or an admin), and nobody
    // requested one for this issue here.
    assert!(
        text(&reply).starts_with("I know of no job for acme/nothing#1 started from chat"),
        "{reply}"
    );
    bot.finish().await;
}

#[tokio::test]
async fn a_message_delivered_twice_is_handled_once() {
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic help fix").await;
    bot.top("m1", "@mosaic help fix").await;
    bot.top("m2", "@mosaic help status").await;
    bot.expect("the second help", |op| is_post_in(op, "m2"))
        .await;
    let ops = bot.finish().await;
    assert_eq!(posts_in(&ops, "m1").len(), 1, "{ops:#?}");
}

#[tokio::test]
async fn a_second_fix_for_a_running_job_points_to_it() {
    let world = World::with(mosaic_sim::SimConfig {
        tick: std::time::Duration::from_millis(200),
        ..mosaic_sim::SimConfig::fast()
    })
    .await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("the card", |op| is_post_in(op, "m1")).await;
    // The job has moved on from how it was stored at its start (QUEUED).
    let job = "00000000-0000-4000-8000-000000000001";
    let running = async {
        while world.sim.job(job).is_none_or(|j| j["status"] != "RUNNING") {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), running)
        .await
        .expect("the job runs");
    bot.top("m2", "@mosaic fix acme/web#42").await;
    let reply = bot.expect("the guard", |op| is_post_in(op, "m2")).await;
    assert!(
        text(&reply).starts_with("A fix for acme/web#42 is already under way (RUNNING)"),
        "says the job's state now: {reply}"
    );
    assert!(
        text(&reply).contains("console:c1/m1"),
        "names the thread: {reply}"
    );
    bot.finish().await;
    let creates = world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/runner-jobs")
        .count();
    assert_eq!(creates, 1, "one job only");
}

#[tokio::test]
async fn status_in_a_job_thread_shows_state_progress_and_links() {
    let world = World::with(mosaic_sim::SimConfig {
        tick: std::time::Duration::from_millis(25),
        ..mosaic_sim::SimConfig::fast()
    })
    .await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("step 1", |op| text(op).contains("▶️ Step 1/6"))
        .await;
    bot.in_thread("m2", "m1", "@mosaic status").await;
    let reply = bot
        .expect("the status", |op| {
            op["op"] == "post" && text(op).contains("Job: ")
        })
        .await;
    let t = text(&reply);
    assert!(t.contains("RUNNING"), "{t}");
    assert!(t.contains("%"), "{t}");
    assert!(
        t.contains("Step 1/6: Clone repository") || t.contains("Step 2/6"),
        "{t}"
    );
    assert!(
        t.contains("Issue: acme/web#42 <https://github.com/acme/web/issues/42>"),
        "{t}"
    );
    assert!(
        t.contains("Job: 00000000-0000-4000-8000-000000000001"),
        "{t}"
    );
    bot.top("m3", "@mosaic status acme/web#42").await;
    let by_issue = bot
        .expect("the status by issue", |op| is_post_in(op, "m3"))
        .await;
    assert!(text(&by_issue).contains("Job: 00000000-0000-4000-8000-000000000001"));
    bot.finish().await;
}

#[tokio::test]
async fn health_and_readiness_are_served_while_the_bot_runs() {
    let world = World::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut bot = world.bot_with(&[("MOSAIC__HTTP__LISTEN", &addr)]);
    // The bot is up once it answers a command.
    bot.top("m1", "@mosaic help").await;
    bot.expect("the help", |op| is_post_in(op, "m1")).await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");
    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    assert_eq!(body["platforms"], json!({"console": "connected"}));
    // One replica, holding no lease (no job runs), named after its host and process.
    let replica = &body["replica"];
    assert_eq!(replica["leases"], "renewed", "{body}");
    assert_eq!(replica["leases_held"], 0, "{body}");
    assert_eq!(replica["relays"], 0, "{body}");
    assert!(
        replica["id"].as_str().is_some_and(|id| id.contains('-')),
        "{body}"
    );
    bot.finish().await;
}

#[tokio::test]
async fn json_logs_carry_the_command_context_and_never_a_secret() {
    let world = World::new().await;
    let mut bot = world.bot_logging();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let (_ops, logs) = bot.finish_with_logs().await;
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let started = lines
        .iter()
        .find(|l| l["fields"]["message"] == "started a fix job")
        .unwrap_or_else(|| panic!("no start logged: {logs}"));
    let span = &started["span"];
    assert_eq!(span["platform"], "console", "{started}");
    assert_eq!(span["channel"], "c1");
    assert_eq!(span["thread"], "m1");
    assert_eq!(span["user"], "alice");
    assert_eq!(
        started["fields"]["job"],
        "00000000-0000-4000-8000-000000000001"
    );
    assert!(
        !logs.contains(world.sim.token()),
        "the backend token was logged: {logs}"
    );
}

#[tokio::test]
async fn metrics_count_commands_events_reconnects_and_lag() {
    let world = World::new().await;
    world.sim.script_issue(
        "acme",
        "web",
        42,
        mosaic_sim::Script::standard(),
        mosaic_sim::Faults {
            drop_after: Some(10),
            ..mosaic_sim::Faults::default()
        },
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut bot = world.bot_with(&[("MOSAIC__HTTP__LISTEN", &addr)]);
    bot.top("m1", "@mosaic fxi").await;
    bot.top("m2", "@mosaic fix acme/web#42").await;
    bot.expect("✅", |op| {
        op["op"] == "react" && op["emoji"] == "white_check_mark"
    })
    .await;
    let events = world
        .sim
        .wait_final("00000000-0000-4000-8000-000000000001")
        .await;
    let client = reqwest::Client::new();
    let scrape = || async {
        client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("scraped")
            .text()
            .await
            .expect("a body")
    };
    // The relay leaves the hub just after its last act: wait for the gauge.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = scrape().await;
        if text.contains("\nmosaic_jobs_followed 0\n") || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert_eq!(
        value(r#"mosaic_commands_total{platform="console",action="fix",outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        value(r#"mosaic_commands_total{platform="console",action="invalid",outcome="refused"}"#),
        1.0
    );
    assert_eq!(
        value(r#"mosaic_events_relayed_total{platform="console"}"#),
        events.len() as f64,
        "every event once"
    );
    assert!(value(r#"mosaic_stream_reconnects_total{reason="closed"}"#) >= 1.0);
    let posts = bot
        .seen
        .iter()
        .filter(|op| op["op"] == "post" && op["thread"] == "m2")
        .count();
    assert!(
        value(r#"mosaic_relay_lag_seconds_count{platform="console"}"#) >= (posts - 1) as f64,
        "a lag per shown event (the card is not an event)"
    );
    assert_eq!(value("mosaic_jobs_followed"), 0.0);
    bot.finish().await;
}

#[tokio::test]
async fn a_command_stuck_on_the_backend_holds_up_no_other_channel() {
    // A backend that accepts connections and never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", hole.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            open.push(socket);
        }
    });
    let world = World::new().await;
    let config = format!(
        "[backend]\nurl = \"{url}\"\nworkspace = \"ws\"\n[[channels]]\nplatform = \"console\"\nid = \"c1\"\ndefault_repo = \"acme/web\"\n"
    );
    let mut bot = world.bot_configured(&config, &[("MOSAIC__BACKEND__TOKEN", "t")]);
    bot.say(json!({"id": "s1", "channel": "slow", "user": "alice", "text": "@mosaic status acme/web#1"}))
        .await;
    bot.expect("the stuck command is taken in", |op| {
        op["op"] == "react" && op["id"] == "s1"
    })
    .await;
    bot.top("m1", "@mosaic help").await;
    bot.top("m2", "@mosaic help status").await;
    let first = bot.expect("a reply", |op| op["op"] == "post").await;
    assert_eq!(first["thread"], "m1", "help comes first, in order: {first}");
    let second = bot.expect("a reply", |op| op["op"] == "post").await;
    assert_eq!(second["thread"], "m2", "{second}");
    // The stuck status is still waiting on its backend.
    assert!(posts_in(&bot.seen, "s1").is_empty());
    bot.crash().await;
    held.abort();
}

#[tokio::test]
async fn console_flags_fill_in_what_the_environment_leaves_out() {
    let world = World::new().await;
    // A lone backend setting in the environment is a [backend] section
    // without a url; the flags (given by the harness) complete it.
    let mut bot = world.bot_with(&[("MOSAIC__BACKEND__STALL_TIMEOUT_SECS", "3")]);
    bot.top("m1", "@mosaic status acme/web#42").await;
    let reply = bot.expect("the reply", |op| is_post_in(op, "m1")).await;
    assert!(text(&reply).contains("acme/web#42"), "{reply}");
    let ops = bot.finish().await;
    assert_eq!(ops.len(), 2, "a 👀 and the reply: {ops:#?}");
}

#[tokio::test]
async fn a_restarted_console_never_repeats_an_id_of_an_earlier_run() {
    let world = World::new().await;
    let mut first = world.bot();
    first
        .say(json!({"channel": "c1", "text": "@mosaic help"}))
        .await;
    first.expect("the help", |op| op["op"] == "post").await;
    let before = first.finish().await;
    let mut second = world.bot();
    // Numbered like the first run's message: it must still be a new one.
    second
        .say(json!({"channel": "c1", "text": "@mosaic help"}))
        .await;
    second
        .expect("the help again", |op| op["op"] == "post")
        .await;
    let after = second.finish().await;
    let ids = |ops: &[serde_json::Value], op: &str, key: &str| -> Vec<String> {
        ops.iter()
            .filter(|o| o["op"] == op)
            .map(|o| o[key].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let (old_posts, new_posts) = (ids(&before, "post", "id"), ids(&after, "post", "id"));
    let (old_msgs, new_msgs) = (
        ids(&before, "post", "thread"),
        ids(&after, "post", "thread"),
    );
    assert_eq!(
        (old_posts.len(), new_posts.len()),
        (1, 1),
        "{before:#?} {after:#?}"
    );
    assert_ne!(old_posts, new_posts, "a new post has a new id");
    assert_ne!(old_msgs, new_msgs, "a new message has a new id");
}
