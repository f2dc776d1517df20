//! The bot's permissions, computed from the guild the gateway describes,
//! against a fake that enforces them as Discord does: what is known to be
//! refused is not asked for, what cannot be done is said before a job
//! starts, and the guild's changes count at once.

mod common;
mod fake;

use std::time::Duration;

use common::*;
use fake::*;
use mosaic_chat::{ChatError, ChatPlatform, Reaction};

fn content(call: &Call) -> &str {
    call.body["content"].as_str().unwrap_or("")
}

/// Waits until the adapter's answer to "may it answer in `channel`?" is
/// `wanted`: an update event is handled in a task of its own.
async fn until_can_answer(c: &Connected, channel: u64, wanted: bool) {
    let channel = channel.to_string();
    let waited = tokio::time::timeout(PATIENCE, async {
        while c.discord.can_answer(&channel, None).await.is_ok() != wanted {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "may answer in {channel}: never {wanted}");
}

#[tokio::test]
async fn a_channel_where_the_bot_may_not_post_is_refused_before_anything_is_sent() {
    let mut c = connect().await;
    // Neither in the channel nor in a thread made on the command.
    c.fake.deny(
        OTHER_CHANNEL,
        perm::SEND_MESSAGES | perm::CREATE_PUBLIC_THREADS,
    );
    c.fake.say(OTHER_CHANNEL, &format!("<@{BOT_ID}> fix #1"));
    let inbound = next(&mut c.inbox).await;
    let refused = c.discord.can_answer(&inbound.channel, None).await;
    let Err(ChatError::Forbidden(why)) = refused else {
        panic!("refused: {refused:?}");
    };
    assert!(
        why.contains("Send Messages") && why.contains("Create Public Threads"),
        "{why}"
    );
    // A reply tried anyway is refused by the adapter, not by Discord.
    let posted = c.discord.post(&inbound.reply_thread(), "card").await;
    assert!(matches!(posted, Err(ChatError::Forbidden(_))), "{posted:?}");
    // It may still react, so the core can say no with ❌.
    c.discord
        .react(&inbound.channel, &inbound.message_id, Reaction::Failed)
        .await
        .expect("reacted");
    assert_eq!(
        c.discord.can_answer(&CHANNEL.to_string(), None).await,
        Ok(())
    );
    let calls = c.finish_but_catch_up().await;
    assert!(posts_to(&calls, OTHER_CHANNEL).is_empty(), "{calls:#?}");
    assert!(
        !calls.iter().any(|c| c.path.ends_with("/threads")),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn in_a_thread_it_is_send_messages_in_threads_that_counts() {
    let mut c = connect().await;
    let root = c.fake.say(CHANNEL, "a message someone threads");
    let thread = c.fake.thread_on(CHANNEL, root);
    // Nobody posts at the channel's top; threads stay open.
    c.fake.deny(CHANNEL, perm::SEND_MESSAGES);
    c.fake.say(thread, &format!("<@{BOT_ID}> fix #2"));
    let inbound = next(&mut c.inbox).await;
    assert_eq!(inbound.thread, Some(thread.to_string()));
    let here = (&inbound.channel, Some(thread.to_string()));
    assert_eq!(
        c.discord.can_answer(here.0, here.1.as_deref()).await,
        Ok(())
    );
    // A mention at the top still gets a thread of its own to answer in.
    assert_eq!(
        c.discord.can_answer(&CHANNEL.to_string(), None).await,
        Ok(())
    );
    c.discord
        .post(&inbound.reply_thread(), "card")
        .await
        .expect("posted in the thread");

    c.fake.deny(CHANNEL, perm::SEND_MESSAGES_IN_THREADS);
    let waited = tokio::time::timeout(PATIENCE, async {
        while c
            .discord
            .can_answer(here.0, here.1.as_deref())
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the overwrite's update counts");
    let refused = c.discord.can_answer(here.0, here.1.as_deref()).await;
    assert!(
        matches!(&refused, Err(ChatError::Forbidden(why)) if why.contains("Send Messages in Threads")),
        "{refused:?}"
    );
    let calls = c.finish_but_catch_up().await;
    assert_eq!(posts_to(&calls, thread).len(), 1, "{calls:#?}");
    assert!(
        posts_to(&calls, CHANNEL).is_empty(),
        "no notice where it may not post"
    );
}

#[tokio::test]
async fn a_thread_known_to_be_refused_is_not_asked_for_and_the_job_answers_in_the_channel() {
    let mut c = connect().await;
    c.fake.deny(CHANNEL, perm::CREATE_PUBLIC_THREADS);
    c.fake.say(CHANNEL, &format!("<@{BOT_ID}> fix #3"));
    let inbound = next(&mut c.inbox).await;
    assert_eq!(c.discord.can_answer(&inbound.channel, None).await, Ok(()));
    c.discord
        .post(&inbound.reply_thread(), "card")
        .await
        .expect("posted in the channel");
    let calls = c.finish_but_catch_up().await;
    assert!(
        !calls.iter().any(|c| c.path.ends_with("/threads")),
        "no refused thread creation reached Discord: {calls:#?}"
    );
    let posts = posts_to(&calls, CHANNEL);
    assert_eq!(posts.len(), 2, "the notice and the card: {posts:#?}");
    assert!(content(posts[0]).contains("**Create Public Threads**"));
    assert_eq!(
        posts[1].body["message_reference"]["message_id"],
        inbound.message_id.as_str()
    );
}

#[tokio::test]
async fn a_role_update_that_takes_a_permission_away_counts_at_once() {
    let c = connect().await;
    until_can_answer(&c, CHANNEL, true).await;
    c.fake.set_role_permissions(
        MANAGED_ROLE,
        perm::INVITED & !(perm::SEND_MESSAGES | perm::CREATE_PUBLIC_THREADS),
    );
    until_can_answer(&c, CHANNEL, false).await;
    c.fake.set_role_permissions(MANAGED_ROLE, perm::INVITED);
    until_can_answer(&c, CHANNEL, true).await;
    let calls = c.finish_but_catch_up().await;
    assert!(
        calls
            .iter()
            .all(|c| c.path.starts_with("/gateway") || c.path.ends_with("/commands")),
        "nothing was asked of Discord: {calls:#?}"
    );
}

#[tokio::test]
async fn a_timed_out_bot_may_not_answer_until_the_timeout_ends() {
    let c = connect().await;
    c.fake.time_out_bot(Some(
        std::time::SystemTime::now() + Duration::from_secs(600),
    ));
    until_can_answer(&c, CHANNEL, false).await;
    c.fake.time_out_bot(None);
    until_can_answer(&c, CHANNEL, true).await;
    c.finish().await;
}

#[tokio::test]
async fn missing_read_message_history_is_told_once_and_the_history_not_read() {
    let fake = FakeDiscord::start().await;
    // Set before the bot connects: its GUILD_CREATE carries the overwrite.
    fake.deny(
        CHANNEL,
        perm::READ_MESSAGE_HISTORY | perm::CREATE_PUBLIC_THREADS,
    );
    let mut c = start(fake);
    let notice = format!("/channels/{CHANNEL}/messages");
    c.fake
        .expect("the notice", 0, |call| {
            call.method == "POST"
                && call.path == notice
                && content(call).contains("Read Message History")
        })
        .await;
    // The guild comes back after an outage: the bot catches up again
    // (channels in id order: the other channel's read comes after this
    // one's turn), and nothing is told twice.
    c.fake.guild_available_again();
    let other = format!("/channels/{OTHER_CHANNEL}/messages");
    let read = |call: &Call| call.method == "GET" && call.path == other;
    let (first, _) = c.fake.expect("a catch-up", 0, read).await;
    c.fake.expect("a second catch-up", first + 1, read).await;
    let mention = c.fake.say(CHANNEL, &format!("<@{BOT_ID}> fix #4"));
    let inbound = next(&mut c.inbox).await;
    assert_eq!(inbound.message_id, mention.to_string());
    // Reacting needs the history too: refused without asking.
    let reacted = c
        .discord
        .react(&inbound.channel, &inbound.message_id, Reaction::Seen)
        .await;
    assert!(
        matches!(reacted, Err(ChatError::Forbidden(_))),
        "{reacted:?}"
    );
    // Answering in the channel: no reply reference, which needs it.
    c.discord
        .post(&inbound.reply_thread(), "card")
        .await
        .expect("posted");
    let calls = c.finish().await;
    assert!(
        !calls
            .iter()
            .any(|call| call.method == "GET" && call.path == notice),
        "no history read where it comes back empty: {calls:#?}"
    );
    assert!(
        !calls.iter().any(|call| call.path.contains("/reactions/")),
        "{calls:#?}"
    );
    let posts = posts_to(&calls, CHANNEL);
    let told: Vec<&str> = posts.iter().map(|p| content(p)).collect();
    assert_eq!(told.len(), 3, "two notices and the card: {told:#?}");
    assert!(told[0].contains("**Read Message History**"), "{told:#?}");
    assert!(told[1].contains("**Create Public Threads**"), "{told:#?}");
    assert_eq!(told[2], "card");
    assert!(
        posts[2].body["message_reference"].is_null(),
        "{:#?}",
        posts[2]
    );
}

#[tokio::test]
async fn a_channel_the_bot_may_not_view_is_left_alone() {
    let c = connect().await;
    c.fake.deny(OTHER_CHANNEL, perm::VIEW_CHANNEL);
    until_can_answer(&c, OTHER_CHANNEL, false).await;
    let refused = c.discord.can_answer(&OTHER_CHANNEL.to_string(), None).await;
    assert!(
        matches!(&refused, Err(ChatError::Forbidden(why)) if why.contains("View Channel")),
        "{refused:?}"
    );
    // Whatever else its roles grant counts for nothing there.
    let reacted = c
        .discord
        .react(&OTHER_CHANNEL.to_string(), "12345", Reaction::Seen)
        .await;
    assert!(
        matches!(reacted, Err(ChatError::Forbidden(_))),
        "{reacted:?}"
    );
    let calls = c.finish_but_catch_up().await;
    assert!(
        calls
            .iter()
            .all(|c| c.path.starts_with("/gateway") || c.path.ends_with("/commands")),
        "nothing asked, nothing told: {calls:#?}"
    );
}
