//! Buttons on the card, clicked through the fake Mattermost as its server
//! runs a click (the post read, then the bot's action URL called, its answer
//! applied), against the whole daemon: each press runs its command in the
//! card's thread with the same permissions, dedupe and replies, private ones
//! coming back as the click's `ephemeral_text`; nothing that does not apply
//! reaches the backend.

use std::net::SocketAddr;

use crate::daemon_on::free_addr;
use crate::fake::{ALICE, BOB, CHANNEL, Clicked, FakeMattermost, Sent, actions_of};
use crate::harness::*;
use mosaic_sim::Sim;
use serde_json::Value;

/// The simulator's second job id.
const JOB_2: &str = "00000000-0000-4000-8000-000000000002";

/// The card in the thread under `root`, and the buttons it was posted with.
async fn card_of(fake: &FakeMattermost, root: &str) -> String {
    let card = fake
        .expect(
            "the card",
            |s| matches!(s, Sent::Post { root_id, .. } if root_id == root),
        )
        .await;
    let Sent::Post { id, .. } = card else {
        unreachable!("matched a post")
    };
    let posted = actions_of(&fake.stored_post(&id));
    assert!(
        posted.iter().any(|a| a["id"] == "cancel"),
        "a running job's card offers Cancel: {posted:?}"
    );
    id
}

/// Requests to the backend whose method and path end as given.
fn backend(sim: &Sim, method: &str, path_end: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .count()
}

fn private_text(clicked: &Clicked) -> Option<&str> {
    match clicked {
        Clicked::Answered { ephemeral_text, .. } => ephemeral_text.as_deref(),
        Clicked::Failed { .. } => panic!("the click failed: {clicked:?}"),
    }
}

fn answered_publicly(clicked: &Clicked) -> bool {
    matches!(
        clicked,
        Clicked::Answered {
            ephemeral_text: None,
            updated: false
        }
    )
}

fn token(post: &Value, action: &str) -> Value {
    actions_of(post)
        .into_iter()
        .find(|a| a["id"] == action)
        .map(|a| a["integration"]["context"]["token"].clone())
        .unwrap_or_else(|| panic!("no {action} on {post}"))
}

#[tokio::test]
async fn cancel_then_retry_by_buttons_and_the_card_shows_a_progress_bar() {
    let (fake, sim) = world(40).await;
    let bot = start_with_buttons(&fake, &sim, "", "sqlite::memory:", free_addr());
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let card = card_of(&fake, &root).await;
    fake.expect("a progress bar on the card", |s| {
        matches!(s, Sent::Patch { id, message } if *id == card && message.contains('▰') && message.contains('▱'))
    })
    .await;

    let clicked = fake.click(&card, "cancel", ALICE).await;
    assert!(answered_publicly(&clicked), "{clicked:?}");
    fake.expect("the cancellation", |s| {
        matches!(s, Sent::Post { root_id, message, .. } if *root_id == root && message.starts_with("Cancelling job"))
    })
    .await;
    let cancelled = fake.wait_actions(&card, &["retry"]).await;
    assert!(
        cancelled["message"]
            .as_str()
            .is_some_and(|m| m.contains("Cancelled")),
        "{cancelled}"
    );
    sim.wait_final(JOB_1).await;
    assert_eq!(sim.job(JOB_1).expect("the job")["status"], "CANCELLED");

    let clicked = fake.click(&card, "retry", ALICE).await;
    assert!(answered_publicly(&clicked), "{clicked:?}");
    fake.expect("the retry", |s| {
        message(s) == format!("Retrying as job {JOB_2}; following it here.")
    })
    .await;
    let second = fake
        .expect("the second card", |s| {
            matches!(s, Sent::Post { id, root_id, message, .. }
                if *root_id == root && *id != card && message.contains("acme/web#42"))
        })
        .await;
    let Sent::Post { id: second, .. } = second else {
        unreachable!("matched a post")
    };
    sim.wait_final(JOB_2).await;
    let done = fake.wait_actions(&second, &[]).await;
    assert!(
        done["message"].as_str().is_some_and(|m| m.contains("100%")),
        "{done}"
    );
    bot.stop().await.expect("a clean stop");

    assert_eq!(sim.job(JOB_2).expect("the retry")["retryOf"], JOB_1);
    assert_eq!(backend(&sim, "POST", "/cancel"), 1);
    assert_eq!(backend(&sim, "POST", "/retry"), 1);
    let sent = fake.sent();
    assert!(
        posts(&sent).iter().all(|(_, r, _)| *r == root),
        "the new job is relayed in the same thread: {sent:#?}"
    );
    assert!(
        !sent.iter().any(|s| matches!(s, Sent::EphemeralPost { .. })),
        "nothing private: {sent:#?}"
    );
    // The first card keeps Retry alone.
    assert_eq!(
        actions_of(&fake.stored_post(&card))
            .iter()
            .map(|a| a["id"].clone())
            .collect::<Vec<_>>(),
        ["retry"]
    );
}

#[tokio::test]
async fn a_refused_press_is_answered_privately_and_a_double_click_cancels_once() {
    let (fake, sim) = world(40).await;
    let bot = start_with_buttons(&fake, &sim, "", "sqlite::memory:", free_addr());
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let card = card_of(&fake, &root).await;
    fake.expect("step 1", |s| message(s).contains("Step 1/6"))
        .await;

    // bob did not ask for the job: `permissions.cancel` refuses him, privately.
    let refused = fake.click(&card, "cancel", BOB).await;
    let text = private_text(&refused)
        .expect("a private refusal")
        .to_owned();
    assert!(
        text.starts_with("Only the job's requester") && text.contains("`permissions.cancel`"),
        "{text}"
    );
    fake.expect("the refusal, to bob alone", |s| {
        matches!(s, Sent::EphemeralPost { user_id, root_id, message, .. }
            if user_id == BOB && *root_id == root && *message == text)
    })
    .await;
    assert_eq!(
        backend(&sim, "POST", "/cancel"),
        0,
        "nothing reached the backend"
    );

    // A double click: two requests, one cancel.
    let (first, second) = tokio::join!(
        fake.click(&card, "cancel", ALICE),
        fake.click(&card, "cancel", ALICE)
    );
    let told: Vec<&str> = [&first, &second]
        .into_iter()
        .filter_map(private_text)
        .collect();
    assert_eq!(told.len(), 1, "{first:?} {second:?}");
    assert!(
        told[0].starts_with("Cancel no longer applies")
            && told[0].contains("a cancel was asked already"),
        "{}",
        told[0]
    );
    fake.wait_actions(&card, &["retry"]).await;
    sim.wait_final(JOB_1).await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(backend(&sim, "POST", "/cancel"), 1);
    assert_eq!(backend(&sim, "POST", "/runner-jobs"), 1, "one job");
    let sent = fake.sent();
    let cancelling = posts(&sent)
        .iter()
        .filter(|(_, _, m)| m.starts_with("Cancelling job"))
        .count();
    assert_eq!(cancelling, 1, "{sent:#?}");
    let private = sent
        .iter()
        .filter(|s| matches!(s, Sent::EphemeralPost { .. }))
        .count();
    assert_eq!(
        private, 2,
        "bob's refusal and the second click's answer: {sent:#?}"
    );
    assert_eq!(fake.clicks().len(), 3);
}

#[tokio::test]
async fn a_click_that_meets_the_job_finished_is_answered_privately_and_reaches_no_backend() {
    let (fake, sim) = world(10).await;
    let bot = start_with_buttons(&fake, &sim, "", "sqlite::memory:", free_addr());
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let card = card_of(&fake, &root).await;

    // The server reads the post (Cancel on it), then the job completes and
    // the card loses its buttons before the bot is called.
    fake.hold_clicks(true);
    let (clicked, ()) = tokio::join!(fake.click(&card, "cancel", ALICE), async {
        fake.wait_clicks_held(1).await;
        sim.wait_final(JOB_1).await;
        fake.wait_actions(&card, &[]).await;
        fake.hold_clicks(false);
    });
    let text = private_text(&clicked).expect("a private answer");
    assert!(
        text.starts_with("Cancel no longer applies")
            && text.contains("Its card has no buttons now."),
        "{text}"
    );
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(backend(&sim, "POST", "/cancel"), 0);
    let mut sent = fake.sent();
    let private: Vec<Sent> = sent
        .iter()
        .filter(|s| matches!(s, Sent::EphemeralPost { .. }))
        .cloned()
        .collect();
    assert!(
        matches!(&private[..], [Sent::EphemeralPost { user_id, .. }] if user_id == ALICE),
        "{private:#?}"
    );
    sent.retain(|s| !matches!(s, Sent::EphemeralPost { .. }));
    assert_one_relayed_job(&sent, &root);
}

#[tokio::test]
async fn after_a_restart_mid_job_the_cards_buttons_keep_their_token_and_work() {
    let (fake, sim) = world(40).await;
    let dir = tempfile::tempdir().expect("a directory");
    let store = format!("sqlite://{}", dir.path().join("mosaic.db").display());
    let listen: SocketAddr = free_addr();
    let bot = start_with_buttons(&fake, &sim, "", &store, listen);
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let card = card_of(&fake, &root).await;
    fake.expect("step 2", |s| message(s).contains("Step 2/6"))
        .await;
    bot.stop().await.expect("a clean stop");
    let before = token(&fake.stored_post(&card), "cancel");
    let sent_before = fake.sent().len();

    let bot = start_with_buttons(&fake, &sim, "", &store, listen);
    fake.wait_authenticated(2).await;
    // The resumed relay writes the card again: with the same token, as the
    // secret was kept.
    fake.until_sent("the resumed card", |sent| {
        sent[sent_before..]
            .iter()
            .any(|s| matches!(s, Sent::Patch { id, .. } if *id == card))
    })
    .await;
    assert_eq!(token(&fake.stored_post(&card), "cancel"), before);
    let clicked = fake.click(&card, "cancel", ALICE).await;
    assert!(answered_publicly(&clicked), "{clicked:?}");
    fake.wait_actions(&card, &["retry"]).await;
    sim.wait_final(JOB_1).await;
    bot.stop().await.expect("a clean stop");
    assert_eq!(sim.job(JOB_1).expect("the job")["status"], "CANCELLED");
    assert_eq!(backend(&sim, "POST", "/cancel"), 1);
    let sent = fake.sent();
    let with_buttons: Vec<&str> = posts(&sent)
        .iter()
        .map(|(id, _, _)| *id)
        .filter(|id| !actions_of(&fake.stored_post(id)).is_empty())
        .collect();
    assert_eq!(with_buttons, [card.as_str()], "no second card: {sent:#?}");
    assert!(
        !sent.iter().any(|s| matches!(s, Sent::EphemeralPost { .. })),
        "{sent:#?}"
    );
}

#[tokio::test]
async fn serve_draws_buttons_from_its_configuration_and_never_logs_their_secret() {
    let (fake, sim) = world(40).await;
    fake.allow_untrusted_internal("127.0.0.1");
    let listen = free_addr().to_string();
    let actions_url = format!("http://{listen}{}", mosaic_mattermost::ACTION_PATH);
    let secret = "actions-SECRET-value";
    let served = crate::daemon_on::Served::start(
        &sim,
        &[
            ("MOSAIC__MATTERMOST__URL", &fake.url()),
            ("MOSAIC__MATTERMOST__TOKEN", crate::fake::BOT_TOKEN),
            ("MOSAIC__MATTERMOST__SLASH_LISTEN", &listen),
            ("MOSAIC__MATTERMOST__ACTIONS_URL", &actions_url),
            ("MOSAIC__MATTERMOST__ACTIONS_SECRET", secret),
        ],
    );
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    let card = card_of(&fake, &root).await;
    let posted = actions_of(&fake.stored_post(&card));
    assert!(
        posted
            .iter()
            .all(|a| a["integration"]["url"] == actions_url.as_str()),
        "{posted:?}"
    );
    // Clicked once the relay follows the card (it edits it from step 1 on).
    fake.expect("step 1", |s| message(s).contains("Step 1/6"))
        .await;
    let clicked = fake.click(&card, "cancel", ALICE).await;
    assert!(answered_publicly(&clicked), "{clicked:?}");
    fake.wait_actions(&card, &["retry"]).await;
    sim.wait_final(JOB_1).await;
    let logs = served.kill().await;
    assert_eq!(backend(&sim, "POST", "/cancel"), 1);
    crate::daemon_on::assert_no_secret(&logs, &[secret, crate::fake::BOT_TOKEN]);
    for post in posts(&fake.sent()) {
        let stored = fake.stored_post(post.0).to_string();
        assert!(!stored.contains(secret), "the secret is no token: {stored}");
    }
    fake.recorder().assert_conforms();
}
