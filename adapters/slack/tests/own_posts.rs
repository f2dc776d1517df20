//! The bot's own posts read back with their marks (the port's `post_marked` and
//! `own_posts_after`), against the fake Slack: marks travel as message metadata, which Slack
//! returns only to a read that asks for it; only the bot's messages after the given one
//! count, page after page. Each test ends with every call held against Slack's description.

mod fake;
mod support;

use fake::{ALICE, CHANNEL, FakeSlack, conformance};
use mosaic_chat::{ChatError, ChatPlatform, OwnPost, PostMark, ThreadRef};
use mosaic_slack::Slack;
use serde_json::json;
use support::options;

fn mark(first: u64, last: u64, page: u32, pages: u32) -> PostMark {
    PostMark {
        job_id: "job-1".into(),
        first_seq: first,
        last_seq: last,
        page,
        pages,
    }
}

async fn slack_and_thread(fake: &FakeSlack) -> (Slack, ThreadRef) {
    let slack = Slack::new(options(fake, false, false)).expect("builds");
    let thread = slack
        .start_thread(CHANNEL, "the card")
        .await
        .expect("a thread");
    (slack, thread)
}

fn marks(posts: &[OwnPost]) -> Vec<Option<PostMark>> {
    posts.iter().map(|p| p.mark.clone()).collect()
}

#[tokio::test]
async fn marked_posts_read_back_with_their_marks_and_only_the_bots_after_the_one_given() {
    let fake = FakeSlack::start().await;
    let (slack, thread) = slack_and_thread(&fake).await;
    let first = slack
        .post_marked(&thread, "🚀 started", &mark(1, 1, 0, 1))
        .await
        .expect("posted");
    // Someone else's message, even one carrying a mark, is not the bot's.
    let forged = json!({"event_type": "mosaic_relay_post",
        "event_payload": {"mark": mark(2, 9, 0, 1).to_string()}});
    fake.thread_message(&thread.thread, ALICE, "not me", Some(forged));
    let second = slack
        .post_marked(&thread, "▶️ step 1\n▶️ step 2", &mark(2, 3, 0, 2))
        .await
        .expect("posted");
    let reply = slack
        .post(&thread, "status: running")
        .await
        .expect("posted");

    let read = slack
        .own_posts_after(&thread, &first)
        .await
        .expect("read")
        .expect("Slack can tell");
    let ids: Vec<&str> = read.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [second.as_str(), reply.as_str()], "after is exclusive");
    assert_eq!(marks(&read), [Some(mark(2, 3, 0, 2)), None]);
    assert_eq!(read[0].text, "▶️ step 1\n▶️ step 2");
    assert_eq!(read[1].text, "status: running");

    // From the thread's first message: the bot's three posts, oldest first.
    let all = slack
        .own_posts_after(&thread, &thread.thread)
        .await
        .expect("read")
        .expect("Slack can tell");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].mark, Some(mark(1, 1, 0, 1)));
    // After the last one: nothing, said as such.
    assert_eq!(
        slack.own_posts_after(&thread, &reply).await.expect("read"),
        Some(Vec::new())
    );

    let calls = fake.calls();
    let reads: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "conversations.replies")
        .collect();
    assert_eq!(reads.len(), 3);
    for read in &reads {
        // Without it, Slack leaves every message's metadata out.
        assert_eq!(read.args["include_all_metadata"], "true");
        assert_eq!(read.args["inclusive"], "false");
        assert_eq!(read.args["ts"], thread.thread.as_str());
    }
    let posts = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.args.get("metadata").is_some())
        .count();
    assert_eq!(posts, 2, "only the marked posts carry metadata");
    conformance::assert_conforms(&calls);
}

#[tokio::test]
async fn a_thread_longer_than_a_page_is_read_page_after_page() {
    let fake = FakeSlack::start().await;
    let (slack, thread) = slack_and_thread(&fake).await;
    fake.cap_replies_pages(2);
    let mut posted = Vec::new();
    for i in 1..=5 {
        fake.thread_message(&thread.thread, ALICE, &format!("chat {i}"), None);
        let id = slack
            .post_marked(&thread, &format!("line {i}"), &mark(i, i, 0, 1))
            .await
            .expect("posted");
        posted.push(id);
    }
    let read = slack
        .own_posts_after(&thread, &thread.thread)
        .await
        .expect("read")
        .expect("Slack can tell");
    let ids: Vec<&String> = read.iter().map(|p| &p.id).collect();
    assert_eq!(ids, posted.iter().collect::<Vec<_>>());
    let reads = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "conversations.replies")
        .collect::<Vec<_>>();
    assert_eq!(reads.len(), 5, "ten replies, two a page");
    assert!(reads[0].args.get("cursor").is_none());
    assert!(reads[1..].iter().all(|r| r.args["cursor"].is_string()));
    conformance::assert_conforms(&fake.calls());
}

#[tokio::test]
async fn a_read_slack_refuses_is_an_error_the_core_can_weigh() {
    let fake = FakeSlack::start().await;
    let (slack, thread) = slack_and_thread(&fake).await;
    // A thread that is no message: Slack's `thread_not_found`, a thread not found.
    let gone = ThreadRef {
        thread: "1.000001".into(),
        ..thread.clone()
    };
    assert!(matches!(
        slack.own_posts_after(&gone, "1.000001").await,
        Err(ChatError::NotFound(ref why)) if why.contains("thread_not_found")
    ));
    fake.rate_limit_next(1);
    assert!(matches!(
        slack.own_posts_after(&thread, &thread.thread).await,
        Err(ChatError::RateLimited { .. })
    ));
    conformance::assert_conforms(&fake.calls());
}
