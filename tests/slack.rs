//! The whole flow on Slack: the real daemon (`mosaic_bot::daemon::run`) with
//! the Slack adapter, a fake Slack and the simulated backend, all on
//! 127.0.0.1. Each test stops the daemon, then proves from everything the
//! bot sent (and every envelope acked) that nothing unexpected happened.

#[path = "../adapters/slack/tests/fake/mod.rs"]
mod fake;

#[path = "slack_flow/behaves.rs"]
mod behaves;
#[path = "slack_flow/buttons.rs"]
mod buttons;
#[path = "slack_flow/crash.rs"]
mod crash;
#[path = "support/daemon_on.rs"]
mod daemon_on;
#[path = "slack_flow/harness.rs"]
mod harness;

use daemon_on::{Served, assert_no_secret, free_addr, readyz, until_platform_is};
use fake::conformance::assert_conforms;
use fake::{ALICE, APP_TOKEN, BOT_TOKEN, CHANNEL, FakeSlack, PERMALINK_BASE, Sent};
use harness::*;
use mosaic_sim::{Faults, Script, Sim};
use mosaic_slack::{COMMANDS_PATH, sign};

#[tokio::test]
async fn a_mention_over_socket_mode_starts_a_job_relayed_in_its_thread() {
    let (fake, sim, bot) = started(5).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    let events = sim.wait_final(JOB_1).await;
    assert!(events.iter().any(|e| e["type"] == "job.completed"));
    bot.stop().await.expect("a clean stop");
    let sent = fake.sent();
    assert_one_relayed_job(&sent, &root);
    assert!(
        posts(&sent)[0].2.contains("acme/web#42"),
        "the card names the issue: {sent:#?}"
    );
    assert!(fake.unacked().is_empty(), "every envelope acked");
    let origin = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .and_then(|r| r.body)
        .expect("a job");
    assert_eq!(origin["origin"]["platform"], "slack");
    assert_eq!(fake.rate_limited(), 0);
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "the app_mention and the message event of one post start one job"
    );
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn a_socket_refreshed_and_dropped_mid_job_loses_nothing_and_repeats_nothing() {
    let (fake, sim, bot) = started(40).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect(
        "the card",
        |s| matches!(s, Sent::Post { thread_ts: Some(t), .. } if *t == root),
    )
    .await;
    fake.refresh_sockets();
    fake.wait_connected(2).await;
    fake.refuse_sockets(true);
    fake.drop_sockets();
    // Posted while no socket is open: Slack keeps it until one is.
    let status = fake.mention(Some(&root), "<@UBOT0001> status");
    fake.refuse_sockets(false);
    fake.expect("👀 on the status asked during the gap", |s| {
        is_reaction(s, &status, "eyes")
    })
    .await;
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    assert!(fake.connected() >= 3, "the bot reconnected");
    let mut sent = fake.sent();
    let status_seen = sent
        .iter()
        .filter(|s| matches!(s, Sent::Reaction { ts, .. } if *ts == status))
        .count();
    assert_eq!(status_seen, 1, "the status is handled once: {sent:#?}");
    sent.retain(|s| !matches!(s, Sent::Reaction { ts, .. } if *ts == status));
    let replies: Vec<usize> = posts(&sent)
        .iter()
        .enumerate()
        .filter(|(_, (_, _, m))| m.contains("Job: "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(replies.len(), 1, "one status reply: {sent:#?}");
    let reply_ts = posts(&sent)[replies[0]].0.to_owned();
    sent.retain(|s| !matches!(s, Sent::Post { ts, .. } if *ts == reply_ts));
    assert_one_relayed_job(&sent, &root);
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "one job started"
    );
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn a_rate_limited_relay_waits_and_sends_everything_once() {
    let (fake, _sim, bot) = started(40).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect(
        "the card",
        |s| matches!(s, Sent::Post { thread_ts: Some(t), .. } if *t == root),
    )
    .await;
    fake.rate_limit_next(1);
    fake.fail_next(&["ratelimited"]);
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(fake.rate_limited(), 1, "the 429 was met");
    assert_one_relayed_job(&fake.sent(), &root);
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn a_slash_command_starts_a_thread_and_its_errors_are_private() {
    let (fake, sim) = (
        FakeSlack::start().await,
        Sim::start(sim_config(5)).await.expect("sim"),
    );
    let bot = start(&fake, &sim);
    let addr = bot.slack.http_addr().await.expect("listening");
    let url = format!("http://{addr}{COMMANDS_PATH}");
    let http = reqwest::Client::new();
    let send = |text: &'static str, trigger: &'static str, secret: &'static str| {
        let response_url = fake.response_url();
        let http = http.clone();
        let url = url.clone();
        async move {
            let fields = [
                ("command", "/mosaic"),
                ("text", text),
                ("team_id", "T1"),
                ("channel_id", CHANNEL),
                ("user_id", ALICE),
                ("user_name", "alice"),
                ("trigger_id", trigger),
                ("response_url", response_url.as_str()),
            ];
            let body = reqwest::Url::parse_with_params("http://x/", &fields)
                .expect("a form")
                .query()
                .unwrap_or("")
                .to_owned();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_secs()
                .to_string();
            let signature = sign(&mosaic_chat::Secret::new(secret), &now, body.as_bytes());
            http.post(&url)
                .header("X-Slack-Request-Timestamp", now)
                .header("X-Slack-Signature", signature)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("answered")
        }
    };
    assert_eq!(send("fix acme/web#42", "t0", "forged").await.status(), 401);
    let bad = send("fxi", "t1", SIGNING_SECRET).await;
    assert_eq!(bad.status(), 200);
    assert_eq!(bad.text().await.unwrap_or_default(), "", "an empty ack");
    fake.expect("the private error", |s| matches!(s, Sent::Ephemeral { .. }))
        .await;
    assert_eq!(
        send("fix acme/web#42", "t2", SIGNING_SECRET).await.status(),
        200
    );
    fake.expect("the outcome", |s| text(s).contains("pull/57"))
        .await;
    sim.wait_final(JOB_1).await;
    bot.stop().await.expect("a clean stop");

    let sent = fake.sent();
    assert!(
        matches!(&sent[0], Sent::Ephemeral { text } if text.contains("fxi")),
        "{sent:#?}"
    );
    let posts = posts(&sent);
    let (thread, top, _) = posts[0];
    assert_eq!(top, None, "the thread starts at the top level: {sent:#?}");
    assert!(
        posts[1..].iter().all(|(_, t, _)| *t == Some(thread)),
        "{sent:#?}"
    );
    assert!(
        !sent.iter().any(|s| matches!(s, Sent::Reaction { .. })),
        "a slash command has no message to react to: {sent:#?}"
    );
    let private: Vec<&str> = sent
        .iter()
        .filter_map(|s| match s {
            Sent::Ephemeral { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        private.len(),
        2,
        "the error, then where the job went: {sent:#?}"
    );
    assert_eq!(
        private[1],
        format!(
            "Started a fix for acme/web#42: follow it in <{PERMALINK_BASE}/{CHANNEL}/p{}|its thread>.",
            thread.replace('.', "")
        )
    );
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "the refused command started nothing"
    );
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn pings_in_job_output_reach_nobody() {
    let (fake, sim) = (
        FakeSlack::start().await,
        Sim::start(sim_config(25)).await.expect("sim"),
    );
    sim.script_issue(
        "acme",
        "web",
        42,
        Script::standard(),
        Faults {
            weird_payloads: true,
            ..Faults::default()
        },
    );
    let bot = start(&fake, &sim);
    fake.wait_connected(1).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect(
        "the card",
        |s| matches!(s, Sent::Post { thread_ts: Some(t), .. } if *t == root),
    )
    .await;
    fake.mention(Some(&root), "<@UBOT0001> verbose");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    let sent = fake.sent();
    assert!(
        sent.iter().any(|s| text(s).contains("&lt;!channel&gt;")),
        "the weird output was shown, escaped: {sent:#?}"
    );
    for s in &sent {
        // Slack pings only inside angle brackets: none may come from job text.
        for ping in ["<!channel>", "<!here>", "<!everyone>", "<@123>"] {
            assert!(!text(s).contains(ping), "{ping} passed through: {s:?}");
        }
    }
    assert!(
        posts(&sent)
            .iter()
            .all(|(_, t, _)| *t == Some(root.as_str())),
        "{sent:#?}"
    );
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn serve_starts_slack_from_its_configuration() {
    let (fake, sim) = (
        FakeSlack::start().await,
        Sim::start(sim_config(5)).await.expect("sim"),
    );
    let api_url = fake.api_url();
    let served = Served::start(
        &sim,
        &[
            ("MOSAIC__SLACK__API_URL", &api_url),
            ("MOSAIC__SLACK__BOT_TOKEN", BOT_TOKEN),
            ("MOSAIC__SLACK__APP_TOKEN", APP_TOKEN),
            ("MOSAIC__SLACK__SIGNING_SECRET", SIGNING_SECRET),
            ("MOSAIC__SLACK__HTTP_LISTEN", "127.0.0.1:0"),
        ],
    );
    fake.wait_connected(1).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    sim.wait_final(JOB_1).await;
    let logs = served.kill().await;
    assert_one_relayed_job(&fake.sent(), &root);
    assert!(fake.unacked().is_empty(), "every envelope acked");
    assert_no_secret(&logs, &[BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, sim.token()]);
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn permissions_match_the_authors_slack_user_groups() {
    let (fake, sim) = (
        FakeSlack::start().await,
        Sim::start(sim_config(1)).await.expect("sim"),
    );
    fake.set_user_groups(&[("S0DEVS", &[ALICE]), ("S0OPS", &["U0SOMEONE"])]);
    let config = "[permissions.fix]\nroles = [\"slack:S0DEVS\"]\n\
                  [permissions.slack.status]\nroles = [\"slack:S0OPS\"]\n";
    let bot = start_with(&fake, &sim, config);
    fake.wait_connected(1).await;
    let fix = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect("✅ on the fix", |s| {
        is_reaction(s, &fix, "white_check_mark")
    })
    .await;
    let status = fake.mention(None, "<@UBOT0001> status acme/web#42");
    let refusal = fake
        .expect(
            "the refusal",
            |s| matches!(s, Sent::Post { thread_ts: Some(t), .. } if *t == status),
        )
        .await;
    let Sent::Post { text, .. } = refusal else {
        unreachable!("matched a post")
    };
    assert!(
        text.starts_with("You may not use `status`: `permissions.slack.status`"),
        "{text}"
    );
    bot.stop().await.expect("a clean stop");
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "alice's group may fix"
    );
    assert_eq!(fake.user_groups_calls(), 1, "the groups are read once");
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn readiness_follows_the_socket_mode_connection() {
    let (fake, sim) = (
        FakeSlack::start().await,
        Sim::start(sim_config(1)).await.expect("sim"),
    );
    let addr = free_addr();
    let bot = start_with(&fake, &sim, &format!("[http]\nlisten = \"{addr}\"\n"));
    fake.wait_connected(1).await;
    assert_eq!(until_platform_is(addr, "slack", "connected").await, 200);
    fake.refuse_sockets(true);
    fake.drop_sockets();
    assert_eq!(
        until_platform_is(addr, "slack", "reconnecting").await,
        503,
        "not ready while the socket is down"
    );
    let (_, body) = readyz(addr).await;
    assert_eq!(body["store"], "ok");
    fake.refuse_sockets(false);
    assert_eq!(until_platform_is(addr, "slack", "connected").await, 200);
    bot.stop().await.expect("a clean stop");
    assert_conforms(&fake.calls());
}
