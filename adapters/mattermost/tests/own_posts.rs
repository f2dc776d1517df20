//! Exactly once across a crash, on Mattermost: a relayed post carries its mark in its props,
//! and the bot's own posts after a given one read back with their marks, against the fake
//! Mattermost on 127.0.0.1 (its thread endpoint pages and orders as the server does). Each
//! test ends by proving the bot sent nothing else and asked nothing the API does not describe.

mod fake;

use std::cmp::Ordering::{Greater, Less};
use std::time::Duration;

use fake::{ALICE, BOB, BOT_ID, BOT_TOKEN, CHANNEL, FakeMattermost, Sent};
use mosaic_chat::marks::MAX_OWN_POSTS;
use mosaic_chat::{ChatError, ChatPlatform, OwnPost, PostMark, Secret, ThreadRef};
use mosaic_mattermost::{MARK_PROP, Mattermost, MattermostOptions, PLATFORM};
use serde_json::json;

fn adapter(fake: &FakeMattermost) -> Mattermost {
    let options = MattermostOptions::new(&fake.url(), Secret::new(BOT_TOKEN), "mosaic");
    Mattermost::new(options).expect("the adapter builds")
}

/// Alice's message in the channel, and the thread rooted at it.
fn thread(fake: &FakeMattermost) -> ThreadRef {
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#7");
    ThreadRef {
        platform: PLATFORM,
        channel: CHANNEL.into(),
        thread: root,
    }
}

fn mark(first: u64, last: u64) -> PostMark {
    PostMark {
        job_id: "job-1".into(),
        first_seq: first,
        last_seq: last,
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

/// The thread reads the adapter made: each one's query, as `key=value` pairs.
fn thread_reads(fake: &FakeMattermost) -> Vec<Vec<(String, String)>> {
    fake.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/thread"))
        .map(|r| r.query)
        .collect()
}

/// Proves every post the bot made is in `posted` (id and text, in order), nothing else was
/// sent, and every request is one the API describes.
fn assert_only_posted(fake: &FakeMattermost, thread: &ThreadRef, posted: &[(&str, &str)]) {
    let expected: Vec<Sent> = posted
        .iter()
        .map(|(id, text)| Sent::Post {
            id: (*id).into(),
            channel: CHANNEL.into(),
            root_id: thread.thread.clone(),
            message: (*text).into(),
        })
        .collect();
    assert_eq!(fake.sent(), expected);
    fake.recorder().assert_conforms();
}

#[tokio::test]
async fn a_marked_post_carries_its_mark_in_props_and_reads_back_with_it() {
    let fake = FakeMattermost::start().await;
    let mm = adapter(&fake);
    let thread = thread(&fake);
    let marked = mark(3, 9);
    let id = mm
        .post_marked(&thread, "step 3 … step 9", &marked)
        .await
        .expect("posted");

    // Kept by the server beside its own prop for a bot's post.
    let stored = fake.stored_post(&id);
    assert_eq!(stored["props"][MARK_PROP], "mosaic:v1:3-9:0/1:job-1");
    assert_eq!(stored["props"]["from_bot"], "true");

    let back = mm
        .own_posts_after(&thread, &thread.thread)
        .await
        .expect("read back");
    assert_eq!(
        back,
        Some(vec![own(&id, "step 3 … step 9", Some(marked.clone()))])
    );
    // A plain edit keeps the props, so the mark survives it.
    mm.edit(&thread, &id, "step 3 … step 9 (edited)")
        .await
        .expect("edited");
    let back = mm.own_posts_after(&thread, &thread.thread).await;
    assert_eq!(
        back,
        Ok(Some(vec![own(
            &id,
            "step 3 … step 9 (edited)",
            Some(marked)
        )]))
    );
    assert_eq!(
        fake.sent().len(),
        2,
        "one post, one edit: {:#?}",
        fake.sent()
    );
    fake.recorder().assert_conforms();
}

#[tokio::test]
async fn only_the_bots_posts_come_back_unmarked_ones_without_a_mark() {
    let fake = FakeMattermost::start().await;
    let mm = adapter(&fake);
    let thread = thread(&fake);
    let root = thread.thread.as_str();
    let plain = mm.post(&thread, "queued").await.expect("posted");
    // Another user's post with a mark-like prop is not the bot's, whatever it carries.
    let forged = json!({ MARK_PROP: mark(1, 50).to_string() });
    fake.post_written(ALICE, CHANNEL, root, "step 1", forged, None);
    let marked = mm
        .post_marked(&thread, "step 1", &mark(1, 1))
        .await
        .expect("posted");
    fake.user_post(CHANNEL, Some(root), "@mosaic-bot status");
    // A post of the bot's whose prop is not a mark reads as unmarked, not as a wrong mark.
    let garbled = json!({ MARK_PROP: "mosaic:v1:9-3:0/1:job-1" });
    let odd = fake.post_written(BOT_ID, CHANNEL, root, "odd", garbled, None);
    fake.post_written(BOB, CHANNEL, root, "me too", json!({}), None);
    // Deleted posts are gone from the thread.
    let deleted = mm.post(&thread, "deleted later").await.expect("posted");
    fake.user_delete(&deleted);

    let back = mm.own_posts_after(&thread, root).await.expect("read back");
    assert_eq!(
        back,
        Some(vec![
            own(&plain, "queued", None),
            own(&marked, "step 1", Some(mark(1, 1))),
            own(&odd, "odd", None),
        ])
    );
    assert_only_posted(
        &fake,
        &thread,
        &[
            (&plain, "queued"),
            (&marked, "step 1"),
            (&deleted, "deleted later"),
        ],
    );
}

#[tokio::test]
async fn posts_of_the_anchors_millisecond_come_back_whatever_their_ids() {
    // An anchor whose id begins with one of the alphabet's first two or last two characters
    // ('1', '3', 'y', 'z') leaves one random id in twenty or fewer beyond it, and the posts
    // below could all fall on one side (2% of runs): such a fixture is set up again.
    let (fake, mm, thread, first) = loop {
        let fake = FakeMattermost::start().await;
        let mm = adapter(&fake);
        let thread = thread(&fake);
        let first = mm
            .post_marked(&thread, "a", &mark(1, 1))
            .await
            .expect("posted");
        if !first.starts_with(['1', '3', 'y', 'z']) {
            break (fake, mm, thread, first);
        }
    };
    let at = fake.create_at(&first);
    // Posts written just after `first` in its millisecond. Ids are random, as the server's
    // are: write them until one sorts before `first` and one after it, so that the read
    // must not lean on `(CreateAt, Id)` to tell what came after `first`.
    let mut same_ms = Vec::new();
    let sorts = |p: &OwnPost, order| p.id.as_str().cmp(first.as_str()) == order;
    while !(same_ms.iter().any(|p| sorts(p, Less)) && same_ms.iter().any(|p| sorts(p, Greater))) {
        assert!(
            same_ms.len() < 200,
            "random ids fall on both sides of `first`"
        );
        let n = same_ms.len() as u64 + 2;
        let text = format!("step {n}");
        let props = json!({ MARK_PROP: mark(n, n).to_string() });
        let id = fake.post_written(BOT_ID, CHANNEL, &thread.thread, &text, props, Some(at));
        same_ms.push(own(&id, &text, Some(mark(n, n))));
    }
    // `last` in a later millisecond (the server's clock gives one millisecond to every post
    // written within it): the read after `last` then has nothing, where one from `last`'s own
    // millisecond would also bring back the posts of it written before `last`, by design.
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        <= at
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let last = mm
        .post_marked(&thread, "c", &mark(99, 99))
        .await
        .expect("posted");
    assert!(fake.create_at(&last) > at);

    // In the order written, which the marks tell within the millisecond (the server's order
    // is by id there); `first` itself is not among them.
    let mut expected = same_ms;
    expected.push(own(&last, "c", Some(mark(99, 99))));
    let after_first = mm.own_posts_after(&thread, &first).await;
    assert_eq!(after_first, Ok(Some(expected)));
    let after_last = mm.own_posts_after(&thread, &last).await;
    assert_eq!(after_last, Ok(Some(vec![])));
    // Each read asked for the posts from its post's millisecond on, oldest first, in pages.
    let reads = thread_reads(&fake);
    let expected = |from: &str| {
        vec![
            (
                "fromCreateAt".to_owned(),
                (fake.create_at(from) - 1).to_string(),
            ),
            ("direction".to_owned(), "down".to_owned()),
            ("perPage".to_owned(), "200".to_owned()),
        ]
    };
    assert_eq!(reads, [expected(&first), expected(&last)]);
    assert_only_posted(&fake, &thread, &[(&first, "a"), (&last, "c")]);
}

#[tokio::test]
async fn a_thread_longer_than_a_page_is_read_to_its_end() {
    let fake = FakeMattermost::start().await;
    let mm = adapter(&fake);
    let thread = thread(&fake);
    let root = thread.thread.clone();
    // The first page (200) is alice's alone: the read goes on past a page with none of the
    // bot's, from that page's last post.
    let mut chat = Vec::new();
    for n in 0..200 {
        chat.push(fake.post_written(ALICE, CHANNEL, &root, &format!("chat {n}"), json!({}), None));
    }
    let mut expected = Vec::new();
    let mut others = Vec::new();
    for n in 1..=20 {
        let text = format!("step {n}");
        let id = mm
            .post_marked(&thread, &text, &mark(n, n))
            .await
            .expect("posted");
        expected.push(own(&id, &text, Some(mark(n, n))));
        others.push(id);
        others.push(fake.post_written(BOB, CHANNEL, &root, "👍", json!({}), None));
    }
    let back = mm.own_posts_after(&thread, &root).await.expect("read back");
    assert_eq!(back, Some(expected.clone()));
    let reads = thread_reads(&fake);
    assert_eq!(reads.len(), 2, "two pages: {reads:?}");
    // The first page held 200 posts in the server's order (`CreateAt, Id`: posts of one
    // millisecond by id), the root among them (its millisecond is read again, and the server
    // counts the root in the page): the second goes on after the last of those.
    let mut in_order: Vec<String> = [root.clone()]
        .into_iter()
        .chain(chat)
        .chain(others)
        .collect();
    in_order.sort_by_key(|id| (fake.create_at(id), id.clone()));
    assert_eq!(reads[1][0], ("fromPost".into(), in_order[199].clone()));

    let posted: Vec<(&str, &str)> = expected
        .iter()
        .map(|p| (p.id.as_str(), p.text.as_str()))
        .collect();
    assert_only_posted(&fake, &thread, &posted);
}

#[tokio::test]
async fn at_most_max_own_posts_come_back_the_oldest() {
    let fake = FakeMattermost::start().await;
    let mm = adapter(&fake);
    let thread = thread(&fake);
    let mut ids = Vec::new();
    for n in 0..MAX_OWN_POSTS + 20 {
        ids.push(
            mm.post(&thread, &format!("line {n}"))
                .await
                .expect("posted"),
        );
    }
    let back = mm
        .own_posts_after(&thread, &thread.thread)
        .await
        .expect("read back")
        .expect("Mattermost reads back");
    let read: Vec<&str> = back.iter().map(|p| p.id.as_str()).collect();
    // Unmarked posts come back in the server's order: by `CreateAt`, then (within one
    // millisecond) by id, which is random.
    let mut in_order = ids.clone();
    in_order.sort_by_key(|id| (fake.create_at(id), id.clone()));
    assert_eq!(read, in_order[..MAX_OWN_POSTS]);
    assert_eq!(fake.sent().len(), MAX_OWN_POSTS + 20);
    fake.recorder().assert_conforms();
}

#[tokio::test]
async fn a_rate_limited_or_missing_read_is_an_error_that_says_so() {
    let fake = FakeMattermost::start().await;
    let mm = adapter(&fake);
    let thread = thread(&fake);
    let id = mm.post(&thread, "queued").await.expect("posted");

    fake.rate_limit_reads_next(1);
    let limited = mm.own_posts_after(&thread, &thread.thread).await;
    assert_eq!(
        limited,
        Err(ChatError::RateLimited {
            retry_after: Duration::from_secs(1)
        })
    );
    assert_eq!(fake.rate_limited(), 1);
    // The limit passed, the same read succeeds.
    let back = mm.own_posts_after(&thread, &thread.thread).await;
    assert_eq!(back, Ok(Some(vec![own(&id, "queued", None)])));

    // A post to read after that is gone cannot place the read.
    fake.user_delete(&id);
    let gone = mm.own_posts_after(&thread, &id).await;
    assert!(matches!(gone, Err(ChatError::NotFound(_))), "{gone:?}");
    assert_only_posted(&fake, &thread, &[(&id, "queued")]);
}
