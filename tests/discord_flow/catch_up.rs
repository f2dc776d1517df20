//! Messages written while the bot was not listening (stopped, or between two
//! gateway sessions) and edits: Discord holds them, the bot reads them back
//! on start and after every new session, and the core decides what is acted
//! on (written within the catch-up window, once; an edit of a command that
//! ran never runs again, an edit of a typo is read again).

use std::time::{Duration, SystemTime};

use crate::fake::*;
use crate::harness::*;

#[tokio::test]
async fn a_command_typed_while_the_bot_was_stopped_is_acted_on_once_after_start() {
    let world = World::start().await;
    let mut typed = 0;
    let world = world
        .restart(|fake| typed = fake.say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#70")))
        .await;
    let done = format!("/channels/{CHANNEL}/messages/{typed}{CHECK}");
    world.fake.expect("the ✅", 0, |c| c.path == done).await;
    // Another restart reads from the newest message seen: nothing again.
    let world = world.restart(|_| {}).await;
    world.fake.wait_caught_up(3).await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(jobs, 1);
    assert_only_expected(&calls);
    let eyes = format!("/channels/{CHANNEL}/messages/{typed}{EYES}");
    assert_eq!(
        reactions_on(&calls, CHANNEL, typed),
        [eyes.as_str(), done.as_str()]
    );
    assert_milestones_once(&calls, typed);
    // Each catch-up asked from no earlier than the window's start.
    let floor = snowflake_at(SystemTime::now() - Duration::from_secs(600) - PATIENCE);
    for read in calls
        .iter()
        .filter(|c| c.method == "GET" && c.path.ends_with("/messages"))
    {
        let after: u64 = read
            .query
            .split('&')
            .find_map(|kv| kv.strip_prefix("after="))
            .and_then(|v| v.parse().ok())
            .expect("an `after`");
        assert!(after >= floor, "{read:#?}");
    }
}

#[tokio::test]
async fn a_command_typed_before_the_window_is_not_acted_on() {
    let world = World::start().await;
    let mut old = 0;
    let world = world
        .restart(|fake| {
            old = fake.typed_offline(
                CHANNEL,
                &format!("<@{BOT_ID}> fix acme/web#71"),
                SystemTime::now() - Duration::from_secs(700),
            );
        })
        .await;
    world.fake.wait_caught_up(2).await;
    // A command after it, in the same channel, is handled after it would be.
    let help = world.fake.say(CHANNEL, &format!("<@{BOT_ID}> help"));
    world
        .fake
        .expect("the help", 0, |c| {
            c.method == "POST" && c.path == format!("/channels/{help}/messages")
        })
        .await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(jobs, 0);
    assert!(reactions_on(&calls, CHANNEL, old).is_empty(), "{calls:#?}");
    assert_only_expected(&calls);
}

#[tokio::test]
async fn a_command_typed_between_two_sessions_is_acted_on_once() {
    let world = World::start().await;
    world.fake.expire_session();
    world.fake.reconnect();
    // Not replayed: the session it was dispatched in is gone.
    let typed = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#72"));
    world.fake.wait_sessions(2, 0).await;
    let done = format!("/channels/{CHANNEL}/messages/{typed}{CHECK}");
    world.fake.expect("the ✅", 0, |c| c.path == done).await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(jobs, 1);
    let eyes = format!("/channels/{CHANNEL}/messages/{typed}{EYES}");
    assert_eq!(
        reactions_on(&calls, CHANNEL, typed),
        [eyes.as_str(), done.as_str()]
    );
    assert_only_expected(&calls);
    assert_milestones_once(&calls, typed);
}

#[tokio::test]
async fn an_edit_never_runs_a_command_again_but_a_fixed_typo_is_read() {
    let world = World::start().await;
    let ran = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#73"));
    let done = format!("/channels/{CHANNEL}/messages/{ran}{CHECK}");
    world.fake.expect("the ✅", 0, |c| c.path == done).await;
    world
        .fake
        .edit(ran, &format!("<@{BOT_ID}> fix acme/web#74"));

    let typo = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fxi acme/web#75"));
    world
        .fake
        .expect("the typo's answer", 0, |c| {
            c.method == "POST" && c.path == format!("/channels/{typo}/messages")
        })
        .await;
    world
        .fake
        .edit(typo, &format!("<@{BOT_ID}> fix acme/web#75"));
    let fixed = format!("/channels/{CHANNEL}/messages/{typo}{CHECK}");
    world
        .fake
        .expect("the fixed command's ✅", 0, |c| c.path == fixed)
        .await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(
        jobs, 2,
        "#73 once, and #75 after its typo was fixed; never #74"
    );
    let eyes = format!("/channels/{CHANNEL}/messages/{ran}{EYES}");
    assert_eq!(
        reactions_on(&calls, CHANNEL, ran),
        [eyes.as_str(), done.as_str()]
    );
    assert_only_expected(&calls);
    assert_milestones_once(&calls, ran);
}
