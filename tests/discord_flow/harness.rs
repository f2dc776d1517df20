//! What the Discord whole-flow tests share: the simulator, the fake Discord
//! and the daemon between them, restartable on the same store, and the
//! checks every test ends with (nothing unexpected sent, every request as
//! Discord's OpenAPI description allows).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::{Limits, Secret};
use mosaic_discord::{Discord, DiscordOptions};
use mosaic_sim::Sim;
use serde_json::json;

use crate::daemon_on::{Daemon, sim_config};
use crate::fake::openapi::assert_conforms;
use crate::fake::*;

pub const EYES: &str = "/reactions/%F0%9F%91%80/@me";
pub const CHECK: &str = "/reactions/%E2%9C%85/@me";

/// The simulator, the fake, and the daemon between them.
pub struct World {
    pub sim: Sim,
    pub fake: FakeDiscord,
    pub daemon: Daemon,
    /// The configuration file's text, for a restart.
    config: String,
    dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> World {
        World::start_with("").await
    }

    /// As [`World::start`], with `config` as the configuration file.
    pub async fn start_with(config: &str) -> World {
        World::start_with_tick(config, Duration::from_millis(1)).await
    }

    /// As [`World::start_with`], the simulator at `tick` an event: a slower
    /// job leaves room to act while it runs.
    pub async fn start_with_tick(config: &str, tick: Duration) -> World {
        let sim = Sim::start(sim_config(u64::try_from(tick.as_millis()).unwrap_or(1)))
            .await
            .expect("the simulator starts");
        let fake = FakeDiscord::start().await;
        let dir = tempfile::tempdir().expect("a directory");
        let daemon = start_daemon(&sim, &fake, &store_in(&dir), config);
        fake.wait_sessions(1, 0).await;
        // What is said from now on comes through the gateway only.
        fake.wait_caught_up(1).await;
        World {
            sim,
            fake,
            daemon,
            config: config.to_owned(),
            dir,
        }
    }

    /// Stops the daemon (as a deploy would) and starts a new one on the same
    /// store, the same fake and simulator; `meanwhile` runs while it is down.
    pub async fn restart(self, meanwhile: impl FnOnce(&FakeDiscord)) -> World {
        let World {
            sim,
            fake,
            daemon,
            config,
            dir,
        } = self;
        daemon.stop(PATIENCE).await.expect("cleanly");
        meanwhile(&fake);
        let (identified, _) = fake.sessions();
        let daemon = start_daemon(&sim, &fake, &store_in(&dir), &config);
        fake.wait_sessions(identified + 1, 0).await;
        World {
            sim,
            fake,
            daemon,
            config,
            dir,
        }
    }

    /// Stops the daemon and returns every REST call it made, each checked
    /// against Discord's OpenAPI description.
    pub async fn finish(self) -> Vec<Call> {
        self.daemon.stop(PATIENCE).await.expect("cleanly");
        let calls = self.fake.calls();
        assert_conforms(&calls);
        calls
    }

    /// The jobs the bot created on the backend.
    pub fn jobs_created(&self) -> usize {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/runner-jobs")
            .count()
    }
}

fn store_in(dir: &tempfile::TempDir) -> String {
    let path: PathBuf = dir.path().join("bot.db");
    format!("sqlite://{}", path.display())
}

/// The daemon on Discord alone, the adapter pointed at `fake`.
fn start_daemon(sim: &Sim, fake: &FakeDiscord, store: &str, config: &str) -> Daemon {
    let mut options = DiscordOptions::new(Secret::new("bot-token"), APP_ID, "mosaic");
    options.api_url = Some(fake.url());
    options.gateway_url = Some(fake.gateway_url());
    // Discord's length limit, with pacing shortened so tests run quickly.
    options.limits = Limits {
        post_interval: Duration::from_millis(20),
        edit_interval: Duration::from_millis(20),
        ..options.limits
    };
    Daemon::start_with(sim, store, Arc::new(Discord::new(options)), config)
}

pub fn is_message(call: &Call) -> bool {
    (call.method == "POST" && call.path.ends_with("/messages"))
        || (call.method == "PATCH" && call.path.contains("/messages/"))
        || call.path.starts_with("/webhooks/")
}

/// The messages the bot posted in `channel` (or thread channel).
pub fn posts_in(calls: &[Call], channel: u64) -> Vec<&Call> {
    let path = format!("/channels/{channel}/messages");
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .collect()
}

/// The paths of the bot's reactions on `message` of `channel`, in order.
pub fn reactions_on(calls: &[Call], channel: u64, message: u64) -> Vec<&str> {
    let prefix = format!("/channels/{channel}/messages/{message}/reactions/");
    calls
        .iter()
        .filter(|c| c.path.starts_with(&prefix))
        .map(|c| c.path.as_str())
        .collect()
}

pub fn content(call: &Call) -> &str {
    call.body["content"].as_str().unwrap_or("")
}

/// Every message the bot sent disables mention parsing, and fits Discord.
pub fn assert_messages_safe(calls: &[Call]) {
    for call in calls.iter().filter(|c| is_message(c)) {
        assert_eq!(
            call.body["allowed_mentions"],
            json!({"parse": []}),
            "{call:#?}"
        );
        assert!(content(call).chars().count() <= 2000, "{call:#?}");
    }
}

/// Each call is one the flow explains: nothing else was sent.
pub fn assert_only_expected(calls: &[Call]) {
    for call in calls {
        let known = call.path == "/gateway"
            || call.path == "/gateway/bot"
            || call.path.ends_with("/commands")
            || (call.method == "GET" && call.path.starts_with("/channels/"))
            || call.path.ends_with("/threads")
            || call.path.contains("/reactions/")
            || call.path.starts_with("/interactions/")
            || is_message(call);
        assert!(known, "unexpected call {call:#?}");
    }
}

/// The `▶️ Step` lines of posts in thread `thread`, each must stand once.
pub fn assert_milestones_once(calls: &[Call], thread: u64) {
    let path = format!("/channels/{thread}/messages");
    let posts: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .map(content)
        .collect();
    assert_shown_once(&posts);
}

/// The messages Discord holds in thread `thread` show each `▶️ Step` line
/// once, and one outcome: what people see, whatever the bot sent.
pub fn assert_thread_shows_milestones_once(fake: &FakeDiscord, thread: u64) {
    let held = fake.messages_in(thread);
    let texts: Vec<&str> = held
        .iter()
        .map(|m| m["content"].as_str().unwrap_or(""))
        .collect();
    assert_shown_once(&texts);
}

/// Each `▶️ Step` line of `posts` stands once, and one outcome among them.
fn assert_shown_once(posts: &[&str]) {
    let steps: Vec<&str> = posts
        .iter()
        .flat_map(|p| p.lines())
        .filter(|l| l.contains("▶️"))
        .collect();
    assert!(!steps.is_empty(), "milestones in the thread: {posts:#?}");
    let mut unique = steps.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), steps.len(), "each milestone once: {steps:#?}");
    let outcomes = posts
        .iter()
        .filter(|p| p.contains("✅ **Done**") || p.contains("❌ **Failed**"))
        .count();
    assert_eq!(outcomes, 1, "one outcome: {posts:#?}");
}
