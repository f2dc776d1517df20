//! How a relay ends: the outcome message, the final card, the reaction, the store's verdict.
//! Each way a stream can end ([`StreamEnd`]) becomes one [`RelayEnd`].

use mosaic_chat::{Markup, Reaction, Span};

use super::RelayEnd;
use super::card::CardState;
use super::render;
use super::task::Relay;
use crate::backend::{JobStatus, StreamEnd};

/// The status the store keeps for a job deleted on the backend.
pub const DELETED: &str = "DELETED";
/// The status the store keeps for a job whose relay the backend refused.
pub const UNAUTHORIZED: &str = "UNAUTHORIZED";

/// What a thread is told when the backend no longer knows the job.
pub fn deleted_message() -> Markup {
    Markup::new().line([Span::text(
        "🗑️ This job no longer exists on the backend; stopped following it.",
    )])
}

/// What a thread is told when the backend refuses the bot's credentials.
pub fn unauthorized_message() -> Markup {
    Markup::new().line([Span::text(
        "🔒 The backend refused the bot's credentials, so this job can no longer be followed. \
         An operator needs to check the bot's API token and workspace.",
    )])
}

/// What a thread is told when the bot gave up reaching the backend for now.
pub fn gave_up_message(attempts: u32) -> Markup {
    Markup::new().line([Span::text(format!(
        "📡 Lost contact with the backend ({attempts} attempts failed). \
         The bot will pick this job up again when it restarts."
    ))])
}

impl Relay {
    /// Ends the relay as `end` says. (`self` boxed, as for [`Relay::run`].)
    pub(crate) async fn end(mut self: Box<Self>, end: StreamEnd) -> RelayEnd {
        let (relay_end, finish_as) = match end {
            StreamEnd::Completed(status) => {
                if !self.outcome_seen {
                    self.word_outcome_from_backend(&status).await;
                }
                if let Some(state) = CardState::from_status(&status) {
                    self.card.finish(state, None);
                }
                let finish_as = status.as_str().to_owned();
                (RelayEnd::Finished(status), Some(finish_as))
            }
            StreamEnd::NotFound => {
                self.queue(deleted_message());
                self.card.finish(CardState::Deleted, None);
                (RelayEnd::JobDeleted, Some(DELETED.to_owned()))
            }
            StreamEnd::Unauthorized => {
                self.queue(unauthorized_message());
                // Nothing on the card can work without the bot's credentials.
                self.no_buttons = true;
                (RelayEnd::Unauthorized, Some(UNAUTHORIZED.to_owned()))
            }
            StreamEnd::GaveUp {
                attempts,
                last_error,
            } => {
                tracing::error!(attempts, %last_error, "gave up following the job for now");
                self.queue(gave_up_message(attempts));
                (RelayEnd::GaveUp, None)
            }
        };
        self.card_dirty = true;
        self.shared.show(self.card.state());
        self.flush().await;
        if self.frozen {
            // Shutdown came first: the job stays unfinished and a restart ends it properly.
            self.settle().await;
            return RelayEnd::Shutdown;
        }
        // From here the job is over: a stop (shutdown, a hand-back to another replica) must
        // not cut the final card or the reaction, since no later relay would make them. The
        // shutdown deadline, or a lost lease's abort, bounds the waits.
        self.edit_card(false).await;
        if let RelayEnd::Finished(status) = &relay_end {
            self.react(status).await;
        }
        match finish_as {
            Some(status) => self.finish(&status).await,
            None => {
                self.record();
                self.settle().await;
            }
        }
        tracing::info!(end = ?relay_end, "relay ended");
        relay_end
    }

    /// The job is over: its last position, its final `status` and its lease handed back, in
    /// one store transaction. A record of the same position may still wait in the writer's
    /// group and land after it (the store never moves a position back). On failure the lease
    /// stays held, so the keeper starts the relay again, which finds the job ended and
    /// finishes it again.
    async fn finish(&mut self, status: &str) {
        let position = self.position_now(true);
        let hub = &self.hub;
        if let Err(error) = hub
            .store
            .finish_relay(&self.job.job_id, status, position.as_ref(), &hub.replica.id)
            .await
        {
            tracing::error!(%error, "could not mark the job finished in the store; it is tried again");
        }
    }

    /// The backend ended the stream without a `job.*` outcome event: fetch the job to say how
    /// it ended.
    async fn word_outcome_from_backend(&mut self, status: &JobStatus) {
        let job = match self.backend.job(&self.job_id()).await {
            Ok(job) => {
                self.card.apply_job(&job);
                Some(job)
            }
            Err(error) => {
                tracing::warn!(%error, "could not fetch the final job to word its outcome");
                None
            }
        };
        let ctx = self.outcome_context(job.as_ref().and_then(|j| j.completed_at));
        let result = job
            .as_ref()
            .and_then(|j| j.result.clone())
            .unwrap_or_default();
        let message = match status {
            JobStatus::Completed => {
                render::completed(result.summary.as_deref(), result.pr_url.as_deref(), &ctx)
            }
            JobStatus::Failed => {
                render::failed(job.as_ref().and_then(|j| j.error.as_deref()), &ctx)
            }
            JobStatus::Cancelled => render::cancelled(None),
            other => Markup::new().line([Span::text(format!("The job ended as {other}."))]),
        };
        self.queue(message);
    }

    async fn react(&self, status: &JobStatus) {
        let Some(message) = &self.job.command_message_id else {
            return;
        };
        let reaction = if *status == JobStatus::Completed {
            Reaction::Succeeded
        } else {
            Reaction::Failed
        };
        if self.muted {
            return;
        }
        if let Err(super::send::SendError::Refused(error)) =
            self.out.react(message, reaction, None).await
        {
            tracing::warn!(%error, "could not react to the command message");
        }
    }
}
