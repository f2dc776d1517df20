//! Buttons on the Discord card, through the daemon: each press is a component
//! interaction answered with a deferred update, then run as the command it
//! stands for in the card's thread; the card's components follow its job.
//! Refused presses and presses that no longer apply are answered by
//! ephemeral followups and reach no backend; a press Discord delivers twice
//! acts once; a card resumed after a restart keeps working buttons.

use std::time::Duration;

use serde_json::Value;

use crate::fake::*;
use crate::harness::*;

/// The simulator's first two job ids.
const JOB_1: &str = "00000000-0000-4000-8000-000000000001";
const JOB_2: &str = "00000000-0000-4000-8000-000000000002";

/// A step every 100 ms: a job runs about six seconds, room to press its
/// buttons even on a loaded machine.
const TICK: Duration = Duration::from_millis(100);

/// The bob who did not ask for the job.
const BOB: u64 = ALICE + 1;

fn buttons(call: &Call) -> Option<Vec<String>> {
    call.body.get("components").map(custom_ids)
}

fn in_thread(call: &Call, thread: u64) -> bool {
    call.method == "POST" && call.path == format!("/channels/{thread}/messages")
}

/// A mention of `fix` in the channel; its thread (the mention's id), and
/// the id of the job's card in it, posted with Cancel, Verbose and Quiet.
async fn job_and_card(world: &World, issue: &str) -> (u64, u64) {
    let root = world.fake.say(CHANNEL, &format!("<@{BOT_ID}> fix {issue}"));
    let (_, post) = world
        .fake
        .expect("the card", 0, |c| {
            in_thread(c, root) && c.body.get("components").is_some()
        })
        .await;
    assert_eq!(
        buttons(&post).unwrap_or_default(),
        ["cancel", "verbose", "quiet"],
        "{post:#?}"
    );
    let card = world.fake.cards_in(root)[0];
    card_known(world, root, card).await;
    (root, card)
}

/// Waits for the first edit of `card` in `channel`: the bot has read the
/// card's id from Discord's answer and recorded it, so presses find its job.
/// (A press in the instant between Discord storing the card and the bot
/// reading its id is answered as under no card.)
async fn card_known(world: &World, channel: u64, card: u64) {
    let path = format!("/channels/{channel}/messages/{card}");
    world
        .fake
        .expect("the card's first edit", 0, |c| {
            c.method == "PATCH" && c.path == path
        })
        .await;
}

/// Waits for an edit of `card` (in thread `thread`) whose components are `want`.
async fn card_with(world: &World, from: usize, thread: u64, card: u64, want: &[&str]) -> Call {
    let path = format!("/channels/{thread}/messages/{card}");
    world
        .fake
        .expect(&format!("the card with {want:?}"), from, |c| {
            c.method == "PATCH"
                && c.path == path
                && buttons(c).is_some_and(|b| b.iter().map(String::as_str).eq(want.iter().copied()))
        })
        .await
        .1
}

/// Waits for a post in `thread` starting with `start`; returns it and its place.
async fn said(world: &World, thread: u64, start: &str) -> (usize, Call) {
    world
        .fake
        .expect(start, 0, |c| {
            in_thread(c, thread) && content(c).starts_with(start)
        })
        .await
}

/// Waits for the private answer to press `interaction`: an ephemeral followup.
async fn answered_privately(world: &World, interaction: u64) -> Call {
    let path = format!("/webhooks/{APP_ID}/btn{interaction}");
    let (_, answer) = world
        .fake
        .expect("a private answer", 0, |c| c.path == path)
        .await;
    assert_eq!(answer.method, "POST", "a followup: {answer:#?}");
    assert_eq!(answer.body["flags"], 64, "ephemeral: {answer:#?}");
    answer
}

/// Each press was answered with a deferred update within Discord's 3 s.
fn assert_deferred(world: &World, presses: &[u64]) {
    for &press in presses {
        let answer = world.fake.answered(press);
        assert!(
            matches!(answer, Some((6, after)) if after < ANSWER_WITHIN),
            "press {press}: {answer:?}"
        );
    }
}

fn backend(world: &World, method: &str, path_end: &str) -> usize {
    world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .count()
}

#[tokio::test]
async fn cancel_then_retry_by_buttons_in_the_jobs_thread() {
    let world = World::start_with_tick("", TICK).await;
    let (root, card) = job_and_card(&world, "acme/web#42").await;
    let card_path = format!("/channels/{root}/messages/{card}");
    world
        .fake
        .expect("a progress bar on the card", 0, |c| {
            c.path == card_path && content(c).contains('▰')
        })
        .await;

    let verbose = world.fake.press(card, "verbose", ALICE, Some(&[]));
    said(&world, root, "This thread now shows").await;
    card_with(&world, 0, root, card, &["cancel", "quiet"]).await;

    let cancel = world.fake.press(card, "cancel", ALICE, Some(&[]));
    said(&world, root, "Cancelling job").await;
    let cancelled = card_with(&world, 0, root, card, &["retry"]).await;
    assert!(content(&cancelled).contains("Cancelled"), "{cancelled:#?}");
    assert_eq!(world.sim.job(JOB_1).expect("job 1")["status"], "CANCELLED");

    let retry = world.fake.press(card, "retry", ALICE, Some(&[]));
    let (_, retrying) = said(&world, root, "Retrying as job").await;
    // The thread is verbose now: the new card offers Quiet (the first card
    // was posted with Verbose too). It may come before the reply.
    world
        .fake
        .expect("the second card", 0, |c| {
            in_thread(c, root) && buttons(c).is_some_and(|b| b == ["cancel", "quiet"])
        })
        .await;
    let second = world.fake.cards_in(root)[1];
    let done = card_with(&world, 0, root, second, &[]).await;
    assert!(content(&done).contains("Completed"), "{done:#?}");
    assert_deferred(&world, &[verbose, cancel, retry]);
    let cancels = backend(&world, "POST", "/cancel");
    let retries = backend(&world, "POST", "/retry");
    let retry_of = world.sim.job(JOB_2).expect("job 2")["retryOf"].clone();
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    assert_eq!((cancels, retries), (1, 1));
    assert_eq!(retry_of, JOB_1);
    assert!(content(&retrying).contains("000000000002"), "{retrying:#?}");
    // The retried job is relayed in the same thread; nothing was private.
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path.ends_with("/threads"))
            .count(),
        1
    );
    assert!(
        !calls
            .iter()
            .any(|c| in_thread(c, CHANNEL) || c.path.starts_with("/webhooks/")),
        "{calls:#?}"
    );
    assert_eq!(world_cards(&calls, root), 2);
}

/// How many posts in `thread` carried components.
fn world_cards(calls: &[Call], thread: u64) -> usize {
    calls
        .iter()
        .filter(|c| in_thread(c, thread) && c.body.get("components").is_some())
        .count()
}

#[tokio::test]
async fn refused_and_stale_presses_are_answered_privately_and_a_press_delivered_twice_acts_once() {
    let world = World::start_with_tick("", TICK).await;
    let (root, card) = job_and_card(&world, "acme/web#43").await;

    // bob did not ask for the job: the rule for cancel refuses him, by name.
    let refused = world.fake.press(card, "cancel", BOB, Some(&[]));
    let answer = answered_privately(&world, refused).await;
    assert!(
        content(&answer).starts_with("Only the job's requester")
            && content(&answer).contains("`permissions.cancel`"),
        "{answer:#?}"
    );
    assert_eq!(
        backend(&world, "POST", "/cancel"),
        0,
        "nothing was cancelled"
    );

    // One press, and Discord delivers it again (a resumed session).
    let pressed = world.fake.press(card, "cancel", ALICE, Some(&[]));
    world.fake.redeliver(pressed);
    said(&world, root, "Cancelling job").await;
    card_with(&world, 0, root, card, &["retry"]).await;

    // Cancel, still on a screen not yet redrawn, once the job has ended.
    let stale = world.fake.press(card, "cancel", ALICE, Some(&[]));
    let answer = answered_privately(&world, stale).await;
    assert!(
        content(&answer).starts_with("Cancel no longer applies"),
        "{answer:#?}"
    );
    assert_deferred(&world, &[refused, pressed, stale]);
    let cancels = backend(&world, "POST", "/cancel");
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    assert_eq!(cancels, 1, "one cancel for one press delivered twice");
    let cancelling = calls
        .iter()
        .filter(|c| in_thread(c, root) && content(c).starts_with("Cancelling job"))
        .count();
    assert_eq!(cancelling, 1);
    let callback = format!("/interactions/{pressed}/btn{pressed}/callback");
    assert_eq!(calls.iter().filter(|c| c.path == callback).count(), 2);
    // Only the refused and the stale press were answered privately, once each.
    let private: Vec<&str> = calls
        .iter()
        .filter(|c| c.path.starts_with("/webhooks/"))
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(
        private,
        [
            format!("/webhooks/{APP_ID}/btn{refused}"),
            format!("/webhooks/{APP_ID}/btn{stale}")
        ]
    );
}

#[tokio::test]
async fn the_buttons_of_a_card_resumed_after_a_restart_still_work() {
    // Slower: the job must outlast the restart.
    let world = World::start_with_tick("", TICK * 2).await;
    let (root, card) = job_and_card(&world, "acme/web#44").await;
    world
        .fake
        .expect("step 2", 0, |c| {
            in_thread(c, root) && content(c).contains("Step 2/6**")
        })
        .await;
    let from = world.fake.calls().len();
    let world = world.restart(|_| {}).await;

    // The resumed relay writes the card with buttons derived from the job.
    card_with(&world, from, root, card, &["cancel", "verbose", "quiet"]).await;
    let cancel = world.fake.press(card, "cancel", ALICE, Some(&[]));
    said(&world, root, "Cancelling job").await;
    let cancelled = card_with(&world, from, root, card, &["retry"]).await;
    assert!(content(&cancelled).contains("Cancelled"), "{cancelled:#?}");
    assert_deferred(&world, &[cancel]);
    let status: Value = world.sim.job(JOB_1).expect("job 1")["status"].clone();
    let cancels = backend(&world, "POST", "/cancel");
    let calls = world.finish().await;

    assert_eq!(status, "CANCELLED");
    assert_eq!(cancels, 1);
    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    assert_eq!(world_cards(&calls, root), 1, "no second card");
}

#[tokio::test]
async fn the_buttons_of_a_card_answered_in_the_channel_work() {
    let world = World::start_with_tick("", TICK).await;
    // No thread can be made: the job answers in the channel, its card too.
    world.fake.deny(CHANNEL, perm::CREATE_PUBLIC_THREADS);
    let root = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#45"));
    world
        .fake
        .expect("the card in the channel", 0, |c| {
            in_thread(c, CHANNEL) && c.body.get("components").is_some()
        })
        .await;
    let card = world.fake.cards_in(CHANNEL)[0];
    card_known(&world, CHANNEL, card).await;
    let cancel = world.fake.press(card, "cancel", ALICE, Some(&[]));
    said(&world, CHANNEL, "Cancelling job").await;
    card_with(&world, 0, CHANNEL, card, &["retry"]).await;
    assert_deferred(&world, &[cancel]);
    let cancels = backend(&world, "POST", "/cancel");
    let calls = world.finish().await;

    assert_eq!(cancels, 1);
    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    // Every answer replies to the command, in the channel.
    let replies = calls
        .iter()
        .filter(|c| {
            in_thread(c, CHANNEL)
                && c.body["message_reference"]["message_id"]
                    .as_str()
                    .and_then(|m| m.parse().ok())
                    == Some(root)
        })
        .count();
    assert!(replies >= 2, "{calls:#?}");
    assert!(!calls.iter().any(|c| c.path.starts_with("/webhooks/")));
}
