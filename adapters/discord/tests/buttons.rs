//! Buttons on the wire: the card's buttons as message components (drawn,
//! changed, removed, refused when Discord would refuse them), and presses
//! as Discord sends them (component interactions over the gateway),
//! answered with a deferred update within 3 seconds and handed on placed
//! where the card was posted; a re-delivered press, and the fake's own
//! refusals of late and second answers.

mod common;
mod fake;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fake::*;
use mosaic_chat::{
    Button, ButtonStyle, ChatError, ChatPlatform, Inbound, Press, RunContext, ThreadRef,
};
use mosaic_discord::Discord;
use serde_json::{Value, json};
use serenity::all::{ApplicationId, CreateInteractionResponse, HttpBuilder, InteractionId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn cancel() -> Button {
    Button::new("cancel", "Cancel", ButtonStyle::Danger)
}

fn quiet() -> Button {
    Button::new("quiet", "Quiet", ButtonStyle::Default)
}

fn retry() -> Button {
    Button::new("retry", "Retry", ButtonStyle::Primary)
}

/// The adapter against a new fake, its presses taken, connected and caught up.
async fn connect_taking_presses() -> (Connected, mpsc::Receiver<Press>) {
    let fake = FakeDiscord::start().await;
    let discord = Arc::new(Discord::new(options(&fake, "mosaic")));
    let (presses_tx, presses) = mpsc::channel(16);
    discord.accept_presses(presses_tx);
    let (tx, inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    tokio::spawn(Arc::clone(&discord).run(RunContext::new(tx, stop.clone())));
    fake.wait_sessions(1, 0).await;
    fake.wait_caught_up(1).await;
    let c = Connected {
        fake,
        discord,
        inbox,
        stop,
    };
    (c, presses)
}

/// A mention in the channel, and its job's thread.
async fn job_thread(c: &mut Connected) -> (Inbound, ThreadRef) {
    c.fake.say(CHANNEL, &format!("<@{BOT_ID}> fix #42"));
    let inbound = next(&mut c.inbox).await;
    let thread = inbound.reply_thread();
    (inbound, thread)
}

/// A job's thread and its card posted there with `buttons`: the card's id as
/// the adapter returned it, and as a number.
async fn card_in_thread(c: &mut Connected, buttons: &[Button]) -> (ThreadRef, String, u64) {
    let (_, thread) = job_thread(c).await;
    let card = c
        .discord
        .post_with_buttons(&thread, "card", buttons)
        .await
        .expect("posted");
    let card_id = card.parse().expect("an id");
    (thread, card, card_id)
}

async fn next_press(presses: &mut mpsc::Receiver<Press>) -> Press {
    tokio::time::timeout(PATIENCE, presses.recv())
        .await
        .expect("in time")
        .expect("a press")
}

/// Stops the adapter, proves it handed on no other press, and returns its calls.
async fn finish(c: Connected, mut presses: mpsc::Receiver<Press>) -> Vec<Call> {
    let calls = c.finish_but_catch_up().await;
    let rest = tokio::time::timeout(PATIENCE, presses.recv()).await;
    assert_eq!(rest, Ok(None), "no other press was handed on");
    calls
}

fn ids(components: &Value) -> Vec<String> {
    custom_ids(components)
}

#[tokio::test]
async fn buttons_are_an_action_row_changed_and_removed_by_edits() {
    let (mut c, presses) = connect_taking_presses().await;
    assert!(c.discord.renders_buttons());
    let (thread, card, card_id) = card_in_thread(&mut c, &[cancel(), quiet()]).await;
    assert_eq!(ids(&c.fake.components_of(card_id)), ["cancel", "quiet"]);

    c.discord
        .edit_with_buttons(&thread, &card, "failed", &[retry()])
        .await
        .expect("edited");
    assert_eq!(ids(&c.fake.components_of(card_id)), ["retry"]);
    // A plain edit names no components: Discord keeps those there.
    c.discord
        .edit(&thread, &card, "failed, again")
        .await
        .expect("edited");
    assert_eq!(ids(&c.fake.components_of(card_id)), ["retry"]);
    c.discord
        .edit_with_buttons(&thread, &card, "done", &[])
        .await
        .expect("edited");
    assert_eq!(c.fake.components_of(card_id), json!([]));
    // A post with no buttons carries no components at all.
    let plain = c
        .discord
        .post_with_buttons(&thread, "plain", &[])
        .await
        .expect("posted");

    let calls = finish(c, presses).await;
    let on_card: Vec<&Call> = calls
        .iter()
        .filter(|call| call.path.ends_with(&format!("/messages/{card}")))
        .collect();
    let thread_id = &thread.thread;
    assert!(
        on_card
            .iter()
            .all(|call| call.path == format!("/channels/{thread_id}/messages/{card}")),
        "{on_card:#?}"
    );
    let sent: Vec<Option<&Value>> = on_card
        .iter()
        .map(|call| call.body.get("components"))
        .collect();
    let retry_row = json!([{ "type": 1, "components": [
        { "type": 2, "style": 1, "custom_id": "retry", "label": "Retry", "disabled": false } ] }]);
    assert_eq!(sent, [Some(&retry_row), None, Some(&json!([]))]);
    let post = calls
        .iter()
        .find(|call| call.method == "POST" && content_is(call, "card"))
        .expect("the card's post");
    assert_eq!(
        post.body["components"][0]["components"][0],
        json!({ "type": 2, "style": 4, "custom_id": "cancel", "label": "Cancel", "disabled": false })
    );
    assert_eq!(post.body["components"][0]["components"][1]["style"], 2);
    let plain_post = calls
        .iter()
        .find(|call| call.method == "POST" && content_is(call, "plain"))
        .expect("the plain post");
    assert!(
        plain_post.body.get("components").is_none(),
        "{plain_post:#?}"
    );
    assert!(!plain.is_empty());
}

fn content_is(call: &Call, text: &str) -> bool {
    call.body["content"] == text
}

#[tokio::test]
async fn buttons_discord_would_refuse_are_refused_as_discord_does() {
    let (mut c, presses) = connect_taking_presses().await;
    let (_, thread) = job_thread(&mut c).await;
    let long = Button::new("cancel", "x".repeat(81), ButtonStyle::Danger);
    let refused = c.discord.post_with_buttons(&thread, "card", &[long]).await;
    assert!(
        matches!(&refused, Err(ChatError::Rejected { code, .. }) if code == "50035"),
        "{refused:?}"
    );
    let twice = c
        .discord
        .post_with_buttons(&thread, "card", &[cancel(), cancel()])
        .await;
    assert!(
        matches!(&twice, Err(ChatError::Rejected { code, .. }) if code == "50035"),
        "{twice:?}"
    );
    let calls = finish(c, presses).await;
    // Both reached Discord, and nothing was stored.
    let posts = calls
        .iter()
        .filter(|call| call.method == "POST" && content_is(call, "card"))
        .count();
    assert_eq!(posts, 2);
}

#[tokio::test]
async fn a_press_is_deferred_at_once_and_handed_on_where_the_card_was_posted() {
    let (mut c, mut presses) = connect_taking_presses().await;
    let (thread, card, card_id) = card_in_thread(&mut c, &[cancel(), quiet()]).await;
    let interaction = c.fake.press(card_id, "cancel", ALICE, Some(&[11, 12]));
    let press = next_press(&mut presses).await;

    // The card stands in the thread; its job's channel is the thread's parent.
    assert_eq!(press.channel, CHANNEL.to_string());
    assert_eq!(press.message_id, card);
    assert_eq!(press.button, "cancel");
    assert_eq!(
        (press.user.id.as_str(), press.user.name.as_str()),
        (ALICE.to_string().as_str(), "alice")
    );
    assert_eq!(press.roles, ["11", "12"]);
    assert_eq!(press.dedupe_key, format!("discord:{interaction}"));
    assert_eq!(
        press.created_at,
        std::time::UNIX_EPOCH + Duration::from_millis((interaction >> 22) + 1_420_070_400_000)
    );
    let (kind, after) = c.fake.answered(interaction).expect("answered");
    assert_eq!(kind, 6, "a deferred update: no visible reply");
    assert!(after < ANSWER_WITHIN, "answered after {after:?}");

    // Private answers are ephemeral followups: the "original response"
    // of a deferred update is the card, which they must not overwrite.
    let typed = press.as_command(Some(&thread.thread), "@mosaic cancel");
    for text in ["refused", "again"] {
        c.discord
            .reply_private(&typed, text)
            .await
            .expect("answered");
    }
    let calls = finish(c, presses).await;
    let callback = format!("/interactions/{interaction}/btn{interaction}/callback");
    let callbacks: Vec<&Call> = calls.iter().filter(|c| c.path == callback).collect();
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0].body, json!({ "type": 6, "data": null }));
    let answers: Vec<(&str, &Value, &Value)> = calls
        .iter()
        .filter(|c| c.path.starts_with("/webhooks/"))
        .map(|c| (c.method.as_str(), &c.body["content"], &c.body["flags"]))
        .collect();
    assert_eq!(
        answers,
        [
            ("POST", &json!("refused"), &json!(64)),
            ("POST", &json!("again"), &json!(64))
        ]
    );
    assert!(
        calls
            .iter()
            .filter(|c| c.path.starts_with("/webhooks/"))
            .all(|c| c.path == format!("/webhooks/{APP_ID}/btn{interaction}")),
        "{calls:#?}"
    );
    // Nothing else touched the card.
    assert!(
        !calls
            .iter()
            .any(|c| c.method == "PATCH" && c.path.contains(&card)),
        "{calls:#?}"
    );
}

#[tokio::test]
async fn a_press_delivered_twice_is_handed_on_twice_with_one_dedupe_key() {
    let (mut c, mut presses) = connect_taking_presses().await;
    let (_, _, card) = card_in_thread(&mut c, &[cancel()]).await;
    let interaction = c.fake.press(card, "cancel", ALICE, Some(&[]));
    let first = next_press(&mut presses).await;
    c.fake.redeliver(interaction);
    let again = next_press(&mut presses).await;
    // The core acts on one dedupe key once.
    assert_eq!(again, first);
    let calls = finish(c, presses).await;
    let callback = format!("/interactions/{interaction}/btn{interaction}/callback");
    assert_eq!(calls.iter().filter(|c| c.path == callback).count(), 2);
}

/// The fake answers as Discord does: a second callback is refused with
/// 40060, a late one with 10062 (then its token serves no followup: 10015),
/// and a deferred update is only for component interactions.
#[tokio::test]
async fn the_fake_refuses_second_and_late_answers() {
    let fake = FakeDiscord::start().await;
    let http = HttpBuilder::new("tok")
        .application_id(ApplicationId::new(APP_ID))
        .proxy(fake.url())
        .ratelimiter_disabled(true)
        .build();
    let code = |result: serenity::Result<()>| match result {
        Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r))) => {
            r.error.code
        }
        other => panic!("a refusal, not {other:?}"),
    };
    let answer = |id: u64, response: CreateInteractionResponse| {
        let http = &http;
        async move {
            http.create_interaction_response(
                InteractionId::new(id),
                &format!("tok{id}"),
                &response,
                Vec::new(),
            )
            .await
        }
    };
    let slash = fake.slash(CHANNEL, "status", None);
    assert_eq!(
        code(answer(slash, CreateInteractionResponse::Acknowledge).await),
        50035
    );
    let defer = || CreateInteractionResponse::Defer(Default::default());
    answer(slash, defer()).await.expect("the first answer");
    assert_eq!(code(answer(slash, defer()).await), 40060);

    let late = fake.slash(CHANNEL, "status", None);
    tokio::time::sleep(ANSWER_WITHIN + Duration::from_millis(100)).await;
    assert_eq!(code(answer(late, defer()).await), 10062);
    let followup = http
        .create_followup_message(
            &format!("tok{late}"),
            &serenity::all::CreateInteractionResponseFollowup::new().content("x"),
            Vec::new(),
        )
        .await
        .map(drop);
    assert_eq!(code(followup), 10015);
    assert_eq!(fake.answered(late), None);
}

/// The table every test's calls are walked against knows components and
/// the callback types as Discord's OpenAPI description has them.
#[test]
fn the_operations_table_checks_components_and_callback_types() {
    use fake::openapi::check;
    let call = |method: &str, path: &str, body: Value| Call {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        body,
    };
    let post = |components: Value| {
        check(&call(
            "POST",
            "/channels/1/messages",
            json!({ "content": "x", "components": components }),
        ))
    };
    let button = json!({ "type": 2, "style": 4, "custom_id": "cancel", "label": "Cancel" });
    assert_eq!(
        post(json!([{ "type": 1, "components": [button] }])),
        Ok("create_message")
    );
    assert!(
        post(json!([{ "components": [button] }])).is_err(),
        "a row's type"
    );
    assert!(
        post(json!([{ "type": 1, "components": [{ "type": 2, "customid": "x", "style": 1 }] }]))
            .is_err(),
        "no such field of a button"
    );
    assert!(
        post(json!([{ "type": 1, "components": [{ "type": 2, "custom_id": "x" }] }])).is_err(),
        "a button's style"
    );
    let callback = |body: Value| check(&call("POST", "/interactions/1/t/callback", body));
    assert_eq!(
        callback(json!({ "type": 6, "data": null })),
        Ok("create_interaction_response")
    );
    assert!(
        callback(json!({ "type": 3 })).is_err(),
        "no callback type 3"
    );
    assert!(callback(json!({ "type": 6, "flags": 64 })).is_err());
}
