//! A crash between a relay post and its record, on Slack: the daemon as its own process
//! (`serve`), ended by the debug build's fault switch right after a relay post succeeded and
//! before it was recorded, then restarted on the same store without the switch. The resumed
//! relay reads its own posts back (their marks in message metadata) and shows every
//! milestone once.

use mosaic_sim::Sim;

use crate::daemon_on::{Served, sim_config};
use crate::fake::{APP_TOKEN, BOT_TOKEN, FakeSlack, PATIENCE, Sent};
use crate::harness::{JOB_1, SIGNING_SECRET, assert_one_relayed_job, is_reaction, posts};

/// `serve` on Slack against `sim` and `fake`, its state in the SQLite file `store`.
fn serve(fake: &FakeSlack, sim: &Sim, store: &str, fault: Option<&str>) -> Served {
    let api_url = fake.api_url();
    let mut env = vec![
        ("MOSAIC__SLACK__API_URL", api_url.as_str()),
        ("MOSAIC__SLACK__BOT_TOKEN", BOT_TOKEN),
        ("MOSAIC__SLACK__APP_TOKEN", APP_TOKEN),
        ("MOSAIC__SLACK__SIGNING_SECRET", SIGNING_SECRET),
        ("MOSAIC__SLACK__HTTP_LISTEN", "127.0.0.1:0"),
        ("MOSAIC__STORE__URL", store),
    ];
    if let Some(n) = fault {
        env.push(("MOSAIC_FAULT_ABORT_AFTER_RELAY_POSTS", n));
    }
    Served::start(sim, &env)
}

#[tokio::test]
async fn a_crash_between_a_relay_post_and_its_record_shows_that_post_once() {
    // Slow enough that the job's events come in several batches.
    let (fake, sim) = (
        FakeSlack::start().await,
        Sim::start(sim_config(150)).await.expect("sim"),
    );
    let dir = tempfile::tempdir().expect("a directory");
    let store = format!("sqlite://{}", dir.path().join("bot.db").display());
    let crashing = serve(&fake, &sim, &store, Some("2"));
    fake.wait_connected(1).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    let (code, logs) = crashing.exited(PATIENCE).await;
    assert_eq!(code, Some(137), "the fault switch ended it: {logs}");
    // The card and two relay posts, the second never recorded.
    let before: Vec<String> = posts(&fake.sent())
        .iter()
        .map(|(_, _, text)| (*text).to_owned())
        .collect();
    assert_eq!(before.len(), 3, "{before:#?}");

    let from = fake.calls().len();
    let restarted = serve(&fake, &sim, &store, None);
    sim.wait_final(JOB_1).await;
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    let logs = restarted.kill().await;
    let sent = fake.sent();
    assert_one_relayed_job(&sent, &root);
    for step in 1..=6 {
        let line = format!("Step {step}/6");
        let shown = posts(&sent)
            .iter()
            .filter(|(_, _, m)| m.contains(&line))
            .count();
        assert_eq!(shown, 1, "{line} shown {shown} times: {sent:#?}");
    }
    // The resumed relay read the thread back, asking for the marks, before posting again.
    let calls = fake.calls();
    let read = calls[from..]
        .iter()
        .find(|c| c.method == "conversations.replies")
        .unwrap_or_else(|| panic!("the thread was read back: {logs}"));
    assert_eq!(read.args["include_all_metadata"], "true");
    assert_eq!(read.args["ts"], root.as_str());
    // Every relay post carries its mark; the card and nothing else is unmarked.
    let marked = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .filter(|c| c.args["metadata"]["event_type"] == "mosaic_relay_post")
        .count();
    assert_eq!(marked, posts(&sent).len() - 1, "{sent:#?}");
    assert!(
        sent.iter().all(|s| !matches!(s, Sent::Ephemeral { .. })),
        "{sent:#?}"
    );
    crate::fake::conformance::assert_conforms(&calls);
}
