//! Threads as Discord has them: slash commands typed inside threads, threads
//! Discord refuses to make, threads made without a message (forum posts,
//! "Create Thread"), and all of it after a restart.

use std::time::Duration;

use crate::fake::*;
use crate::harness::*;

fn threads_made(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| c.path.ends_with("/threads"))
        .count()
}

#[tokio::test]
async fn slash_commands_in_a_thread_act_on_its_job_and_fix_answers_there() {
    let world = World::start().await;
    // A job of a mention, in the thread made on it.
    let first = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#60"));
    let done = format!("/channels/{CHANNEL}/messages/{first}{CHECK}");
    world
        .fake
        .expect("the first job's ✅", 0, |c| c.path == done)
        .await;
    let status = world.fake.slash(first, "status", None);
    let answer = format!("/webhooks/{APP_ID}/tok{status}/messages/@original");
    let (_, reply) = world
        .fake
        .expect("the status", 0, |c| c.path == answer)
        .await;
    assert!(
        content(&reply).contains("COMPLETED") && content(&reply).contains("acme/web/issues/60"),
        "the thread's job: {reply:#?}"
    );
    assert!(
        !content(&reply).contains("no job in this thread"),
        "{reply:#?}"
    );

    // `/mosaic fix` typed in a thread a person made without a message.
    let thread = world.fake.thread_without_message(CHANNEL);
    let from = world.fake.calls().len();
    world
        .fake
        .slash(thread, "fix", Some(("issue", "acme/web#61")));
    world
        .fake
        .expect("the outcome in that thread", from, |c| {
            c.path == format!("/channels/{thread}/messages") && content(c).contains("✅ **Done**")
        })
        .await;
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    assert_eq!(threads_made(&calls), 1, "only the mention's thread");
    let top: Vec<&Call> = posts_in(&calls, CHANNEL);
    assert!(top.is_empty(), "nothing at the channel's top: {top:#?}");
    assert_milestones_once(&calls, thread);
    assert_milestones_once(&calls, first);
}

#[tokio::test]
async fn a_refused_thread_makes_the_job_answer_in_the_channel_and_says_why() {
    let world = World::start().await;
    world.fake.deny(CHANNEL, perm::CREATE_PUBLIC_THREADS);
    let id = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#62"));
    let done = format!("/channels/{CHANNEL}/messages/{id}{CHECK}");
    world.fake.expect("the ✅", 0, |c| c.path == done).await;
    let second = world
        .fake
        .say(CHANNEL, &format!("<@{BOT_ID}> fix acme/web#63"));
    let done = format!("/channels/{CHANNEL}/messages/{second}{CHECK}");
    world
        .fake
        .expect("the second ✅", 0, |c| c.path == done)
        .await;
    let jobs = world.jobs_created();
    let calls = world.finish().await;

    assert_eq!(jobs, 2);
    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    // Known from the channel's overwrites before the job started.
    assert_eq!(threads_made(&calls), 0, "no refused request: {calls:#?}");
    let posts = posts_in(&calls, CHANNEL);
    let notices = posts
        .iter()
        .filter(|c| content(c).contains("**Create Public Threads**"))
        .count();
    assert_eq!(notices, 1, "told once: {posts:#?}");
    // Card, milestones and outcome of each job, as replies to its command.
    for command in [id, second] {
        let replies: Vec<&&Call> = posts
            .iter()
            .filter(|c| {
                c.body["message_reference"]["message_id"].as_str()
                    == Some(command.to_string().as_str())
            })
            .collect();
        let outcome = replies
            .iter()
            .filter(|c| content(c).contains("✅ **Done**"))
            .count();
        assert_eq!(outcome, 1, "{replies:#?}");
    }
    let edits = calls
        .iter()
        .filter(|c| c.method == "PATCH" && c.path.starts_with(&format!("/channels/{CHANNEL}/")))
        .count();
    assert!(
        edits >= 2,
        "the cards are edited in the channel: {calls:#?}"
    );
}

#[tokio::test]
async fn a_slash_fix_is_checked_against_the_bots_permissions_before_the_job_starts() {
    let world = World::start().await;
    world.fake.deny(CHANNEL, perm::CREATE_PUBLIC_THREADS);
    world.fake.deny(OTHER_CHANNEL, perm::SEND_MESSAGES);
    let refused = world
        .fake
        .slash(OTHER_CHANNEL, "fix", Some(("issue", "acme/web#64")));
    let answer = format!("/webhooks/{APP_ID}/tok{refused}/messages/@original");
    let (_, reply) = world
        .fake
        .expect("the refusal", 0, |c| c.path == answer)
        .await;
    assert!(content(&reply).contains("Send Messages"), "{reply:#?}");
    assert_eq!(
        world.jobs_created(),
        0,
        "no job where the bot cannot answer"
    );

    let from = world.fake.calls().len();
    world
        .fake
        .slash(CHANNEL, "fix", Some(("issue", "acme/web#65")));
    world
        .fake
        .expect("the outcome in the channel", from, |c| {
            c.method == "POST"
                && c.path == format!("/channels/{CHANNEL}/messages")
                && content(c).contains("✅ **Done**")
        })
        .await;
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_eq!(threads_made(&calls), 0, "known to be refused: not tried");
    assert!(
        posts_in(&calls, OTHER_CHANNEL).is_empty(),
        "nothing posted where it is refused"
    );
    let notices = posts_in(&calls, CHANNEL)
        .into_iter()
        .filter(|c| content(c).contains("**Create Public Threads**"))
        .count();
    assert_eq!(notices, 1);
}

#[tokio::test]
async fn after_a_restart_a_job_keeps_its_thread_made_without_a_message_and_its_reactions() {
    let world = World::start_with_tick("", Duration::from_millis(40)).await;
    let thread = world.fake.thread_without_message(CHANNEL);
    let command = world
        .fake
        .say(thread, &format!("<@{BOT_ID}> fix acme/web#66"));
    world
        .fake
        .expect("the card", 0, |c| {
            c.method == "POST" && c.path == format!("/channels/{thread}/messages")
        })
        .await;
    let world = world.restart(|_| {}).await;
    let done = format!("/channels/{thread}/messages/{command}{CHECK}");
    world
        .fake
        .expect("the ✅ in the thread", 0, |c| c.path == done)
        .await;
    let calls = world.finish().await;

    assert_only_expected(&calls);
    assert_messages_safe(&calls);
    assert_eq!(threads_made(&calls), 0, "{calls:#?}");
    let misplaced: Vec<&Call> = calls
        .iter()
        .filter(|c| {
            c.path.contains("/reactions/") && !c.path.starts_with(&format!("/channels/{thread}/"))
        })
        .collect();
    assert!(misplaced.is_empty(), "{misplaced:#?}");
    assert_milestones_once(&calls, thread);
}
