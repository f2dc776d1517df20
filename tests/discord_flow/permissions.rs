//! The bot's permissions through the whole daemon: where it may not post no
//! job starts and the user gets ❌; a thread it may not make is known
//! before the job starts; a history it may not read is told once; an
//! admin's change to its role counts without a restart.

use crate::fake::*;
use crate::harness::*;

const CROSS: &str = "/reactions/%E2%9D%8C/@me";

#[tokio::test]
async fn a_mention_where_the_bot_may_not_post_starts_no_job_and_gets_a_cross() {
    let world = World::start().await;
    world.fake.deny(
        OTHER_CHANNEL,
        perm::SEND_MESSAGES | perm::CREATE_PUBLIC_THREADS,
    );
    let id = world
        .fake
        .say(OTHER_CHANNEL, &format!("<@{BOT_ID}> fix acme/web#80"));
    let cross = format!("/channels/{OTHER_CHANNEL}/messages/{id}{CROSS}");
    world.fake.expect("the ❌", 0, |c| c.path == cross).await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(jobs, 0, "no job where nobody would see it");
    let eyes = format!("/channels/{OTHER_CHANNEL}/messages/{id}{EYES}");
    assert_eq!(
        reactions_on(&calls, OTHER_CHANNEL, id),
        [eyes.as_str(), cross.as_str()]
    );
    assert!(posts_in(&calls, OTHER_CHANNEL).is_empty(), "{calls:#?}");
    assert!(
        !calls.iter().any(|c| c.path.ends_with("/threads")),
        "{calls:#?}"
    );
    assert_only_expected(&calls);
}

#[tokio::test]
async fn a_role_update_taking_a_permission_away_counts_without_a_restart() {
    let world = World::start().await;
    world.fake.set_role_permissions(
        MANAGED_ROLE,
        perm::INVITED & !(perm::SEND_MESSAGES | perm::CREATE_PUBLIC_THREADS),
    );
    let refused = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#81"));
    let cross = format!("/channels/{CHANNEL}/messages/{refused}{CROSS}");
    world.fake.expect("the ❌", 0, |c| c.path == cross).await;
    assert_eq!(world.jobs_created(), 0);

    world.fake.set_role_permissions(MANAGED_ROLE, perm::INVITED);
    let granted = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#81"));
    let done = format!("/channels/{CHANNEL}/messages/{granted}{CHECK}");
    world.fake.expect("the ✅", 0, |c| c.path == done).await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(jobs, 1);
    assert!(posts_in(&calls, CHANNEL).is_empty(), "{calls:#?}");
    assert_milestones_once(&calls, granted);
    assert_only_expected(&calls);
    assert_messages_safe(&calls);
}

#[tokio::test]
async fn a_history_the_bot_may_not_read_is_told_once_and_its_job_still_runs() {
    let world = World::start().await;
    world.fake.deny(CHANNEL, perm::READ_MESSAGE_HISTORY);
    let from = world.fake.calls().len();
    // The guild comes back after an outage, twice: two catch-ups.
    let notice = format!("/channels/{CHANNEL}/messages");
    let told = |c: &Call| {
        c.method == "POST" && c.path == notice && content(c).contains("**Read Message History**")
    };
    world.fake.guild_available_again();
    world.fake.expect("the notice", from, told).await;
    world.fake.guild_available_again();
    let other = format!("/channels/{OTHER_CHANNEL}/messages");
    let read = |c: &Call| c.method == "GET" && c.path == other;
    let (first, _) = world.fake.expect("a catch-up", from, read).await;
    world.fake.expect("another", first + 1, read).await;

    let id = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#82"));
    world
        .fake
        .expect("the outcome in the thread", from, |c| {
            c.path == format!("/channels/{id}/messages") && content(c).contains("✅ **Done**")
        })
        .await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(jobs, 1);
    let after: Vec<Call> = calls[from..].to_vec();
    assert_eq!(
        after.iter().filter(|c| told(c)).count(),
        1,
        "told once: {after:#?}"
    );
    assert!(
        !after.iter().any(|c| c.method == "GET" && c.path == notice),
        "its history is not read: it would come back empty"
    );
    assert!(
        reactions_on(&calls, CHANNEL, id).is_empty(),
        "reacting needs the history: not tried"
    );
    assert_milestones_once(&calls, id);
    assert_only_expected(&calls);
}

#[tokio::test]
async fn a_notice_is_not_repeated_after_a_restart_but_told_anew_once_granted_and_lost() {
    let world = World::start().await;
    let notice = format!("/channels/{CHANNEL}/messages");
    let told = |c: &Call| {
        c.method == "POST" && c.path == notice && content(c).contains("**Read Message History**")
    };
    let other = format!("/channels/{OTHER_CHANNEL}/messages");
    // A catch-up reads the channels in id order: once the other channel
    // is read, this one's turn has passed.
    let other_read = |c: &Call| c.method == "GET" && c.path == other;
    world.fake.deny(CHANNEL, perm::READ_MESSAGE_HISTORY);
    world.fake.guild_available_again();
    let (at, _) = world.fake.expect("the notice", 0, told).await;
    world
        .fake
        .expect("that catch-up's end", at, other_read)
        .await;

    let mark = world.fake.calls().len();
    let world = world.restart(|_| {}).await;
    let (read, _) = world
        .fake
        .expect("the catch-up after the restart", mark, other_read)
        .await;
    let calls = world.fake.calls();
    assert!(
        !calls[mark..read]
            .iter()
            .any(|c| told(c) || (c.method == "GET" && c.path == notice)),
        "known refused and told before the restart: neither read nor told: {calls:#?}"
    );

    // Granted again, and seen so by a catch-up.
    world.fake.overwrite(
        CHANNEL,
        Overwrite {
            id: BOT_ID,
            kind: 1,
            allow: 0,
            deny: 0,
        },
    );
    let mark = world.fake.calls().len();
    world.fake.guild_available_again();
    let (at, _) = world
        .fake
        .expect("its history read", mark, |c| {
            c.method == "GET" && c.path == notice
        })
        .await;
    world
        .fake
        .expect("that catch-up's end", at, other_read)
        .await;
    // Lost again: told again.
    world.fake.deny(CHANNEL, perm::READ_MESSAGE_HISTORY);
    let mark = world.fake.calls().len();
    world.fake.guild_available_again();
    world.fake.expect("the notice again", mark, told).await;
    let calls = world.finish().await;

    assert_eq!(calls.iter().filter(|c| told(c)).count(), 2, "{calls:#?}");
    assert_only_expected(&calls);
}
