//! The whole bot on Discord: the real daemon with the Discord adapter,
//! against the backend simulator and a fake Discord on 127.0.0.1. Each test
//! runs a job to its end, stops the daemon, and then reads every REST call
//! the bot made to prove nothing unexpected was sent.

#[path = "support/daemon_on.rs"]
mod daemon_on;
#[path = "../adapters/discord/tests/fake/mod.rs"]
mod fake;

use std::sync::Arc;
use std::time::Duration;

use fake::*;
use mosaic_bot::config::Config;
use mosaic_chat::{Limits, Secret};
use mosaic_discord::{Discord, DiscordOptions};
use mosaic_sim::{Faults, Gate, Script, Sim};
use serde_json::json;

use daemon_on::{Daemon, sim_config};

const EYES: &str = "/reactions/%F0%9F%91%80/@me";
const CHECK: &str = "/reactions/%E2%9C%85/@me";

/// The simulator, the fake, and the daemon between them.
struct World {
    sim: Sim,
    fake: FakeDiscord,
    daemon: Daemon,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        World::start_with("").await
    }

    /// As [`World::start`], with `config` as the configuration file.
    async fn start_with(config: &str) -> World {
        let sim = Sim::start(sim_config(1))
            .await
            .expect("the simulator starts");
        let fake = FakeDiscord::start().await;
        let dir = tempfile::tempdir().expect("a directory");
        let mut options = DiscordOptions::new(Secret::new("bot-token"), APP_ID, "mosaic");
        options.api_url = Some(fake.url());
        options.gateway_url = Some(fake.gateway_url());
        // Discord's length limit, with pacing shortened so tests run quickly.
        options.limits = Limits {
            post_interval: Duration::from_millis(20),
            edit_interval: Duration::from_millis(20),
            ..options.limits
        };
        let store = format!("sqlite://{}", dir.path().join("bot.db").display());
        let daemon = Daemon::start_with(&sim, &store, Arc::new(Discord::new(options)), config);
        fake.wait_sessions(1, 0).await;
        World {
            sim,
            fake,
            daemon,
            _dir: dir,
        }
    }

    /// Stops the daemon and returns every REST call it made.
    async fn finish(self) -> Vec<Call> {
        self.daemon.stop(PATIENCE).await.expect("cleanly");
        self.fake.calls()
    }
}

fn is_message(call: &Call) -> bool {
    (call.method == "POST" && call.path.ends_with("/messages"))
        || (call.method == "PATCH" && call.path.contains("/messages/"))
        || call.path.starts_with("/webhooks/")
}

fn content(call: &Call) -> &str {
    call.body["content"].as_str().unwrap_or("")
}

/// Every message the bot sent disables mention parsing, and fits Discord.
fn assert_messages_safe(calls: &[Call]) {
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
fn assert_only_expected(calls: &[Call]) {
    for call in calls {
        let known = call.path == "/gateway"
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
fn assert_milestones_once(calls: &[Call], thread: u64) {
    let path = format!("/channels/{thread}/messages");
    let posts: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .map(content)
        .collect();
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

#[tokio::test]
async fn a_mention_starts_a_job_in_a_new_thread_with_card_edits_and_reactions() {
    let world = World::start().await;
    let id = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#42"));
    let done = format!("/channels/{CHANNEL}/messages/{id}{CHECK}");
    world
        .fake
        .expect("the ✅ reaction", 0, |c| c.path == done)
        .await;
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    let threads: Vec<&Call> = calls
        .iter()
        .filter(|c| c.path.ends_with("/threads"))
        .collect();
    assert_eq!(threads.len(), 1, "one thread: {threads:#?}");
    assert_eq!(
        threads[0].path,
        format!("/channels/{CHANNEL}/messages/{id}/threads")
    );
    let reactions: Vec<&str> = calls
        .iter()
        .filter(|c| c.path.contains("/reactions/"))
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(
        reactions,
        [format!("/channels/{CHANNEL}/messages/{id}{EYES}"), done]
    );
    // Every post after the thread's creation goes into the thread.
    let posts: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/messages"))
        .collect();
    assert!(
        posts
            .iter()
            .all(|c| c.path == format!("/channels/{id}/messages")),
        "{posts:#?}"
    );
    let edits = calls
        .iter()
        .filter(|c| c.method == "PATCH" && c.path.starts_with(&format!("/channels/{id}/messages/")))
        .count();
    assert!(edits >= 1, "the card is edited in place: {calls:#?}");
    assert_milestones_once(&calls, id);
}

#[tokio::test]
async fn a_slash_command_is_deferred_and_its_job_runs_in_a_thread_of_its_own() {
    let world = World::start().await;
    let from = world.fake.calls().len();
    let interaction = world
        .fake
        .slash(CHANNEL, "fix", Some(("issue", "acme/web#43")));
    let (at, root) = world
        .fake
        .expect("the top-level message", from, |c| {
            c.method == "POST" && c.path == format!("/channels/{CHANNEL}/messages")
        })
        .await;
    let (_, created) = world
        .fake
        .expect("the thread", at, |c| c.path.ends_with("/threads"))
        .await;
    let thread: u64 = created
        .path
        .split('/')
        .nth(4)
        .and_then(|m| m.parse().ok())
        .expect("a message id");
    world
        .fake
        .expect("the outcome", at, |c| {
            c.path == format!("/channels/{thread}/messages") && content(c).contains("✅ **Done**")
        })
        .await;
    let answer = format!("/webhooks/{APP_ID}/tok{interaction}/messages/@original");
    let (_, linked) = world
        .fake
        .expect("the answer", at, |c| {
            c.method == "PATCH" && c.path == answer
        })
        .await;
    // The core's private answer to the slash `fix` fills the deferred
    // response, linking to the thread the job runs in.
    assert!(
        content(&linked).contains(&format!(
            "[its thread](<https://discord.com/channels/{GUILD_ID}/{thread}>)"
        )),
        "{linked:#?}"
    );
    assert_eq!(linked.body["flags"], 64);
    let calls = world.finish().await;

    let deferral = &calls[from];
    assert_eq!(
        deferral.path,
        format!("/interactions/{interaction}/tok{interaction}/callback"),
        "deferred first"
    );
    assert_eq!(deferral.body, json!({"type": 5, "data": {"flags": 64}}));
    assert!(content(&root).contains("acme/web#43"), "{root:#?}");
    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path.ends_with("/threads"))
            .count(),
        1
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path.contains("/reactions/"))
            .count(),
        0,
        "a slash command has no message to react on"
    );
    assert_milestones_once(&calls, thread);
}

#[tokio::test]
async fn long_output_is_split_into_messages_under_two_thousand_characters() {
    let world = World::start().await;
    let details: String = (0..400)
        .map(|i| format!("warning {i:03}: unused variable\n"))
        .collect();
    let script = Script {
        gates: vec![Gate {
            name: "lint".into(),
            passes: false,
            details: details.clone(),
        }],
        ..Script::standard()
    };
    world
        .sim
        .script_issue("acme", "web", 44, script, Faults::default());
    let id = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#44"));
    world
        .fake
        .expect("the end", 0, |c| {
            c.path.contains(&format!("/messages/{id}/reactions/")) && !c.path.ends_with(EYES)
        })
        .await;
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    let posts: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path == format!("/channels/{id}/messages"))
        .map(content)
        .collect();
    let shown: usize = posts
        .iter()
        .map(|p| p.matches("unused variable").count())
        .sum();
    assert_eq!(shown, 400, "every line shown once across the parts");
    let parts = posts
        .iter()
        .filter(|p| p.contains("unused variable"))
        .count();
    assert!(
        parts >= 2,
        "split into several messages: {parts} {posts:#?}"
    );
}

#[tokio::test]
async fn a_gateway_reconnect_mid_job_loses_nothing() {
    let world = World::start().await;
    let id = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#45"));
    world
        .fake
        .expect("the first post in the thread", 0, |c| {
            c.method == "POST" && c.path == format!("/channels/{id}/messages")
        })
        .await;
    world.fake.reconnect();
    // Sent while the bot reconnects: it must arrive through the resume.
    let status = world.fake.say(id, &format!("<@{BOT_ID}> status"));
    world.fake.wait_sessions(1, 1).await;
    world
        .fake
        .expect("the status reaction", 0, |c| {
            c.path == format!("/channels/{id}/messages/{status}{EYES}")
        })
        .await;
    world
        .fake
        .expect("the ✅ reaction", 0, |c| {
            c.path == format!("/channels/{CHANNEL}/messages/{id}{CHECK}")
        })
        .await;
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    assert_eq!(
        calls.iter().filter(|c| c.path == "/gateway").count(),
        1,
        "resumed, not reconnected anew"
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path.ends_with("/threads"))
            .count(),
        1
    );
    assert_milestones_once(&calls, id);
}

#[test]
fn the_discord_section_is_read_from_the_environment_and_its_token_never_printed() {
    let env = [
        ("MOSAIC__DISCORD__TOKEN", "very-secret"),
        ("MOSAIC__DISCORD__APPLICATION_ID", "123"),
        ("MOSAIC__DISCORD__GUILD_ID", "456"),
    ];
    let config = Config::load_from(None, env.map(|(k, v)| (k.to_owned(), v.to_owned())))
        .expect("a configuration");
    let discord = config.discord.as_ref().expect("a [discord] section");
    assert_eq!((discord.application_id, discord.guild_id), (123, Some(456)));
    assert_eq!(discord.token.expose(), "very-secret");
    assert!(!config.describe().contains("very-secret"));
    assert!(config.describe().contains("discord = application 123"));
    let empty = [
        ("MOSAIC__DISCORD__TOKEN", ""),
        ("MOSAIC__DISCORD__APPLICATION_ID", "1"),
    ];
    assert!(Config::load_from(None, empty.map(|(k, v)| (k.to_owned(), v.to_owned()))).is_err());
}

#[tokio::test]
async fn fix_limited_to_a_role_runs_for_its_members_only() {
    let world = World::start_with("[permissions.fix]\nroles = [\"discord:777\"]\n").await;
    let member = world.fake.message_with_roles(
        CHANNEL,
        ALICE,
        false,
        &format!("<@{BOT_ID}> fix acme/web#1"),
        Some(&[5, 777]),
    );
    let outsider = world.fake.message_with_roles(
        CHANNEL,
        ALICE + 1,
        false,
        &format!("<@{BOT_ID}> fix acme/web#2"),
        Some(&[5]),
    );
    let done = format!("/channels/{CHANNEL}/messages/{member}{CHECK}");
    world
        .fake
        .expect("the member's job ends", 0, |c| c.path == done)
        .await;
    let refusal = format!("/channels/{outsider}/messages");
    let (_, reply) = world
        .fake
        .expect("the outsider's refusal", 0, |c| {
            c.method == "POST" && c.path == refusal
        })
        .await;
    assert!(
        content(&reply).starts_with("You may not use `fix`"),
        "{reply:#?}"
    );
    let jobs: Vec<_> = world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/runner-jobs")
        .collect();
    assert_eq!(jobs.len(), 1, "only the member's job: {jobs:#?}");
    world.finish().await;
}
