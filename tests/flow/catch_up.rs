//! Never act on an old message: the catch-up window, edits, and deliveries
//! of one message, through the real binary. The console's `ts` and `edit`
//! input fields stand for what platforms deliver (a post's `create_at`, an
//! edited mention); the rule under test is the core's, one for every platform.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::harness::{World, is_post_in, posts_in, text};

/// Unix seconds `ago` seconds before now, as a platform stamps a message.
fn written(ago: u64) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970");
    now.as_secs_f64() - ago as f64
}

fn jobs_created(world: &World) -> usize {
    world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/runner-jobs")
        .count()
}

fn reactions_on<'a>(ops: &'a [Value], message: &str) -> Vec<&'a Value> {
    ops.iter()
        .filter(|op| op["op"] == "react" && op["id"] == message)
        .collect()
}

#[tokio::test]
async fn a_message_written_before_the_window_is_not_a_command() {
    let world = World::new().await;
    let mut bot = world.bot_with(&[("MOSAIC__BOT__CATCH_UP_SECS", "120")]);
    // Written three minutes ago: a catch-up query or a re-delivery found it.
    bot.say(json!({"id": "old", "channel": "c1", "user": "alice",
                   "text": "@mosaic fix acme/web#42", "ts": written(180)}))
        .await;
    // Written a minute ago: within the window, a command like any other.
    bot.say(json!({"id": "recent", "channel": "c1", "user": "alice",
                   "text": "@mosaic help fix", "ts": written(60)}))
        .await;
    bot.expect("the help", |op| is_post_in(op, "recent")).await;
    let ops = bot.finish().await;
    assert!(
        ops.iter()
            .all(|op| op["thread"] != "old" && op["id"] != "old"),
        "nothing answers the old message: {ops:#?}"
    );
    assert_eq!(jobs_created(&world), 0, "no job for the old message");
    assert_eq!(reactions_on(&ops, "recent").len(), 1, "{ops:#?}");
    assert_eq!(ops.len(), 2, "a 👀 and the help, nothing else: {ops:#?}");
}

#[tokio::test]
async fn an_edit_never_runs_a_command_that_was_acted_on() {
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("the outcome", |op| {
        is_post_in(op, "m1") && text(op).contains("acme/web#42") && op["op"] == "post"
    })
    .await;
    // The author edits the message (a typo elsewhere in it); the platform
    // delivers the edit as a new event of the same message.
    bot.say(json!({"id": "m1", "channel": "c1", "user": "alice",
                   "text": "@mosaic fix acme/web#42 please", "edit": "e1"}))
        .await;
    bot.say(json!({"id": "m1", "channel": "c1", "user": "alice",
                   "text": "@mosaic fix acme/web#43", "edit": "e2"}))
        .await;
    let ops = bot.finish().await;
    assert_eq!(jobs_created(&world), 1, "the edits started nothing");
    assert_eq!(
        reactions_on(&ops, "m1").len(),
        2,
        "👀 then ✅ or ❌: {ops:#?}"
    );
    assert!(
        ops.iter().all(|op| !text(op).contains("acme/web#43")),
        "the edited text was not read: {ops:#?}"
    );
}

#[tokio::test]
async fn an_edit_of_a_message_that_only_got_an_error_is_read_again_once() {
    let world = World::new().await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fxi #42").await;
    let error = bot
        .expect("the parse error", |op| is_post_in(op, "m1"))
        .await;
    assert!(text(&error).starts_with("Unknown command `fxi`"), "{error}");
    let fixed = json!({"id": "m1", "channel": "c1", "user": "alice",
                       "text": "@mosaic help status", "edit": "e1"});
    bot.say(fixed.clone()).await;
    let help = bot
        .expect("the help for the edited text", |op| {
            is_post_in(op, "m1") && text(op).contains("status")
        })
        .await;
    assert!(text(&help).contains("`@mosaic status"), "{help}");
    // The same edit delivered again, and the original again: both seen.
    bot.say(fixed).await;
    bot.top("m1", "@mosaic fxi #42").await;
    // A later edit of a message now acted on is not read.
    bot.say(json!({"id": "m1", "channel": "c1", "user": "alice",
                   "text": "@mosaic help cancel", "edit": "e2"}))
        .await;
    let ops = bot.finish().await;
    assert_eq!(
        posts_in(&ops, "m1").len(),
        2,
        "the error, then one help: {ops:#?}"
    );
    assert_eq!(
        reactions_on(&ops, "m1").len(),
        1,
        "one 👀 for the message: {ops:#?}"
    );
    assert_eq!(ops.len(), 3, "{ops:#?}");
}

#[tokio::test]
async fn an_edit_written_before_the_window_is_not_read() {
    let world = World::new().await;
    let mut bot = world.bot_with(&[("MOSAIC__BOT__CATCH_UP_SECS", "60")]);
    bot.say(json!({"id": "m1", "channel": "c1", "user": "alice",
                   "text": "@mosaic help", "edit": "e1", "ts": written(3600)}))
        .await;
    bot.top("m2", "@mosaic help quiet").await;
    bot.expect("the later help", |op| is_post_in(op, "m2"))
        .await;
    let ops = bot.finish().await;
    assert!(posts_in(&ops, "m1").is_empty(), "{ops:#?}");
    assert_eq!(ops.len(), 2, "{ops:#?}");
}
