//! The console's output for a person: readable lines, reactions as emoji,
//! the progress card redrawn in place on a terminal and marked `(updated)`
//! everywhere else.

mod support;

use mosaic_chat::{ChatPlatform, Reaction, ThreadRef};
use mosaic_console::{ConsoleOptions, PLATFORM};
use support::Harness;

fn thread(channel: &str, thread: &str) -> ThreadRef {
    ThreadRef {
        platform: PLATFORM,
        channel: channel.into(),
        thread: thread.into(),
    }
}

fn terminal() -> ConsoleOptions {
    ConsoleOptions {
        redraw_in_place: true,
        ..ConsoleOptions::plain()
    }
}

/// Reads the next `n` lines as one string.
async fn lines(h: &mut Harness, n: usize) -> String {
    let mut out = String::new();
    for _ in 0..n {
        out.push_str(&h.next_line().await);
    }
    out
}

#[tokio::test]
async fn posts_and_reactions_read_as_lines() {
    let mut h = Harness::start(ConsoleOptions::plain());
    h.type_in("@mosaic fix #42\n").await;
    let m = h.next_inbound().await;
    h.console
        .react(&m.channel, &m.message_id, Reaction::Seen)
        .await
        .expect("reacted");
    h.console
        .post(&m.reply_thread(), "On it.")
        .await
        .expect("posted");
    h.console.start_thread("c1", "Top").await.expect("started");
    assert_eq!(
        lines(&mut h, 3).await,
        "[console] m1 ← 👀\n[console › m1] mosaic: On it.\n[c1] mosaic: Top\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_multi_line_message_is_indented_under_its_header() {
    let mut h = Harness::new(ConsoleOptions {
        bot_name: "bob".into(),
        ..ConsoleOptions::plain()
    });
    h.console
        .post(&thread("c1", "m1"), "Running\nstep 2/5")
        .await
        .expect("posted");
    assert_eq!(
        lines(&mut h, 3).await,
        "[c1 › m1] bob:\n  Running\n  step 2/5\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn the_card_printed_last_is_redrawn_in_place_on_a_terminal() {
    let mut h = Harness::new(terminal());
    let t = thread("c1", "m1");
    let card = h.console.post(&t, "Queued\n0%").await.expect("posted");
    assert_eq!(
        lines(&mut h, 3).await,
        "[c1 › m1] mosaic:\n  Queued\n  0%\n"
    );
    h.console
        .edit(&t, &card, "Running 50%")
        .await
        .expect("edited");
    // Up three lines, clear, and the new text (one line now).
    assert_eq!(
        h.next_line().await,
        "\x1b[3A\x1b[J[c1 › m1] mosaic: Running 50%\n"
    );
    h.console
        .edit(&t, &card, "Done\n100%")
        .await
        .expect("edited");
    assert_eq!(
        lines(&mut h, 3).await,
        "\x1b[1A\x1b[J[c1 › m1] mosaic:\n  Done\n  100%\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_card_no_longer_last_is_printed_again_marked_updated() {
    let mut h = Harness::new(terminal());
    let t = thread("c1", "m1");
    let card = h.console.post(&t, "Queued").await.expect("posted");
    h.console.post(&t, "Milestone").await.expect("posted");
    lines(&mut h, 2).await;
    h.console.edit(&t, &card, "Running").await.expect("edited");
    assert_eq!(h.next_line().await, "[c1 › m1] mosaic (updated): Running\n");
    // Printed again, it is last once more: the next edit redraws it.
    h.console.edit(&t, &card, "Done").await.expect("edited");
    assert_eq!(h.next_line().await, "\x1b[1A\x1b[J[c1 › m1] mosaic: Done\n");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_reaction_below_the_card_stops_the_redraw() {
    let mut h = Harness::start(terminal());
    h.type_in("@mosaic fix #1\n").await;
    let m = h.next_inbound().await;
    let t = m.reply_thread();
    let card = h.console.post(&t, "Queued").await.expect("posted");
    h.console
        .react(&m.channel, &m.message_id, Reaction::Succeeded)
        .await
        .expect("reacted");
    lines(&mut h, 2).await;
    h.console.edit(&t, &card, "Done").await.expect("edited");
    assert_eq!(
        h.next_line().await,
        "[console › m1] mosaic (updated): Done\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_line_typed_below_the_card_stops_the_redraw() {
    let mut h = Harness::start(terminal());
    let t = thread("console", "m0");
    let card = h.console.post(&t, "Queued").await.expect("posted");
    h.next_line().await;
    // On a terminal, what the person types is echoed under the card.
    h.type_in("@mosaic status\n").await;
    h.next_inbound().await;
    h.console.edit(&t, &card, "Running").await.expect("edited");
    assert_eq!(
        h.next_line().await,
        "[console › m0] mosaic (updated): Running\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn without_a_terminal_every_edit_is_printed_again_marked_updated() {
    let mut h = Harness::new(ConsoleOptions::plain());
    let t = thread("c1", "m1");
    let card = h.console.post(&t, "Queued").await.expect("posted");
    h.next_line().await;
    for text in ["Running", "Done\nPR: https://x/1"] {
        h.console.edit(&t, &card, text).await.expect("edited");
    }
    assert_eq!(
        lines(&mut h, 4).await,
        "[c1 › m1] mosaic (updated): Running\n[c1 › m1] mosaic (updated):\n  Done\n  PR: https://x/1\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn escape_sequences_in_text_cannot_repaint_the_terminal() {
    let mut h = Harness::new(terminal());
    let t = thread("c1", "m1");
    h.console
        .post(&t, "\x1b[2J\x1b[Hgone?\r")
        .await
        .expect("posted");
    assert_eq!(h.next_line().await, "[c1 › m1] mosaic: ␛[2J␛[Hgone?␍\n");
    h.assert_nothing_more().await;
}
