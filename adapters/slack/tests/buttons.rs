//! Card buttons against the fake Slack: drawn as an `actions` block that
//! Slack accepts (and removed by an edit without buttons), pressed over
//! Socket Mode (acked before anything else, a re-sent envelope handed on
//! once) and over the signed interactivity endpoint (forged, unsigned and
//! stale requests refused with 401 and a log line), and answered privately
//! through the press's `response_url`. Each test ends by proving nothing
//! else reached the core or Slack, and that every call was one Slack
//! describes.

mod fake;
mod support;

use std::time::{Duration, UNIX_EPOCH};

use fake::conformance::assert_conforms;
use fake::{ALICE, BOB, CHANNEL, FakeSlack, Sent};
use mosaic_chat::{Button, ButtonStyle, ChatError, ChatPlatform, ThreadRef};
use mosaic_slack::{INTERACTIVITY_PATH, PLATFORM, Slack, ts_instant};
use support::*;

fn thread() -> ThreadRef {
    ThreadRef {
        platform: PLATFORM,
        channel: CHANNEL.into(),
        thread: "1700000000.000001".into(),
    }
}

fn card_buttons() -> Vec<Button> {
    vec![
        Button::new("cancel", "Cancel", ButtonStyle::Danger),
        Button::new("verbose", "Verbose", ButtonStyle::Default),
    ]
}

const CARD: &str = "🔧 *Running* · <https://x/1|acme/web#42>\nStep 1/6: Setup · ▰▱▱▱▱▱▱▱▱▱ 10%";

/// Posts the card with Cancel and Verbose; returns its `ts`.
async fn post_card(slack: &Slack) -> String {
    slack
        .post_with_buttons(&thread(), CARD, &card_buttons())
        .await
        .expect("the card is posted")
}

#[tokio::test]
async fn buttons_are_an_actions_block_slack_takes_and_an_edit_without_them_removes_them() {
    let fake = FakeSlack::start().await;
    let slack = Slack::new(options(&fake, false, false)).expect("builds");
    assert!(slack.renders_buttons());
    let card = post_card(&slack).await;
    assert_eq!(fake.buttons_of(&card), ["cancel", "verbose"]);
    let blocks = fake.blocks_of(&card);
    let actions = &blocks[2];
    assert_eq!(actions["type"], "actions", "{blocks:#}");
    assert_eq!(actions["elements"][0]["style"], "danger");
    assert_eq!(actions["elements"][0]["value"], "cancel");
    assert_eq!(actions["elements"][0]["text"]["text"], "Cancel");
    assert!(actions["elements"][1].get("style").is_none(), "{blocks:#}");

    let retry = [Button::new("retry", "Retry", ButtonStyle::Primary)];
    let cancelled = "🛑 *Cancelled* · <https://x/1|acme/web#42>";
    slack
        .edit_with_buttons(&thread(), &card, cancelled, &retry)
        .await
        .expect("edited");
    assert_eq!(fake.buttons_of(&card), ["retry"]);
    assert_eq!(fake.blocks_of(&card)[1]["elements"][0]["style"], "primary");
    // A plain edit and an edit with no buttons both leave none: Slack keeps
    // a message's blocks unless the update sends others.
    slack
        .edit(&thread(), &card, "🛑 *Cancelled* · again")
        .await
        .expect("edited");
    assert!(fake.buttons_of(&card).is_empty());
    slack
        .edit_with_buttons(&thread(), &card, cancelled, &retry)
        .await
        .expect("edited");
    assert_eq!(fake.buttons_of(&card), ["retry"]);
    slack
        .edit_with_buttons(&thread(), &card, cancelled, &[])
        .await
        .expect("edited");
    assert!(
        fake.buttons_of(&card).is_empty(),
        "{:#}",
        fake.blocks_of(&card)
    );

    // Slack refuses a button it cannot show; the error says so.
    let too_long = [Button::new("x".repeat(256), "X", ButtonStyle::Default)];
    let refused = slack.post_with_buttons(&thread(), "hi", &too_long).await;
    assert!(
        matches!(&refused, Err(ChatError::Rejected { code, .. }) if code == "invalid_blocks"),
        "{refused:?}"
    );
    let calls = fake.calls();
    let (good, bad) = calls.split_at(calls.len() - 1);
    assert_conforms(good);
    assert!(!fake::conformance::problems_of(&bad[0]).is_empty());
    assert_eq!(fake.sent().len(), 5, "{:#?}", fake.sent());
}

#[tokio::test]
async fn a_press_over_socket_mode_is_acked_first_and_a_resent_envelope_acts_once() {
    let fake = FakeSlack::start().await;
    fake.set_user_groups(&[("S0OPS", &[ALICE])]);
    let mut bot = start(options(&fake, true, false));
    fake.wait_connected(1).await;
    let card = post_card(&bot.slack).await;

    // The user groups are held: the press waits for them, its envelope does not.
    fake.hold_user_groups(true);
    let payload = fake.press_payload(&card, "cancel", ALICE);
    let envelope = fake.envelope("interactive", payload.clone());
    fake.wait_all_acked().await;
    fake.until("the groups asked", |f| {
        (f.user_groups_calls() >= 1).then_some(())
    })
    .await;
    assert!(
        bot.presses.try_recv().is_err(),
        "acked before it is handed on"
    );
    fake.hold_user_groups(false);
    let press = bot.next_press().await;
    assert_eq!(press.platform, PLATFORM);
    assert_eq!(
        (
            press.channel.as_str(),
            press.message_id.as_str(),
            press.button.as_str()
        ),
        (CHANNEL, card.as_str(), "cancel")
    );
    assert_eq!(press.user.id, ALICE);
    assert_eq!(press.roles, ["S0OPS"]);
    let action_ts = payload["actions"][0]["action_ts"].as_str().unwrap_or("");
    assert_eq!(Some(press.created_at), ts_instant(action_ts));
    assert!(press.created_at > UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    assert_eq!(
        press.reply_handle.as_deref(),
        payload["response_url"].as_str()
    );

    // Its ack "came late": Slack sends the envelope again. Then a second click.
    fake.resend(&envelope);
    let again = fake.press(&card, "cancel", ALICE);
    let second = bot.next_press().await;
    assert_ne!(
        second.dedupe_key, press.dedupe_key,
        "two clicks, two presses"
    );
    assert_eq!(
        second.reply_handle.as_deref(),
        again["response_url"].as_str()
    );
    fake.wait_all_acked().await;

    // The answer to the press is the presser's alone; the card stays.
    let inbound = press.as_command(Some(&thread().thread), "@mosaic cancel");
    bot.slack
        .reply_private(&inbound, "Only the job's requester may `cancel` it.")
        .await
        .expect("answered");
    let answers = fake.answers_to(&payload);
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_eq!(answers[0]["response_type"], "ephemeral");
    assert_eq!(answers[0]["replace_original"], false);
    assert_eq!(fake.buttons_of(&card), ["cancel", "verbose"]);
    bot.stop().await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(matches!(&sent[1], Sent::Ephemeral { text } if text.contains("requester")));
    assert_conforms(&fake.calls());
}

#[tokio::test]
async fn a_signed_press_over_http_is_taken_and_forged_unsigned_or_stale_ones_are_refused_and_logged()
 {
    let (logs, _guard) = Logs::capture();
    let fake = FakeSlack::start().await;
    let mut bot = start(options(&fake, false, true));
    let addr = bot.slack.http_addr().await.expect("the endpoint listens");
    let card = post_card(&bot.slack).await;
    let payload = fake.press_payload(&card, "verbose", BOB);
    let form = FakeSlack::press_form(&payload);

    let forged = signed(addr, INTERACTIVITY_PATH, &form, "forged", 0, false).await;
    assert_eq!(forged.0, 401);
    let stale = signed(
        addr,
        INTERACTIVITY_PATH,
        &form,
        SIGNING_SECRET,
        6 * 60,
        false,
    )
    .await;
    assert_eq!(stale.0, 401);
    let unsigned = reqwest::Client::new()
        .post(format!("http://{addr}{INTERACTIVITY_PATH}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .expect("answers");
    assert_eq!(unsigned.status().as_u16(), 401);
    let refusals: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(INTERACTIVITY_PATH))
        .map(str::to_owned)
        .collect();
    assert_eq!(refusals.len(), 3, "one line per refusal: {}", logs.text());
    assert!(refusals[0].contains("does not match"), "{refusals:?}");
    assert!(refusals[1].contains("five minutes"), "{refusals:?}");
    assert!(refusals[2].contains("no X-Slack-Signature"), "{refusals:?}");
    assert!(
        bot.presses.try_recv().is_err(),
        "nothing refused was handed on"
    );

    let started = tokio::time::Instant::now();
    let taken = signed(addr, INTERACTIVITY_PATH, &form, SIGNING_SECRET, 0, false).await;
    assert_eq!(
        taken,
        (200, String::new()),
        "an empty 200 leaves the card as it is"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "within Slack's 3 s"
    );
    let press = bot.next_press().await;
    assert_eq!(
        (
            press.message_id.as_str(),
            press.button.as_str(),
            press.user.id.as_str()
        ),
        (card.as_str(), "verbose", BOB)
    );
    assert!(press.roles.is_empty(), "Bob is in no group");
    // Not a form with a payload: refused, and said so.
    let junk = signed(
        addr,
        INTERACTIVITY_PATH,
        "payload=%7Bnope",
        SIGNING_SECRET,
        0,
        false,
    )
    .await;
    assert_eq!(junk.0, 400);
    assert!(
        logs.text().contains("without a readable `payload`"),
        "{}",
        logs.text()
    );
    bot.stop().await;
    assert_eq!(fake.sent().len(), 1, "the card alone: {:#?}", fake.sent());
    assert_conforms(&fake.calls());
}

#[test]
fn the_manifest_turns_interactivity_on_and_names_its_request_url() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/slack-app-manifest.yml"
    );
    let manifest = std::fs::read_to_string(path).expect("the manifest");
    let settings = manifest
        .split("\nsettings:\n")
        .nth(1)
        .expect("a settings section");
    let interactivity = settings
        .split("  interactivity:\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("settings.interactivity");
    assert_eq!(interactivity.trim(), "is_enabled: true");
    assert!(
        manifest.contains(&format!(
            "settings.interactivity.request_url:       https://BOT-HOST{INTERACTIVITY_PATH}"
        )),
        "the HTTP mode's Request URL is told"
    );
}
