//! The card's edits beside the posts: an edit that waits (the platform refusing it for a
//! while, or a per-workspace edit budget) does not hold back the posts of the job's events.

use mosaic_bot::store::Verbosity;
use mosaic_chat::Reaction;
use mosaic_sim::{Faults, Script};

use super::fake::Sent;
use super::harness::*;

#[tokio::test]
async fn a_card_edit_being_retried_does_not_hold_back_the_events_posts() {
    // An event every 100 ms; the card's first five edits answer 503, so its first edit is
    // retried with backoff (200 ms, doubling, jittered) for about three seconds.
    let sim = sim(100).await;
    let store = memory_store().await;
    let chat = Chat::start().await;
    chat.fake.fail_next_patches(5);
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
    // Nothing lost or repeated, and the card shows the outcome in the end.
    let t = transcript(&chat, "t1", Some(Reaction::Succeeded));
    assert_eq!(
        t.lines,
        expected_lines(&sim.events(&id), |_| Verbosity::Verbose)
    );
    // While the first edit was being retried, the events went on being posted: awaited in
    // the relay's loop, that edit held every post back until it got through.
    let sent = chat.fake.sent();
    let first_edit = sent
        .iter()
        .position(|s| matches!(s, Sent::Patch { .. }))
        .expect("the card was edited");
    let posts_before = sent[..first_edit]
        .iter()
        .filter(|s| matches!(s, Sent::Post { .. }))
        .count();
    // The card itself, then the events of those three seconds (one a post, mostly).
    assert!(
        posts_before > 5,
        "only {posts_before} posts (the card's included) before the card's first edit: {sent:#?}"
    );
}
