//! The whole flow on Mattermost: the real daemon (`mosaic_bot::daemon::run`)
//! with the Mattermost adapter, a fake Mattermost and the simulated backend,
//! all on 127.0.0.1. Each test stops the daemon, then proves from everything
//! the bot sent that nothing unexpected happened.

#[path = "../adapters/mattermost/tests/fake/mod.rs"]
mod fake;

#[path = "mattermost_flow/buttons.rs"]
mod buttons;
#[path = "mattermost_flow/catch_up.rs"]
mod catch_up;
#[path = "mattermost_flow/crash.rs"]
mod crash;
#[path = "support/daemon_on.rs"]
mod daemon_on;
#[path = "mattermost_flow/harness.rs"]
mod harness;
#[path = "mattermost_flow/slash.rs"]
mod slash;

use daemon_on::{Served, assert_no_secret};
use fake::{ALICE, BOT_TOKEN, CHANNEL, Sent};
use harness::*;
use mosaic_bot::daemon::DaemonError;
use mosaic_mattermost::SLASH_PATH;
use mosaic_sim::{Faults, Script};

#[tokio::test]
async fn a_mention_starts_a_job_relayed_in_its_thread() {
    let (fake, sim) = world(5).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
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
    let origin = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .and_then(|r| r.body)
        .expect("a job");
    assert_eq!(origin["origin"]["platform"], "mattermost");
    assert_eq!(origin["origin"]["userName"], "alice");
    assert_eq!(fake.rate_limited(), 0);
}

#[tokio::test]
async fn mentions_in_job_output_ping_nobody() {
    let (fake, sim) = world(25).await;
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
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    wait_card(&fake, &root).await;
    let verbose = fake.user_post(CHANNEL, Some(&root), "@mosaic-bot verbose");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    let sent = fake.sent();
    assert!(
        sent.iter()
            .any(|s| message(s).contains("@\u{200b}everyone")),
        "the weird output was shown: {sent:#?}"
    );
    for s in &sent {
        // `<!channel>` and `<@123>` are Slack's and Discord's: no ping here.
        for ping in ["@everyone", "@here", "@channel", "@all", "@123"] {
            assert!(!message(s).contains(ping), "{ping} passed through: {s:?}");
        }
    }
    assert!(sent.iter().any(|s| is_reaction(s, &verbose, "eyes")));
    assert!(posts(&sent).iter().all(|(_, r, _)| *r == root), "{sent:#?}");
}

#[tokio::test]
async fn a_socket_dropped_mid_job_loses_nothing_and_repeats_nothing() {
    let (fake, sim) = world(40).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    wait_card(&fake, &root).await;

    fake.refuse_sockets(true);
    fake.drop_sockets();
    let status = fake.user_post(CHANNEL, Some(&root), "@mosaic-bot status");
    fake.refuse_sockets(false);
    fake.expect("👀 on the status asked during the gap", |s| {
        is_reaction(s, &status, "eyes")
    })
    .await;
    assert!(fake.authenticated() >= 2, "the bot reconnected");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");

    let mut sent = fake.sent();
    let status_seen: Vec<Sent> = sent
        .iter()
        .filter(|s| matches!(s, Sent::Reaction { post_id, .. } if *post_id == status))
        .cloned()
        .collect();
    assert_eq!(
        status_seen.len(),
        1,
        "the status is handled once: {sent:#?}"
    );
    let replies = posts(&sent)
        .iter()
        .filter(|(_, _, m)| m.contains("- Job: "))
        .count();
    assert_eq!(replies, 1, "one status reply: {sent:#?}");
    sent.retain(|s| !matches!(s, Sent::Reaction { post_id, .. } if *post_id == status));
    assert_one_relayed_job(&sent, &root);
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "one job started"
    );
}

#[tokio::test]
async fn a_rate_limited_relay_waits_and_sends_everything_once() {
    let (fake, sim) = world(40).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    wait_card(&fake, &root).await;
    fake.rate_limit_next(2);
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(fake.rate_limited(), 2, "the 429s were met");
    assert_one_relayed_job(&fake.sent(), &root);
}

#[tokio::test]
async fn a_slash_command_starts_a_thread_and_a_wrong_token_nothing() {
    let (fake, sim) = world(5).await;
    let bot = start(&fake, &sim);
    let url = format!(
        "http://{}{SLASH_PATH}",
        bot.mm.slash_addr().await.expect("listening")
    );
    let form = |token: &str, text: &str| {
        let fields = [
            ("token", token),
            ("channel_id", CHANNEL),
            ("user_id", ALICE),
            ("user_name", "alice"),
            ("text", text),
        ];
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        form.push(("response_url".into(), fake.response_url()));
        form
    };
    let http = reqwest::Client::new();
    let refused = http
        .post(&url)
        .form(&form("nope", "fix acme/web#42"))
        .send()
        .await
        .expect("answered");
    assert_eq!(refused.status(), 401);
    let bad = http
        .post(&url)
        .form(&form(&slash_token(), "fxi"))
        .send()
        .await
        .expect("answered");
    assert_eq!(bad.status(), 200);
    fake.expect("the private error", |s| matches!(s, Sent::Ephemeral { .. }))
        .await;
    let taken = http
        .post(&url)
        .form(&form(&slash_token(), "fix acme/web#42"))
        .send()
        .await
        .expect("answered");
    assert_eq!(taken.status(), 200);
    fake.expect("the outcome", |s| message(s).contains("pull/57"))
        .await;
    sim.wait_final(JOB_1).await;
    bot.stop().await.expect("a clean stop");

    let sent = fake.sent();
    assert!(
        matches!(&sent[0], Sent::Ephemeral { text } if text.contains("fxi")),
        "{sent:#?}"
    );
    let posts = posts(&sent);
    let (thread, top_root, _) = posts[0];
    assert_eq!(
        top_root, "",
        "the thread starts at the top level: {sent:#?}"
    );
    assert!(posts[1..].iter().all(|(_, r, _)| *r == thread), "{sent:#?}");
    assert!(
        !sent.iter().any(|s| matches!(s, Sent::Reaction { .. })),
        "a slash command has no post to react to"
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
            "Started a fix for acme/web#42: follow it in [its thread]({}/_redirect/pl/{thread}).",
            fake.url()
        )
    );
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "the refused command started nothing"
    );
}

#[tokio::test]
async fn a_refused_bot_token_stops_the_daemon_instead_of_looping() {
    let (fake, sim) = world(5).await;
    fake.refuse_token(true);
    let bot = start(&fake, &sim);
    assert!(matches!(
        bot.ended().await,
        Err(DaemonError::PlatformsStopped)
    ));
    assert_eq!(fake.authenticated(), 0);
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn serve_starts_mattermost_from_its_configuration() {
    let (fake, sim) = world(5).await;
    let url = fake.url();
    let slash_token = slash_token();
    let served = Served::start(
        &sim,
        &[
            ("MOSAIC__MATTERMOST__URL", &url),
            ("MOSAIC__MATTERMOST__TOKEN", BOT_TOKEN),
            ("MOSAIC__MATTERMOST__SLASH_TOKEN", &slash_token),
            ("MOSAIC__MATTERMOST__SLASH_LISTEN", "127.0.0.1:0"),
        ],
    );
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    sim.wait_final(JOB_1).await;
    let logs = served.kill().await;
    assert_one_relayed_job(&fake.sent(), &root);
    assert_no_secret(&logs, &[BOT_TOKEN, &slash_token, sim.token()]);
    fake.recorder().assert_conforms();
}

#[tokio::test]
async fn a_rate_limited_reply_to_a_command_is_retried_and_sent_once() {
    let (fake, sim) = world(5).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    // The 👀 and the reply of a command both meet a 429 first, saying
    // `Retry-After: 1` and `X-RateLimit-Reset: 10` as Mattermost does.
    fake.rate_limit_next(2);
    let asked = std::time::Instant::now();
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot help fix");
    fake.expect(
        "the help",
        |s| matches!(s, Sent::Post { root_id, .. } if *root_id == root),
    )
    .await;
    let took = asked.elapsed();
    bot.stop().await.expect("a clean stop");
    assert_eq!(fake.rate_limited(), 2, "the 429s were met");
    assert!(
        took >= std::time::Duration::from_secs(1) && took < std::time::Duration::from_secs(6),
        "each 429 waits its Retry-After (1 s), not the burst's reset (10 s): {took:?}"
    );
    let sent = fake.sent();
    assert_eq!(posts(&sent).len(), 1, "one reply: {sent:#?}");
    assert!(is_reaction(&sent[0], &root, "eyes"), "{sent:#?}");
    assert_eq!(sent.len(), 2, "nothing else: {sent:#?}");
}

#[tokio::test]
async fn permissions_match_the_authors_team_and_system_roles() {
    let (fake, sim) = world(1).await;
    fake.set_roles(ALICE, "system_user", "team_user team_admin");
    let config = "[permissions.fix]\nroles = [\"mattermost:team_admin\"]\n\
                  [permissions.status]\nroles = [\"mattermost:system_admin\"]\n";
    let bot = start_with(&fake, &sim, config);
    fake.wait_authenticated(1).await;
    let fix = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    fake.expect("✅ on the fix", |s| {
        matches!(s, Sent::Reaction { post_id, emoji, .. } if *post_id == fix && emoji == "white_check_mark")
    })
    .await;
    let status = fake.user_post(CHANNEL, None, "@mosaic-bot status acme/web#42");
    let refusal = fake
        .expect(
            "the refusal",
            |s| matches!(s, Sent::Post { root_id, .. } if *root_id == status),
        )
        .await;
    let Sent::Post { message, .. } = refusal else {
        unreachable!("matched a post")
    };
    assert!(
        message.starts_with("You may not use `status`: `permissions.status`"),
        "{message}"
    );
    bot.stop().await.expect("a clean stop");
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "a team admin may fix"
    );
}

#[tokio::test]
async fn a_second_fix_links_to_the_thread_of_the_first() {
    let (fake, sim) = world(40).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    let first = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    fake.expect(
        "the first job's card",
        |s| matches!(s, Sent::Post { root_id, .. } if *root_id == first),
    )
    .await;
    let second = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let reply = fake
        .expect(
            "the reply to the second",
            |s| matches!(s, Sent::Post { root_id, .. } if *root_id == second),
        )
        .await;
    assert!(
        message(&reply).contains(&format!(
            "follow it in [its thread]({}/_redirect/pl/{first}). I did not start a second one.",
            fake.url()
        )),
        "{reply:#?}"
    );
    bot.stop().await.expect("a clean stop");
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "one job"
    );
}
