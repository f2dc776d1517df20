//! The card's buttons on Slack, through the daemon: Block Kit buttons that
//! follow the job, pressed over Socket Mode and over the signed
//! interactivity endpoint; each press runs the command it stands for in the
//! card's thread, with the same permissions and dedupe, and whatever does
//! not apply is answered through the press's `response_url`, seen by the
//! presser alone, with nothing reaching the backend. As `tests/flow/buttons.rs`
//! does through the console.

use mosaic_sim::Sim;
use serde_json::Value;

use crate::fake::conformance::assert_conforms;
use crate::fake::{ALICE, BOB, FakeSlack, Sent};
use crate::harness::*;
use mosaic_slack::INTERACTIVITY_PATH;

/// The simulator's second job id.
const JOB_2: &str = "00000000-0000-4000-8000-000000000002";

/// The backend's requests whose method is `method` and path ends `path_end`.
fn requests(sim: &Sim, method: &str, path_end: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .count()
}

/// Whether `text` is a progress card's (`⏳ *Queued* · <…|acme/web#42>`).
fn is_card(text: &str) -> bool {
    ["⏳ *", "🔧 *"].iter().any(|s| text.starts_with(s)) && text.contains("acme/web#42")
}

/// Waits for the card of a job in the thread `root` (other than `not`);
/// returns its `ts`.
async fn card_under(fake: &FakeSlack, root: &str, not: Option<&str>) -> String {
    fake.until("the card", |f| {
        posts(&f.sent())
            .into_iter()
            .find(|(ts, t, m)| *t == Some(root) && is_card(m) && Some(*ts) != not)
            .map(|(ts, _, _)| ts.to_owned())
    })
    .await
}

/// Waits until the card `ts` shows exactly the buttons `want`.
async fn until_buttons(fake: &FakeSlack, ts: &str, want: &[&str]) {
    fake.until(&format!("the card with {want:?}"), |f| {
        (f.buttons_of(ts) == want).then_some(())
    })
    .await;
}

/// Waits for a post in the thread `root` starting with `start`; returns its text.
async fn reply_in(fake: &FakeSlack, root: &str, start: &str) -> String {
    let sent = fake
        .expect(start, |s| {
            matches!(s, Sent::Post { thread_ts: Some(t), text, .. } if t == root && text.starts_with(start))
        })
        .await;
    text(&sent).to_owned()
}

/// Waits for the private answer to the press `payload`; returns its text.
async fn private_answer(fake: &FakeSlack, payload: &Value) -> String {
    let answer = fake
        .until("the private answer", |f| {
            f.answers_to(payload).first().cloned()
        })
        .await;
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    assert_eq!(
        answer["replace_original"], false,
        "the card stays: {answer}"
    );
    answer["text"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn cancel_then_retry_by_buttons_with_a_progress_bar_on_the_card() {
    let (fake, sim, bot) = started(40).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    let card = card_under(&fake, &root, None).await;
    until_buttons(&fake, &card, &["cancel", "verbose", "quiet"]).await;
    let bar = fake
        .expect(
            "a progress bar on the card",
            |s| matches!(s, Sent::Update { ts, text, .. } if *ts == card && text.contains('▰')),
        )
        .await;
    assert!(text(&bar).contains('▱'), "{bar:?}");
    let context = fake.blocks_of(&card)[1]["elements"].to_string();
    assert!(
        context.contains('▰'),
        "the bar is in the context line: {context}"
    );

    fake.press(&card, "cancel", ALICE);
    reply_in(&fake, &root, "Cancelling job").await;
    until_buttons(&fake, &card, &["retry"]).await;
    assert_eq!(fake.blocks_of(&card)[2]["elements"][0]["style"], "primary");
    assert_eq!(sim.job(JOB_1).expect("job 1")["status"], "CANCELLED");

    // Retry, over the HTTP endpoint this time.
    let addr = bot.slack.http_addr().await.expect("listening");
    let payload = fake.press_payload(&card, "retry", ALICE);
    let form = FakeSlack::press_form(&payload);
    let url = format!("http://{addr}{INTERACTIVITY_PATH}");
    assert_eq!(signed_post(&url, &form).await, 200);
    let retrying = reply_in(&fake, &root, "Retrying as job").await;
    assert_eq!(
        retrying,
        format!("Retrying as job {JOB_2}; following it here.")
    );
    let second = card_under(&fake, &root, Some(&card)).await;
    fake.expect("the second card completed", |s| {
        matches!(s, Sent::Update { ts, text, .. } if *ts == second && text.starts_with("✅ *Completed*"))
    })
    .await;
    until_buttons(&fake, &second, &[]).await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(sim.job(JOB_2).expect("job 2")["retryOf"], JOB_1);
    assert_eq!(requests(&sim, "POST", "/cancel"), 1);
    assert_eq!(requests(&sim, "POST", "/retry"), 1);
    assert_eq!(
        fake.buttons_of(&card),
        ["retry"],
        "the first card keeps Retry"
    );
    assert!(
        fake.press_answers().is_empty(),
        "nothing answered privately"
    );
    assert!(fake.unacked().is_empty(), "every envelope acked");
    assert_conforms(&fake.calls());
}

/// Posts `form` to `url` signed now, as Slack does; returns the status.
async fn signed_post(url: &str, form: &str) -> u16 {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string();
    let signature = mosaic_slack::sign(
        &mosaic_chat::Secret::new(SIGNING_SECRET),
        &ts,
        form.as_bytes(),
    );
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", ts)
        .header("X-Slack-Signature", signature)
        .body(form.to_owned())
        .send()
        .await
        .expect("the endpoint answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn refused_double_and_stale_presses_reach_the_backend_once_at_most() {
    let (fake, sim, bot) = started(40).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    let card = card_under(&fake, &root, None).await;
    until_buttons(&fake, &card, &["cancel", "verbose", "quiet"]).await;

    // Bob did not request the job: the rule for cancel refuses him, by name, privately.
    let bobs = fake.press(&card, "cancel", BOB);
    let refusal = private_answer(&fake, &bobs).await;
    assert_eq!(
        refusal,
        "Only the job's requester (UALICE01) or an admin may `cancel` it (`permissions.cancel`)."
    );
    assert_eq!(
        requests(&sim, "POST", "/cancel"),
        0,
        "nothing was cancelled"
    );

    // Alice double-clicks, and Slack re-sends her first click's envelope.
    let first = fake.press_payload(&card, "cancel", ALICE);
    let envelope = fake.envelope("interactive", first.clone());
    let second = fake.press(&card, "cancel", ALICE);
    fake.resend(&envelope);
    reply_in(&fake, &root, "Cancelling job").await;
    let again = private_answer(&fake, &second).await;
    assert!(again.starts_with("Cancel no longer applies"), "{again}");
    assert!(again.contains("a cancel was asked already"), "{again}");
    until_buttons(&fake, &card, &["retry"]).await;

    // A client still showing Cancel on the cancelled job: answered, not acted on.
    let stale = fake.press(&card, "cancel", ALICE);
    let answer = private_answer(&fake, &stale).await;
    assert!(answer.starts_with("Cancel no longer applies"), "{answer}");
    assert!(
        answer.contains("Retry"),
        "names what the card offers: {answer}"
    );
    fake.wait_all_acked().await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(requests(&sim, "POST", "/cancel"), 1, "one cancel");
    assert_eq!(requests(&sim, "POST", "/runner-jobs"), 1, "one job");
    let sent = fake.sent();
    let cancelling = posts(&sent)
        .iter()
        .filter(|(_, _, m)| m.starts_with("Cancelling job"))
        .count();
    assert_eq!(cancelling, 1, "{sent:#?}");
    assert!(fake.answers_to(&first).is_empty(), "the first click acted");
    assert_eq!(fake.press_answers().len(), 3, "{:#?}", fake.press_answers());
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn the_buttons_of_a_card_resumed_after_a_restart_still_work() {
    let dir = tempfile::tempdir().expect("a directory");
    let store = format!("sqlite://{}", dir.path().join("bot.db").display());
    let fake = FakeSlack::start().await;
    let sim = Sim::start(sim_config(40)).await.expect("sim");
    let bot = start_stored(&fake, &sim, &store);
    fake.wait_connected(1).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    let card = card_under(&fake, &root, None).await;
    fake.expect("step 2", |s| text(s).contains("Step 2/6"))
        .await;
    bot.stop().await.expect("a clean stop");
    let before = fake.sent().len();

    let bot = start_stored(&fake, &sim, &store);
    fake.wait_connected(2).await;
    // The resumed relay writes the card with buttons derived from the job.
    fake.until("the resumed card", |f| {
        f.sent()[before..]
            .iter()
            .any(|s| matches!(s, Sent::Update { ts, .. } if *ts == card))
            .then_some(())
    })
    .await;
    until_buttons(&fake, &card, &["cancel", "verbose", "quiet"]).await;
    fake.press(&card, "cancel", ALICE);
    reply_in(&fake, &root, "Cancelling job").await;
    until_buttons(&fake, &card, &["retry"]).await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(sim.job(JOB_1).expect("job 1")["status"], "CANCELLED");
    assert_eq!(requests(&sim, "POST", "/cancel"), 1);
    let cards = posts(&fake.sent())
        .iter()
        .filter(|(_, _, m)| is_card(m))
        .count();
    assert_eq!(cards, 1, "no second card: {:#?}", fake.sent());
    assert!(fake.press_answers().is_empty());
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn a_press_gets_the_permissions_of_the_pressers_user_groups() {
    let fake = FakeSlack::start().await;
    let sim = Sim::start(sim_config(40)).await.expect("sim");
    fake.set_user_groups(&[("S0OPS", &[BOB])]);
    let config = "[permissions.slack.verbose]\nroles = [\"slack:S0OPS\"]\n";
    let bot = start_with(&fake, &sim, config);
    fake.wait_connected(1).await;
    let root = fake.mention(None, "<@UBOT0001> fix acme/web#42");
    let card = card_under(&fake, &root, None).await;
    until_buttons(&fake, &card, &["cancel", "verbose", "quiet"]).await;

    // Alice is in no group the rule names: refused privately, by the rule's name.
    let alices = fake.press(&card, "verbose", ALICE);
    let refusal = private_answer(&fake, &alices).await;
    assert!(
        refusal.starts_with("You may not use `verbose`: `permissions.slack.verbose`"),
        "{refusal}"
    );
    assert_eq!(fake.buttons_of(&card), ["cancel", "verbose", "quiet"]);
    // Bob is in S0OPS: his press acts, in the card's thread.
    fake.press(&card, "verbose", BOB);
    reply_in(&fake, &root, "This thread now shows").await;
    until_buttons(&fake, &card, &["cancel", "quiet"]).await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(fake.press_answers().len(), 1, "{:#?}", fake.press_answers());
    assert_eq!(requests(&sim, "POST", "/runner-jobs"), 1, "one job");
    assert_conforms(&fake.calls());
}
