//! The whole-flow Mattermost tests' harness: the daemon started on the
//! Mattermost adapter against a fake Mattermost and the simulator, and the
//! assertions that prove a job was relayed exactly once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mosaic_bot::daemon::DaemonError;
use mosaic_chat::{ChatPlatform, Secret};
use mosaic_mattermost::{ACTION_PATH, ActionOptions, Mattermost, MattermostOptions, SlashOptions};
use mosaic_sim::Sim;

use crate::daemon_on::Daemon;

use crate::fake::{
    BOT_ID, BOT_TOKEN, FakeMattermost, PATIENCE, Recorder, Sent, TEAM, command_token,
};
/// The simulator's first job id (its ids count from 1).
pub const JOB_1: &str = "00000000-0000-4000-8000-000000000001";

/// The token of the slash command in the fake's first team, which the
/// daemon's adapter is given.
pub fn slash_token() -> String {
    command_token(TEAM)
}

pub use crate::daemon_on::sim_config;

/// A fake Mattermost, and the simulator at `tick_ms` a step.
pub async fn world(tick_ms: u64) -> (FakeMattermost, Sim) {
    (
        FakeMattermost::start().await,
        Sim::start(sim_config(tick_ms)).await.expect("sim"),
    )
}

/// Waits for the job's card in the thread under `root`.
pub async fn wait_card(fake: &FakeMattermost, root: &str) {
    fake.expect(
        "the card",
        |s| matches!(s, Sent::Post { root_id, .. } if root_id == root),
    )
    .await;
}

/// A running daemon with its Mattermost adapter.
pub struct Bot {
    pub mm: Arc<Mattermost>,
    daemon: Daemon,
    /// What the adapter sent the fake: checked against Mattermost's API
    /// description whenever the daemon ends.
    requests: Recorder,
}

/// Starts the daemon on the Mattermost platform alone, against `sim`.
pub fn start(fake: &FakeMattermost, sim: &Sim) -> Bot {
    start_with(fake, sim, "")
}

/// As [`start`], with `config` as the configuration file.
pub fn start_with(fake: &FakeMattermost, sim: &Sim, config: &str) -> Bot {
    start_configured(fake, sim, config, &[slash_token()], "sqlite::memory:")
}

/// As [`start`], keeping the bot's state at `store_url`, so that a second
/// daemon started there resumes where the first stopped.
pub fn start_stored(fake: &FakeMattermost, sim: &Sim, store_url: &str) -> Bot {
    start_configured(fake, sim, "", &[slash_token()], store_url)
}

/// As [`start`], taking slash commands with any of `tokens`.
pub fn start_with_tokens(fake: &FakeMattermost, sim: &Sim, tokens: &[String]) -> Bot {
    start_configured(fake, sim, "", tokens, "sqlite::memory:")
}

/// As [`start_with`], keeping the bot's state at `store_url`, with the card
/// buttons on: their action URL on the listener at `listen` (chosen first:
/// the URL is written into every card; a restarted bot keeps it), which the
/// fake (as an admin would) allows as an internal host.
pub fn start_with_buttons(
    fake: &FakeMattermost,
    sim: &Sim,
    config: &str,
    store_url: &str,
    listen: SocketAddr,
) -> Bot {
    fake.allow_untrusted_internal("127.0.0.1");
    let actions = ActionOptions {
        url: format!("http://{listen}{ACTION_PATH}"),
        secret: None,
    };
    let mut options = options(fake, listen, &[slash_token()]);
    options.actions = Some(actions);
    start_options(fake, sim, config, store_url, options)
}

fn options(fake: &FakeMattermost, listen: SocketAddr, tokens: &[String]) -> MattermostOptions {
    let mut options = MattermostOptions::new(&fake.url(), Secret::new(BOT_TOKEN), "mosaic");
    options.slash = Some(SlashOptions {
        listen,
        tokens: tokens.iter().map(Secret::new).collect(),
    });
    // Short enough to see several card edits in a fast simulated job.
    options.limits.edit_interval = Duration::from_millis(20);
    options.reconnect_min = Duration::from_millis(20);
    options.reconnect_max = Duration::from_millis(200);
    options
}

fn start_configured(
    fake: &FakeMattermost,
    sim: &Sim,
    config: &str,
    tokens: &[String],
    store_url: &str,
) -> Bot {
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    start_options(fake, sim, config, store_url, options(fake, listen, tokens))
}

fn start_options(
    fake: &FakeMattermost,
    sim: &Sim,
    config: &str,
    store_url: &str,
    options: MattermostOptions,
) -> Bot {
    let mm = Arc::new(Mattermost::new(options).expect("the adapter builds"));
    let daemon = Daemon::start_with(
        sim,
        store_url,
        Arc::clone(&mm) as Arc<dyn ChatPlatform>,
        config,
    );
    Bot {
        mm,
        daemon,
        requests: fake.recorder(),
    }
}

impl Bot {
    /// Stops the daemon; after it returns nothing more can be sent. Every
    /// request it made must be one Mattermost's API describes.
    pub async fn stop(self) -> Result<(), DaemonError> {
        let stopped = self.daemon.stop(PATIENCE).await;
        self.requests.assert_conforms();
        stopped
    }

    /// Waits for the daemon to end on its own; its requests are checked as
    /// by [`Bot::stop`].
    pub async fn ended(self) -> Result<(), DaemonError> {
        let ended = self.daemon.ended(PATIENCE).await;
        self.requests.assert_conforms();
        ended
    }
}

/// The text of a post, edit or ephemeral answer.
pub fn message(sent: &Sent) -> &str {
    match sent {
        Sent::Post { message, .. } | Sent::Patch { message, .. } => message,
        Sent::Ephemeral { text } => text,
        Sent::EphemeralPost { message, .. } => message,
        Sent::Reaction { .. } => "",
    }
}

/// Whether `sent` is the bot's reaction `emoji` on `post`.
pub fn is_reaction(sent: &Sent, post: &str, emoji: &str) -> bool {
    matches!(sent, Sent::Reaction { post_id, emoji: e, user_id } if post_id == post && e == emoji && user_id == BOT_ID)
}

/// Every post the bot made: id, root id, text.
pub fn posts(sent: &[Sent]) -> Vec<(&str, &str, &str)> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Post {
                id,
                root_id,
                message,
                ..
            } => Some((id.as_str(), root_id.as_str(), message.as_str())),
            _ => None,
        })
        .collect()
}

/// Asserts that the job's thread under `root` holds one card (the only post
/// ever edited, last shown completed), each milestone once, one outcome with
/// the pull request, and that `root` got 👀 then ✅, once each.
pub fn assert_one_relayed_job(sent: &[Sent], root: &str) {
    let posts = posts(sent);
    assert!(
        posts.iter().all(|(_, r, _)| *r == root),
        "every post in the thread: {sent:#?}"
    );
    let card = posts[0].0;
    let patches: Vec<&Sent> = sent
        .iter()
        .filter(|s| matches!(s, Sent::Patch { .. }))
        .collect();
    assert!(!patches.is_empty(), "the card is edited: {sent:#?}");
    assert!(
        patches
            .iter()
            .all(|p| matches!(p, Sent::Patch { id, .. } if id == card)),
        "{sent:#?}"
    );
    assert!(
        message(patches[patches.len() - 1]).starts_with("✅ **Completed**"),
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
    let outcomes: Vec<_> = posts
        .iter()
        .filter(|(_, _, m)| m.contains("https://github.com/acme/web/pull/57"))
        .collect();
    assert_eq!(outcomes.len(), 1, "one outcome with the PR: {sent:#?}");
    let reactions: Vec<&Sent> = sent
        .iter()
        .filter(|s| matches!(s, Sent::Reaction { post_id, .. } if post_id == root))
        .collect();
    assert_eq!(reactions.len(), 2, "{sent:#?}");
    assert!(
        is_reaction(reactions[0], root, "eyes")
            && is_reaction(reactions[1], root, "white_check_mark")
    );
}
