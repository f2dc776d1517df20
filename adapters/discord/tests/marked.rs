//! Relay posts that land once, and the bot's posts read back, against the fake Discord:
//! a marked post carries a nonce Discord enforces, so a post sent again after its answer was
//! lost is the same message; `own_posts_after` lists what the bot posted in a thread after a
//! message, or says it cannot tell where the history may not be read.

mod common;
mod fake;

use common::*;
use fake::*;
use mosaic_chat::{ChatError, ChatPlatform, OwnPost, PostMark, ThreadRef};
use serde_json::{Value, json};

fn mark(first: u64, last: u64) -> PostMark {
    PostMark {
        job_id: "job-1".into(),
        first_seq: first,
        last_seq: last,
        page: 0,
        pages: 1,
    }
}

/// A top-level message of alice's in `channel`, and the job thread rooted at it.
fn thread_on_new_message(fake: &FakeDiscord, channel: u64) -> (u64, ThreadRef) {
    let root = fake.say(channel, "a command the bot answers");
    let thread = ThreadRef {
        platform: mosaic_discord::PLATFORM,
        channel: channel.to_string(),
        thread: root.to_string(),
    };
    (root, thread)
}

fn ids(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The MESSAGE_CREATE events of message `id`.
fn created(fake: &FakeDiscord, id: &str) -> Vec<Value> {
    fake.dispatched("MESSAGE_CREATE")
        .into_iter()
        .filter(|m| m["id"] == id)
        .collect()
}

#[tokio::test]
async fn a_marked_post_carries_its_marks_nonce_enforced_and_the_same_mark_is_the_same_message() {
    let c = connect().await;
    let (root, thread) = thread_on_new_message(&c.fake, CHANNEL);
    let first = marked(&c, &thread, "▶️ Step 1", mark(1, 3)).await;
    let again = marked(&c, &thread, "▶️ Step 1", mark(1, 3)).await;
    let second = marked(&c, &thread, "▶️ Step 2", mark(4, 4)).await;
    assert_eq!(again, first, "the same mark: the same message");
    assert_ne!(second, first);
    assert_eq!(
        ids(&c.fake.messages_in(root)),
        [first.clone(), second.clone()]
    );
    // Discord tells the bot of each message once, with its nonce.
    let told = created(&c.fake, &first);
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(created(&c.fake, &second).len(), 1);
    let calls = c.finish_but_catch_up().await;
    // Posted like any post: in the thread made on the message, never pinging.
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.path == format!("/channels/{CHANNEL}/messages/{root}/threads"))
            .count(),
        1,
        "{calls:#?}"
    );
    let posts = posts_to(&calls, root);
    assert_eq!(posts.len(), 3, "{calls:#?}");
    let nonces: Vec<&str> = posts
        .iter()
        .map(|p| p.body["nonce"].as_str().expect("a nonce"))
        .collect();
    for post in &posts {
        assert_eq!(post.body["enforce_nonce"], json!(true), "{post:#?}");
        assert_eq!(post.body["allowed_mentions"], json!({ "parse": [] }));
    }
    assert!(nonces.iter().all(|n| n.chars().count() <= 25), "{nonces:?}");
    assert_eq!(nonces[0], nonces[1]);
    assert_ne!(nonces[0], nonces[2]);
    assert_eq!(told[0]["nonce"], json!(nonces[0]));
}

#[tokio::test]
async fn a_marked_post_sent_again_after_its_answer_was_lost_lands_once() {
    let c = connect().await;
    let (root, thread) = thread_on_new_message(&c.fake, CHANNEL);
    let in_thread = format!("/channels/{root}/messages");
    c.fake.lose_next_answer("POST", &in_thread);
    let lost = c
        .discord
        .post_marked(&thread, "▶️ Step 1", &mark(1, 1))
        .await;
    assert!(matches!(lost, Err(ChatError::Unavailable(_))), "{lost:?}");
    // Discord made it, though the bot could not know.
    assert_eq!(c.fake.messages_in(root).len(), 1);
    let retried = marked(&c, &thread, "▶️ Step 1", mark(1, 1)).await;
    assert_eq!(
        ids(&c.fake.messages_in(root)),
        std::slice::from_ref(&retried)
    );
    assert_eq!(created(&c.fake, &retried).len(), 1);

    // Without a mark, the same loss shows the post twice: the fake really made the first.
    c.fake.lose_next_answer("POST", &in_thread);
    let lost = c.discord.post(&thread, "plain").await;
    assert!(matches!(lost, Err(ChatError::Unavailable(_))), "{lost:?}");
    c.discord.post(&thread, "plain").await.expect("posted");
    let plain = c
        .fake
        .messages_in(root)
        .into_iter()
        .filter(|m| m["content"] == "plain")
        .count();
    assert_eq!(plain, 2);
    let calls = c.finish_but_catch_up().await;
    assert_eq!(posts_to(&calls, root).len(), 4, "{calls:#?}");
}

fn texts(posts: &[OwnPost]) -> Vec<&str> {
    posts.iter().map(|p| p.text.as_str()).collect()
}

/// Posts `text` in `thread` marked `mark`; its message id.
async fn marked(c: &Connected, thread: &ThreadRef, text: &str, mark: PostMark) -> String {
    let posted = c.discord.post_marked(thread, text, &mark).await;
    posted.expect("posted")
}

/// The texts of the bot's posts in `thread` after `after`, joined by `|`.
async fn read_back(
    c: &Connected,
    thread: &ThreadRef,
    after: &str,
) -> Result<Option<String>, ChatError> {
    let own = c.discord.own_posts_after(thread, after).await;
    own.map(|p| p.map(|p| texts(&p).join("|")))
}

#[tokio::test]
async fn own_posts_after_a_message_are_the_bots_in_the_thread_oldest_first() {
    let c = connect().await;
    let (root, thread) = thread_on_new_message(&c.fake, CHANNEL);
    let (_, elsewhere) = thread_on_new_message(&c.fake, CHANNEL);
    let card = c.discord.post(&thread, "card").await.expect("posted");
    let p1 = marked(&c, &thread, "▶️ Step 1", mark(1, 1)).await;
    // Others' messages in the thread, and the bot's in another thread, are not its posts.
    c.fake.say(root, "a person in the thread");
    c.fake.message_from(root, 999, true, "another bot");
    c.discord
        .post(&elsewhere, "another job")
        .await
        .expect("posted");
    let p2 = marked(&c, &thread, "▶️ Step 2", mark(2, 2)).await;

    let after_card = c
        .discord
        .own_posts_after(&thread, &card)
        .await
        .expect("read")
        .expect("readable");
    assert_eq!(texts(&after_card), ["▶️ Step 1", "▶️ Step 2"]);
    let got: Vec<&str> = after_card.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(got, [p1.as_str(), p2.as_str()]);
    // Discord keeps no nonce with a message: no mark comes back.
    assert!(after_card.iter().all(|p| p.mark.is_none()));
    // `after` is exclusive.
    let after_p1 = read_back(&c, &thread, &p1).await;
    assert_eq!(after_p1, Ok(Some("▶️ Step 2".into())));
    let after_p2 = c.discord.own_posts_after(&thread, &p2).await;
    assert_eq!(after_p2, Ok(Some(Vec::new())));
    let from_root = c
        .discord
        .own_posts_after(&thread, &root.to_string())
        .await
        .expect("read")
        .expect("readable");
    assert_eq!(texts(&from_root), ["card", "▶️ Step 1", "▶️ Step 2"]);
    let calls = c.finish().await;
    let reads: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "GET" && c.path == format!("/channels/{root}/messages"))
        .map(|c| c.query.trim_start_matches('&'))
        .collect();
    assert_eq!(
        reads,
        [
            format!("after={card}&limit=100"),
            format!("after={p1}&limit=100"),
            format!("after={p2}&limit=100"),
            format!("after={root}&limit=100"),
        ]
    );
}

#[tokio::test]
async fn own_posts_after_reads_on_past_a_page_of_others_messages() {
    let c = connect().await;
    let (root, thread) = thread_on_new_message(&c.fake, CHANNEL);
    let card = c.discord.post(&thread, "card").await.expect("posted");
    for n in 0..105 {
        c.fake.say(root, &format!("chatter {n}"));
    }
    marked(&c, &thread, "▶️ Step 1", mark(1, 1)).await;
    let own = read_back(&c, &thread, &card).await;
    assert_eq!(own, Ok(Some("▶️ Step 1".into())));
    let calls = c.finish().await;
    let reads = calls
        .iter()
        .filter(|c| c.method == "GET" && c.path == format!("/channels/{root}/messages"))
        .count();
    assert_eq!(reads, 2, "a full page, then the rest: {calls:#?}");
}

#[tokio::test]
async fn own_posts_of_a_job_answered_in_its_channel_are_its_replies_only() {
    let c = connect().await;
    // No thread may be made: each job answers in the channel, replying to its command.
    c.fake.deny(CHANNEL, perm::CREATE_PUBLIC_THREADS);
    let (root, thread) = thread_on_new_message(&c.fake, CHANNEL);
    let (_, other) = thread_on_new_message(&c.fake, CHANNEL);
    let notice_and_card = c.discord.post(&thread, "card").await;
    let card = notice_and_card.expect("posted in the channel");
    c.discord.post(&other, "other job").await.expect("posted");
    marked(&c, &thread, "▶️ Step 1", mark(1, 1)).await;
    let own = read_back(&c, &thread, &card).await;
    assert_eq!(own, Ok(Some("▶️ Step 1".into())));
    let calls = c.finish_but_catch_up().await;
    let replies: Vec<&Value> = posts_to(&calls, CHANNEL)
        .iter()
        .map(|c| &c.body["message_reference"]["message_id"])
        .collect();
    // The notice of the missing permission stands alone; the job's posts reply.
    assert_eq!(replies.len(), 4, "{calls:#?}");
    assert_eq!(replies[1], &json!(root.to_string()));
    assert_eq!(replies[3], &json!(root.to_string()));
}

#[tokio::test]
async fn own_posts_cannot_be_told_without_read_message_history() {
    let fake = FakeDiscord::start().await;
    // Set before the bot connects: its GUILD_CREATE carries the overwrite, and the
    // catch-up tells the channel what is missing.
    fake.deny(CHANNEL, perm::READ_MESSAGE_HISTORY);
    let c = start(fake);
    let notice = format!("/channels/{CHANNEL}/messages");
    c.fake
        .expect("the notice", 0, |call| {
            call.method == "POST"
                && call.path == notice
                && call.body["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Read Message History")
        })
        .await;
    let (root, thread) = thread_on_new_message(&c.fake, CHANNEL);
    let card = c.discord.post(&thread, "card").await.expect("posted");
    marked(&c, &thread, "▶️ Step 1", mark(1, 1)).await;
    // Discord would answer "no messages", which is not "no posts".
    let own = c.discord.own_posts_after(&thread, &card).await;
    assert_eq!(own, Ok(None));
    let calls = c.finish().await;
    assert!(
        !calls.iter().any(|c| c.method == "GET"
            && [format!("/channels/{root}/messages"), notice.clone()].contains(&c.path)),
        "no history read where it comes back empty: {calls:#?}"
    );
    let told = posts_to(&calls, CHANNEL).len();
    assert_eq!(told, 1, "told in the channel once: {calls:#?}");
    assert_eq!(posts_to(&calls, root).len(), 2);
}

/// The fake holds a nonce to Discord's rules: at most 25 characters, refused as a form
/// error naming the field; the same nonce makes a second message without `enforce_nonce`.
#[tokio::test]
async fn the_fake_refuses_a_long_nonce_and_dedupes_only_when_enforced() {
    use serenity::http::{HttpBuilder, HttpError, LightMethod, Request, Route};
    let fake = FakeDiscord::start().await;
    let http = HttpBuilder::new("tok")
        .proxy(fake.url())
        .ratelimiter_disabled(true)
        .build();
    let post = |body: Value| {
        let route = Route::ChannelMessages {
            channel_id: serenity::all::ChannelId::new(CHANNEL),
        };
        Request::new(route, LightMethod::Post).body(Some(body.to_string().into_bytes()))
    };
    let long = "n".repeat(26);
    let refused = http
        .request(post(
            json!({ "content": "x", "nonce": long, "enforce_nonce": true }),
        ))
        .await;
    let Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(refused))) = refused else {
        panic!("refused: {refused:?}");
    };
    assert_eq!(refused.status_code.as_u16(), 400);
    assert_eq!(refused.error.code, 50035);
    let fields: Vec<&str> = refused
        .error
        .errors
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(fields, ["nonce"]);
    let mut made = Vec::new();
    for enforce in [false, false, true, true] {
        let body = json!({ "content": "x", "nonce": "n".repeat(25), "enforce_nonce": enforce });
        let answer = http.request(post(body)).await.expect("posted");
        let message: Value =
            serde_json::from_slice(&answer.bytes().await.expect("a body")).expect("a message");
        assert_eq!(message["nonce"], json!("n".repeat(25)));
        made.push(message["id"].clone());
    }
    assert_ne!(made[0], made[1], "not enforced: a new message");
    assert_eq!(made[2], made[1], "enforced: the last one made with it");
    assert_eq!(made[3], made[1]);
    // After "the past few minutes" it is forgotten.
    fake.expire_nonces();
    let body = json!({ "content": "x", "nonce": "n".repeat(25), "enforce_nonce": true });
    let answer = http.request(post(body)).await.expect("posted");
    let message: Value =
        serde_json::from_slice(&answer.bytes().await.expect("a body")).expect("a message");
    assert_ne!(message["id"], made[1]);
    // Read back, a message has no nonce.
    let route = Route::ChannelMessages {
        channel_id: serenity::all::ChannelId::new(CHANNEL),
    };
    let read =
        Request::new(route, LightMethod::Get).params(Some(vec![("limit", "100".to_owned())]));
    let answer = http.request(read).await.expect("read");
    let listed: Vec<Value> =
        serde_json::from_slice(&answer.bytes().await.expect("a body")).expect("messages");
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|m| m.get("nonce").is_none()),
        "{listed:#?}"
    );
    let calls = fake.calls();
    openapi::assert_conforms(&calls);
    assert_eq!(calls.len(), 7);
}
