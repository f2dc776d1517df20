//! The card's buttons on the wire: rendered as interactive message actions
//! the fake keeps whole and shows clients stripped, clicked through the fake
//! as Mattermost's server POSTs a click, and forged requests refused with
//! 403 and a log line. Each test ends by proving nothing else was sent and
//! no other press arrived.

mod fake;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake::{ALICE, BOB, BOT_TOKEN, CHANNEL, Clicked, FakeMattermost, PATIENCE, Sent, actions_of};
use mosaic_chat::{
    Button, ButtonStyle, ChatError, ChatPlatform, Inbound, Press, RunContext, Secret, ThreadRef,
};
use mosaic_mattermost::{
    ACTION_PATH, ActionOptions, Mattermost, MattermostOptions, PLATFORM, SlashOptions,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A port free now, for a listener whose URL must be known before it binds
/// (the actions' URL is written into every card).
fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("its address").port()
}

struct Bot {
    mm: Arc<Mattermost>,
    presses: mpsc::Receiver<Press>,
    inbox: mpsc::Receiver<Inbound>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ChatError>>,
    url: String,
    requests: fake::Recorder,
}

async fn start(fake: &FakeMattermost) -> Bot {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}{ACTION_PATH}");
    let mut options = MattermostOptions::new(&fake.url(), Secret::new(BOT_TOKEN), "mosaic");
    options.slash = Some(SlashOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        tokens: vec![Secret::new("slash-token")],
    });
    options.actions = Some(ActionOptions {
        url: url.clone(),
        secret: None,
    });
    options.press_answer_wait = Duration::from_millis(500);
    let mm = Arc::new(Mattermost::new(options).expect("the adapter builds"));
    let (presses_tx, presses) = mpsc::channel(16);
    mm.accept_presses(presses_tx);
    let (tx, inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&mm).run(RunContext::new(tx, stop.clone())));
    mm.slash_addr().await.expect("the listener listens");
    fake.wait_authenticated(1).await;
    Bot {
        mm,
        presses,
        inbox,
        stop,
        task,
        url,
        requests: fake.recorder(),
    }
}

impl Bot {
    /// Stops the adapter; no press and no message came that the test did not take.
    async fn stop(mut self) {
        self.stop.cancel();
        let ended = tokio::time::timeout(PATIENCE, self.task).await;
        assert_eq!(ended.expect("stops in time").expect("no panic"), Ok(()));
        assert!(self.presses.recv().await.is_none(), "no press left over");
        assert!(self.inbox.recv().await.is_none(), "no message left over");
        self.requests.assert_conforms();
    }

    async fn next_press(&mut self) -> Press {
        tokio::time::timeout(PATIENCE, self.presses.recv())
            .await
            .expect("a press in time")
            .expect("the press channel is open")
    }
}

fn card_buttons() -> [Button; 2] {
    [
        Button::new("cancel", "Cancel", ButtonStyle::Danger),
        Button::new("quiet", "Quiet", ButtonStyle::Default),
    ]
}

/// Alice's command at the top level, and the card in its thread.
async fn post_card(bot: &Bot, fake: &FakeMattermost) -> (ThreadRef, String) {
    let root = fake.user_post(CHANNEL, None, "a thread for the card");
    let thread = ThreadRef {
        platform: PLATFORM,
        channel: CHANNEL.into(),
        thread: root,
    };
    let id = bot
        .mm
        .post_with_buttons(&thread, "▶️ Running", &card_buttons())
        .await
        .expect("posted");
    (thread, id)
}

fn ids(actions: &[Value]) -> Vec<&str> {
    actions.iter().filter_map(|a| a["id"].as_str()).collect()
}

#[tokio::test]
async fn buttons_ride_in_props_clients_never_see_their_integration_and_edits_replace_them() {
    let fake = FakeMattermost::start().await;
    let bot = start(&fake).await;
    let (thread, card) = post_card(&bot, &fake).await;

    let stored = actions_of(&fake.stored_post(&card));
    assert_eq!(ids(&stored), ["cancel", "quiet"]);
    assert_eq!(stored[0]["name"], "Cancel");
    assert_eq!(stored[0]["style"], "danger");
    assert_eq!(stored[1]["style"], "default");
    assert_eq!(stored[0]["integration"]["url"], bot.url.as_str());
    let context = &stored[0]["integration"]["context"];
    assert_eq!(
        (&context["action"], &context["channel"], &context["root"]),
        (&json!("cancel"), &json!(CHANNEL), &json!(thread.thread))
    );
    assert_eq!(context["token"].as_str().map(str::len), Some(64));
    assert_ne!(
        context["token"], stored[1]["integration"]["context"]["token"],
        "each action has its own token"
    );
    let seen = actions_of(&fake.client_post(&card));
    assert_eq!(ids(&seen), ["cancel", "quiet"], "clients see the buttons");
    assert!(
        seen.iter().all(|a| a.get("integration").is_none()),
        "but never their URL or token: {seen:?}"
    );

    bot.mm
        .edit_with_buttons(
            &thread,
            &card,
            "🛑 Cancelled",
            &[Button::new("retry", "Retry", ButtonStyle::Primary)],
        )
        .await
        .expect("edited");
    let stored = actions_of(&fake.stored_post(&card));
    assert_eq!(ids(&stored), ["retry"]);
    assert_eq!(stored[0]["style"], "primary");
    // A plain edit keeps what the card carries.
    bot.mm
        .edit(&thread, &card, "🛑 Cancelled.")
        .await
        .expect("edited");
    assert_eq!(ids(&actions_of(&fake.stored_post(&card))), ["retry"]);
    bot.mm
        .edit_with_buttons(&thread, &card, "✅ Completed", &[])
        .await
        .expect("edited");
    let done = fake.stored_post(&card);
    assert!(actions_of(&done).is_empty(), "no button left: {done}");
    assert_eq!(done["message"], "✅ Completed");

    let sent = fake.sent();
    assert_eq!(sent.len(), 4, "one post, three edits: {sent:#?}");
    bot.stop().await;
}

#[tokio::test]
async fn a_click_is_a_press_and_a_private_answer_comes_back_as_ephemeral_text() {
    let fake = FakeMattermost::start().await;
    fake.allow_untrusted_internal("127.0.0.1");
    fake.set_roles(BOB, "system_user", "team_user team_admin");
    let mut bot = start(&fake).await;
    let (thread, card) = post_card(&bot, &fake).await;

    let click = fake.click(&card, "cancel", BOB);
    let answer = async {
        let press = bot.next_press().await;
        let typed = press.as_command(Some(&thread.thread), "@mosaic cancel");
        bot.mm
            .reply_private(&typed, "Only the job's requester may `cancel` it.")
            .await
            .expect("answered");
        press
    };
    let (clicked, press) = tokio::join!(click, answer);
    assert_eq!(
        (
            press.platform,
            press.channel.as_str(),
            press.message_id.as_str()
        ),
        (PLATFORM, CHANNEL, card.as_str()),
        "the press names the card as it was posted"
    );
    assert_eq!(press.button, "cancel");
    assert_eq!(
        (press.user.id.as_str(), press.user.name.as_str()),
        (BOB, "bob")
    );
    let mut roles = press.roles.clone();
    roles.sort();
    assert_eq!(roles, ["system_user", "team_admin", "team_user"]);
    assert!(
        press.dedupe_key.starts_with("mattermost:press:trig"),
        "{press:?}"
    );
    assert!(press.created_at.elapsed().expect("in the past") < PATIENCE);
    assert_eq!(
        clicked,
        Clicked::Answered {
            ephemeral_text: Some("Only the job's requester may `cancel` it.".into()),
            updated: false,
        }
    );

    // A press answered publicly (the core posts in the thread): `{}` after the wait.
    let again = fake.click(&card, "quiet", BOB);
    let (clicked, second) = tokio::join!(again, bot.next_press());
    assert_eq!(
        clicked,
        Clicked::Answered {
            ephemeral_text: None,
            updated: false
        }
    );
    assert_eq!(second.button, "quiet");
    assert_ne!(second.dedupe_key, press.dedupe_key, "each click is its own");

    // A private answer after the click was answered: an ephemeral post where
    // the bot may make one, else in the thread.
    let late = second.as_command(Some(&thread.thread), "@mosaic quiet");
    bot.mm
        .reply_private(&late, "late, in the thread")
        .await
        .expect("answered");
    fake.allow_ephemeral_posts(true);
    bot.mm
        .reply_private(&late, "late, privately")
        .await
        .expect("answered");

    let sent = fake.sent();
    assert_eq!(
        sent[1..],
        [
            Sent::EphemeralPost {
                user_id: BOB.into(),
                channel: CHANNEL.into(),
                root_id: thread.thread.clone(),
                message: "Only the job's requester may `cancel` it.".into(),
            },
            Sent::Post {
                id: match &sent[2] {
                    Sent::Post { id, .. } => id.clone(),
                    other => panic!("{other:?}"),
                },
                channel: CHANNEL.into(),
                root_id: thread.thread.clone(),
                message: "late, in the thread".into(),
            },
            Sent::EphemeralPost {
                user_id: BOB.into(),
                channel: CHANNEL.into(),
                root_id: thread.thread.clone(),
                message: "late, privately".into(),
            },
        ],
        "{sent:#?}"
    );
    assert_eq!(fake.clicks().len(), 2);
    bot.stop().await;
}

#[tokio::test]
async fn mattermost_refuses_to_call_an_internal_bot_unless_the_admin_allows_it() {
    let fake = FakeMattermost::start().await;
    let bot = start(&fake).await;
    let (_, card) = post_card(&bot, &fake).await;
    let clicked = fake.click(&card, "cancel", ALICE).await;
    assert!(
        matches!(&clicked, Clicked::Failed { detail, .. } if detail.contains("AllowedUntrustedInternalConnections")),
        "{clicked:?}"
    );
    assert_eq!(fake.sent().len(), 1, "the card alone");
    bot.stop().await;
}

/// A buffer the adapter's log lines are written to.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

#[tokio::test]
async fn forged_presses_are_refused_with_403_and_logged_and_none_reaches_the_core() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs every task on this thread: the adapter logs here.
    let _logging = tracing::subscriber::set_default(subscriber);

    let fake = FakeMattermost::start().await;
    let mut bot = start(&fake).await;
    let (_, card) = post_card(&bot, &fake).await;
    let (_, other_card) = post_card(&bot, &fake).await;
    let context_of = |post: &str, action: &str| -> Value {
        actions_of(&fake.stored_post(post))
            .into_iter()
            .find(|a| a["id"] == action)
            .map(|a| a["integration"]["context"].clone())
            .expect("the action")
    };
    let cancel = context_of(&card, "cancel");
    let quiet = context_of(&card, "quiet");
    let request = |post: &str, context: Value| {
        json!({
            "user_id": ALICE, "user_name": "alice", "channel_id": CHANNEL,
            "channel_name": "town-square", "team_id": fake::TEAM, "team_domain": "acme",
            "post_id": post, "trigger_id": "forged", "type": "button", "data_source": "",
            "context": context,
        })
    };
    let with_token = |token: &str| {
        let mut c = cancel.clone();
        c["token"] = json!(token);
        c
    };
    let mut quiet_as_cancel = quiet.clone();
    quiet_as_cancel["action"] = json!("cancel");
    let mut other_channel = cancel.clone();
    other_channel["channel"] = json!(fake::CHANNEL2);
    let forged = [
        ("no context", request(&card, Value::Null)),
        (
            "no token",
            request(&card, json!({"action": "cancel", "channel": CHANNEL})),
        ),
        ("a wrong token", request(&card, with_token(&"0".repeat(64)))),
        ("not hex", request(&card, with_token("not-hex"))),
        ("another action's token", request(&card, quiet_as_cancel)),
        (
            "another thread's card",
            request(&other_card, cancel.clone()),
        ),
        ("another channel", request(&card, other_channel)),
    ];
    let http = reqwest::Client::new();
    for (what, body) in &forged {
        let answer = http
            .post(&bot.url)
            .json(body)
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 403, "{what}");
    }
    let text = logs.text();
    assert_eq!(
        text.matches("a button press was refused").count(),
        forged.len(),
        "one log line each: {text}"
    );
    assert!(
        !text.contains(cancel["token"].as_str().unwrap_or("-")),
        "no token is logged"
    );
    assert!(
        bot.presses.try_recv().is_err(),
        "no forged press reached the core"
    );

    // The real context, as Mattermost sends it, is taken.
    let taken = http
        .post(&bot.url)
        .json(&request(&card, cancel))
        .send()
        .await;
    assert_eq!(taken.expect("answered").status(), 200);
    let press = bot.next_press().await;
    assert_eq!(
        (press.message_id.as_str(), press.button.as_str()),
        (card.as_str(), "cancel")
    );
    assert_eq!(fake.sent().len(), 2, "the two cards alone");
    bot.stop().await;
}
