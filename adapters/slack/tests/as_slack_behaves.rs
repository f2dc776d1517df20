//! The adapter against a fake that does what Slack does (each behaviour
//! cited in the fake): mentions broadcast from a thread, files shared with a
//! mention, edited mentions, subtypes that are not commands, envelopes acked
//! while the user groups are still being read, conversations the bot is not
//! in, and `chat.update`'s Tier 3 shared by every card of the workspace.

mod fake;
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fake::{CHANNEL, FakeSlack, Sent};
use mosaic_chat::{ChatError, ChatPlatform, ThreadRef};
use mosaic_slack::{Budget, PLATFORM, Slack, ts_instant};
use support::*;

#[tokio::test]
async fn broadcast_replies_and_file_shares_are_commands_and_other_subtypes_are_not() {
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, true, false));
    fake.wait_connected(1).await;
    let root = fake.mention(None, "<@UBOT0001> fix #1");
    assert_eq!(bot.next().await.message_id, root);

    fake.non_commands();
    let broadcast = fake.broadcast_mention(&root, "<@UBOT0001> status");
    let inbound = bot.next().await;
    assert_eq!(
        (inbound.message_id.as_str(), inbound.thread.as_deref()),
        (broadcast.as_str(), Some(root.as_str())),
        "the broadcast reply, once, and none of the four other subtypes before it"
    );
    assert_eq!(inbound.text, "@mosaic status");

    let shared = fake.file_share(None, "<@UBOT0001> fix #2 (trace attached)");
    let inbound = bot.next().await;
    assert_eq!(inbound.message_id, shared);
    assert_eq!(inbound.text, "@mosaic fix #2 (trace attached)");
    // Created when Slack says: its `ts`.
    assert_eq!(Some(inbound.created_at), ts_instant(&shared));
    assert_eq!(inbound.edit, None);

    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}

#[tokio::test]
async fn an_edited_mention_is_handed_on_once_as_an_edit_of_the_same_message() {
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, true, false));
    fake.wait_connected(1).await;
    let ts = fake.mention(None, "<@UBOT0001> fxi #1");
    let original = bot.next().await;
    assert_eq!(original.edit, None);

    let mark = fake.edit_mention(&ts, None, "<@UBOT0001> fix #1");
    // Re-sent envelopes of the same edit are one delivery.
    fake.edit_mention_again(&ts, &mark, "<@UBOT0001> fix #1");
    let edit = bot.next().await;
    assert_eq!(edit.edit.as_deref(), Some(mark.as_str()));
    assert_eq!(
        (edit.dedupe_key.as_str(), edit.message_id.as_str()),
        (original.dedupe_key.as_str(), ts.as_str()),
        "an edit is the same message"
    );
    assert_eq!(edit.text, "@mosaic fix #1");
    assert_eq!(
        edit.created_at, original.created_at,
        "created when first written"
    );

    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}

#[tokio::test]
async fn envelopes_are_acked_before_their_authors_user_groups_are_read() {
    let fake = FakeSlack::start().await;
    fake.set_user_groups(&[("S0DEVS", &[fake::ALICE])]);
    fake.hold_user_groups(true);
    let mut bot = start(options(&fake, true, false));
    fake.wait_connected(1).await;
    let first = fake.mention(None, "<@UBOT0001> status #1");
    let second = fake.mention(None, "<@UBOT0001> status #2");
    fake.until("the user groups asked for", |f| {
        (f.user_groups_calls() == 1).then_some(())
    })
    .await;
    // `usergroups.list` has not answered: every envelope is acked already.
    fake.wait_all_acked().await;
    assert_eq!(fake.acks(), 4, "two posts, two events each");
    assert!(
        bot.inbox.try_recv().is_err(),
        "nothing handed on before its roles"
    );
    fake.hold_user_groups(false);
    for ts in [first, second] {
        let inbound = bot.next().await;
        assert_eq!(
            (inbound.message_id, inbound.roles),
            (ts, vec!["S0DEVS".to_owned()])
        );
    }
    bot.stop().await;
    assert_eq!(fake.user_groups_calls(), 1);
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}

#[tokio::test]
async fn a_thread_cannot_start_where_the_bot_is_not_a_member_and_the_error_says_what_to_do() {
    let fake = FakeSlack::start().await;
    fake.bot_not_in("C0ELSEWHERE");
    let slack = Slack::new(options(&fake, false, false)).expect("builds");
    let refused = slack.start_thread("C0ELSEWHERE", "Starting a fix").await;
    let Err(ChatError::Forbidden(why)) = refused else {
        panic!("refused as forbidden: {refused:?}");
    };
    assert!(why.contains("`/invite @mosaic`"), "{why}");
    assert!(slack.start_thread(CHANNEL, "Starting a fix").await.is_ok());
    assert_eq!(fake.sent().len(), 1, "{:#?}", fake.sent());
}

/// Posts `cards` cards and edits each `edits` times, all at once; returns
/// the edits' errors.
async fn edit_in_parallel(slack: &Arc<Slack>, cards: usize, edits: usize) -> Vec<ChatError> {
    let mut tasks = Vec::new();
    for card in 0..cards {
        let slack = Arc::clone(slack);
        tasks.push(tokio::spawn(async move {
            let thread = ThreadRef {
                platform: PLATFORM,
                channel: CHANNEL.into(),
                thread: format!("1.{card}"),
            };
            let mut errors = Vec::new();
            // Slack updates only messages that exist (`message_not_found`).
            let ts = slack
                .post(&thread, &format!("⏳ *Queued* · card {card}"))
                .await
                .expect("the card is posted");
            for edit in 0..edits {
                let text = format!("🔧 *Running* · card {card}\nStep {edit}/{edits}");
                if let Err(e) = slack.edit(&thread, &ts, &text).await {
                    errors.push(e);
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        errors.extend(task.await.expect("the card's task"));
    }
    errors
}

#[tokio::test]
async fn parallel_cards_share_the_workspace_update_budget_and_meet_no_429() {
    // The fake enforces Tier 3 at a test's scale: 10 a quarter second.
    let tier = (10, Duration::from_millis(250));
    let (cards, edits) = (15, 2);

    // Without a shared budget (one far above the tier), cards meet 429s.
    let fake = FakeSlack::start().await;
    fake.enforce_update_tier(tier.0, tier.1);
    let mut unlimited = options(&fake, false, false);
    unlimited.updates = Budget {
        count: 10_000,
        per: Duration::from_millis(1),
    };
    let slack = Arc::new(Slack::new(unlimited).expect("builds"));
    let errors = edit_in_parallel(&slack, cards, edits).await;
    assert!(fake.tier_refusals() > 0, "the fake enforces the tier");
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, ChatError::RateLimited { .. })),
        "{errors:?}"
    );

    // With the workspace's budget (a margin under the tier for the wire's
    // jitter), every edit is made, none refused.
    let fake = FakeSlack::start().await;
    fake.enforce_update_tier(tier.0, tier.1);
    let mut shared = options(&fake, false, false);
    shared.updates = Budget {
        count: tier.0,
        per: tier.1 + Duration::from_millis(50),
    };
    let slack = Arc::new(Slack::new(shared).expect("builds"));
    let started = SystemTime::now();
    let errors = edit_in_parallel(&slack, cards, edits).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(fake.tier_refusals(), 0);
    let updates = fake
        .sent()
        .iter()
        .filter(|s| matches!(s, Sent::Update { .. }))
        .count();
    assert_eq!(updates, cards * edits, "every edit made once");
    let took = started.elapsed().unwrap_or_default();
    assert!(
        took >= Duration::from_millis(2 * 300),
        "30 edits at 10 a window take two windows more: {took:?}"
    );
}

#[test]
fn the_conformance_table_refuses_what_slack_would() {
    use fake::Call;
    use fake::conformance::problems_of;
    use serde_json::json;
    let call = |method: &str, verb: &str, args: serde_json::Value| Call {
        method: method.into(),
        verb: verb.into(),
        args,
        token: Some(fake::BOT_TOKEN.into()),
    };
    let section = |text: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    let good = call(
        "chat.update",
        "POST",
        json!({"channel": "C1", "ts": "1.1", "text": "t", "blocks": [section("t")]}),
    );
    assert_eq!(problems_of(&good), Vec::<String>::new());
    let elements: Vec<_> = (0..11)
        .map(|_| json!({"type": "mrkdwn", "text": "x"}))
        .collect();
    let bad = [
        call("chat.update", "POST", json!({"channel": "C1", "text": "t"})),
        call(
            "chat.update",
            "GET",
            json!({"channel": "C1", "ts": "1.1", "text": "t"}),
        ),
        call("chat.postMessage", "POST", json!({"channel": "C1"})),
        call(
            "chat.postMessage",
            "POST",
            json!({"channel": "C1", "text": "t", "colour": "red"}),
        ),
        call(
            "chat.postMessage",
            "POST",
            json!({"channel": "C1", "text": "t", "blocks": [section(&"x".repeat(3_001))]}),
        ),
        call(
            "chat.postMessage",
            "POST",
            json!({"channel": "C1", "text": "t", "blocks": [section("")]}),
        ),
        call(
            "chat.postMessage",
            "POST",
            json!({"channel": "C1", "text": "t", "blocks": [{"type": "context", "elements": elements}]}),
        ),
        call(
            "chat.postMessage",
            "POST",
            json!({"channel": "C1", "text": "t", "blocks": [{"type": "divider"}]}),
        ),
        call(
            "reactions.add",
            "POST",
            json!({"channel": "C1", "name": "eyes"}),
        ),
        call("chat.delete", "POST", json!({"channel": "C1", "ts": "1.1"})),
        Call {
            token: None,
            ..good.clone()
        },
    ];
    for call in bad {
        assert!(!problems_of(&call).is_empty(), "accepted: {call:?}");
    }
}
