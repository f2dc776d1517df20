//! The adapter held to what Discord does that is easy to get wrong: slash
//! commands typed in threads, refused threads and missing permissions,
//! event order under serenity's task per event, command names.

mod common;
mod fake;

use common::*;
use fake::*;
use mosaic_chat::{ChatError, ChatPlatform, Reaction};

fn top_level_posts(calls: &[Call], channel: u64) -> Vec<String> {
    let path = format!("/channels/{channel}/messages");
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .map(|c| c.body["content"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_slash_command_in_a_thread_names_the_thread_and_its_parent() {
    let mut c = connect().await;
    let root = c.fake.say(CHANNEL, "a message someone threads");
    let thread = c.fake.thread_on(CHANNEL, root);
    c.fake.slash(thread, "status", None);
    let inbound = next(&mut c.inbox).await;
    assert_eq!(inbound.channel, CHANNEL.to_string());
    assert_eq!(inbound.thread, Some(thread.to_string()));
    // The job of the thread is answered in the thread, with no thread made.
    c.discord
        .post(&inbound.reply_thread(), "in the thread")
        .await
        .expect("posted");
    let calls = c.finish().await;
    assert!(
        calls
            .iter()
            .any(|c| c.method == "POST" && c.path == format!("/channels/{thread}/messages")),
        "{calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.path.ends_with("/threads")),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn refused_thread_creation_falls_back_to_the_channel_and_says_which_permission() {
    let mut c = connect().await;
    c.fake.deny(CHANNEL, perm::CREATE_PUBLIC_THREADS);
    let first = c.fake.say(CHANNEL, &format!("<@{BOT_ID}> fix #1"));
    let second = c.fake.say(CHANNEL, &format!("<@{BOT_ID}> fix #2"));
    for id in [first, second] {
        let inbound = next(&mut c.inbox).await;
        assert_eq!(inbound.message_id, id.to_string());
        let thread = inbound.reply_thread();
        let card = c
            .discord
            .post(&thread, "card")
            .await
            .expect("posted in the channel");
        c.discord
            .edit(&thread, &card, "card, edited")
            .await
            .expect("edited in the channel");
    }
    let calls = c.finish().await;
    let posts = top_level_posts(&calls, CHANNEL);
    let notices: Vec<&String> = posts
        .iter()
        .filter(|p| p.contains("Create Public Threads"))
        .collect();
    assert_eq!(notices.len(), 1, "told once for the channel: {posts:#?}");
    assert_eq!(
        posts.iter().filter(|p| *p == "card").count(),
        2,
        "{posts:#?}"
    );
    // Every card was edited where it stands: no 404 from the fake.
    let edits = calls.iter().filter(|c| c.method == "PATCH").count();
    assert_eq!(edits, 2, "{calls:#?}");
    // The replies in the channel answer their command message.
    for call in calls
        .iter()
        .filter(|c| c.method == "POST" && c.body["content"] == "card")
    {
        assert!(
            call.body["message_reference"]["message_id"].is_string(),
            "{call:#?}"
        );
    }
}

#[tokio::test]
async fn a_missing_permission_is_told_in_the_channel_once_per_channel_and_permission() {
    let mut c = connect().await;
    c.fake.deny(CHANNEL, perm::ADD_REACTIONS);
    c.fake.deny(OTHER_CHANNEL, perm::ADD_REACTIONS);
    let mut seen = Vec::new();
    for channel in [CHANNEL, CHANNEL, OTHER_CHANNEL] {
        c.fake.say(channel, &format!("<@{BOT_ID}> help"));
        seen.push(next(&mut c.inbox).await);
    }
    for inbound in &seen {
        let refused = c
            .discord
            .react(&inbound.channel, &inbound.message_id, Reaction::Seen)
            .await;
        assert!(
            matches!(refused, Err(ChatError::Forbidden(_))),
            "{refused:?}"
        );
    }
    let calls = c.finish().await;
    for channel in [CHANNEL, OTHER_CHANNEL] {
        let posts = top_level_posts(&calls, channel);
        assert_eq!(posts.len(), 1, "one notice in {channel}: {posts:#?}");
        assert!(posts[0].contains("Add Reactions"), "{posts:#?}");
    }
}

// Serenity runs on a multi-threaded runtime in the daemon: so here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_a_channel_reach_the_inbox_in_the_order_they_were_sent() {
    let mut c = connect().await;
    // A thread nobody has asked about: the first message's handler looks
    // its channel up over REST while the next ones' handlers run.
    let root = c.fake.say(CHANNEL, "a message someone threads");
    let thread = c.fake.thread_on(CHANNEL, root);
    let sent: Vec<u64> = (0..30)
        .map(|i| {
            let channel = if i % 2 == 0 { thread } else { CHANNEL };
            c.fake.say(channel, &format!("<@{BOT_ID}> status #{i}"))
        })
        .collect();
    let mut got = Vec::new();
    for _ in &sent {
        got.push(next(&mut c.inbox).await);
    }
    for channel in [thread, CHANNEL] {
        let here = |id: &u64| {
            let index = sent.iter().position(|s| s == id).unwrap_or(usize::MAX);
            (index % 2 == 0) == (channel == thread)
        };
        let wanted: Vec<String> = sent
            .iter()
            .filter(|id| here(id))
            .map(u64::to_string)
            .collect();
        let order: Vec<String> = got
            .iter()
            .map(|i| i.message_id.clone())
            .filter(|id| id.parse().is_ok_and(|id: u64| here(&id)))
            .collect();
        assert_eq!(order, wanted, "order in channel {channel}");
    }
    c.finish().await;
}

// Serenity runs on a multi-threaded runtime in the daemon: so here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_managed_role_is_learnt_from_the_guild_that_follows_ready() {
    // The fake sends GUILD_CREATE right after READY, as Discord does; each
    // reaches a handler task of its own.
    for _ in 0..5 {
        let mut c = connect().await;
        let id = c.fake.say(CHANNEL, &format!("<@&{MANAGED_ROLE}> help"));
        let inbound = next(&mut c.inbox).await;
        assert_eq!(
            (inbound.message_id, inbound.text),
            (id.to_string(), "@mosaic help".to_owned())
        );
        c.finish().await;
    }
}

#[tokio::test]
async fn the_command_is_registered_lowercase_and_answers_to_it() {
    let fake = FakeDiscord::start().await;
    let mut c = start_with(options(&fake, "Mosaic"), fake);
    c.fake.wait_sessions(1, 0).await;
    c.fake.wait_caught_up(1).await;
    c.fake.slash(CHANNEL, "help", None);
    let inbound = next(&mut c.inbox).await;
    assert!(inbound.slash);
    let calls = c.finish().await;
    let registered = calls
        .iter()
        .find(|c| c.path.ends_with("/commands"))
        .expect("registered");
    assert_eq!(registered.body[0]["name"], "mosaic");
}
