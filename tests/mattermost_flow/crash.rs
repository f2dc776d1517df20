//! A crash between a relay post and its record, on Mattermost: the daemon as its own process
//! (`serve`), ended by the debug build's fault switch right after a relay post succeeded and
//! before it was recorded, then restarted on the same store without the switch. The resumed
//! relay reads its own posts back (their marks in props) and shows every milestone once.

use std::path::Path;
use std::process::Stdio;

use mosaic_mattermost::MARK_PROP;
use mosaic_sim::Sim;
use tokio::process::{Child, Command};

use crate::daemon_on::free_addr;
use crate::fake::{BOT_TOKEN, CHANNEL, FakeMattermost, PATIENCE, Sent};
use crate::harness::{JOB_1, assert_one_relayed_job, posts, world};

/// The debug build's fault switch (src/relay/fault.rs).
const FAULT_SWITCH: &str = "MOSAIC_FAULT_ABORT_AFTER_RELAY_POSTS";

/// `mosaic-bot serve` on Mattermost against `sim`, its state in `dir`'s SQLite file, its log
/// in `log`; with the fault switch at `fault` if given.
fn serve(fake: &FakeMattermost, sim: &Sim, dir: &Path, log: &str, fault: Option<u32>) -> Child {
    let log = std::fs::File::create(dir.join(log)).expect("a log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mosaic-bot"));
    cmd.arg("serve")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MOSAIC")) {
        cmd.env_remove(key);
    }
    let store = format!("sqlite://{}", dir.join("bot.db").display());
    cmd.envs([
        ("MOSAIC__BACKEND__URL", sim.base_url()),
        ("MOSAIC__BACKEND__TOKEN", sim.token().to_owned()),
        ("MOSAIC__BACKEND__WORKSPACE", sim.workspace().to_owned()),
        ("MOSAIC__STORE__URL", store),
        ("MOSAIC__MATTERMOST__URL", fake.url()),
        ("MOSAIC__MATTERMOST__TOKEN", BOT_TOKEN.to_owned()),
        ("MOSAIC__HTTP__LISTEN", free_addr().to_string()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    if let Some(n) = fault {
        cmd.env(FAULT_SWITCH, n.to_string());
    }
    cmd.spawn().expect("the bot starts")
}

#[tokio::test]
async fn a_crash_between_a_relay_post_and_its_record_shows_that_post_once() {
    let (fake, sim) = world(30).await;
    let dir = tempfile::tempdir().expect("a directory");
    let mut first = serve(&fake, &sim, dir.path(), "first.log", Some(2));
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let status = tokio::time::timeout(PATIENCE, first.wait())
        .await
        .expect("the switch ends the first process")
        .expect("its status");
    let said = std::fs::read_to_string(dir.path().join("first.log")).unwrap_or_default();
    assert_eq!(status.code(), Some(137), "{said}");
    assert!(said.contains(FAULT_SWITCH), "{said}");
    // The card and the two relay posts, the second not recorded.
    let before = posts(&fake.sent()).len();
    assert_eq!(before, 3, "{:#?}", fake.sent());

    let mut second = serve(&fake, &sim, dir.path(), "second.log", None);
    let events = sim.wait_final(JOB_1).await;
    assert!(events.iter().any(|e| e["type"] == "job.completed"));
    fake.expect("the outcome", |s| {
        matches!(s, Sent::Post { message, .. } if message.contains("https://github.com/acme/web/pull/57"))
    })
    .await;
    fake.expect(
        "the card completed",
        |s| matches!(s, Sent::Patch { message, .. } if message.starts_with("✅ **Completed**")),
    )
    .await;
    let pid = second.id().expect("a pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let stopped = tokio::time::timeout(PATIENCE, second.wait())
        .await
        .expect("a SIGTERM stops the bot in time")
        .expect("its status");
    let said = std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default();
    assert!(stopped.success(), "{stopped}: {said}");

    let sent = fake.sent();
    assert_one_relayed_job(&sent, &root);
    let posts = posts(&sent);
    for step in 1..=6 {
        let line = format!("Step {step}/6");
        let shown = posts.iter().filter(|(_, _, m)| m.contains(&line)).count();
        assert_eq!(shown, 1, "{line} shown {shown} times: {sent:#?}");
    }
    // The restarted bot read its posts back, and every relay post carries its mark.
    let reads = fake.requests();
    assert!(
        reads.iter().any(|r| r.path.ends_with("/thread")),
        "the thread was read back"
    );
    for (id, _, _) in &posts[1..] {
        let stored = fake.stored_post(id);
        assert!(stored["props"][MARK_PROP].is_string(), "{stored}");
    }
    fake.recorder().assert_conforms();
}
