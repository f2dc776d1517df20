//! The dispatcher: an inbound message in, its commands carried out, replies out.
//!
//! It dedupes deliveries, parses, finds the job a command is about (the
//! thread's, or the newest for an issue), calls the backend, records jobs in
//! the store and hands new jobs to the relay. It never renders a platform's
//! markup itself: replies are neutral [`Markup`] that the platform renders.
//!
//! - `access.rs`: permissions, the channel's workspace and repositories;
//! - `delivery.rs`: which deliveries of a message are acted on (age, dedupe, edits);
//! - [`failure`]: every failure and its wording, in one place;
//! - [`help`]: what `help` says;
//! - `jobs.rs`: the job-facing actions (fix, status, cancel, retry, verbosity);
//! - `press.rs`: a button pressed under a progress card, run as its command;
//! - [`Lanes`]: messages handled concurrently across channels, in order within one.

mod access;
mod delivery;
mod failure;
pub mod help;
mod jobs;
mod lanes;
mod press;

use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::markup::render;
use mosaic_chat::{ChatPlatform, Inbound, Markup, Reaction};
use tracing::Instrument;

use crate::backend::Backends;
use crate::chat_retry::retry_later;
use crate::command::{self, Action, Command, Invoker, ParseContext};
use crate::config::Config;
use crate::metrics::{CommandOutcome, Metrics};
use crate::relay::{Platforms, RelayHub};
use crate::store::{FollowedJob, Store};

use access::Admission;
use delivery::Delivery;
pub use failure::{Denial, Failure};
pub use lanes::Lanes;

/// How long a delivered message's key is remembered: far longer than the
/// catch-up window (at most half a day), past which no delivery is read.
const DEDUPE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A reply is worth a few tries over some seconds; past that the user has
/// moved on, and the log says what happened.
fn reply_backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .with_max_times(4)
}

/// One admitted command: the message, its action, and what its rule allows.
struct Ask<'a> {
    inbound: &'a Inbound,
    action: Action,
    admission: Admission,
    /// The job a pressed button is about: the card's, whatever else the thread holds.
    job: Option<&'a FollowedJob>,
}

/// Carries out commands; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Arc<Metrics>,
    config: Arc<Config>,
    store: Store,
    /// One client per workspace; a command uses its channel's or its job's.
    backends: Backends,
    relays: RelayHub,
    platforms: Platforms,
}

impl Dispatcher {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        backends: Backends,
        relays: RelayHub,
        platforms: Platforms,
        metrics: Arc<Metrics>,
    ) -> Dispatcher {
        Dispatcher {
            inner: Arc::new(Inner {
                metrics,
                config,
                store,
                backends,
                relays,
                platforms,
            }),
        }
    }

    /// Handles one inbound message: each command in it, in order.
    pub async fn handle(&self, inbound: Inbound) {
        let span = tracing::info_span!(
            "inbound",
            platform = %inbound.platform,
            channel = %inbound.channel,
            thread = %inbound.reply_thread().thread,
            user = %inbound.user.id,
            message = %inbound.message_id,
        );
        self.handle_inner(inbound).instrument(span).await;
    }

    async fn handle_inner(&self, inbound: Inbound) {
        let Some(platform) = self.inner.platforms.get(&inbound.platform).cloned() else {
            tracing::error!("a message arrived from a platform that is not running");
            return;
        };
        let config = &self.inner.config;
        let default_repo = config
            .channel(inbound.platform.name(), &inbound.channel)
            .and_then(|c| c.default_repo.as_ref());
        let ctx = ParseContext {
            bot_name: &config.bot_name,
            default_repo,
            forges: &config.forges,
        };
        let parsed: Vec<_> = if inbound.slash {
            command::parse_slash(&inbound.text, &ctx).collect()
        } else {
            command::parse_message(&inbound.text, &ctx).collect()
        };
        // Parsed before the dedupe (a pure function of the text): a message without a
        // command costs the store nothing, and one with a command is recorded as acted on
        // with its first sight.
        if parsed.is_empty() {
            return;
        }
        let acting = parsed.iter().any(|item| item.result.is_ok());
        let Delivery::Read { seen_before, acted } = self.delivery(&inbound, acting).await else {
            return;
        };
        // An edit read again had its 👀 from its first delivery.
        if !inbound.slash
            && !seen_before
            && let Err(e) = retry_later(
                "react",
                reply_backoff(),
                || platform.react(&inbound.channel, &inbound.message_id, Reaction::Seen),
                |e| self.count_platform_error(&inbound, e),
            )
            .await
        {
            tracing::warn!(error = %e, "cannot react to the command message");
        }
        let me = self.invoker(&inbound).to_string();
        if acting && !acted {
            // Before running, not after: a command that runs is acted on
            // even if the bot stops halfway through it.
            self.acted_on(&inbound).await;
        }
        for item in parsed {
            let action = item.result.as_ref().map(Command::action).ok();
            let outcome = match item.result {
                Ok(command) => self.run(&inbound, &platform, command, None).await,
                Err(e) => Err(Failure::Command(e)),
            };
            let (reply, counted) = match outcome {
                Ok(reply) => (reply, CommandOutcome::Ok),
                // A slash command's private answer still reaches its author;
                // a message gets what the bot may still do there.
                Err(Failure::CannotAnswer { error, .. }) if !inbound.slash => {
                    self.cannot_answer(&inbound, platform.as_ref(), &error)
                        .await;
                    (None, CommandOutcome::Refused)
                }
                Err(failure) if failure.needs_admin() => {
                    tracing::error!(?action, failure = ?failure, "command failed");
                    (Some(failure.words(&me)), CommandOutcome::Failed)
                }
                Err(failure) => {
                    tracing::info!(?action, failure = ?failure, "command refused");
                    let counted = match failure {
                        Failure::Backend { .. } => CommandOutcome::Failed,
                        _ => CommandOutcome::Refused,
                    };
                    (Some(failure.words(&me)), counted)
                }
            };
            let action_name = action.map_or("invalid", |a| a.word());
            self.inner
                .metrics
                .command(inbound.platform.name(), action_name, counted);
            if let Some(reply) = reply {
                self.reply(&inbound, platform.as_ref(), &reply, inbound.slash)
                    .await;
            }
        }
    }

    /// Carries out one command (about `job` when given, a pressed card's); `Ok(None)` when
    /// the relay answers (a new job's card).
    async fn run(
        &self,
        inbound: &Inbound,
        platform: &Arc<dyn ChatPlatform>,
        command: Command,
        job: Option<&FollowedJob>,
    ) -> Result<Option<Markup>, Failure> {
        let me = self.invoker(inbound).to_string();
        let action = command.action();
        let admission = self.admit(inbound, action)?;
        if admission == Admission::IfRequester && matches!(action, Action::Fix | Action::Help) {
            // These are about no job, so no requester can be matched.
            return Err(self.denied(inbound, action, Denial::Who));
        }
        let ask = Ask {
            inbound,
            action,
            admission,
            job,
        };
        match command {
            Command::Fix(issue) => self.fix(&ask, platform, issue).await,
            Command::Status(issue) => self.status(&ask, issue).await.map(Some),
            Command::Cancel(issue) => self.cancel(&ask, issue).await.map(Some),
            Command::Retry(issue) => self.retry(&ask, issue).await.map(Some),
            Command::Verbose(issue) => self
                .set_verbosity(&ask, issue, crate::store::Verbosity::Verbose)
                .await
                .map(Some),
            Command::Quiet(issue) => self
                .set_verbosity(&ask, issue, crate::store::Verbosity::Quiet)
                .await
                .map(Some),
            Command::Help(None) => Ok(Some(help::overview(&me, inbound.slash))),
            Command::Help(Some(action)) => Ok(Some(help::action(&me, action))),
        }
    }

    /// Posts a reply: privately (a slash command's, a refused press's) where the platform
    /// can, else in the message's thread.
    async fn reply(
        &self,
        inbound: &Inbound,
        platform: &dyn ChatPlatform,
        reply: &Markup,
        private: bool,
    ) {
        let pages = render(
            reply,
            platform.dialect(),
            platform.limits().max_message_chars,
        );
        let thread = inbound.reply_thread();
        for page in pages {
            let sent = if private {
                let op = || platform.reply_private(inbound, &page);
                retry_later("reply", reply_backoff(), op, |_| {}).await
            } else {
                let op = || platform.post(&thread, &page);
                retry_later("reply", reply_backoff(), op, |_| {})
                    .await
                    .map(drop)
            };
            if let Err(e) = sent {
                // Nowhere left to tell the user: the log is the report.
                tracing::error!(error = %e, "cannot post a reply");
                return;
            }
        }
    }

    /// Tells the author of a command the bot may not answer: ❌ on their
    /// message, else the log alone; either way the log names what is missing.
    async fn cannot_answer(
        &self,
        inbound: &Inbound,
        platform: &dyn ChatPlatform,
        error: &mosaic_chat::ChatError,
    ) {
        tracing::warn!(%error, "may not answer here; no job started, telling with ❌");
        let reacted = platform
            .react(&inbound.channel, &inbound.message_id, Reaction::Failed)
            .await;
        if let Err(e) = reacted {
            tracing::warn!(%error, reaction = %e, "may not react either: this log is the only report");
        }
    }

    fn count_platform_error(&self, inbound: &Inbound, error: &mosaic_chat::ChatError) {
        self.inner
            .metrics
            .platform_error(inbound.platform.name(), error.kind());
    }

    fn invoker(&self, inbound: &Inbound) -> Invoker {
        if inbound.slash {
            Invoker::slash(&self.inner.config.bot_name)
        } else {
            Invoker::mention(&self.inner.config.bot_name)
        }
    }
}
