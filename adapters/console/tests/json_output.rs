//! The console's `--json` output, byte for byte as cli.md has it: posts,
//! edits, reactions, new threads, replies; its errors; and whole lines under
//! concurrent writers.

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use mosaic_chat::{ChatError, ChatPlatform, Reaction, ThreadRef};
use mosaic_console::{ConsoleOptions, PLATFORM};
use support::{Harness, WAIT};

fn thread(channel: &str, thread: &str) -> ThreadRef {
    ThreadRef {
        platform: PLATFORM,
        channel: channel.into(),
        thread: thread.into(),
    }
}

#[tokio::test]
async fn a_post_is_one_json_line_in_cli_order() {
    let mut h = Harness::new(ConsoleOptions::json());
    let id = h
        .console
        .post(&thread("c1", "m1"), "Fix started: \"a\"\nnext")
        .await;
    assert_eq!(id, Ok("b1".to_owned()));
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"post\",\"channel\":\"c1\",\"thread\":\"m1\",\"id\":\"b1\",\"text\":\"Fix started: \\\"a\\\"\\nnext\"}\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn an_edit_names_the_post_and_replaces_its_text() {
    let mut h = Harness::new(ConsoleOptions::json());
    let t = thread("c1", "m1");
    let id = h.console.post(&t, "card 0%").await.expect("posted");
    h.next_line().await;
    assert_eq!(h.console.edit(&t, &id, "card 50%").await, Ok(()));
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"edit\",\"channel\":\"c1\",\"thread\":\"m1\",\"id\":\"b1\",\"text\":\"card 50%\"}\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_reaction_is_named_by_its_short_name() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("{\"id\":\"m1\",\"channel\":\"c1\",\"text\":\"@mosaic fix #1\"}\n")
        .await;
    let m = h.next_inbound().await;
    let reactions = [Reaction::Seen, Reaction::Succeeded, Reaction::Failed];
    for reaction in reactions {
        assert_eq!(
            h.console.react(&m.channel, &m.message_id, reaction).await,
            Ok(())
        );
    }
    for emoji in ["eyes", "white_check_mark", "x"] {
        assert_eq!(
            h.next_line().await,
            format!(
                "{{\"op\":\"react\",\"channel\":\"c1\",\"id\":\"m1\",\"emoji\":\"{emoji}\"}}\n"
            )
        );
    }
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn start_thread_posts_at_top_level_and_names_the_thread_by_its_id() {
    let mut h = Harness::new(ConsoleOptions::json());
    let t = h.console.start_thread("c1", "Fix acme/web#42").await;
    assert_eq!(t, Ok(thread("c1", "b1")));
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"post\",\"channel\":\"c1\",\"id\":\"b1\",\"text\":\"Fix acme/web#42\"}\n"
    );
    // The thread it started takes replies, and its root can be edited
    // through it; the edit keeps the root's shape (no thread key).
    assert_eq!(
        h.console.post(&thread("c1", "b1"), "card").await,
        Ok("b2".into())
    );
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"post\",\"channel\":\"c1\",\"thread\":\"b1\",\"id\":\"b2\",\"text\":\"card\"}\n"
    );
    assert_eq!(
        h.console
            .edit(&thread("c1", "b1"), "b1", "Fix (done)")
            .await,
        Ok(())
    );
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"edit\",\"channel\":\"c1\",\"id\":\"b1\",\"text\":\"Fix (done)\"}\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn reply_private_answers_in_the_thread_of_the_message() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("{\"channel\":\"c1\",\"text\":\"@mosaic help\"}\n")
        .await;
    h.type_in("{\"id\":\"m5\",\"channel\":\"c1\",\"thread\":\"m1\",\"text\":\"@mosaic status\"}\n")
        .await;
    let top = h.next_inbound().await;
    let inside = h.next_inbound().await;
    assert_eq!(h.console.reply_private(&top, "help text").await, Ok(()));
    assert_eq!(h.console.reply_private(&inside, "no job").await, Ok(()));
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"post\",\"channel\":\"c1\",\"thread\":\"m1\",\"id\":\"b1\",\"text\":\"help text\"}\n"
    );
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"post\",\"channel\":\"c1\",\"thread\":\"m1\",\"id\":\"b2\",\"text\":\"no job\"}\n"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn bot_ids_skip_ids_the_input_already_used() {
    let mut h = Harness::start(ConsoleOptions::json());
    h.type_in("{\"id\":\"b1\",\"channel\":\"c1\",\"text\":\"odd but allowed\"}\n")
        .await;
    let m = h.next_inbound().await;
    assert_eq!(
        h.console.post(&m.reply_thread(), "ok").await,
        Ok("b2".into())
    );
    assert!(h.next_line().await.contains("\"id\":\"b2\""));
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn editing_through_another_thread_is_not_found() {
    let mut h = Harness::new(ConsoleOptions::json());
    let t = thread("c1", "m1");
    let id = h.console.post(&t, "card").await.expect("posted");
    h.next_line().await;
    let elsewhere = h.console.edit(&thread("c2", "m1"), &id, "x").await;
    assert!(
        matches!(elsewhere, Err(ChatError::NotFound(_))),
        "{elsewhere:?}"
    );
    let other_thread = h.console.edit(&thread("c1", "m2"), &id, "x").await;
    assert!(
        matches!(other_thread, Err(ChatError::NotFound(_))),
        "{other_thread:?}"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn messages_of_an_earlier_run_can_be_edited_and_reacted_to_and_keep_their_ids() {
    // A restarted bot edits the card it posted before the restart, and
    // reacts to the command that started the job.
    let mut h = Harness::new(ConsoleOptions::json());
    let t = thread("c1", "m1");
    assert_eq!(h.console.edit(&t, "b1", "card, again").await, Ok(()));
    assert_eq!(
        h.next_line().await,
        "{\"op\":\"edit\",\"channel\":\"c1\",\"thread\":\"m1\",\"id\":\"b1\",\"text\":\"card, again\"}\n"
    );
    assert_eq!(
        h.console.react("c1", "m1", Reaction::Succeeded).await,
        Ok(())
    );
    assert!(
        h.next_line()
            .await
            .contains("\"emoji\":\"white_check_mark\"")
    );
    let next = h.console.post(&t, "new").await.expect("posted");
    assert_eq!(next, "b2", "b1 is the earlier run's");
    h.next_line().await;
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_whole() {
    let mut options = ConsoleOptions::json();
    options.limits.max_message_chars = 5;
    let mut h = Harness::new(options);
    let t = thread("c1", "m1");
    assert_eq!(h.console.post(&t, "éééééé").await, Err(ChatError::TooLong));
    assert_eq!(h.console.post(&t, "ééééé").await, Ok("b1".into()));
    h.next_line().await;
    assert_eq!(
        h.console.edit(&t, "b1", "123456").await,
        Err(ChatError::TooLong)
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn a_closed_output_makes_the_console_unavailable() {
    let h = Harness::new(ConsoleOptions::json());
    let console = Arc::clone(&h.console);
    drop(h);
    let posted = console.post(&thread("c1", "m1"), "anyone?").await;
    assert!(
        matches!(posted, Err(ChatError::Unavailable(_))),
        "{posted:?}"
    );
    let started = console.start_thread("c1", "anyone?").await;
    assert!(
        matches!(started, Err(ChatError::Unavailable(_))),
        "{started:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_never_interleave_their_lines() {
    const TASKS: usize = 8;
    const POSTS: usize = 25;
    // A pipe much smaller than one line: every line takes several writes,
    // so only the console's lock keeps two lines apart.
    let mut h = Harness::with_capacity(ConsoleOptions::json(), 64);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let console = Arc::clone(&h.console);
        tasks.push(tokio::spawn(async move {
            let t = thread("c1", &format!("t{task}"));
            for post in 0..POSTS {
                let text = format!("{task}:{post}:{}", "x".repeat(200));
                console.post(&t, &text).await.expect("posted");
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for _ in 0..TASKS * POSTS {
        let line = h.next_line().await;
        let value: serde_json::Value = serde_json::from_str(&line).expect("a whole JSON line");
        let text = value["text"].as_str().expect("text");
        let (task, rest) = text.split_once(':').expect("task");
        assert_eq!(value["thread"], format!("t{task}").as_str(), "{line}");
        assert!(rest.ends_with(&"x".repeat(200)), "{line}");
        assert!(seen.insert(text.to_owned()), "each post once: {line}");
        ids.push(value["id"].as_str().expect("id").to_owned());
    }
    for task in tasks {
        tokio::time::timeout(WAIT, task)
            .await
            .expect("in time")
            .expect("no panic");
    }
    let in_order: Vec<String> = (1..=TASKS * POSTS).map(|n| format!("b{n}")).collect();
    assert_eq!(ids, in_order, "ids are handed out in output order");
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn text_rendered_through_the_console_dialect_carries_no_ping() {
    use mosaic_chat::markup::{Markup, Span, render};
    let mut h = Harness::new(ConsoleOptions::json());
    let markup = Markup::new()
        .line([
            Span::bold("@here"),
            Span::text(" <!channel> "),
            Span::link("<@123>", "https://x/1"),
        ])
        .code_block("@everyone");
    let limit = h.console.limits().max_message_chars;
    let pages = render(&markup, h.console.dialect(), limit);
    assert_eq!(pages.len(), 1);
    h.console
        .post(&thread("c1", "m1"), &pages[0])
        .await
        .expect("posted");
    let line = h.next_line().await;
    let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(
        value["text"],
        "@\u{200b}here <\u{200b}!channel> <\u{200b}@\u{200b}123> <https://x/1>\n    @\u{200b}everyone"
    );
    h.assert_nothing_more().await;
}

#[tokio::test]
async fn bot_ids_never_repeat_across_runs_on_one_store_however_fast_they_are_used() {
    let memory: Arc<dyn mosaic_chat::Memory> = Arc::new(mosaic_chat::InMemory::default());
    let t = thread("c1", "m1");
    let number = |id: &str| -> u64 {
        id.strip_prefix('b')
            .and_then(|n| n.parse().ok())
            .expect("b{n}")
    };
    // Thousands of posts within a second: the blocks of ids grow as they are used up, each
    // recorded beside the posts that go on meanwhile.
    let mut first =
        Harness::start_with_memory(ConsoleOptions::json(), Arc::clone(&memory), 4 << 20);
    let mut last = 0;
    for _ in 0..5000 {
        let id = first.console.post(&t, "x").await.expect("posted");
        let n = number(&id);
        assert!(n > last, "{id} after b{last}");
        last = n;
    }
    first.shutdown.cancel();
    let run = first.run.take().expect("started");
    tokio::time::timeout(WAIT, run)
        .await
        .expect("stops")
        .expect("task")
        .expect("ran");
    // A restart on the same store numbers after everything the first run used.
    let second = Harness::start_with_memory(ConsoleOptions::json(), memory, 64 * 1024);
    let id = second.console.post(&t, "y").await.expect("posted");
    assert!(
        number(&id) > last,
        "{id} repeats the first run's b1..b{last}"
    );
}
