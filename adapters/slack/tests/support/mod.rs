//! What the adapter's tests share: the adapter started against the fake
//! (Socket Mode, the HTTP endpoint, or both), its inbox, and signed
//! requests to its endpoint.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::{ChatError, ChatPlatform, Connection, Inbound, Press, RunContext, Secret};
use mosaic_slack::{HttpOptions, Slack, SlackOptions, sign};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::fake::{APP_TOKEN, BOT_TOKEN, FakeSlack, PATIENCE};

pub const SIGNING_SECRET: &str = "signing-secret-1";

pub struct Running {
    pub slack: Arc<Slack>,
    pub inbox: mpsc::Receiver<Inbound>,
    /// The presses the adapter hands to the core.
    pub presses: mpsc::Receiver<Press>,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), ChatError>>,
}

pub fn options(fake: &FakeSlack, socket: bool, http: bool) -> SlackOptions {
    let mut options = SlackOptions::new(Secret::new(BOT_TOKEN), "mosaic");
    options.api_url = fake.api_url();
    options.app_token = socket.then(|| Secret::new(APP_TOKEN));
    options.http = http.then(|| HttpOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        signing_secret: Secret::new(SIGNING_SECRET),
    });
    options.reconnect_min = Duration::from_millis(20);
    options.reconnect_max = Duration::from_millis(200);
    options
}

pub fn start(options: SlackOptions) -> Running {
    run(Arc::new(Slack::new(options).expect("the adapter builds")))
}

pub fn run(slack: Arc<Slack>) -> Running {
    let (tx, inbox) = mpsc::channel(16);
    let (pressed, presses) = mpsc::channel(16);
    slack.accept_presses(pressed);
    let stop = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&slack).run(RunContext::new(tx, stop.clone())));
    Running {
        slack,
        inbox,
        presses,
        stop,
        task,
    }
}

impl Running {
    pub async fn next(&mut self) -> Inbound {
        tokio::time::timeout(PATIENCE, self.inbox.recv())
            .await
            .expect("a message in time")
            .expect("the inbox is open")
    }

    pub async fn next_press(&mut self) -> Press {
        tokio::time::timeout(PATIENCE, self.presses.recv())
            .await
            .expect("a press in time")
            .expect("the presses' channel is open")
    }

    /// Stops the adapter and proves nothing else reached the inbox or the
    /// presses' channel.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let ended = tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("stops in time");
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
        assert!(
            self.inbox.recv().await.is_none(),
            "nothing more in the inbox"
        );
        assert_eq!(self.presses.recv().await, None, "no other press");
    }
}

/// Waits until `slack` reports `want`; the adapter's state has no
/// notification, so it is looked at every few milliseconds.
pub async fn until_connection(slack: &Slack, want: Connection) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while slack.connection() != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {:?}, never {want:?}",
            slack.connection()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Posts `body` to the endpoint, signed at `age_secs` ago with `secret`.
pub async fn signed(
    addr: SocketAddr,
    path: &str,
    body: &str,
    secret: &str,
    age_secs: i64,
    retry: bool,
) -> (u16, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let ts = (now - age_secs).to_string();
    let signature = sign(&Secret::new(secret), &ts, body.as_bytes());
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("X-Slack-Request-Timestamp", ts)
        .header("X-Slack-Signature", signature)
        .body(body.to_owned());
    if retry {
        request = request
            .header("X-Slack-Retry-Num", "1")
            .header("X-Slack-Retry-Reason", "http_timeout");
    }
    let response = request.send().await.expect("the endpoint answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

pub fn serde_urlencoded_form(fields: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params("http://x/", fields)
        .expect("a url")
        .query()
        .unwrap_or("")
        .to_owned()
}

/// Log lines written while it is the thread's default subscriber (a
/// `#[tokio::test]` runs every task on its one thread).
#[derive(Clone, Default)]
pub struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
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
    /// Captures the log lines at `warn` and above until the guard is dropped.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}
