//! The whole flow against a fake Slack that does what Slack does: files
//! shared with a mention, edited mentions (acted on once; a command that only
//! got a parse error is read again), old messages re-sent after a gap, and
//! `/mosaic` typed where the bot is not a member. Each test ends by holding
//! every Web API call against Slack's published description.

use std::time::Duration;

use mosaic_sim::Sim;

use crate::fake::conformance::assert_conforms;
use crate::fake::{FakeSlack, Sent};
use crate::harness::*;

/// Asks `status` in `thread` and waits for the answer: the channel's
/// messages are handled in order, so everything sent before is handled too.
async fn settled(fake: &FakeSlack, thread: &str) {
    let ask = fake.mention(Some(thread), "<@UBOT0001> status acme/web#42");
    fake.expect("the status answer", |s| is_reaction(s, &ask, "eyes"))
        .await;
    fake.expect(
        "the status reply",
        |s| matches!(s, Sent::Post { thread_ts: Some(t), text, .. } if t == thread && text.contains("Job: ")),
    )
    .await;
}

fn jobs_created(sim: &Sim) -> usize {
    sim.requests().iter().filter(|r| r.method == "POST").count()
}

#[tokio::test]
async fn a_file_shared_with_a_mention_starts_a_job_shown_as_block_kit() {
    let (fake, sim, bot) = started(5).await;
    let root = fake.file_share(None, "<@UBOT0001> fix acme/web#42");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    sim.wait_final(JOB_1).await;
    bot.stop().await.expect("a clean stop");
    assert_one_relayed_job(&fake.sent(), &root);
    let calls = fake.calls();
    let card = calls
        .iter()
        .rev()
        .find(|c| c.method == "chat.update")
        .expect("the card was edited");
    let blocks = &card.args["blocks"];
    assert_eq!(blocks[0]["type"], "section", "{blocks:#}");
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("✅ *Completed* · <")),
        "{blocks:#}"
    );
    assert_eq!(blocks[1]["type"], "context", "{blocks:#}");
    let details = blocks[1]["elements"].to_string();
    assert!(
        details.contains("Step 6/6") && details.contains("pull/57"),
        "step, progress and links in the context line: {blocks:#}"
    );
    assert!(
        card.args["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("✅ *Completed*"))
    );
    assert_conforms(&calls);
}

#[tokio::test]
async fn an_edit_never_reruns_a_command_that_was_acted_on() {
    let (fake, sim, bot) = started(5).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    fake.edit_mention(&root, None, "<@UBOT0001> fix acme/web#43");
    settled(&fake, &root).await;
    fake.wait_all_acked().await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(jobs_created(&sim), 1, "the edit started nothing");
    let on_root = fake
        .sent()
        .iter()
        .filter(|s| matches!(s, Sent::Reaction { ts, .. } if *ts == root))
        .count();
    assert_eq!(on_root, 2, "👀 and ✅ once: {:#?}", fake.sent());
    assert!(
        !fake.sent().iter().any(|s| text(s).contains("#43")),
        "{:#?}",
        fake.sent()
    );
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn an_edit_of_a_command_that_only_got_a_parse_error_is_read_again() {
    let (fake, sim, bot) = started(5).await;
    let root = fake.mention(None, "<@UBOT0001> fxi acme/web#42");
    let error = fake
        .expect(
            "the parse error",
            |s| matches!(s, Sent::Post { thread_ts: Some(t), .. } if *t == root),
        )
        .await;
    assert!(text(&error).contains("fxi"), "{error:?}");
    assert_eq!(jobs_created(&sim), 0);
    fake.edit_mention(&root, None, "<@UBOT0001> fix acme/web#42");
    fake.expect("✅ on the corrected command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    sim.wait_final(JOB_1).await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(jobs_created(&sim), 1, "the corrected command ran once");
    let mut sent = fake.sent();
    sent.retain(|s| s != &error);
    assert_one_relayed_job(&sent, &root);
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn a_message_written_before_the_catch_up_window_is_not_acted_on_when_slack_resends_it() {
    let (fake, sim, bot) = started(5).await;
    let old = fake.old_mention(Duration::from_secs(20 * 60), "<@UBOT0001> fix acme/web#41");
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    fake.expect("✅ on the new command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    fake.wait_all_acked().await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(jobs_created(&sim), 1, "only the new command ran");
    assert!(
        !fake.sent().iter().any(|s| match s {
            Sent::Reaction { ts, .. } => *ts == old,
            Sent::Post { thread_ts, .. } => thread_ts.as_deref() == Some(old.as_str()),
            _ => false,
        }),
        "nothing answered the old message: {:#?}",
        fake.sent()
    );
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn slash_fix_where_the_bot_is_not_a_member_is_answered_privately_with_what_to_do() {
    let (fake, sim) = (
        FakeSlack::start().await,
        Sim::start(sim_config(5)).await.expect("sim"),
    );
    fake.bot_not_in("C0ELSEWHERE");
    let bot = start(&fake, &sim);
    fake.wait_connected(1).await;
    fake.slash("C0ELSEWHERE", "fix acme/web#42", "trig-out");
    let answer = fake
        .expect("the private answer", |s| {
            matches!(s, Sent::Ephemeral { .. })
        })
        .await;
    fake.wait_all_acked().await;
    bot.stop().await.expect("a clean stop");
    assert!(text(&answer).contains("`/invite @mosaic`"), "{answer:?}");
    assert_eq!(
        jobs_created(&sim),
        0,
        "no job without a thread to follow it in"
    );
    assert_eq!(fake.sent(), vec![answer], "nothing posted anywhere");
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.method == "chat.postMessage" && c.args["channel"] == "C0ELSEWHERE"),
        "it tried, and Slack refused"
    );
    assert_conforms(&calls);
}
