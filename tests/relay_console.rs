//! The relay through the real console adapter (`mosaic-console`) over `tokio::io::duplex`
//! pipes, in JSON mode: what the console prints for a relayed job is exactly the thread a
//! person would read, each event once, and no mention survives unescaped.

// The harness's fake Mattermost is not used here, but the harness is written against it.
#[path = "../adapters/mattermost/tests/fake/mod.rs"]
mod fake;
#[path = "relay/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::*;
use mosaic_bot::relay::{Platforms, RelayHub};
use mosaic_bot::store::{FollowedJob, Verbosity};
use mosaic_chat::{ChatPlatform, Limits, RunContext};
use mosaic_console::{Console, ConsoleDialect, ConsoleOptions};
use mosaic_sim::{Faults, Script};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

/// Pacing on, as on a real platform, so batching is exercised.
const PACED: Limits = Limits {
    max_message_chars: 4000,
    post_interval: Duration::from_millis(10),
    edit_interval: Duration::from_millis(10),
};

/// Relays one standard job (with `faults`) at `verbosity` through a console with `limits`;
/// returns the simulator's events and every JSON line the console printed.
async fn relay_through_console(
    faults: Faults,
    verbosity: Verbosity,
    limits: Limits,
) -> (Vec<Value>, Vec<Value>) {
    let sim = sim(1).await;
    let store = memory_store().await;
    let (mut input, console_input) = tokio::io::duplex(64 * 1024);
    let (console_output, output) = tokio::io::duplex(4 * 1024 * 1024);
    let options = ConsoleOptions {
        limits,
        ..ConsoleOptions::json()
    };
    let console = Arc::new(Console::new(
        BufReader::new(console_input),
        console_output,
        options,
    ));
    let stop = CancellationToken::new();
    let (inbox_tx, mut inbox) = tokio::sync::mpsc::channel(4);
    let run = tokio::spawn(Arc::clone(&console).run(RunContext::new(inbox_tx, stop.clone())));

    // The user's command, as the dispatcher would have received it.
    input
        .write_all(b"{\"id\":\"m1\",\"channel\":\"c1\",\"user\":\"alice\",\"text\":\"@mosaic fix acme/web#42\"}\n")
        .await
        .expect("typed");
    let command = tokio::time::timeout(DEADLINE, inbox.recv())
        .await
        .expect("read in time")
        .expect("a message");

    let mut platforms = Platforms::new();
    platforms.insert(
        console.platform(),
        Arc::clone(&console) as Arc<dyn ChatPlatform>,
    );
    let hub = RelayHub::new(
        store.clone(),
        mosaic_bot::backend::Backends::new([backend(&sim)]),
        platforms,
        "mosaic".into(),
        CancellationToken::new(),
    );
    let id = sim.create_job("acme", "web", 42, Script::standard(), faults);
    let job = FollowedJob {
        command_message_id: Some(command.message_id.clone()),
        ..followed(&id, command.reply_thread(), verbosity)
    };
    store.insert_job(&job).await.expect("inserted");
    hub.follow(job);
    idle(&hub).await;

    // Everyone holding the console lets go, so its output ends and can be read to the end.
    drop(hub);
    stop.cancel();
    run.await.expect("console task").expect("console ran");
    drop(console);
    drop(input);
    let mut printed = Vec::new();
    let mut lines = BufReader::new(output).lines();
    while let Some(line) = lines.next_line().await.expect("output readable") {
        printed.push(serde_json::from_str(&line).expect("every output line is JSON"));
    }
    assert!(store.job(&id).await.expect("read").expect("job").ended);
    (sim.events(&id), printed)
}

/// Checks the printed lines are: the card post, edits of it, thread posts, one ✅ reaction on
/// the command — nothing else; returns the posts' lines (but the card's) and the card texts.
fn read_thread(printed: &[Value]) -> (Vec<String>, Vec<String>) {
    let card = &printed[0];
    assert_eq!(
        (card["op"].as_str(), card["thread"].as_str()),
        (Some("post"), Some("m1"))
    );
    let card_id = card["id"].as_str().expect("card id");
    let mut cards = vec![card["text"].as_str().unwrap_or_default().to_owned()];
    let mut lines = Vec::new();
    let mut reactions = 0;
    for line in &printed[1..] {
        match line["op"].as_str() {
            Some("post") => {
                assert_eq!(
                    (line["channel"].as_str(), line["thread"].as_str()),
                    (Some("c1"), Some("m1"))
                );
                let text = line["text"].as_str().unwrap_or_default();
                lines.extend(
                    text.lines()
                        .filter(|l| !l.starts_with("Took "))
                        .map(str::to_owned),
                );
            }
            Some("edit") => {
                assert_eq!(
                    line["id"].as_str(),
                    Some(card_id),
                    "only the card is edited"
                );
                cards.push(line["text"].as_str().unwrap_or_default().to_owned());
            }
            Some("react") => {
                assert_eq!(line["id"].as_str(), Some("m1"));
                assert_eq!(line["emoji"].as_str(), Some("white_check_mark"));
                reactions += 1;
            }
            _ => panic!("unexpected output line {line}"),
        }
    }
    assert_eq!(reactions, 1, "one outcome reaction");
    (lines, cards)
}

#[tokio::test]
async fn a_standard_job_through_the_console() {
    let (events, printed) =
        relay_through_console(Faults::default(), Verbosity::Milestones, PACED).await;
    let (lines, cards) = read_thread(&printed);
    assert_eq!(
        lines,
        expected_lines_in(&ConsoleDialect, &events, |_| Verbosity::Milestones)
    );
    assert_eq!(lines[0], "🚀 Job started");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Pull request: https://github.com/acme/web/pull/"))
    );
    assert!(cards.last().expect("card").starts_with("✅ Completed"));
}

#[tokio::test]
async fn mentions_in_job_output_are_escaped_in_what_the_console_prints() {
    let faults = Faults {
        weird_payloads: true,
        ..Faults::default()
    };
    let (events, printed) = relay_through_console(faults, Verbosity::Verbose, PACED).await;
    assert!(events.iter().any(|e| e.to_string().contains("<!channel>")));
    let (lines, _) = read_thread(&printed);
    assert_eq!(
        lines,
        expected_lines_in(&ConsoleDialect, &events, |_| Verbosity::Verbose)
    );
    let all: String = printed
        .iter()
        .map(|l| l["text"].as_str().unwrap_or_default())
        .collect();
    for mention in ["@everyone", "@here", "<!channel>", "<@123>", "\u{1b}["] {
        assert!(!all.contains(mention), "{mention:?} printed unescaped");
    }
    assert!(
        all.contains("@\u{200b}everyone"),
        "the text is shown, neutralized"
    );
}

#[tokio::test]
async fn without_pacing_an_events_post_is_printed_before_the_card_edit_it_brings() {
    // `--json`'s limits: every event edits the card, and the edit starts with the event's
    // post (so that the console writes both at once); the post still comes first.
    let limits = ConsoleOptions::json().limits;
    let (events, printed) =
        relay_through_console(Faults::default(), Verbosity::Verbose, limits).await;
    let (lines, cards) = read_thread(&printed);
    assert_eq!(
        lines,
        expected_lines_in(&ConsoleDialect, &events, |_| Verbosity::Verbose)
    );
    let position = |op: &str, starts: &str| {
        printed
            .iter()
            .position(|l| {
                l["op"].as_str() == Some(op)
                    && l["text"].as_str().is_some_and(|t| t.contains(starts))
            })
            .unwrap_or_else(|| panic!("no {op} with {starts:?}"))
    };
    assert!(
        position("post", "Pull request: ") < position("edit", "✅ Completed"),
        "the outcome's post precedes the card showing it"
    );
    assert!(cards.last().expect("card").starts_with("✅ Completed"));
}
