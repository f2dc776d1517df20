//! Buttons on the progress card, pressed through the console's input: each press runs the
//! command it stands for in the card's thread (the same permissions, dedupe and replies), and
//! the card's buttons follow its job. Nothing that does not apply reaches the backend.

use std::time::Duration;

use mosaic_sim::SimConfig;
use serde_json::{Value, json};

use crate::harness::{Bot, World, is_post_in, text};

/// The simulator's first two job ids.
const JOB_1: &str = "00000000-0000-4000-8000-000000000001";
const JOB_2: &str = "00000000-0000-4000-8000-000000000002";

fn slow(ms: u64) -> SimConfig {
    SimConfig {
        tick: Duration::from_millis(ms),
        ..SimConfig::fast()
    }
}

/// The ids of the buttons a post or edit carries (none when it has no `buttons`).
fn buttons(op: &Value) -> Vec<&str> {
    op["buttons"]
        .as_array()
        .map(|bs| bs.iter().filter_map(|b| b["id"].as_str()).collect())
        .unwrap_or_default()
}

/// A press of `button` under message `message` in `c1`.
fn press(id: &str, button: &str, message: &str, user: &str) -> Value {
    json!({"press": button, "message": message, "channel": "c1", "user": user, "id": id})
}

/// Waits for the card's post in thread `m1`; returns its id.
async fn card_of_m1(bot: &mut Bot) -> String {
    let card = bot
        .expect("the card", |op| {
            is_post_in(op, "m1") && text(op).contains("acme/web#42 <")
        })
        .await;
    assert_eq!(
        buttons(&card),
        ["cancel", "verbose", "quiet"],
        "a new job's card: {card}"
    );
    assert_eq!(card["buttons"][0]["label"], "Cancel");
    card["id"].as_str().expect("the card has an id").to_owned()
}

/// Waits for an edit of `card` carrying exactly `want`.
async fn card_edit(bot: &mut Bot, card: &str, want: &[&str]) -> Value {
    // Seen already or still to come: the reply to a press and the card's edit race.
    bot.seen_or_expect(&format!("the card with {want:?}"), |op| {
        op["op"] == "edit" && op["id"] == card && buttons(op) == want
    })
    .await
}

/// The backend's requests whose method and path start as given.
fn requests(world: &World, method: &str, path_end: &str) -> usize {
    world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .count()
}

#[tokio::test]
async fn cancel_then_retry_by_buttons_with_a_progress_bar_on_the_card() {
    let world = World::with(slow(40)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let card = card_of_m1(&mut bot).await;
    let bar = bot
        .expect("a progress bar", |op| {
            op["id"] == card.as_str() && text(op).contains('▰')
        })
        .await;
    assert!(text(&bar).contains("▱"), "{bar}");

    bot.say(press("p1", "verbose", &card, "alice")).await;
    let reply = bot
        .expect("verbose", |op| {
            is_post_in(op, "m1") && text(op).starts_with("This thread now shows")
        })
        .await;
    assert!(text(&reply).contains("every event"), "{reply}");
    card_edit(&mut bot, &card, &["cancel", "quiet"]).await;

    bot.say(press("p2", "cancel", &card, "alice")).await;
    bot.seen_or_expect("the cancellation", |op| {
        is_post_in(op, "m1") && text(op).starts_with("Cancelling job")
    })
    .await;
    let cancelled = card_edit(&mut bot, &card, &["retry"]).await;
    assert!(text(&cancelled).starts_with("🛑 Cancelled"), "{cancelled}");
    assert_eq!(world.sim.job(JOB_1).unwrap()["status"], "CANCELLED");
    let outcome = bot
        .seen_or_expect("the outcome", |op| {
            is_post_in(op, "m1") && text(op).contains("🛑 Cancelled")
        })
        .await;
    assert!(
        text(&outcome).contains("cancelled by alice on console"),
        "{outcome}"
    );

    bot.say(press("p3", "retry", &card, "alice")).await;
    let retrying = bot
        .expect("the retry", |op| {
            is_post_in(op, "m1") && text(op).starts_with("Retrying as job")
        })
        .await;
    assert_eq!(
        text(&retrying),
        format!("Retrying as job {JOB_2}; following it here.")
    );
    let second = bot
        .seen_or_expect("the second card", |op| {
            is_post_in(op, "m1") && text(op).contains("acme/web#42 <") && op["id"] != card.as_str()
        })
        .await;
    // The thread is verbose now, so the new card offers Quiet.
    assert_eq!(buttons(&second), ["cancel", "quiet"], "{second}");
    let second_id = second["id"].as_str().unwrap().to_owned();
    let done = card_edit(&mut bot, &second_id, &[]).await;
    assert!(text(&done).starts_with("✅ Completed"), "{done}");
    assert!(text(&done).contains("▰▰▰▰▰▰▰▰▰▰ 100%"), "{done}");
    let ops = bot.finish().await;
    assert_eq!(world.sim.job(JOB_2).unwrap()["retryOf"], JOB_1);
    assert_eq!(requests(&world, "POST", "/cancel"), 1);
    assert_eq!(requests(&world, "POST", "/retry"), 1);
    // Once completed, no button remains on the second card; the first keeps Retry only.
    let last_edit = |id: &str| {
        ops.iter()
            .rev()
            .find(|op| op["op"] == "edit" && op["id"] == id)
            .cloned()
            .unwrap()
    };
    assert!(buttons(&last_edit(&second_id)).is_empty());
    assert_eq!(buttons(&last_edit(&card)), ["retry"]);
}

#[tokio::test]
async fn presses_that_do_not_apply_or_are_refused_reach_no_backend_and_a_double_press_acts_once() {
    let world = World::with(slow(40)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let card = card_of_m1(&mut bot).await;
    bot.expect("step 1", |op| text(op).contains("▶️ Step 1/6"))
        .await;

    // bob did not request the job: the rule for cancel refuses him, by name.
    bot.say(press("p1", "cancel", &card, "bob")).await;
    let refused = bot
        .expect("the refusal", |op| {
            is_post_in(op, "m1") && text(op).starts_with("Only the job's")
        })
        .await;
    assert_eq!(
        text(&refused),
        "Only the job's requester (alice) or an admin may `cancel` it (`permissions.cancel`)."
    );
    // Buttons the card does not carry, and a message that is no card.
    bot.say(press("p2", "retry", &card, "alice")).await;
    let not_now = bot
        .expect("retry does not apply", |op| {
            is_post_in(op, "m1") && text(op).starts_with("Retry no longer applies")
        })
        .await;
    assert!(
        text(&not_now).contains("Its card offers: Cancel, Verbose, Quiet."),
        "{not_now}"
    );
    bot.say(press("p3", "launch", &card, "alice")).await;
    let unknown = bot
        .expect("no such button", |op| {
            is_post_in(op, "m1") && text(op).contains("has no `launch` button")
        })
        .await;
    assert!(text(&unknown).contains("so I did nothing"), "{unknown}");
    bot.say(press("p4", "cancel", "m1", "alice")).await;
    bot.expect("not a card", |op| {
        is_post_in(op, "m1") && text(op).starts_with("That message is not the progress card")
    })
    .await;
    assert_eq!(
        requests(&world, "POST", "/cancel"),
        0,
        "nothing was cancelled"
    );
    assert_eq!(requests(&world, "POST", "/retry"), 0);

    // One press delivered twice, then a second click: one cancel.
    bot.say(press("p5", "cancel", &card, "alice")).await;
    bot.say(press("p5", "cancel", &card, "alice")).await;
    bot.say(press("p6", "cancel", &card, "alice")).await;
    bot.seen_or_expect("the cancellation", |op| {
        text(op).starts_with("Cancelling job")
    })
    .await;
    let again = bot
        .seen_or_expect("the second click answered", |op| {
            text(op).starts_with("Cancel no longer applies")
        })
        .await;
    assert!(
        text(&again).contains("a cancel was asked already"),
        "{again}"
    );
    let ops = bot.finish().await;
    assert_eq!(requests(&world, "POST", "/cancel"), 1, "{ops:#?}");
    assert_eq!(requests(&world, "POST", "/runner-jobs"), 1, "one job");
    assert_eq!(
        ops.iter()
            .filter(|op| text(op).starts_with("Cancelling job"))
            .count(),
        1,
        "{ops:#?}"
    );
}

#[tokio::test]
async fn the_buttons_of_a_card_resumed_after_a_restart_still_work() {
    let world = World::with(slow(40)).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    let card = card_of_m1(&mut bot).await;
    bot.expect("step 2", |op| text(op).contains("▶️ Step 2/6"))
        .await;
    bot.crash().await;

    let mut bot = world.bot();
    // The resumed relay writes the card with buttons derived from the job.
    card_edit(&mut bot, &card, &["cancel", "verbose", "quiet"]).await;
    bot.say(press("p1", "cancel", &card, "alice")).await;
    bot.seen_or_expect("the cancellation", |op| {
        is_post_in(op, "m1") && text(op).starts_with("Cancelling job")
    })
    .await;
    let cancelled = card_edit(&mut bot, &card, &["retry"]).await;
    assert!(text(&cancelled).starts_with("🛑 Cancelled"), "{cancelled}");
    let ops = bot.finish().await;
    assert_eq!(world.sim.job(JOB_1).unwrap()["status"], "CANCELLED");
    assert_eq!(requests(&world, "POST", "/cancel"), 1, "{ops:#?}");
    assert!(
        ops.iter()
            .all(|op| op["op"] != "post" || !text(op).contains("acme/web#42 <")),
        "no second card: {ops:#?}"
    );
}
