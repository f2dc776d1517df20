//! Whole-flow tests of what the bot reads after a gap, against the fake's
//! `posts?since=`, which returns every post *modified* since (post_store.go
//! `GetPostsSince`): old posts someone reacted to or replied to, edited
//! posts and their pre-edit copies. A message is a command once, when it is
//! written, and only within the catch-up window (600 s by default).

use std::time::Duration;

use mosaic_sim::Sim;

use crate::fake::{CHANNEL, FakeMattermost, Sent};
use crate::harness::*;

const TWO_DAYS: Duration = Duration::from_secs(2 * 24 * 3600);

/// The issue numbers of the jobs the bot started, in order.
fn jobs(sim: &Sim) -> Vec<u64> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.body?["issue"]["number"].as_u64())
        .collect()
}

/// Asserts the bot reacted to no post but `only`.
fn reacted_only_to(sent: &[Sent], only: &[&str]) {
    for s in sent {
        if let Sent::Reaction { post_id, .. } = s {
            assert!(
                only.contains(&post_id.as_str()),
                "reacted to {post_id}: {sent:#?}"
            );
        }
    }
}

/// Cuts the bot's socket and keeps it out until `refuse_sockets(false)`.
fn cut(fake: &FakeMattermost) {
    fake.refuse_sockets(true);
    fake.drop_sockets();
}

#[tokio::test]
async fn old_posts_touched_during_a_gap_are_not_commands_and_one_typed_then_runs_once() {
    // Old posts reacted to, edited and replied to, and a post deleted, all
    // during the gap, come back from the catch-up; only the command typed
    // then (and still standing) runs.
    let (fake, sim) = world(5).await;
    let reacted = fake.user_post_written(CHANNEL, None, "@mosaic-bot fix acme/web#41", TWO_DAYS);
    let edited = fake.user_post_written(CHANNEL, None, "@mosaic-bot fix acme/web#40", TWO_DAYS);
    let replied = fake.user_post_written(CHANNEL, None, "@mosaic-bot fix acme/web#39", TWO_DAYS);
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;

    cut(&fake);
    fake.user_react(&reacted, "+1");
    fake.user_edit(&edited, "@mosaic-bot fix acme/web#38");
    fake.user_post(CHANNEL, Some(&replied), "did this ever get fixed?");
    let typed = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    // Typed and deleted during the gap: the catch-up returns it, deleted.
    let deleted = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#45");
    fake.user_delete(&deleted);
    fake.refuse_sockets(false);

    fake.expect("✅ on the command typed during the gap", |s| {
        is_reaction(s, &typed, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    assert!(fake.authenticated() >= 2, "the bot reconnected");
    assert_eq!(
        jobs(&sim),
        [42],
        "only the command typed during the gap ran"
    );
    let sent = fake.sent();
    reacted_only_to(&sent, &[&typed]);
    assert_one_relayed_job(&sent, &typed);
}

#[tokio::test]
async fn a_command_typed_while_the_bot_was_stopped_runs_once_after_start_if_recent() {
    let (fake, sim) = world(5).await;
    let dir = tempfile::tempdir().expect("a directory");
    let store = format!("sqlite://{}", dir.path().join("mosaic.db").display());
    // Written 20 minutes ago, outside the window, though touched since.
    let stale = fake.user_post_written(
        CHANNEL,
        None,
        "@mosaic-bot fix acme/web#41",
        Duration::from_secs(20 * 60),
    );
    fake.user_react(&stale, "+1");
    // Written two minutes ago, while the bot was stopped.
    let recent = fake.user_post_written(
        CHANNEL,
        None,
        "@mosaic-bot fix acme/web#42",
        Duration::from_secs(120),
    );
    let bot = start_stored(&fake, &sim, &store);
    fake.expect("✅ on the recent command", |s| {
        is_reaction(s, &recent, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    let first_run = fake.sent();
    reacted_only_to(&first_run, &[&recent]);
    assert_one_relayed_job(&first_run, &recent);
    assert_eq!(jobs(&sim), [42]);

    // While stopped again, both are touched; a restart reads them back and
    // runs neither.
    fake.user_react(&recent, "tada");
    fake.user_react(&stale, "tada");
    let asked_before = fake.requests().len();
    let restarted = std::time::SystemTime::now();
    let bot = start_stored(&fake, &sim, &store);
    fake.wait_authenticated(2).await;
    // Read after the catch-up, in the same channel: its answer comes after.
    let help = fake.user_post(CHANNEL, None, "@mosaic-bot help fix");
    fake.expect(
        "the help",
        |s| matches!(s, Sent::Post { root_id, .. } if *root_id == help),
    )
    .await;
    bot.stop().await.expect("a clean stop");
    let second_run = fake.sent()[first_run.len()..].to_vec();
    assert!(
        is_reaction(&second_run[0], &help, "eyes"),
        "{second_run:#?}"
    );
    assert_eq!(
        second_run.len(),
        2,
        "the help and its 👀, nothing else: {second_run:#?}"
    );
    assert_eq!(jobs(&sim), [42], "no job ran twice");
    // It resumed where the first run stopped reading (kept in the store),
    // not from the start of the window.
    let window_start = restarted - Duration::from_secs(600);
    let since: Vec<u64> = fake.requests()[asked_before..]
        .iter()
        .filter(|r| r.path.ends_with("/posts") && r.method == "GET")
        .filter_map(|r| r.query.iter().find(|(k, _)| k == "since")?.1.parse().ok())
        .collect();
    assert!(!since.is_empty(), "the restart caught up");
    for since in since {
        let since = std::time::UNIX_EPOCH + Duration::from_millis(since);
        assert!(
            since > window_start + Duration::from_secs(60),
            "caught up from {since:?}, the window starts at {window_start:?}"
        );
    }
}

#[tokio::test]
async fn an_edit_never_reruns_a_command_but_a_fixed_typo_is_read_again() {
    let (fake, sim) = world(5).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    let fix = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    fake.expect("✅ on the fix", |s| {
        is_reaction(s, &fix, "white_check_mark")
    })
    .await;
    // Edited live (`post_edited`): the command ran, it does not run again.
    fake.user_edit(&fix, "@mosaic-bot fix acme/web#43");
    let typo = fake.user_post(CHANNEL, None, "@mosaic-bot fxi acme/web#44");
    fake.expect(
        "the parse error",
        |s| matches!(s, Sent::Post { root_id, message, .. } if *root_id == typo && message.contains("fxi")),
    )
    .await;
    // The typo is fixed while the socket is away: the catch-up returns the
    // edited post (`edit_at` set) and its pre-edit copy (deleted).
    cut(&fake);
    fake.user_edit(&typo, "@mosaic-bot fix acme/web#44");
    fake.refuse_sockets(false);
    fake.expect("✅ on the fixed typo", |s| {
        is_reaction(s, &typo, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(jobs(&sim), [42, 44], "the edit of the fix ran nothing");
    let sent = fake.sent();
    reacted_only_to(&sent, &[&fix, &typo]);
    let errors = posts(&sent)
        .iter()
        .filter(|(_, _, m)| m.contains("fxi"))
        .count();
    assert_eq!(errors, 1, "the pre-edit copy is not read: {sent:#?}");
}
