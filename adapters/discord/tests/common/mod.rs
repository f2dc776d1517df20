//! What the adapter's test files share: the adapter started against the
//! fake Discord, its inbox, and the end of a test.
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::{ChatPlatform, Inbound, Limits, RunContext, Secret};
use mosaic_discord::{Discord, DiscordOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::fake::*;

/// The adapter's options against `fake`: its REST and gateway addresses,
/// commands registered in its guild, no pacing.
pub fn options(fake: &FakeDiscord, bot_name: &str) -> DiscordOptions {
    let mut options = DiscordOptions::new(Secret::new("tok"), APP_ID, bot_name);
    options.api_url = Some(fake.url());
    options.gateway_url = Some(fake.gateway_url());
    options.guild_id = Some(GUILD_ID);
    options.limits = Limits {
        post_interval: Duration::ZERO,
        edit_interval: Duration::ZERO,
        ..options.limits
    };
    options
}

/// The adapter running against the fake.
pub struct Connected {
    pub fake: FakeDiscord,
    pub discord: Arc<Discord>,
    pub inbox: mpsc::Receiver<Inbound>,
    pub stop: CancellationToken,
}

/// Runs the adapter against a new fake, connected and caught up.
pub async fn connect() -> Connected {
    let c = start(FakeDiscord::start().await);
    c.fake.wait_sessions(1, 0).await;
    // What is said from now on comes through the gateway only.
    c.fake.wait_caught_up(1).await;
    c
}

/// Runs the adapter against `fake`, without waiting for it to connect.
pub fn start(fake: FakeDiscord) -> Connected {
    start_with(options(&fake, "mosaic"), fake)
}

/// Runs an adapter with `options` against `fake`.
pub fn start_with(options: DiscordOptions, fake: FakeDiscord) -> Connected {
    let discord = Arc::new(Discord::new(options));
    let (tx, inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    tokio::spawn(Arc::clone(&discord).run(RunContext::new(tx, stop.clone())));
    Connected {
        fake,
        discord,
        inbox,
        stop,
    }
}

impl Connected {
    /// Stops the adapter; proves it delivered nothing more and made only
    /// calls Discord's OpenAPI description allows; returns every REST call.
    pub async fn finish(mut self) -> Vec<Call> {
        self.stop.cancel();
        let rest = tokio::time::timeout(PATIENCE, self.inbox.recv()).await;
        assert_eq!(rest, Ok(None), "nothing more was delivered");
        let calls = self.fake.calls();
        crate::fake::openapi::assert_conforms(&calls);
        calls
    }

    /// As [`Connected::finish`], without the catch-up reads, which run
    /// beside everything else after each new session.
    pub async fn finish_but_catch_up(self) -> Vec<Call> {
        let mut calls = self.finish().await;
        calls.retain(|c| !is_catch_up(c));
        calls
    }
}

/// The next message the adapter hands on.
pub async fn next(inbox: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(PATIENCE, inbox.recv())
        .await
        .expect("in time")
        .expect("a message")
}

/// Whether `call` is a catch-up read (`GET /channels/{id}/messages?…`),
/// which runs beside everything else after each new session.
pub fn is_catch_up(call: &Call) -> bool {
    call.method == "GET" && call.path.ends_with("/messages")
}

/// The messages the bot posted in `channel` (or thread channel), in order.
pub fn posts_to(calls: &[Call], channel: u64) -> Vec<&Call> {
    let path = format!("/channels/{channel}/messages");
    calls
        .iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .collect()
}
