//! Running it for a team: permissions per action, channels mapped to backend
//! workspaces (each with its own token, checked by the simulator), and
//! repository allow-lists, through the real binary and its configuration.

use std::time::Duration;

use mosaic_sim::{Faults, RecordedRequest, Script, SimConfig};
use serde_json::{Value, json};

use crate::harness::{World, is_post_in, text};

const WS_WEB: &str = "00000000-0000-4000-8000-0000000000aa";
const WS_OPS: &str = "00000000-0000-4000-8000-0000000000bb";

/// A message `id` at the top level of `channel`.
fn top(id: &str, channel: &str, user: &str, text: &str) -> Value {
    json!({"id": id, "channel": channel, "user": user, "text": text})
}

/// The jobs the simulator was asked to create: (workspace, issue number).
fn created(requests: &[RecordedRequest]) -> Vec<(String, u64)> {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/runner-jobs")
        .map(|r| {
            let number = r.body.as_ref().and_then(|b| b["issue"]["number"].as_u64());
            (r.workspace.clone().unwrap_or_default(), number.unwrap_or(0))
        })
        .collect()
}

#[tokio::test]
async fn each_channel_starts_jobs_in_its_own_workspace_with_its_own_token() {
    let sim = SimConfig::fast().with_workspace_token(WS_OPS, "ops-SECRET-token");
    let world = World::with(sim).await;
    let config = format!(
        r#"
        [backend]
        url = "SIM"
        [workspaces.web]
        id = "{WS_WEB}"
        [workspaces.ops]
        id = "{WS_OPS}"
        [[channels]]
        platform = "console"
        id = "c-web"
        workspace = "web"
        default_repo = "acme/web"
        [[channels]]
        platform = "console"
        id = "c-ops"
        workspace = "ops"
        default_repo = "acme/ops"
        repos = ["acme/ops", "tools/*"]
        "#
    );
    let web_token = world.sim.token().to_owned();
    let mut bot = world.bot_configured(
        &config,
        &[
            ("MOSAIC__WORKSPACES__WEB__TOKEN", &web_token),
            ("MOSAIC__WORKSPACES__OPS__TOKEN", "ops-SECRET-token"),
        ],
    );
    bot.say(top("m1", "c-web", "alice", "@mosaic fix #1")).await;
    bot.say(top("m2", "c-ops", "alice", "@mosaic fix #2")).await;
    bot.say(top("m3", "c-ops", "alice", "@mosaic fix tools/cli#3"))
        .await;
    // Not mapped: no workspace, and [backend] names no default one.
    bot.say(top("m4", "c-none", "alice", "@mosaic fix acme/web#4"))
        .await;
    // Mapped, but not one of the channel's repositories.
    bot.say(top("m5", "c-ops", "alice", "@mosaic fix acme/web#5"))
        .await;
    // c-none and c-ops are separate lanes: their replies come in either order.
    let unmapped = bot
        .seen_or_expect("the unmapped reply", |op| is_post_in(op, "m4"))
        .await;
    assert!(
        text(&unmapped).starts_with(
            "This channel is not connected to a job backend workspace, so I did not start the job."
        ),
        "{unmapped}"
    );
    let outside = bot
        .seen_or_expect("the allow-list reply", |op| is_post_in(op, "m5"))
        .await;
    assert_eq!(
        text(&outside),
        "This channel works on acme/ops, tools/* only, so I did not start the job for acme/web#5. \
         Use one of those repositories, or ask an admin to add it to the channel's `repos`."
    );
    for thread in ["m1", "m2", "m3"] {
        bot.seen_or_expect("each job's outcome", |op| {
            is_post_in(op, thread) && text(op).contains("✅ Done")
        })
        .await;
    }
    // A job of the other workspace is not this channel's to see.
    bot.say(top("m6", "c-web", "alice", "@mosaic status acme/ops#2"))
        .await;
    let status = bot
        .expect("the status reply", |op| is_post_in(op, "m6"))
        .await;
    assert!(
        text(&status).starts_with("I know of no job for acme/ops#2."),
        "{status}"
    );
    let (_, logs) = bot.finish_with_logs().await;

    let requests = world.sim.requests();
    let mut jobs = created(&requests);
    jobs.sort_by_key(|(_, number)| *number);
    assert_eq!(
        jobs,
        vec![
            (WS_WEB.to_owned(), 1),
            (WS_OPS.to_owned(), 2),
            (WS_OPS.to_owned(), 3),
        ],
        "refused commands never reach the backend"
    );
    // Every call about a job (its stream, backfills, lookups) was made in the
    // job's workspace: with another token the simulator would refuse it.
    // Channels run side by side, so which job got which id is found out.
    for n in 1..=3 {
        let job = format!("00000000-0000-4000-8000-{n:012}");
        let found = world.sim.job(&job).expect("three jobs");
        let expected = match found["issue"]["number"].as_u64() {
            Some(1) => WS_WEB,
            _ => WS_OPS,
        };
        let about: Vec<_> = requests.iter().filter(|r| r.path.contains(&job)).collect();
        assert!(!about.is_empty(), "{job} was followed");
        assert!(
            about
                .iter()
                .all(|r| r.workspace.as_deref() == Some(expected)),
            "{about:#?}"
        );
        assert_eq!(found["status"], "COMPLETED");
    }
    assert!(!logs.contains("ops-SECRET-token"), "a token was logged");
}

const TEAM: &str = r#"
[backend]
url = "SIM"
workspace = "00000000-0000-4000-8000-0000000000aa"

[[channels]]
platform = "console"
id = "c1"
default_repo = "acme/web"

[permissions.admins]
users = ["console:root"]

[permissions.fix]
roles = ["console:devs"]
channels = ["console:c1"]

# The console's own rule for verbose replaces the general one there.
[permissions.console.verbose]
users = ["console:alice"]
"#;

#[tokio::test]
async fn the_permission_matrix_allows_and_refuses_as_configured() {
    // Job 1 runs long enough to be cancelled mid-way on a slow machine; its
    // retry and the admin's job are short.
    let world = World::with(SimConfig {
        tick: Duration::from_millis(120),
        ..SimConfig::fast()
    })
    .await;
    for (number, script) in [
        (1, Script::standard()),
        (1, Script::tiny()),
        (10, Script::tiny()),
    ] {
        world
            .sim
            .script_issue("acme", "web", number, script, Faults::default());
    }
    let token = world.sim.token().to_owned();
    let mut bot = world.bot_configured(TEAM, &[("MOSAIC__BACKEND__TOKEN", &token)]);
    let dev = |id: &str, channel: &str, text: &str| json!({"id": id, "channel": channel, "user": "alice", "roles": ["devs"], "text": text});
    // fix: a role in an allowed channel.
    bot.say(dev("m1", "c1", "@mosaic fix #1")).await;
    bot.expect("job 1 running", |op| {
        is_post_in(op, "m1") && text(op).contains("▶️ Step 1/6")
    })
    .await;
    // fix: no role; then the role in a channel fix is not allowed in.
    bot.say(top("m2", "c1", "bob", "@mosaic fix #2")).await;
    bot.say(dev("m3", "c2", "@mosaic fix acme/web#3")).await;
    // status: everyone.
    bot.say(top("m4", "c2", "bob", "@mosaic status acme/web#1"))
        .await;
    // cancel: bob is not the requester, in the job's thread or by reference.
    bot.say(json!({"id": "m5", "channel": "c1", "thread": "m1", "user": "bob", "text": "@mosaic cancel"}))
        .await;
    bot.say(top("m6", "c1", "bob", "@mosaic cancel #1")).await;
    bot.say(top("m11", "c1", "bob", "@mosaic verbose #1")).await;
    let replies = [
        (
            "m11",
            "You may not use `verbose`: `permissions.console.verbose` allows it only to certain users and roles. Ask an admin if you need it.",
        ),
        (
            "m2",
            "You may not use `fix`: `permissions.fix` allows it only to certain users and roles. Ask an admin if you need it.",
        ),
        (
            "m3",
            "`fix` is not allowed in this channel (`permissions.fix` lists the channels where it is). Use one of those, or ask an admin.",
        ),
        (
            "m6",
            "Only the job's requester (alice) or an admin may `cancel` it (`permissions.cancel`).",
        ),
    ];
    for (thread, expected) in replies {
        let reply = bot
            .seen_or_expect("a refusal", |op| is_post_in(op, thread))
            .await;
        assert_eq!(text(&reply), expected);
    }
    let in_thread = bot
        .seen_or_expect("the refusal in the job's thread", |op| {
            is_post_in(op, "m1") && text(op).starts_with("Only the job's requester")
        })
        .await;
    assert!(text(&in_thread).contains("(alice)"), "{in_thread}");
    let status = bot
        .seen_or_expect("bob's status", |op| is_post_in(op, "m4"))
        .await;
    assert!(text(&status).contains("Job: "), "{status}");
    // Nothing refused reached the backend: no cancel, one job.
    let requests = world.sim.requests();
    assert_eq!(created(&requests).len(), 1, "{requests:#?}");
    assert!(!requests.iter().any(|r| r.path.ends_with("/cancel")));

    // An admin may cancel anyone's job, and its requester may retry it.
    bot.say(top("m7", "c1", "root", "@mosaic cancel #1")).await;
    // The reply and the relay's outcome race: each in either order.
    bot.seen_or_expect("the cancellation", |op| {
        is_post_in(op, "m7") && text(op).starts_with("Cancelling job")
    })
    .await;
    bot.seen_or_expect("the cancelled outcome", |op| {
        is_post_in(op, "m1") && text(op).contains("🛑 Cancelled")
    })
    .await;
    bot.say(json!({"id": "m8", "channel": "c1", "thread": "m1", "user": "bob", "text": "@mosaic retry"}))
        .await;
    bot.expect("bob may not retry", |op| {
        is_post_in(op, "m1")
            && text(op).starts_with("Only the job's requester (alice) or an admin may `retry`")
    })
    .await;
    bot.say(json!({"id": "m9", "channel": "c1", "thread": "m1", "user": "alice", "text": "@mosaic retry"}))
        .await;
    bot.expect("alice retries", |op| {
        is_post_in(op, "m1") && text(op).starts_with("Retrying as job")
    })
    .await;
    bot.expect("the retry's outcome", |op| {
        is_post_in(op, "m1") && text(op).contains("✅ Done")
    })
    .await;
    // The admin passes fix's "who" without the role.
    bot.say(top("m10", "c1", "root", "@mosaic fix #10")).await;
    bot.expect("the admin's job", |op| {
        is_post_in(op, "m10") && text(op).contains("✅ Done")
    })
    .await;
    let (_, logs) = bot.finish_with_logs().await;

    let retries = world.sim.requests();
    let retries: Vec<_> = retries
        .iter()
        .filter(|r| r.path.ends_with("/retry"))
        .collect();
    assert_eq!(retries.len(), 1, "only alice's retry reached the backend");
    // Each refusal is logged, naming what was missing.
    let refused: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("command refused") && l.contains("Denied"))
        .collect();
    assert_eq!(refused.len(), 6, "{logs}");
    assert!(refused.iter().any(|l| l.contains("NotRequester")));
    assert!(refused.iter().any(|l| l.contains("Channel")));
}

#[tokio::test]
async fn a_job_whose_workspace_left_the_configuration_is_reported_and_resumed_when_it_returns() {
    let sim = SimConfig {
        tick: Duration::from_millis(60),
        ..SimConfig::fast()
    }
    .with_workspace_token(WS_OPS, "ops-token");
    let world = World::with(sim).await;
    let mut bot = world.bot();
    bot.top("m1", "@mosaic fix acme/web#42").await;
    bot.expect("step 1", |op| text(op).contains("▶️ Step 1/6"))
        .await;
    bot.crash().await;

    // Restarted with only the other workspace: the job cannot be followed.
    let only_ops = format!("[backend]\nurl = \"SIM\"\nworkspace = \"{WS_OPS}\"\n");
    let bot = world.bot_configured(&only_ops, &[("MOSAIC__BACKEND__TOKEN", "ops-token")]);
    let ops = bot.finish().await;
    let said = ops
        .iter()
        .find(|op| is_post_in(op, "m1"))
        .unwrap_or_else(|| panic!("the thread is told: {ops:#?}"));
    assert!(
        text(said).starts_with(&format!(
            "I cannot follow job 00000000-0000-4000-8000-000000000001 any more: its backend workspace ({WS_WEB}) is not in my configuration."
        )),
        "{said}"
    );

    // With the workspace back, the relay resumes and the job ends in its thread.
    let ops = world.bot().finish().await;
    assert!(
        ops.iter()
            .any(|op| is_post_in(op, "m1") && text(op).contains("✅ Done")),
        "{ops:#?}"
    );
}
