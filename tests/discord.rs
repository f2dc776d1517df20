//! The whole bot on Discord: the real daemon with the Discord adapter,
//! against the backend simulator and a fake Discord on 127.0.0.1. Each test
//! runs a job to its end, stops the daemon, and then reads every REST call
//! the bot made to prove nothing unexpected was sent.

#[path = "support/daemon_on.rs"]
mod daemon_on;
#[path = "../adapters/discord/tests/fake/mod.rs"]
mod fake;
#[path = "discord_flow/harness.rs"]
mod harness;

#[path = "discord_flow/buttons.rs"]
mod buttons;
#[path = "discord_flow/catch_up.rs"]
mod catch_up;
#[path = "discord_flow/exactly_once.rs"]
mod exactly_once;
#[path = "discord_flow/permissions.rs"]
mod permissions;
#[path = "discord_flow/threads.rs"]
mod threads;

use fake::*;
use harness::*;
use mosaic_bot::config::Config;
use mosaic_sim::{Faults, Gate, Script};
use serde_json::json;

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
    let load = |env: &[(&str, &str)]| {
        Config::load_from(
            None,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    };
    let env = [
        ("MOSAIC__DISCORD__TOKEN", "very-secret"),
        ("MOSAIC__DISCORD__APPLICATION_ID", "123"),
        ("MOSAIC__DISCORD__GUILD_ID", "456"),
        ("MOSAIC__DISCORD__API_URL", "http://proxy.internal:8080/"),
        ("MOSAIC__DISCORD__GATEWAY_URL", "wss://gateway.internal"),
    ];
    let config = load(&env).expect("a configuration");
    let discord = config.discord.as_ref().expect("a [discord] section");
    assert_eq!((discord.application_id, discord.guild_id), (123, Some(456)));
    assert_eq!(discord.token.expose(), "very-secret");
    assert_eq!(
        discord.api_url.as_deref(),
        Some("http://proxy.internal:8080")
    );
    assert_eq!(
        discord.gateway_url.as_deref(),
        Some("wss://gateway.internal")
    );
    let shown = config.describe();
    assert!(!shown.contains("very-secret"));
    assert!(shown.contains("discord = application 123"));
    assert!(shown.contains("discord.api_url = http://proxy.internal:8080"));
    assert!(
        load(&[
            ("MOSAIC__DISCORD__TOKEN", ""),
            ("MOSAIC__DISCORD__APPLICATION_ID", "1")
        ])
        .is_err()
    );
    let bad_gateway = [
        env[0],
        env[1],
        ("MOSAIC__DISCORD__GATEWAY_URL", "https://gateway.internal"),
    ];
    let refused = load(&bad_gateway).expect_err("not a WebSocket URL");
    assert!(
        refused.to_string().contains("discord.gateway_url"),
        "{refused}"
    );

    // Discord registers the command in lowercase; a name that cannot be a
    // command at all is refused before anything starts.
    let capitalised = [env[0], env[1], ("MOSAIC__BOT__NAME", "Mosaic")];
    assert!(load(&capitalised).is_ok());
    let impossible = [env[0], env[1], ("MOSAIC__BOT__NAME", "mosaic.bot")];
    let refused = load(&impossible).expect_err("not a command name");
    assert!(
        refused.to_string().contains("bot.name") && refused.to_string().contains("Discord command"),
        "{refused}"
    );
}

#[tokio::test]
async fn serve_runs_against_the_fake_discord_from_the_environment_alone() {
    let sim = mosaic_sim::Sim::start(daemon_on::sim_config(1))
        .await
        .expect("the simulator starts");
    let fake = FakeDiscord::start().await;
    let (api, gateway) = (fake.url(), fake.gateway_url());
    let (app, guild) = (APP_ID.to_string(), GUILD_ID.to_string());
    let served = daemon_on::Served::start(
        &sim,
        &[
            ("MOSAIC__DISCORD__TOKEN", "served-bot-token"),
            ("MOSAIC__DISCORD__APPLICATION_ID", &app),
            ("MOSAIC__DISCORD__GUILD_ID", &guild),
            ("MOSAIC__DISCORD__API_URL", &api),
            ("MOSAIC__DISCORD__GATEWAY_URL", &gateway),
        ],
    );
    fake.wait_sessions(1, 0).await;
    fake.wait_caught_up(1).await;
    let id = fake.say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#46"));
    let done = format!("/channels/{CHANNEL}/messages/{id}{CHECK}");
    fake.expect("the ✅", 0, |c| c.path == done).await;
    let logs = served.kill().await;
    let calls = fake.calls();
    fake::openapi::assert_conforms(&calls);
    assert_only_expected(&calls);
    assert_milestones_once(&calls, id);
    daemon_on::assert_no_secret(&logs, &["served-bot-token"]);
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
    assert_eq!(world.jobs_created(), 1, "only the member's job");
    world.finish().await;
}
