//! Exactly once on Slack across a crash: `mosaic-bot serve` as its own process, ended by the
//! debug build's fault switch right after a relay post succeeded and before it was
//! recorded, then restarted on the same store without the switch. The resumed relay reads
//! the thread back (`conversations.replies` with every message's metadata), finds the
//! unrecorded post by its mark, and shows every milestone once.

use mosaic_sim::Sim;
use serde_json::json;

use crate::daemon_on::{Served, sim_config};
use crate::fake::conformance::assert_conforms;
use crate::fake::{APP_TOKEN, BOT_TOKEN, FakeSlack, PATIENCE};
use crate::harness::{JOB_1, SIGNING_SECRET, assert_one_relayed_job, is_reaction, posts};

/// The debug build's fault switch (src/relay/fault.rs).
const FAULT_SWITCH: &str = "MOSAIC_FAULT_ABORT_AFTER_RELAY_POSTS";

/// The daemon as a process of its own on the store at `store`, against `sim` and `fake`,
/// with `extra` in its environment.
fn serve(sim: &Sim, fake: &FakeSlack, store: &str, extra: &[(&str, &str)]) -> Served {
    let api_url = fake.api_url();
    let mut env = vec![
        ("MOSAIC__SLACK__API_URL", api_url.as_str()),
        ("MOSAIC__SLACK__BOT_TOKEN", BOT_TOKEN),
        ("MOSAIC__SLACK__APP_TOKEN", APP_TOKEN),
        ("MOSAIC__SLACK__SIGNING_SECRET", SIGNING_SECRET),
        ("MOSAIC__SLACK__HTTP_LISTEN", "127.0.0.1:0"),
        ("MOSAIC__STORE__URL", store),
    ];
    env.extend_from_slice(extra);
    Served::start(sim, &env)
}

#[tokio::test]
async fn a_daemon_dead_between_a_relay_post_and_its_record_shows_each_milestone_once() {
    // Slow enough that the job's events come in several batches.
    let sim = Sim::start(sim_config(150)).await.expect("sim");
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().expect("a directory");
    let store = format!("sqlite://{}", dir.path().join("bot.db").display());
    let crashing = serve(&sim, &fake, &store, &[(FAULT_SWITCH, "2")]);
    fake.wait_connected(1).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    let (code, logs) = crashing.exited(PATIENCE).await;
    assert_eq!(code, Some(137), "the fault switch ended it: {logs}");
    assert!(logs.contains(FAULT_SWITCH), "{logs}");
    // The card and two relay posts, the second never recorded.
    let before: Vec<String> = posts(&fake.sent())
        .iter()
        .map(|(_, _, text)| (*text).to_owned())
        .collect();
    assert_eq!(before.len(), 3, "{:#?}", fake.sent());

    let from = fake.calls().len();
    let restarted = serve(&sim, &fake, &store, &[]);
    fake.wait_connected(2).await;
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    let events = sim.wait_final(JOB_1).await;
    assert!(events.iter().any(|e| e["type"] == "job.completed"));
    let logs = restarted.kill().await;

    let sent = fake.sent();
    assert_one_relayed_job(&sent, &root);
    let posts = posts(&sent);
    for step in 1..=6 {
        let line = format!("Step {step}/6");
        let shown = posts.iter().filter(|(_, _, m)| m.contains(&line)).count();
        assert_eq!(shown, 1, "{line} shown {shown} times: {sent:#?}");
    }
    let relayed_again: Vec<&str> = posts[before.len()..]
        .iter()
        .map(|(_, _, text)| *text)
        .filter(|text| before.iter().any(|b| b == text))
        .collect();
    assert!(relayed_again.is_empty(), "{relayed_again:#?}");
    // The restarted bot read the thread back with its metadata before posting again.
    let calls = fake.calls();
    let read = calls[from..]
        .iter()
        .find(|c| c.method == "conversations.replies")
        .unwrap_or_else(|| panic!("the thread was read back: {logs}"));
    assert_eq!(
        (&read.args["ts"], &read.args["include_all_metadata"]),
        (&json!(root), &json!("true"))
    );
    // Every relay post carries its mark; the card (edited, never read back) does not.
    assert_eq!(fake.metadata_of(posts[0].0), None);
    for (ts, _, text) in &posts[1..] {
        let metadata = fake.metadata_of(ts).unwrap_or_default();
        assert_eq!(metadata["event_type"], "mosaic_relay_post", "{text}");
        let mark = metadata["event_payload"]["mark"].as_str().unwrap_or("");
        assert!(
            mark.starts_with("mosaic:v1:") && mark.ends_with(JOB_1),
            "{mark}"
        );
    }
    assert!(fake.unacked().is_empty(), "every envelope acked");
    assert_conforms(&calls);
}
