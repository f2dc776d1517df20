//! Exactly once on Discord: a relay post whose answer was lost is sent again and lands once
//! (its nonce, enforced); a daemon that dies between a relay post and its record is
//! restarted, reads its own posts back, and shows every milestone once.

use super::daemon_on::Served;
use super::fake::*;
use super::harness::*;

#[tokio::test]
async fn a_relay_post_whose_answer_was_lost_is_sent_again_and_shown_once() {
    let world = World::start().await;
    // The first relay post (it carries a nonce; the card does not) is made, and its answer lost.
    world
        .fake
        .lose_next_answer_carrying("POST", "/messages", "nonce");
    let id = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#46"));
    let done = format!("/channels/{CHANNEL}/messages/{id}{CHECK}");
    world.fake.expect("the ✅", 0, |c| c.path == done).await;
    let fake = world.fake.clone();
    let calls = world.finish().await;
    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    // One nonce was sent twice (the retry), and Discord holds one message for it.
    let nonces: Vec<&str> = posts_in(&calls, id)
        .iter()
        .filter_map(|c| c.body["nonce"].as_str())
        .collect();
    let mut unique = nonces.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        nonces.len(),
        unique.len() + 1,
        "one post sent again: {nonces:?}"
    );
    assert_eq!(fake.messages_in(id).len(), posts_in(&calls, id).len() - 1);
    assert_thread_shows_milestones_once(&fake, id);
}

/// The daemon as a process of its own on the store at `store`, against `sim` and `fake`,
/// with `extra` in its environment.
fn serve(sim: &mosaic_sim::Sim, fake: &FakeDiscord, store: &str, extra: &[(&str, &str)]) -> Served {
    let (api, gateway) = (fake.url(), fake.gateway_url());
    let (app, guild) = (APP_ID.to_string(), GUILD_ID.to_string());
    let mut env = vec![
        ("MOSAIC__DISCORD__TOKEN", "served-bot-token"),
        ("MOSAIC__DISCORD__APPLICATION_ID", app.as_str()),
        ("MOSAIC__DISCORD__GUILD_ID", guild.as_str()),
        ("MOSAIC__DISCORD__API_URL", api.as_str()),
        ("MOSAIC__DISCORD__GATEWAY_URL", gateway.as_str()),
        ("MOSAIC__STORE__URL", store),
    ];
    env.extend_from_slice(extra);
    Served::start(sim, &env)
}

#[tokio::test]
async fn a_daemon_dead_between_a_relay_post_and_its_record_shows_each_milestone_once() {
    // Slow enough that the job's events come in several batches.
    let sim = mosaic_sim::Sim::start(super::daemon_on::sim_config(150))
        .await
        .expect("the simulator starts");
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("a directory");
    let store = format!("sqlite://{}", dir.path().join("bot.db").display());
    let crashing = serve(
        &sim,
        &fake,
        &store,
        &[("MOSAIC_FAULT_ABORT_AFTER_RELAY_POSTS", "2")],
    );
    fake.wait_sessions(1, 0).await;
    fake.wait_caught_up(1).await;
    let id = fake.say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#46"));
    let (code, logs) = crashing.exited(PATIENCE).await;
    assert_eq!(code, Some(137), "the fault switch ended it: {logs}");
    // The card and two relay posts, the second never recorded.
    let before: Vec<String> = fake
        .messages_in(id)
        .iter()
        .map(|m| m["content"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(before.len(), 3, "{before:#?}");

    let from = fake.calls().len();
    let restarted = serve(&sim, &fake, &store, &[]);
    fake.wait_sessions(2, 0).await;
    let done = format!("/channels/{CHANNEL}/messages/{id}{CHECK}");
    fake.expect("the ✅", from, |c| c.path == done).await;
    let logs = restarted.kill().await;
    let calls = fake.calls();
    super::fake::openapi::assert_conforms(&calls);
    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    // The resumed relay read its posts back in the thread before posting.
    let read_back = format!("/channels/{id}/messages");
    assert!(
        calls[from..]
            .iter()
            .any(|c| c.method == "GET" && c.path == read_back),
        "{calls:#?}\n{logs}"
    );
    assert_thread_shows_milestones_once(&fake, id);
    let relayed_again: Vec<&str> = posts_in(&calls[from..], id)
        .iter()
        .map(|c| content(c))
        .filter(|text| before.iter().any(|b| b == text))
        .collect();
    assert!(relayed_again.is_empty(), "{relayed_again:#?}");
}
