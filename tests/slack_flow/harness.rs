//! The whole-flow Slack tests' harness: the daemon started on the Slack
//! adapter (Socket Mode and the signed HTTP endpoint) against a fake Slack
//! and the simulator, and the assertions that prove a job was relayed
//! exactly once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mosaic_bot::daemon::DaemonError;
use mosaic_chat::{ChatPlatform, Secret};
use mosaic_sim::Sim;
use mosaic_slack::{HttpOptions, Slack, SlackOptions};

use crate::daemon_on::Daemon;

use crate::fake::{APP_TOKEN, BOT_TOKEN, CHANNEL, FakeSlack, PATIENCE, Sent};

/// The simulator's first job id (its ids count from 1).
pub const JOB_1: &str = "00000000-0000-4000-8000-000000000001";
/// The signing secret the daemon's adapter is given.
pub const SIGNING_SECRET: &str = "signing-secret-1";

pub use crate::daemon_on::sim_config;

/// A running daemon with its Slack adapter.
pub struct Bot {
    pub slack: Arc<Slack>,
    daemon: Daemon,
}

/// A fake Slack, a simulator whose jobs advance every `tick_ms`, and the
/// daemon started on them with its socket connected.
pub async fn started(tick_ms: u64) -> (FakeSlack, Sim, Bot) {
    let fake = FakeSlack::start().await;
    let sim = Sim::start(sim_config(tick_ms)).await.expect("sim");
    let bot = start(&fake, &sim);
    fake.wait_connected(1).await;
    (fake, sim, bot)
}

/// Starts the daemon on the Slack platform alone, against `sim`.
pub fn start(fake: &FakeSlack, sim: &Sim) -> Bot {
    start_with(fake, sim, "")
}

/// As [`start`], with `config` as the configuration file.
pub fn start_with(fake: &FakeSlack, sim: &Sim, config: &str) -> Bot {
    start_on(fake, sim, "sqlite::memory:", config)
}

/// As [`start`], keeping the bot's state at `store_url` (a restart on the
/// same store resumes its jobs).
pub fn start_stored(fake: &FakeSlack, sim: &Sim, store_url: &str) -> Bot {
    start_on(fake, sim, store_url, "")
}

fn start_on(fake: &FakeSlack, sim: &Sim, store_url: &str, config: &str) -> Bot {
    let mut options = SlackOptions::new(Secret::new(BOT_TOKEN), "mosaic");
    options.api_url = fake.api_url();
    options.app_token = Some(Secret::new(APP_TOKEN));
    options.http = Some(HttpOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        signing_secret: Secret::new(SIGNING_SECRET),
    });
    // Short enough to see several card edits in a fast simulated job.
    options.limits.edit_interval = Duration::from_millis(20);
    options.limits.post_interval = Duration::from_millis(20);
    options.reconnect_min = Duration::from_millis(20);
    options.reconnect_max = Duration::from_millis(200);
    let slack = Arc::new(Slack::new(options).expect("the adapter builds"));
    let daemon = Daemon::start_with(
        sim,
        store_url,
        Arc::clone(&slack) as Arc<dyn ChatPlatform>,
        config,
    );
    Bot { slack, daemon }
}

impl Bot {
    /// Stops the daemon; after it returns nothing more can be sent.
    pub async fn stop(self) -> Result<(), DaemonError> {
        self.daemon.stop(PATIENCE).await
    }
}

/// The text of a post, update or ephemeral answer.
pub fn text(sent: &Sent) -> &str {
    match sent {
        Sent::Post { text, .. } | Sent::Update { text, .. } | Sent::Ephemeral { text } => text,
        Sent::Reaction { .. } => "",
    }
}

/// Whether `sent` is the reaction `name` on the message `ts`.
pub fn is_reaction(sent: &Sent, on: &str, name: &str) -> bool {
    matches!(sent, Sent::Reaction { ts, name: n, channel } if ts == on && n == name && channel == CHANNEL)
}

/// Every post the bot made: ts, thread_ts, text.
pub fn posts(sent: &[Sent]) -> Vec<(&str, Option<&str>, &str)> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Post {
                ts,
                thread_ts,
                text,
                ..
            } => Some((ts.as_str(), thread_ts.as_deref(), text.as_str())),
            _ => None,
        })
        .collect()
}

/// Asserts that the job's thread under `root` holds one card (the only
/// message ever updated, last shown completed), each milestone once, one
/// outcome with the pull request, and that `root` got 👀 then ✅, once each.
pub fn assert_one_relayed_job(sent: &[Sent], root: &str) {
    let posts = posts(sent);
    assert!(
        posts.iter().all(|(_, t, _)| *t == Some(root)),
        "every post in the thread: {sent:#?}"
    );
    let card = posts[0].0;
    let updates: Vec<&Sent> = sent
        .iter()
        .filter(|s| matches!(s, Sent::Update { .. }))
        .collect();
    assert!(!updates.is_empty(), "the card is updated: {sent:#?}");
    assert!(
        updates.iter().all(
            |u| matches!(u, Sent::Update { ts, channel, .. } if ts == card && channel == CHANNEL)
        ),
        "{sent:#?}"
    );
    assert!(
        text(updates[updates.len() - 1]).starts_with("✅ *Completed*"),
        "{sent:#?}"
    );
    for step in 1..=6 {
        let line = format!("Step {step}/6");
        let n = posts
            .iter()
            .filter(|(_, _, m)| m.contains("▶️") && m.contains(&line))
            .count();
        assert!(n <= 1, "{line} shown {n} times: {sent:#?}");
    }
    let outcomes = posts
        .iter()
        .filter(|(_, _, m)| m.contains("https://github.com/acme/web/pull/57"))
        .count();
    assert_eq!(outcomes, 1, "one outcome with the PR: {sent:#?}");
    let reactions: Vec<&Sent> = sent
        .iter()
        .filter(|s| matches!(s, Sent::Reaction { ts, .. } if ts == root))
        .collect();
    assert_eq!(reactions.len(), 2, "{sent:#?}");
    assert!(
        is_reaction(reactions[0], root, "eyes")
            && is_reaction(reactions[1], root, "white_check_mark"),
        "{sent:#?}"
    );
}
