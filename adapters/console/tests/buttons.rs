//! Buttons on the console, as cli.md has them: `buttons` on `post` and `edit` lines (an
//! `edit` without them removes them), shown under the text for a person; and press input
//! lines handed to the core as presses, keyed by their id.

mod support;

use mosaic_chat::{Button, ButtonStyle, ChatPlatform, ThreadRef};
use mosaic_console::{ConsoleOptions, PLATFORM};
use support::Harness;

fn thread() -> ThreadRef {
    ThreadRef {
        platform: PLATFORM,
        channel: "c1".into(),
        thread: "m1".into(),
    }
}

fn cancel_and_quiet() -> Vec<Button> {
    vec![
        Button::new("cancel", "Cancel", ButtonStyle::Danger),
        Button::new("quiet", "Quiet", ButtonStyle::Default),
    ]
}

#[tokio::test]
async fn buttons_ride_on_posts_and_edits_and_an_edit_without_them_removes_them() {
    let mut h = Harness::new(ConsoleOptions::json());
    let t = thread();
    let buttons = cancel_and_quiet();
    let id = h
        .console
        .post_with_buttons(&t, "card", &buttons)
        .await
        .expect("posted");
    assert_eq!(
        h.next_line().await,
        concat!(
            r#"{"op":"post","channel":"c1","thread":"m1","id":"b1","text":"card","#,
            r#""buttons":[{"id":"cancel","label":"Cancel"},{"id":"quiet","label":"Quiet"}]}"#,
            "\n"
        )
    );
    let retry = [Button::new("retry", "Retry", ButtonStyle::Primary)];
    h.console
        .edit_with_buttons(&t, &id, "card 2", &retry)
        .await
        .expect("edited");
    assert_eq!(
        h.next_line().await,
        concat!(
            r#"{"op":"edit","channel":"c1","thread":"m1","id":"b1","text":"card 2","#,
            r#""buttons":[{"id":"retry","label":"Retry"}]}"#,
            "\n"
        )
    );
    h.console.edit(&t, &id, "card 3").await.expect("edited");
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"edit\",\"channel\":\"c1\",\"thread\":\"m1\",\"id\":\"b1\",\"text\":\"card 3\"}\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_person_sees_the_buttons_under_the_message() {
    let mut h = Harness::new(ConsoleOptions::plain());
    let buttons = cancel_and_quiet();
    h.console
        .post_with_buttons(&thread(), "card", &buttons)
        .await
        .expect("posted");
    assert_eq!(h.next_line().await, "[c1 › m1] mosaic: card\n");
    assert_eq!(h.next_line().await, "  [Cancel] [Quiet]\n");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn press_lines_become_presses_keyed_by_their_id() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in(concat!(
        r#"{"press":"cancel","message":"b1","channel":"c1","user":"alice","id":"p1","roles":["ops"]}"#,
        "\n",
        r#"{"press":"cancel","message":"b1","channel":"c1","user":"alice","id":"p1"}"#,
        "\n",
        r#"{"press":"cancel","message":"b1","channel":"c1","user":"bob"}"#,
        "\n",
        r#"{"press":"cancel","channel":"c1"}"#,
        "\n",
        r#"{"id":"m9","channel":"c1","user":"alice","text":"@mosaic status"}"#,
        "\n",
    ))
    .await;
    let first = h.next_press().await;
    assert_eq!(first.platform, PLATFORM);
    assert_eq!(
        (
            first.channel.as_str(),
            first.message_id.as_str(),
            first.button.as_str()
        ),
        ("c1", "b1", "cancel")
    );
    assert_eq!(
        (first.user.id.as_str(), first.roles.clone()),
        ("alice", vec!["ops".to_owned()])
    );
    assert_eq!(first.dedupe_key, "console:c1:press:p1");
    let again = h.next_press().await;
    assert_eq!(
        again.dedupe_key, first.dedupe_key,
        "one press delivered twice"
    );
    let bobs = h.next_press().await;
    assert_eq!(bobs.user.id, "bob");
    assert_ne!(
        bobs.dedupe_key, first.dedupe_key,
        "a press without id is its own"
    );
    // The press without its message is skipped (logged); the next line is still read.
    let message = h.next_inbound().await;
    assert_eq!(message.message_id, "m9");
    assert_eq!(h.end_input().await, Ok(()));
    h.assert_nothing_more().await;
}
