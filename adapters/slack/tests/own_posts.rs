//! Relay posts carrying their mark as message `metadata`, and the bot's own posts read
//! back from a thread (`conversations.replies`), against the fake Slack: the mark reads
//! back, other people's messages and unmarked posts are told apart, `after` is exclusive,
//! every page is followed, and metadata comes back only because the adapter asks for it.

mod fake;
mod support;

use std::time::Duration;

use fake::conformance::assert_conforms;
use fake::{BOB, CHANNEL, FakeSlack, Sent};
use mosaic_chat::marks::MAX_OWN_POSTS;
use mosaic_chat::{ChatError, ChatPlatform, OwnPost, PostMark, ThreadRef};
use mosaic_slack::{PLATFORM, Slack};
use serde_json::{Value, json};
use support::options;

fn slack(fake: &FakeSlack) -> Slack {
    Slack::new(options(fake, false, false)).expect("the adapter builds")
}

fn thread_of(root: &str) -> ThreadRef {
    ThreadRef {
        platform: PLATFORM,
        channel: CHANNEL.into(),
        thread: root.into(),
    }
}

fn mark(first_seq: u64, last_seq: u64) -> PostMark {
    PostMark {
        job_id: "job-7".into(),
        first_seq,
        last_seq,
        page: 0,
        pages: 1,
    }
}

fn own(id: &str, text: &str, mark: Option<PostMark>) -> OwnPost {
    OwnPost {
        id: id.into(),
        text: text.into(),
        mark,
    }
}

/// Posts "step {seq}" marked as showing event `seq` alone; the post as it should read back.
async fn post_step(slack: &Slack, thread: &ThreadRef, seq: u64) -> OwnPost {
    let text = format!("step {seq}");
    let id = slack
        .post_marked(thread, &text, &mark(seq, seq))
        .await
        .expect("posted");
    own(&id, &text, Some(mark(seq, seq)))
}

/// A fake Slack, the adapter on it, and the thread of Alice's mention.
async fn in_a_thread() -> (FakeSlack, Slack, String, ThreadRef) {
    let fake = FakeSlack::start().await;
    let slack = slack(&fake);
    let root = fake.mention(None, "<@UBOT0001> fix #1");
    let thread = thread_of(&root);
    (fake, slack, root, thread)
}

/// The ids of what the bot posted, in order: proves it posted nothing else.
fn posted(fake: &FakeSlack) -> Vec<String> {
    fake.sent()
        .into_iter()
        .map(|s| match s {
            Sent::Post { ts, .. } => ts,
            other => panic!("the bot only posts here: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_marked_post_is_posted_like_any_post_and_its_mark_reads_back() {
    let (fake, slack, root, thread) = in_a_thread().await;

    let id = slack
        .post_marked(&thread, "step 1 to 3", &mark(1, 3))
        .await
        .expect("posted");
    assert_eq!(
        fake.metadata_of(&id),
        Some(
            json!({"event_type": "mosaic_relay_post", "event_payload": {"mark": "mosaic:v1:1-3:0/1:job-7"}})
        ),
        "Slack keeps the mark with the message"
    );
    let posts = slack.own_posts_after(&thread, &root).await.expect("read");
    assert_eq!(posts, Some(vec![own(&id, "step 1 to 3", Some(mark(1, 3)))]));

    // Where and how `post` puts a message: in the thread, links not unfurled.
    let calls = fake.calls();
    let post = calls
        .iter()
        .find(|c| c.method == "chat.postMessage")
        .expect("a post");
    assert_eq!(post.args["thread_ts"], json!(root));
    assert_eq!(
        (&post.args["unfurl_links"], &post.args["unfurl_media"]),
        (&json!(false), &json!(false))
    );
    let read = calls
        .iter()
        .find(|c| c.method == "conversations.replies")
        .expect("a read");
    // Without it, Slack leaves every message's metadata out.
    assert_eq!(read.args["include_all_metadata"], json!("true"));
    assert_eq!(
        (
            &read.args["ts"],
            &read.args["oldest"],
            &read.args["inclusive"]
        ),
        (&json!(root), &json!(root), &json!("false"))
    );
    assert_conforms(&calls);
    assert_eq!(posted(&fake), vec![id]);
}

#[tokio::test]
async fn only_the_bots_own_posts_after_the_given_one_are_read_back_marked_or_not() {
    let (fake, slack, root, thread) = in_a_thread().await;
    let card = slack.post(&thread, "the card").await.expect("posted");
    let marked = slack
        .post_marked(&thread, "steps 1 and 2", &mark(1, 2))
        .await
        .expect("posted");
    fake.write_in_thread(BOB, None, &root, "looks good", None);
    // Another app, with our event type and a mark, and a number in its payload (which
    // slack-morphism's message model, strings only, cannot read).
    let foreign = json!({"event_type": "mosaic_relay_post",
        "event_payload": {"mark": "mosaic:v1:3-4:0/1:job-7", "build": 7}});
    fake.write_in_thread(
        "U0OTHER01",
        Some("B0OTHER1"),
        &root,
        "deployed",
        Some(foreign),
    );
    let plain = slack.post(&thread, "a plain reply").await.expect("posted");

    assert_eq!(
        fake.metadata_of(&card),
        None,
        "only marked posts carry metadata"
    );
    let posts = slack.own_posts_after(&thread, &card).await.expect("read");
    assert_eq!(
        posts,
        Some(vec![
            own(&marked, "steps 1 and 2", Some(mark(1, 2))),
            own(&plain, "a plain reply", None),
        ])
    );
    assert_conforms(&fake.calls());
    assert_eq!(posted(&fake), vec![card, marked, plain]);
}

#[tokio::test]
async fn after_is_exclusive_and_the_bots_own_thread_root_is_never_after_it() {
    let fake = FakeSlack::start().await;
    let slack = slack(&fake);
    // A slash command's thread: rooted at the bot's own message, which Slack returns
    // first on every first page, whatever `oldest` says.
    let thread = slack
        .start_thread(CHANNEL, "fixing #1")
        .await
        .expect("started");
    let mut ids = Vec::new();
    for seq in 1..=3 {
        ids.push(post_step(&slack, &thread, seq).await);
    }

    let after_first = slack.own_posts_after(&thread, &ids[0].id).await;
    assert_eq!(after_first, Ok(Some(ids[1..].to_vec())));
    let after_root = slack.own_posts_after(&thread, &thread.thread).await;
    assert_eq!(after_root, Ok(Some(ids.clone())));
    let after_last = slack.own_posts_after(&thread, &ids[2].id).await;
    assert_eq!(after_last, Ok(Some(Vec::new())));

    assert_conforms(&fake.calls());
    let mut all = vec![thread.thread.clone()];
    all.extend(ids.iter().map(|p| p.id.clone()));
    assert_eq!(posted(&fake), all);
}

#[tokio::test]
async fn every_page_is_followed_up_to_the_most_posts_a_read_returns() {
    let (fake, slack, root, thread) = in_a_thread().await;
    // As Slack answers some apps: 15 messages a page, whatever the `limit`.
    fake.replies_page_max(15);
    let mut ids = Vec::new();
    for seq in 1..=(MAX_OWN_POSTS as u64 + 5) {
        ids.push(post_step(&slack, &thread, seq).await);
        if seq % 5 == 0 {
            fake.write_in_thread(BOB, None, &root, "still going?", None);
        }
    }

    let posts = slack.own_posts_after(&thread, &root).await;
    assert_eq!(posts, Ok(Some(ids[..MAX_OWN_POSTS].to_vec())));
    let reads: Vec<Value> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "conversations.replies")
        .map(|c| c.args)
        .collect();
    // The 100th post is the 119th reply (Bob wrote 19 before it): the root and 14
    // replies on the first page, then 15 a page, and no page read after it.
    assert_eq!(reads.len(), 8, "{reads:#?}");
    assert!(reads[0].get("cursor").is_none());
    assert!(reads[1..].iter().all(|r| r["cursor"].is_string()));
    assert_conforms(&fake.calls());
    assert_eq!(posted(&fake).len(), MAX_OWN_POSTS + 5);
}

#[tokio::test]
async fn a_read_that_is_rate_limited_says_how_long_to_wait_and_a_lost_thread_is_not_found() {
    let (fake, slack, _root, thread) = in_a_thread().await;
    let id = slack.post(&thread, "the card").await.expect("posted");

    fake.rate_limit_reads_next(1);
    assert_eq!(
        slack.own_posts_after(&thread, &id).await,
        Err(ChatError::RateLimited {
            retry_after: Duration::from_secs(3)
        })
    );
    assert_eq!(slack.own_posts_after(&thread, &id).await, Ok(Some(vec![])));
    let gone = thread_of("1700000000.000001");
    assert!(matches!(
        slack.own_posts_after(&gone, &id).await,
        Err(ChatError::NotFound(_))
    ));
    assert_eq!(fake.rate_limited(), 1);
    assert_eq!(posted(&fake), vec![id]);
}
