//! The console's input, read through a real pipe: every line a message,
//! JSON or plain, numbered without collisions; the ends of `run`.

mod support;

use mosaic_chat::{ChatError, Inbound, ThreadRef, UserRef};
use mosaic_console::{ConsoleOptions, PLATFORM};
use support::Harness;

fn expected(id: &str, channel: &str, thread: Option<&str>, user: &str, text: &str) -> Inbound {
    Inbound {
        platform: PLATFORM,
        channel: channel.into(),
        message_id: id.into(),
        thread: thread.map(str::to_owned),
        user: UserRef {
            id: user.into(),
            name: user.into(),
        },
        roles: Vec::new(),
        text: text.into(),
        slash: false,
        reply_handle: None,
        dedupe_key: format!("console:{channel}:{id}"),
        created_at: std::time::SystemTime::UNIX_EPOCH,
        edit: None,
    }
}

/// `m` with its creation instant, which is when it was read, checked and
/// then set aside so the rest compares exactly.
fn written_now(m: Inbound) -> Inbound {
    let age = m.created_at.elapsed().unwrap_or_default();
    assert!(
        age < std::time::Duration::from_secs(60),
        "created {age:?} ago"
    );
    Inbound {
        created_at: std::time::SystemTime::UNIX_EPOCH,
        ..m
    }
}

#[tokio::test]
async fn a_json_line_becomes_the_message_it_describes() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("{\"id\":\"m1\",\"channel\":\"c1\",\"thread\":\"t0\",\"user\":\"alice\",\"text\":\"@mosaic verbose\"}\n")
        .await;
    let m = written_now(h.next_inbound().await);
    assert_eq!(
        m,
        expected("m1", "c1", Some("t0"), "alice", "@mosaic verbose")
    );
    assert_eq!(m.dedupe_key, "console:c1:m1");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn missing_fields_take_their_defaults_and_the_console_numbers_the_message() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("{\"text\":\"@mosaic help\"}\n{\"text\":\"again\",\"channel\":\"c2\"}\n")
        .await;
    let first = written_now(h.next_inbound().await);
    assert_eq!(
        first,
        expected("m1", "console", None, "console", "@mosaic help")
    );
    assert_eq!(
        first.reply_thread(),
        ThreadRef {
            platform: PLATFORM,
            channel: "console".into(),
            thread: "m1".into()
        }
    );
    assert_eq!(
        written_now(h.next_inbound().await),
        expected("m2", "c2", None, "console", "again")
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_line_that_is_not_a_json_object_is_the_text_of_a_message() {
    let mut h = Harness::start(ConsoleOptions::plain());
    h.type_in("@mosaic fix acme/web#42\r\n[\"not\", \"an object\"]\n{oops\n")
        .await;
    let texts = [
        "@mosaic fix acme/web#42",
        "[\"not\", \"an object\"]",
        "{oops",
    ];
    for (n, text) in texts.into_iter().enumerate() {
        let id = format!("m{}", n + 1);
        assert_eq!(
            written_now(h.next_inbound().await),
            expected(&id, "console", None, "console", text)
        );
    }
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn blank_lines_are_skipped_and_do_not_use_a_number() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("\n   \n\t\none\n\n{\"text\":\"two\"}\n").await;
    assert_eq!(h.next_inbound().await.message_id, "m1");
    let second = h.next_inbound().await;
    assert_eq!(
        (second.message_id.as_str(), second.text.as_str()),
        ("m2", "two")
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_bad_json_object_is_skipped_and_the_next_line_still_read() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in(concat!(
        "{\"id\":\"x1\",\"channel\":\"c1\"}\n",
        "{\"text\":\"hi\",\"thread\":7}\n",
        "{\"text\":\"hi\",\"user\":\"\"}\n",
        "{\"text\":\"still here\"}\n",
    ))
    .await;
    let m = written_now(h.next_inbound().await);
    assert_eq!(m, expected("m1", "console", None, "console", "still here"));
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn numbering_skips_ids_given_earlier_in_the_input() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in(
        "{\"id\":\"m1\",\"text\":\"a\"}\n{\"id\":\"m2\",\"channel\":\"c9\",\"text\":\"b\"}\nc\n",
    )
    .await;
    assert_eq!(h.next_inbound().await.message_id, "m1");
    assert_eq!(h.next_inbound().await.message_id, "m2");
    assert_eq!(h.next_inbound().await.message_id, "m3");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn an_id_given_later_that_the_console_already_numbered_is_refused() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("first\n{\"id\":\"m1\",\"text\":\"would collide\"}\n{\"id\":\"m7\",\"text\":\"fine\"}\nlast\n")
        .await;
    assert_eq!(h.next_inbound().await.text, "first");
    let fine = h.next_inbound().await;
    assert_eq!(
        (fine.message_id.as_str(), fine.text.as_str()),
        ("m7", "fine")
    );
    let last = h.next_inbound().await;
    assert_eq!(
        (last.message_id.as_str(), last.text.as_str()),
        ("m2", "last")
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn an_explicit_id_given_twice_is_delivered_twice_with_one_dedupe_key() {
    let mut h = Harness::start(ConsoleOptions::json());
    let line = "{\"id\":\"x\",\"channel\":\"c1\",\"text\":\"@mosaic fix #1\"}\n";
    h.type_in(line).await;
    h.type_in(line).await;
    let (a, b) = (h.next_inbound().await, h.next_inbound().await);
    // Each delivery is stamped when it is read; everything else is the same.
    assert_eq!(written_now(a.clone()), written_now(b));
    assert_eq!(a.dedupe_key, "console:c1:x");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_line_that_is_not_utf8_is_read_lossily() {
    let mut h = Harness::start(ConsoleOptions::json());
    let input = h.input.as_mut().expect("open");
    tokio::io::AsyncWriteExt::write_all(input, b"caf\xe9\n")
        .await
        .expect("written");
    assert_eq!(h.next_inbound().await.text, "caf\u{fffd}");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn the_end_of_input_ends_run_after_the_last_line() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("one\ntwo without a line break").await;
    assert_eq!(h.end_input().await, Ok(()));
    assert_eq!(h.next_inbound().await.text, "one");
    assert_eq!(h.next_inbound().await.text, "two without a line break");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn shutdown_ends_run_while_the_input_stays_open() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("one\n").await;
    assert_eq!(h.next_inbound().await.text, "one");
    h.shutdown.cancel();
    assert_eq!(h.join().await, Ok(()));
    assert!(h.input.is_some(), "the input was never closed");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn the_input_is_read_by_one_run_only() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("one\n").await;
    assert_eq!(h.next_inbound().await.text, "one");
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let second = mosaic_chat::ChatPlatform::run(
        std::sync::Arc::clone(&h.console),
        mosaic_chat::RunContext::new(tx, tokio_util::sync::CancellationToken::new()),
    )
    .await;
    assert!(
        matches!(second, Err(ChatError::Unavailable(_))),
        "{second:?}"
    );
    h.assert_nothing_more().await;
}
